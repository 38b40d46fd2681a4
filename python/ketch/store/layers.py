"""Extracted layers (snapshots), keyed by chain id and shared between images.

A layer is unpacked under a temporary name, made durable with one `syncfs`,
then renamed to `layers/<chain-hex>`: a directory under its final name is
always complete. Its metadata row follows in one transaction; a row missing
after a crash is recovered from the `meta.json` inside the directory.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from .. import _native
from .content import fsync_dir
from .db import Database

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
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
        meta = json.loads((self.dir(chain_id) / "meta.json").read_text())
        with self.db.write() as c:
            c.execute(
                "INSERT OR IGNORE INTO layers(chain_id, diff_id, parent, size) VALUES (?,?,?,?)",
                (chain_id, meta["diff_id"], meta["parent"], meta["size"]),
            )

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
    ) -> bool:
        """Unpacks `source` (a blob's path, or a file descriptor to read it from,
        which this takes over) as the layer `chain_id`; False if it was already
        there (another pull may have made it while we waited for the lock)."""
        handed_over = False  # once _unpack has the descriptor, it (or Rust) closes it
        try:
            with self.lock(chain_id):
                if self.exists(chain_id):
                    return False
                handed_over = True
                tmp, size = self._unpack(chain_id, source, blob_digest, diff_id, max_bytes)
                return self._commit(tmp, chain_id, diff_id, parent, size)
        finally:
            if isinstance(source, int) and not handed_over:
                os.close(source)  # not consumed: the writer sees a closed pipe

    def create_bottom(self, blob: Path, blob_digest: str, max_bytes: int | None = None) -> str:
        """Unpacks `blob` as a bottom layer whose diff id is not known before
        (an imported tarball); returns the diff id, which is also its chain id."""
        import shutil

        with self.lock(blob_digest):  # names the temporary directory while it is unpacked
            tmp, size = self._unpack(blob_digest, blob, blob_digest, None, max_bytes)
            diff_id = str(json.loads((tmp / "meta.json").read_text())["diff_id"])
            # An uncompressed tarball's digest is its diff id: that lock is held already.
            with nullcontext() if diff_id == blob_digest else self.lock(diff_id):
                if self.exists(diff_id):
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    self._commit(tmp, diff_id, diff_id, None, size)
        return diff_id

    def _unpack(
        self, key: str, source: Path | int, blob_digest: str | None, diff_id: str | None, max_bytes: int | None
    ) -> tuple[Path, int]:
        """Unpacks into `.tmp-<key hex>-<random>` (the caller holds `key`'s lock)."""
        import shutil
        import uuid

        tmp = self.root / f".tmp-{_hex(key)}-{uuid.uuid4().hex[:12]}"
        try:
            tmp.mkdir()
        except BaseException:
            if isinstance(source, int):
                os.close(source)
            raise
        try:
            if isinstance(source, int):
                u = _native.unpack_layer_fd(source, tmp / "diff", blob_digest, diff_id, max_bytes)
            else:
                u = _native.unpack_layer(source, tmp / "diff", blob_digest, diff_id, max_bytes)
            (tmp / "meta.json").write_text(json.dumps({"diff_id": u["diff_id"], "size": u["content_size"]}))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp, int(u["content_size"])

    def _commit(self, tmp: Path, chain_id: str, diff_id: str, parent: str | None, size: int) -> bool:
        """Makes the unpacked `tmp` durable and gives it its final name."""
        import shutil

        try:
            meta = {"diff_id": diff_id, "parent": parent, "size": size}
            (tmp / "meta.json").write_text(json.dumps(meta))
            _native.syncfs(tmp)
            os.rename(tmp, self.dir(chain_id))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(self.root)
        self._ensure_row(chain_id)
        return True

    def remove(self, chain_id: str) -> None:
        """Deletes a layer nothing uses any more (the caller checked)."""
        import shutil

        trash = self.unlink(chain_id)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def unlink(self, chain_id: str) -> Path | None:
        """Takes a layer out of the store (its row, its name) at once; returns
        the directory left to delete, if any (`clean_stale` deletes it otherwise)."""
        import uuid

        with self.lock(chain_id):
            with self.db.write() as c:
                c.execute("DELETE FROM layers WHERE chain_id=?", (chain_id,))
            d = self.dir(chain_id)
            if d.exists():
                trash = self.root / f".del-{_hex(chain_id)}-{uuid.uuid4().hex[:12]}"
                os.rename(d, trash)
                return trash
        return None

    def clean_stale(self) -> None:
        """Removes what a killed pull or rmi left: temporary and half-deleted
        directories whose layer lock nobody holds."""
        import shutil

        for p in self.root.iterdir():
            if not (p.name.startswith(".tmp-") or p.name.startswith(".del-")):
                continue
            chain = "sha256:" + p.name[5:].split("-", 1)[0]
            with self.lock(chain, blocking=False) as got:
                if got:
                    shutil.rmtree(p, ignore_errors=True)
