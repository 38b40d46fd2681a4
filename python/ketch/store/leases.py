"""Leases: what a running pull uses, so that `rmi` does not delete it meanwhile.

A lease is a file under `<run root>/leases/<store key>/`, flock'ed by its
holder for as long as it lives, listing the layer chain ids and blob digests
it protects. One lock per store (`gc`) orders leases against deletion: a
holder adds to its lease under it *before* it looks at what the store has,
and deletion reads the leases and deletes under it. So either the deletion
came first (the pull then finds the thing missing and fetches it again) or
it sees the lease and keeps the thing (the pull's image then refers to it).
A lease whose lock is free was left by a killed process and is removed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from . import Store


def _dir(store: Store) -> Path:
    key = hashlib.sha256(str(store.root.resolve()).encode()).hexdigest()[:16]
    d = store.settings.run_root / "leases" / key
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


@contextmanager
def gc_lock(store: Store) -> Iterator[None]:
    """Held while a lease grows, and while deletion decides and deletes."""
    path = _dir(store) / ".gc"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Lease:
    """`with Lease(store) as lease: lease.add(digests)`; released on leaving."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.items: set[str] = set()
        self.path = _dir(store) / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.fd = -1

    def add(self, items: Iterable[str]) -> None:
        """Protects `items` (chain ids, blob digests) from now on: call it
        before looking whether the store has them."""
        with gc_lock(self.store):
            if self.fd < 0:  # made under the lock: `held` never sees it unlocked
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.items |= set(items)
            data = json.dumps(sorted(self.items)).encode()
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def held(store: Store) -> set[str]:
    """What the live leases protect (call it under `gc_lock`); removes dead leases."""
    out: set[str] = set()
    d = _dir(store)
    for p in d.iterdir():
        if p.name.startswith("."):
            continue
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # alive
                data = os.pread(fd, os.fstat(fd).st_size, 0)
                try:
                    out |= {str(x) for x in json.loads(data or b"[]")}
                except ValueError:
                    pass
                continue
            p.unlink(missing_ok=True)  # its holder is gone
        finally:
            os.close(fd)
    return out


def delete_unused_blobs(store: Store, digests: Iterable[str]) -> None:
    """Deletes the blobs among `digests` that no image keeps and no lease protects."""
    from .images import blob_in_use

    with gc_lock(store):
        protected = held(store)
        for digest in digests:
            if digest not in protected and not blob_in_use(store, digest):
                store.content.delete(digest)
