"""The registry's storage (a filesystem backend; an object store would
implement the same few calls) and the distribution spec's grammar: no name,
tag or digest becomes part of a path before it matched it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ...models import media
from .http import Error

# The distribution spec's grammar (used with fullmatch only).
NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME = 255
MAX_MANIFEST = 4 << 20
MANIFEST_TYPES = {*media.MANIFEST_TYPES, *media.INDEX_TYPES}


def valid_digest(d: object) -> bool:
    return isinstance(d, str) and DIGEST.fullmatch(d) is not None


def valid_name(n: object) -> bool:
    return isinstance(n, str) and len(n) <= MAX_NAME and NAME.fullmatch(n) is not None


def valid_tag(t: object) -> bool:
    return isinstance(t, str) and TAG.fullmatch(t) is not None


def _digest_error(d: object) -> Error:
    return Error(400, "DIGEST_INVALID", "invalid digest", {"digest": str(d)[:200]})


class Storage:
    """The filesystem backend. Every name and digest is checked against its
    grammar here too, whatever the caller checked: these become paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = str(root)
        for d in ("blobs/sha256", "_uploads", "repositories"):
            (root / d).mkdir(parents=True, exist_ok=True)

    def blob_file(self, digest: str) -> str:
        """The blob's path, as a string: the routes a client hits all day
        (manifest and blob GETs) build theirs without pathlib (~1 us a join)."""
        if not valid_digest(digest):
            raise _digest_error(digest)
        return f"{self.base}/blobs/sha256/{digest[7:]}"

    def repo_dir(self, name: str) -> str:
        if not valid_name(name):
            raise Error(400, "NAME_INVALID", "invalid repository name", {"name": str(name)[:300]})
        return f"{self.base}/repositories/{name}"

    def blob(self, digest: str) -> Path:
        return Path(self.blob_file(digest))

    def repo(self, name: str) -> Path:
        return Path(self.repo_dir(name))

    def linked(self, name: str, digest: str) -> bool:
        blob = self.blob_file(digest)  # validates, before the digest names the link
        return os.path.exists(f"{self.repo_dir(name)}/_layers/{digest}") and os.path.exists(blob)

    def link(self, name: str, digest: str) -> None:
        self.blob_file(digest)  # validates
        d = self.repo(name) / "_layers"
        d.mkdir(parents=True, exist_ok=True)
        (d / digest).touch()

    def adopt(self, tmp: Path, digest: str) -> None:
        """A verified file becomes the blob (atomically)."""
        os.replace(tmp, self.blob(digest))

    def describe(self, name: str, description: str | None, stars: int | None, official: bool) -> None:
        """Search metadata kept by the operator."""
        self.repo(name)  # validates
        meta = self.root / "_meta"
        meta.mkdir(exist_ok=True)
        f = meta / (name.replace("/", "%2F") + ".json")
        cur = json.loads(f.read_text()) if f.exists() else {}
        if description is not None:
            cur["description"] = description
        if stars is not None:
            cur["star_count"] = stars
        cur["is_official"] = official or cur.get("is_official", False)
        f.write_text(json.dumps(cur))

    def meta(self, name: str) -> dict[str, Any]:
        f = self.root / "_meta" / (name.replace("/", "%2F") + ".json")
        try:
            return dict(json.loads(f.read_text()))
        except (OSError, ValueError, TypeError):
            return {}

    def repositories(self) -> list[str]:
        return sorted(
            str(p.parent.parent.relative_to(self.root / "repositories"))
            for p in (self.root / "repositories").glob("**/_manifests/revisions")
        )

    def gc(self, upload_age: float = 24 * 3600) -> tuple[int, int]:
        """Blobs no manifest of any repository references go; so do uploads
        untouched for `upload_age` seconds. (Run it while nothing pushes.)"""
        import time

        keep: set[str] = set()
        for rev in (self.root / "repositories").glob("**/_manifests/revisions/*"):
            if not valid_digest(rev.name):
                continue
            keep.add(rev.name)
            try:
                doc = json.loads(self.blob(rev.name).read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict):  # whatever it names that is a digest stays (leniently: this deletes)
                descs: list[Any] = [doc.get("config"), doc.get("subject")]
                for k in ("layers", "manifests"):
                    if isinstance(doc.get(k), list):
                        descs += doc[k]
                keep.update(d["digest"] for d in descs if isinstance(d, dict) and valid_digest(d.get("digest")))
        removed = 0
        for b in (self.root / "blobs" / "sha256").iterdir():
            if f"sha256:{b.name}" not in keep:
                b.unlink()
                removed += 1
        for link in (self.root / "repositories").glob("**/_layers/*"):
            if link.name not in keep:
                link.unlink()
        stale = 0
        now = time.time()
        for u in (self.root / "_uploads").iterdir():
            if now - u.stat().st_mtime > upload_age:
                u.unlink()
                stale += 1
        return removed, stale

    def upload(self, uid: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", uid):
            raise Error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        return self.root / "_uploads" / uid


def references(doc: object) -> list[tuple[str, str]]:
    """What a manifest names, as (digest, "blob" or "manifest"), each digest
    checked before anyone makes a path of it: an index names manifests, an
    image manifest its config and layers. A malformed one is MANIFEST_INVALID."""

    def bad(why: str, detail: Any = None) -> Error:
        return Error(400, "MANIFEST_INVALID", f"manifest invalid: {why}", detail)

    def digest_of(desc: object, where: str) -> str:
        if not isinstance(desc, dict):
            raise bad(f"{where} is not a descriptor")
        d = desc.get("digest")
        if not valid_digest(d):
            raise bad(f"{where} has an invalid digest", {"digest": str(d)[:200]})
        return str(d)

    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    if "manifests" in doc:
        ms = doc["manifests"]
        if not isinstance(ms, list):
            raise bad("manifests is not a list")
        return [(digest_of(m, f"manifests[{i}]"), "manifest") for i, m in enumerate(ms)]
    layers = doc.get("layers", [])
    if not isinstance(layers, list):
        raise bad("layers is not a list")
    named = [(digest_of(doc.get("config"), "config"), "blob")]
    return named + [(digest_of(x, f"layers[{i}]"), "blob") for i, x in enumerate(layers)]


def _slurp(path: str, limit: int) -> bytes:
    """A small file's bytes, at most `limit` of them, in four system calls
    (Path.read_bytes costs several microseconds more: an io object, a buffer)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, min(os.fstat(fd).st_size, limit))
    finally:
        os.close(fd)


def _digest_of(path: Path) -> str:
    from ... import _native

    return _native.sha256_file(path)[0]
