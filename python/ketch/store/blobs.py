"""What the store knows about blobs beyond their bytes (the blob_repos and
gzipped tables): which repositories of a registry hold one, for the
cross-repository mounts of a push, and the gzipped form of a plain layer."""

from __future__ import annotations

from collections.abc import Iterable

from . import Store


def remember(store: Store, registry: str, repo: str, digests: Iterable[str]) -> None:
    """That `repo` on `registry` holds the blobs `digests`."""
    with store.db.write() as db:
        db.executemany(
            "INSERT OR IGNORE INTO blob_repos(registry, digest, repo) VALUES (?,?,?)",
            [(registry, d, repo) for d in digests],
        )


def sources(store: Store, registry: str, digest: str, repo: str) -> list[str]:
    """The other repositories of `registry` known to hold the blob."""
    rows = store.db.query(
        "SELECT repo FROM blob_repos WHERE registry=? AND digest=? AND repo != ?", (registry, digest, repo)
    )
    return [r["repo"] for r in rows]


def gzipped(store: Store, plain: str) -> tuple[str, int] | None:
    """(digest, size) of the gzipped form made of the plain layer blob `plain`, if one was."""
    rows = store.db.query("SELECT digest, size FROM gzipped WHERE plain=?", (plain,))
    return (rows[0]["digest"], int(rows[0]["size"])) if rows else None


def remember_gzipped(store: Store, plain: str, digest: str, size: int) -> None:
    with store.db.write() as db:
        db.execute("INSERT OR REPLACE INTO gzipped(plain, digest, size) VALUES (?,?,?)", (plain, digest, size))
