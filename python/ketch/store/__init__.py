"""The local store: content-addressed blobs, extracted layers (snapshots)
keyed by chain id, and the image/tag metadata in SQLite.

    <root>/ketch.db                  SQLite (WAL)
    <root>/content/blobs/sha256/<hex>
    <root>/content/ingest/<ref>      partial downloads
    <root>/layers/<chain-hex>/diff   an overlay lowerdir (+ meta.json beside it)
    <root>/trash/                    layer trees taken out, deleted in the background (trash.py)
"""

from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    from ..config import Settings


class Store:
    """Opens (creating on first use) the store at `root` (else the settings'
    root: --root, KETCH_ROOT, /var/lib/ketch), and carries its `settings`."""

    def __init__(self, root: str | os.PathLike[str] | None = None, settings: Settings | None = None) -> None:
        from ..config import Settings
        from .content import ContentStore
        from .db import Database
        from .layers import LayerStore

        if settings is None:
            settings = Settings(root)
        self.settings = settings
        self.root = Path(root) if root is not None else settings.root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = Database(self.root / "ketch.db")
        self.content = ContentStore(self.root / "content")
        self.layers = LayerStore(self.root / "layers", self.db, settings.run_root)
        # What killed writers left: only looked at when there is anything (no scan on every `ps`).
        if self.content.has_ingests():
            self.content.clean_ingest()
        # Layer trees a killed deleter left (one directory read; deleted in the background).
        from .trash import has_items

        if has_items(self.layers.trash):
            self.layers.empty_trash()

    def close(self) -> None:
        self.db.close()
