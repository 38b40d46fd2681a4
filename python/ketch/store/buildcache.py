"""The builder's rows: its step cache (parent image + step key -> image) and
the content digests of context files it has hashed. The builder's only SQL.

The two tables are made on first use (`ensure`), not by db.py's schema:
they belong in its migrations once the store's restructuring lands."""

from __future__ import annotations

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from ..models.system import Pruned
    from . import Store

_CACHE_DDL = (
    "CREATE TABLE IF NOT EXISTS build_cache("
    "parent TEXT NOT NULL, key TEXT NOT NULL, image_id TEXT NOT NULL, PRIMARY KEY(parent, key))"
)
# A file's content digest, valid while its stat says the same (size, times to
# the nanosecond, inode): a rebuild hashes only files whose stat changed.
_FILES_DDL = "CREATE TABLE IF NOT EXISTS build_files(path TEXT PRIMARY KEY, stat TEXT NOT NULL, digest TEXT NOT NULL)"


def ensure(store: Store) -> None:
    """The two tables made if a store lacks them: found by a read on every
    build but the first (no write lock taken, no transaction written)."""
    have = store.db.query(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('build_cache','build_files')"
    )
    if have[0][0] == 2:
        return
    with store.db.write() as db:
        db.execute(_CACHE_DDL)
        db.execute(_FILES_DDL)


def lookup(store: Store, parent: str | None, key: str) -> str | None:
    """The image a step made on `parent` (None: scratch), if that image is still in the store."""
    rows = store.db.query(
        "SELECT c.image_id FROM build_cache c JOIN images i ON i.id = c.image_id WHERE c.parent=? AND c.key=?",
        (parent or "scratch", key),
    )  # one statement a step
    return str(rows[0][0]) if rows else None


def remember(store: Store, parent: str | None, key: str, image_id: str) -> None:
    with store.db.write() as db:
        db.execute(
            "INSERT OR REPLACE INTO build_cache(parent, key, image_id) VALUES (?,?,?)",
            (parent or "scratch", key, image_id),
        )


def file_digests(store: Store, roots: list[str]) -> dict[str, tuple[str, str]]:
    """The hashed files at or under the host paths `roots` (a COPY's
    sources), not every file any build hashed: host path -> (stat, digest)."""
    out: dict[str, tuple[str, str]] = {}
    for root in roots:
        # the path itself and what is under it: ["root/", "root0") holds exactly the paths
        # that start with "root/" ("0" follows "/")
        for path, stat, digest in store.db.query(
            "SELECT path, stat, digest FROM build_files WHERE path=? OR (path>=? AND path<?)",
            (root, root.rstrip("/") + "/", root.rstrip("/") + "0"),
        ):
            out[path] = (stat, digest)
    return out


def save_file_digests(store: Store, digests: dict[str, tuple[str, str]]) -> None:
    with store.db.write() as db:
        db.executemany(
            "INSERT OR REPLACE INTO build_files(path, stat, digest) VALUES (?,?,?)",
            [(k, st, d) for k, (st, d) in digests.items()],
        )


def cached_images(store: Store) -> set[str]:
    """The images the step cache names."""
    ensure(store)
    return {r["image_id"] for r in store.db.query("SELECT image_id FROM build_cache")}


def prune(store: Store, all_: bool = False) -> Pruned:
    """`builder prune`: the dangling build cache, as docker's (its steps'
    images that nothing keeps: untagged, used by no container, parent of no
    image; and the records of images gone); with `all_` (-a) all of it:
    every step forgotten (and the context digests), so that the next build
    runs each step again. Those images are removed; what was removed (the
    images, and with `all_` each step record forgotten, by its image) and
    the bytes of the layers freed."""
    from ..errors import KetchError
    from ..models.system import Pruned
    from . import images
    from .containers import using_image

    ensure(store)
    rows = store.db.query("SELECT parent, key, image_id FROM build_cache")
    cached = {r["image_id"] for r in rows}
    deleted: list[str] = []
    reclaimed = 0
    progress = True
    while progress:
        progress = False
        for img in images.list_images(store):
            if img.id not in cached or img.tags or using_image(store, img.id) or images.children(store, img.id):
                continue
            sizes = {ch: store.layers.size(ch) for ch in images.layer_chain(store, img.id)}
            try:
                report = images.remove(store, img.id, force=True)
            except KetchError:
                continue
            cached.discard(img.id)
            deleted += [x for x in report.deleted if x == img.id or x not in sizes]
            reclaimed += sum(sizes.get(x, 0) for x in report.deleted)
            progress = True
    with store.db.write() as db:
        if all_:
            db.execute("DELETE FROM build_cache")
            db.execute("DELETE FROM build_files")
            deleted += sorted(cached - set(deleted))  # records of images still kept (a tagged build's steps)
        else:
            db.execute("DELETE FROM build_cache WHERE image_id NOT IN (SELECT id FROM images)")
    return Pruned(deleted, reclaimed)
