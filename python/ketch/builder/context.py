"""The build context: `.dockerignore` with docker's pattern rules, and
source paths for COPY/ADD that can never leave the context."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from pathlib import Path

from ..errors import KetchError


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """docker's filepath.Match plus `**` (any number of directories)."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if i < len(pattern) and pattern[i] == "/":
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out.append(re.escape(c))
            else:
                cls = pattern[i + 1 : j].replace("\\", "\\\\")
                out.append("[" + ("^" + cls[1:] if cls.startswith("^") else cls) + "]")
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


class Ignore:
    """`.dockerignore`: the last pattern that matches a path (or one of its
    parent directories) decides; `!` patterns re-include."""

    def __init__(self, text: str = "") -> None:
        self.rules: list[tuple[re.Pattern[str], bool]] = []
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            negate = s.startswith("!")
            if negate:
                s = s[1:].strip()
            s = posixpath.normpath(s.lstrip("/")) if s.strip("/") else "."
            if s == ".":
                continue
            self.rules.append((_pattern_regex(s), negate))

    @classmethod
    def of(cls, context: Path) -> Ignore:
        f = context / ".dockerignore"
        return cls(f.read_text(errors="replace") if f.is_file() else "")

    @property
    def has_exceptions(self) -> bool:
        return any(negate for _, negate in self.rules)

    def ignored(self, rel: str) -> bool:
        rel = rel.strip("/")
        if not self.rules or not rel or rel == ".":
            return False
        parts = rel.split("/")
        prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
        result = False
        for rx, negate in self.rules:
            if any(rx.match(p) for p in prefixes):
                result = not negate
        return result


def resolve(context: Path, src: str) -> Path:
    """A source path inside the context: `..` and symlinks (followed as the
    kernel would, then checked) may not lead outside it."""
    rel = posixpath.normpath("/" + src).lstrip("/")
    norm = posixpath.normpath(src)
    if norm == ".." or norm.startswith("../"):
        raise KetchError(f"forbidden path outside the build context: {src} ()")
    path = context / rel if rel else context
    real = Path(os.path.realpath(path))
    root = Path(os.path.realpath(context))
    if real != root and root not in real.parents:
        raise KetchError(f"forbidden path outside the build context: {src} ({real})")
    return real


def expand(context: Path, src: str, ignore: Ignore) -> list[Path]:
    """A COPY source with docker's globs, as context paths (sorted)."""
    if not any(c in src for c in "*?["):
        p = resolve(context, src)
        rel = str(p.relative_to(Path(os.path.realpath(context))))
        if not os.path.lexists(p) or (rel != "." and ignore.ignored(rel)):
            raise KetchError(
                "COPY failed: file not found in build context or excluded by .dockerignore: "
                f"stat {src}: file does not exist"
            )
        return [p]
    root = Path(os.path.realpath(context))
    pattern = posixpath.normpath(src.lstrip("/"))
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            full = Path(dirpath) / n
            rel = str(full.relative_to(root))
            if fnmatch.fnmatchcase(rel, pattern) and not ignore.ignored(rel):
                found.append(full)
        dirnames[:] = [
            d for d in dirnames if pattern.count("/") > str((Path(dirpath) / d).relative_to(root)).count("/")
        ]
    if not found:
        raise KetchError(f"COPY failed: no source files were specified ({src})")
    return sorted(found)
