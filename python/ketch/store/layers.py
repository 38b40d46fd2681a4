"""Extracted layers (snapshots), keyed by chain id and shared between images.

A layer is unpacked under a temporary name (a fresh directory), made
durable with one `syncfs`, then renamed to `layers/<chain-hex>`: a
directory under its final name is always complete. Its metadata row
follows, in the transaction that records the image (a pull's layers all
in one; `create(record=True)` alone otherwise); a row missing after a crash
is recovered from the `meta.json` inside the directory.

A layer taken out of the store is renamed into the trash (trash.py) and
deleted there in the background, never in the place a new one is made.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from .. import _native
from . import trash as _trash
from .content import fsync_dir
from .db import Database

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from . import Store


def run_root() -> Path:
    """KETCH_RUN_ROOT, for code that has no store at hand (a store has `settings.run_root`)."""
    from ..config import Settings

    return Settings().run_root


def max_layer_bytes(store: Store) -> int:
    """The bound on what one layer may expand to: the KETCH_MAX_LAYER_BYTES
    setting, else the free space of the store's filesystem (a layer larger
    than that cannot succeed, and a decompression bomb stops there)."""
    limit = store.settings.max_layer_bytes
    if limit is not None:
        return limit
    st = os.statvfs(store.root)
    return st.f_bavail * st.f_frsize


def _hex(chain_id: str) -> str:
    return chain_id.split(":", 1)[1]


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The OCI chain ids: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else _native.sha256_bytes(f"{out[-1]} {d}".encode()))
    return out


class LayerStore:
    def __init__(self, root: Path, db: Database, run_root: Path) -> None:
        self.root = root
        self.db = db
        self.run_root = run_root
        self.trash = root.parent / "trash"
        self.root.mkdir(parents=True, exist_ok=True)

    def dir(self, chain_id: str) -> Path:
        return self.root / _hex(chain_id)

    def diff(self, chain_id: str) -> Path:
        return self.dir(chain_id) / "diff"

    def exists(self, chain_id: str) -> bool:
        if not self.dir(chain_id).is_dir():
            return False
        self._ensure_row(chain_id)
        return True

    @contextmanager
    def lock(self, chain_id: str, blocking: bool = True) -> Iterator[bool]:
        locks = self.run_root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(locks / f"layer-{_hex(chain_id)}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def _ensure_row(self, chain_id: str) -> None:
        if self.db.query("SELECT 1 FROM layers WHERE chain_id=?", (chain_id,)):
            return
        with self.db.write() as c:
            self.insert_rows(c, [chain_id])

    def _meta(self, chain_id: str) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads((self.dir(chain_id) / "meta.json").read_text())
        return meta

    def insert_rows(self, c: sqlite3.Connection, chain_ids: Iterable[str]) -> None:
        """The rows of the layers `chain_ids` (their directories in place),
        from their meta.json, inside the caller's transaction `c`: a layer
        made without its row (`create(record=False)`) gets it with its image."""
        c.executemany(
            "INSERT OR IGNORE INTO layers(chain_id, diff_id, parent, size) VALUES (?,?,?,?)",
            [(ch, m["diff_id"], m["parent"], m["size"]) for ch in chain_ids for m in [self._meta(ch)]],
        )

    def missing_rows(self, chain_ids: list[str]) -> list[str]:
        """Those of `chain_ids` that have no row yet (one query)."""
        if not chain_ids:
            return []
        marks = ",".join("?" * len(chain_ids))
        have = {
            r["chain_id"]
            for r in self.db.query(f"SELECT chain_id FROM layers WHERE chain_id IN ({marks})", tuple(chain_ids))
        }
        return [ch for ch in chain_ids if ch not in have]

    def present(self, chain_id: str) -> bool:
        """Whether the layer's directory is in place (its row may still be to come)."""
        return self.dir(chain_id).is_dir()

    def size(self, chain_id: str) -> int:
        rows = self.db.query("SELECT size FROM layers WHERE chain_id=?", (chain_id,))
        return int(rows[0]["size"]) if rows else 0

    def create(
        self,
        chain_id: str,
        diff_id: str,
        parent: str | None,
        source: Path | int,
        blob_digest: str | None,
        max_bytes: int | None = None,
        record: bool = True,
    ) -> str | None:
        """Unpacks `source` (a blob's path, or a file descriptor to read it from,
        which this takes over) as the layer `chain_id`: the digest of the
        bytes it read, checked against `blob_digest` (every byte of the
        stream is hashed), or None if the layer was already there (another
        pull may have made it while we waited for the lock) and nothing was
        read. Without `record`, its row is left to the caller's transaction
        (`insert_rows`)."""
        handed_over = False  # once _unpack has the descriptor, it (or Rust) closes it
        try:
            with self.lock(chain_id):
                if self.present(chain_id):
                    if record:
                        self._ensure_row(chain_id)
                    return None
                handed_over = True
                tmp, size, digest = self._unpack(chain_id, source, blob_digest, diff_id, max_bytes)
                self._commit(tmp, chain_id, diff_id, parent, size, record)
                return digest
        finally:
            if isinstance(source, int) and not handed_over:
                os.close(source)  # not consumed: the writer sees a closed pipe

    def create_bottom(self, blob: Path, blob_digest: str, max_bytes: int | None = None) -> str:
        """Unpacks `blob` as a bottom layer whose diff id is not known before
        (an imported tarball); returns the diff id, which is also its chain id."""

        with self.lock(blob_digest):  # names the temporary directory while it is unpacked
            tmp, size, _ = self._unpack(blob_digest, blob, blob_digest, None, max_bytes)
            diff_id = str(json.loads((tmp / "meta.json").read_text())["diff_id"])
            # An uncompressed tarball's digest is its diff id: that lock is held already.
            with nullcontext() if diff_id == blob_digest else self.lock(diff_id):
                if self.exists(diff_id):
                    self._discard(tmp)
                else:
                    self._commit(tmp, diff_id, diff_id, None, size, True)
        return diff_id

    def _unpack(
        self, key: str, source: Path | int, blob_digest: str | None, diff_id: str | None, max_bytes: int | None
    ) -> tuple[Path, int, str]:
        """Unpacks into `.tmp-<key hex>-<random>` (the caller holds `key`'s
        lock), with no deletion of the trash meanwhile: (directory, size,
        the digest of the bytes read)."""
        import uuid

        tmp = self.root / f".tmp-{_hex(key)}-{uuid.uuid4().hex[:12]}"
        try:
            tmp.mkdir()
        except BaseException:
            if isinstance(source, int):
                os.close(source)
            raise
        try:
            with _trash.writing(self.trash):
                if isinstance(source, int):
                    u = _native.unpack_layer_fd(source, tmp / "diff", blob_digest, diff_id, max_bytes)
                else:
                    u = _native.unpack_layer(source, tmp / "diff", blob_digest, diff_id, max_bytes)
            (tmp / "meta.json").write_text(json.dumps({"diff_id": u["diff_id"], "size": u["content_size"]}))
        except BaseException:
            self._discard(tmp)
            raise
        return tmp, int(u["content_size"]), str(u["digest"])

    def _discard(self, tmp: Path) -> None:
        """A temporary tree this process made and will not keep: into the trash."""
        import shutil

        try:
            _trash.put(self.trash, tmp, "tmp")
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)

    def _commit(self, tmp: Path, chain_id: str, diff_id: str, parent: str | None, size: int, record: bool) -> None:
        """Makes the unpacked `tmp` durable and gives it its final name."""

        try:
            meta = {"diff_id": diff_id, "parent": parent, "size": size}
            (tmp / "meta.json").write_text(json.dumps(meta))
            _native.syncfs(tmp)
            os.rename(tmp, self.dir(chain_id))
        except BaseException:
            self._discard(tmp)
            raise
        fsync_dir(self.root)
        if record:
            self._ensure_row(chain_id)

    @contextmanager
    def flushing(self, every: float = 0.5) -> Iterator[None]:
        """While layers are unpacked in the `with` block, a thread writes out
        what they have written so far (a `syncfs` every `every` seconds), so
        that the one each layer waits for before its rename (`_commit`) finds
        little left: the disk works while the unpackers do."""
        import threading

        stop = threading.Event()

        def flush() -> None:
            while not stop.wait(every):
                try:
                    _native.syncfs(self.root)
                except Exception:  # noqa: BLE001 (best effort: each layer's own syncfs reports it)
                    return

        t = threading.Thread(target=flush, name="ketch-flush", daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()

    def remove(self, chain_id: str) -> None:
        """Deletes a layer nothing uses any more (the caller checked), in the background."""
        self.unlink(chain_id)
        self.empty_trash()

    def unlink(self, chain_id: str) -> Path | None:
        """Takes a layer out of the store (its row, its name) at once: its
        directory goes into the trash (returned, if there was one), for
        `empty_trash` to delete."""
        with self.lock(chain_id):
            with self.db.write() as c:
                c.execute("DELETE FROM layers WHERE chain_id=?", (chain_id,))
            d = self.dir(chain_id)
            if d.exists():
                return _trash.put(self.trash, d, _hex(chain_id))
        return None

    def empty_trash(self) -> None:
        """Starts the background deletion of the trash, if it holds anything."""
        _trash.start_deleter(self.trash)

    def clean_stale(self) -> None:
        """Moves into the trash what a killed pull or rmi left: temporary
        (and, from older versions, half-deleted) directories whose layer
        lock nobody holds."""
        for p in self.root.iterdir():
            if not (p.name.startswith(".tmp-") or p.name.startswith(".del-")):
                continue
            chain = "sha256:" + p.name[5:].split("-", 1)[0]
            with self.lock(chain, blocking=False) as got:
                if got:
                    try:
                        _trash.put(self.trash, p, "stale")
                    except FileNotFoundError:
                        pass
