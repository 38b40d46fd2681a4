"""The trash: layer trees taken out of the store, deleted later in the background.

`rmi` (and a pull's clean-up of what a killed one left) renames a layer's
directory into `<root>/trash/` (one rename: the store no longer points to
it) and returns; a detached deleter process removes what is there. Two
reasons, both measured on this machine's journal-less ext4: deleting
~60,000 files takes 6-11 s, which `rmi` would wait for; and creating as
many files right after (the `rmi IMG && pull IMG` cycle) takes 20 s instead
of 2-3 when the old ones were just deleted, because the inode allocator
skips recently deleted inodes one by one. Kept until the new tree is made,
the old inodes are still in use and the new files go elsewhere.

So the deleter yields to whoever creates layers: each writer holds
`.writers` shared while it unpacks, and the deleter deletes one directory
at a time under it exclusive, waiting while any writer is at work. It
starts a moment after it is spawned, so that a pull chained after `rmi`
takes its lock first. Only one deleter runs (`.deleter`); a killed one's
leftovers are finished by the next, which every `rmi` and pull starts when
the trash holds anything.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# (subprocess, uuid and threading are imported where used: `Store` imports
# this module on every command.)

# How long a new deleter waits before its first deletion: a command chained
# after the one that spawned it (`rmi && pull`) starts within it.
GRACE = 1.0


def _lock_fd(trash: Path, name: str) -> int:
    return os.open(trash / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def ensure(trash: Path) -> None:
    trash.mkdir(mode=0o700, exist_ok=True)


def put(trash: Path, path: Path, name: str) -> Path:
    """Moves `path` (a directory the store no longer points to) into the
    trash under a fresh name starting with `name`; returns its new path."""
    import uuid

    ensure(trash)
    dest = trash / f"{name}-{uuid.uuid4().hex[:12]}"
    os.rename(path, dest)
    return dest


def has_items(trash: Path) -> bool:
    """Whether the trash holds anything to delete: one directory read."""
    from . import has_entries

    return has_entries(os.fspath(trash), ".")


@contextmanager
def writing(trash: Path) -> Iterator[None]:
    """Held by whoever creates a layer tree: no deletion runs meanwhile."""
    ensure(trash)
    fd = _lock_fd(trash, ".writers")
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def start_deleter(trash: Path) -> None:
    """Starts the background deleter if the trash holds anything and none
    runs; never waits for it."""
    if not has_items(trash):
        return
    fd = _lock_fd(trash, ".deleter")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # one runs: it deletes what is there now too
    finally:
        os.close(fd)
    import subprocess
    import sys
    import threading

    package_parent = str(Path(__file__).resolve().parents[2])
    code = "import sys; sys.path.insert(0, sys.argv[1]); from ketch.store.trash import main; main(sys.argv[2])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, package_parent, str(trash)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
    )
    # Reaped by a thread of a long-lived caller; a command that exits first leaves it to init.
    threading.Thread(target=proc.wait, daemon=True).start()


def _remove_tree(top: Path, writers: int) -> None:
    """Deletes the directory `top`, one directory's entries at a time, each
    while no writer holds `writers`. Never follows a link (fwalk by fd)."""
    for _dirpath, dirnames, filenames, dirfd in os.fwalk(top, topdown=False):
        fcntl.flock(writers, fcntl.LOCK_EX)
        try:
            for name in filenames:
                try:
                    os.unlink(name, dir_fd=dirfd)
                except FileNotFoundError:
                    pass
            for name in dirnames:
                try:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        os.rmdir(name, dir_fd=dirfd)
                    else:
                        os.unlink(name, dir_fd=dirfd)  # a link to a directory is listed among dirnames
                except FileNotFoundError:
                    pass
        finally:
            fcntl.flock(writers, fcntl.LOCK_UN)
    try:
        os.rmdir(top)
    except FileNotFoundError:
        pass


def empty(trash: Path, grace: float = 0.0) -> None:
    """Deletes everything in the trash (yielding to writers), unless another
    deleter is at it; returns when the trash is empty or another has it."""
    if not trash.is_dir():
        return
    lock = _lock_fd(trash, ".deleter")
    writers = _lock_fd(trash, ".writers")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        if grace:
            time.sleep(grace)
        failed: set[str] = set()  # what cannot be deleted (a mount on it...) is left, not retried forever
        while True:
            items = [p for p in trash.iterdir() if not p.name.startswith(".") and p.name not in failed]
            if not items:
                return
            for p in items:
                try:
                    if p.is_dir() and not p.is_symlink():
                        _remove_tree(p, writers)
                    else:
                        p.unlink(missing_ok=True)
                except OSError:
                    failed.add(p.name)
    finally:
        os.close(writers)
        os.close(lock)


def main(trash: str) -> None:
    """The deleter process: low priority, detached, silent."""
    try:
        os.nice(10)
    except OSError:
        pass
    empty(Path(trash), GRACE)
