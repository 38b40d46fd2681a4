"""The build cache: a step is reused when its parent image, its instruction
after substitution and, for COPY/ADD, its files are the same. The rows are
store.buildcache's; this is what goes into a key."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .. import _native
from ..store import buildcache

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

    from ..store import Store
    from .context import Ignore
    from .copy import Source


def _sha256(data: bytes) -> str:
    """The hex sha256 of `data` (Rust's: hashlib's OpenSSL costs a build 3 ms to load)."""
    return _native.sha256_bytes(data).removeprefix("sha256:")


def key(parts: list[Any]) -> str:
    return _sha256(json.dumps(parts).encode())


class Cache:
    def __init__(self, store: Store, context: Path, ignore: Ignore, enabled: bool = True) -> None:
        self.store = store
        self.context = context
        self.ignore = ignore
        self.enabled = enabled
        buildcache.ensure(store)
        self._file_digests: dict[str, tuple[str, str]] = {}  # the rows read so far, and those hashed since
        self._roots_read: set[str] = set()
        self._new_digests: dict[str, tuple[str, str]] = {}

    def lookup(self, parent: str | None, step_key: str) -> str | None:
        """The image this step made on `parent` before (None with --no-cache)."""
        if not self.enabled:
            return None
        return buildcache.lookup(self.store, parent, step_key)

    def remember(self, parent: str | None, step_key: str, image_id: str) -> None:
        buildcache.remember(self.store, parent, step_key, image_id)

    def save(self) -> None:
        """The digests of files hashed in this build, for the next one."""
        if self._new_digests:
            buildcache.save_file_digests(self.store, self._new_digests)
            self._new_digests.clear()

    def sources_digest(self, sources: list[Source], heredocs: list[tuple[str, str]]) -> str:
        """What COPY's cache depends on: names, modes, owners, link targets
        and contents of every file copied; never an mtime. For the context
        and downloads the walk (with .dockerignore) is here and stat,
        compare and hash are Rust's (`digest_entries`), reading a file again
        only when its stat changed; an image's files are hashed inside its
        merged view (`digest_in_root`)."""
        ctx = Path(os.path.realpath(self.context))
        entries: list[tuple[str, str]] = []
        ignoring = bool(self.ignore.rules)

        def walk(path: str, name: str, rel: str | None, is_dir: bool) -> None:
            entries.append((name, path))
            if not is_dir:
                return
            with os.scandir(path) as it:  # each entry's type from the directory read: no stat per entry
                children = sorted((e.name, e.path, e.is_dir(follow_symlinks=False)) for e in it)
            for e, child, child_is_dir in children:
                child_rel = f"{rel}/{e}" if rel else e
                if ignoring and rel is not None and self.ignore.ignored(child_rel):
                    continue
                walk(child, f"{name}/{e}", child_rel if rel is not None else None, child_is_dir)

        in_images = [s for s in sources if s.origin == "image"]
        roots = []
        for src in sources:
            if src.host is None:
                continue
            p = src.host
            inside = p == ctx or ctx in p.parents
            rel = (str(p.relative_to(ctx)) if p != ctx else "") if inside else None
            walk(str(p), p.name, rel, p.is_dir() and not p.is_symlink())
            roots.append(str(p))
        unread = [r for r in roots if r not in self._roots_read]
        if unread:
            # what earlier builds hashed under these sources (this build's own hashes win)
            self._file_digests = {**buildcache.file_digests(self.store, unread), **self._file_digests}
            self._roots_read.update(unread)
        hexdigest, fresh = _native.digest_entries(entries, self._file_digests)
        for path, stat, digest in fresh:
            self._file_digests[path] = self._new_digests[path] = (stat, digest)
        parts = [hexdigest.encode()]  # hashed as one: the same digest as fed piece by piece
        if in_images:
            parts.append(_native.digest_in_root(in_images[0].fd, [s.path.encode() for s in in_images]).encode())
        for name, body in heredocs:
            parts.append(f"heredoc\0{name}\0{body}".encode())
        return _sha256(b"".join(parts))
