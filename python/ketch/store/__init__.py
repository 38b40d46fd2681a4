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

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    from pathlib import Path

    from ..config import Settings
    from .content import ContentStore
    from .layers import LayerStore


class Store:
    """Opens (creating on first use) the store at `root` (else the settings'
    root: --root, KETCH_ROOT, /var/lib/ketch), and carries its `settings`."""

    def __init__(self, root: str | os.PathLike[str] | None = None, settings: Settings | None = None) -> None:
        from ..config import Settings
        from .db import Database

        if settings is None:
            settings = Settings(root)
        self.settings = settings
        # A str: the listings (`ps`, `images`) open the store without importing pathlib (~5 ms).
        self.dir = (os.fspath(root) or ".") if root is not None else settings.root_dir  # Path("") is "."
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        # the layout made at once (as ContentStore and LayerStore make it), their modules when first used
        for sub in ("content/blobs/sha256", "content/ingest", "layers"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.db = Database(os.path.join(self.dir, "ketch.db"))
        self._content: ContentStore | None = None
        self._layers: LayerStore | None = None
        # What killed writers left: only looked at when there is anything (no scan on every `ps`).
        if has_entries(os.path.join(self.dir, "content", "ingest"), ""):
            self.content.clean_ingest()
        # Layer trees a killed deleter left (one directory read; deleted in the background).
        if has_entries(os.path.join(self.dir, "trash"), "."):
            self.layers.empty_trash()

    @property
    def content(self) -> ContentStore:
        """The blobs (content.py), opened when first used: `ps` has none to read."""
        if self._content is None:
            from .content import ContentStore

            self._content = ContentStore(self.root / "content")
        return self._content

    @property
    def layers(self) -> LayerStore:
        """The unpacked layers (layers.py), opened when first used."""
        if self._layers is None:
            from .layers import LayerStore

            self._layers = LayerStore(self.root / "layers", self.db, self.settings.run_root)
        return self._layers

    @property
    def root(self) -> Path:
        """The store's directory, as a Path."""
        from pathlib import Path

        return Path(self.dir)

    def close(self) -> None:
        self.db.close()


def has_entries(directory: str, hidden: str) -> bool:
    """Whether `directory` holds an entry (one not starting with `hidden`, when
    given): one directory read, False when it is not there (the ingests and
    the trash at open, trash.has_items)."""
    try:
        with os.scandir(directory) as it:
            return any(not (hidden and e.name.startswith(hidden)) for e in it)
    except (FileNotFoundError, NotADirectoryError):
        return False
