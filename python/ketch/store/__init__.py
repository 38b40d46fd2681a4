"""The local store: content-addressed blobs, extracted layers (snapshots)
keyed by chain id, and the image/tag metadata in SQLite.

    <root>/ketch.db                  SQLite (WAL)
    <root>/content/blobs/sha256/<hex>
    <root>/content/ingest/<ref>      partial downloads
    <root>/layers/<chain-hex>/diff   an overlay lowerdir (+ meta.json beside it)
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ROOT = "/var/lib/ketch"


def default_root() -> Path:
    return Path(os.environ.get("KETCH_ROOT") or DEFAULT_ROOT)


class Store:
    """Opens (creating on first use) the store at `root`."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        from .content import ContentStore
        from .db import Database
        from .layers import LayerStore

        self.root = Path(root) if root is not None else default_root()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = Database(self.root / "ketch.db")
        self.content = ContentStore(self.root / "content")
        self.layers = LayerStore(self.root / "layers", self.db)

    def close(self) -> None:
        self.db.close()
