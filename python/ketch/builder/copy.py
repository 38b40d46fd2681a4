"""COPY and ADD, and the roots they read: the build context, an image's
merged layers (--from, and what a destination already is), a download's
directory, each held by fd; every path resolved inside its root by Rust
(layer/copy.rs), never by a host path."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from .. import _native
from ..errors import KetchError
from ..records import record
from ..store import images as imgs
from . import context as ctxmod
from .parser import DockerfileError, Instruction, substitute, words
from .steps import layer_step

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from ..store import Store
    from .builder import Builder
    from .state import Stage


@record()
class Source:
    """One source of COPY/ADD: `path` inside the root `fd`."""

    fd: int
    path: str
    name: str  # its name in a destination directory
    kind: str  # "dir", "file", "symlink" or "other", the path followed
    origin: str  # "context", "image" or "download"
    host: Path | None = None  # context and downloads: the same file by its host path (the cache's walk)


class Roots:
    """The roots a build reads, opened once, closed by `close`: images'
    merged layers (mounted nowhere), by image id, and the build context."""

    def __init__(self, store: Store, context: Path) -> None:
        self.store = store
        self.context = context
        self._views: dict[str, int] = {}
        self._ctx_fd: int | None = None
        self._tmpfds: list[int] = []
        self._tmpdirs: list[Path] = []
        self._downloads: Path | None = None

    def view(self, image_id: str | None) -> int | None:
        """The image's layers merged, as a read-only root held by fd and
        mounted nowhere (so never reachable by a host path): what every
        lookup in an image goes through, resolved inside it."""
        if image_id is None:
            return None
        fd = self._views.get(image_id)
        if fd is None:
            lowers = [str(self.store.layers.diff(c)) for c in reversed(imgs.layer_chain(self.store, image_id))]
            fd = self._views[image_id] = _native.overlay_root(lowers)
        return fd

    def context_fd(self) -> int:
        if self._ctx_fd is None:
            self._ctx_fd = os.open(os.path.realpath(self.context), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._ctx_fd

    def lowerdirs(self, image_id: str | None) -> list[Path]:
        if image_id is None:
            return []
        return [self.store.layers.diff(ch) for ch in reversed(imgs.layer_chain(self.store, image_id))]

    def is_dir(self, image_id: str | None, path: str) -> bool:
        """Whether `path` is a directory in the image (links followed inside the image)."""
        view = self.view(image_id)
        return view is not None and _native.kind_in_root(view, path.encode(), follow=True) == "dir"

    def mkdirs(self, image_id: str | None, upper_fd: int, path: str, mode: int = 0o755) -> None:
        """`path`'s directories inside the layer being built (`upper_fd`),
        each with the metadata the image gives it (so the layer does not
        change them), new ones 0755 root."""
        _native.mkdirs_in_root(upper_fd, path.encode(), self.view(image_id), mode)

    def download(self, url: str) -> Source:
        """ADD of a URL: fetched (not extracted), mode 0600, named after the
        URL's last path component."""
        import tempfile  # 1.3 ms (random, hashlib's sha512): only for a download
        import urllib.parse
        import urllib.request

        if self._downloads is None:
            self._downloads = Path(tempfile.mkdtemp(prefix="add-", dir=self.store.root))
            self._tmpdirs.append(self._downloads)
        name = Path(urllib.parse.urlparse(url).path).name or "download"
        d = Path(tempfile.mkdtemp(dir=self._downloads))
        target = d / name
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(target, "wb") as f:
                import shutil

                shutil.copyfileobj(r, f, 1 << 20)
        except OSError as e:
            raise KetchError(f"ADD failed: downloading {url}: {e}") from None
        os.chmod(target, 0o600)
        fd = os.open(target.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._tmpfds.append(fd)
        return Source(fd, target.name, target.name, "file", "download", target)

    def close(self) -> None:
        for fd in [*self._views.values(), *self._tmpfds, *([self._ctx_fd] if self._ctx_fd is not None else [])]:
            os.close(fd)
        self._views.clear()
        self._tmpfds.clear()
        self._ctx_fd = None
        for d in self._tmpdirs:
            import shutil

            shutil.rmtree(d, ignore_errors=True)


def copy(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    """COPY and ADD (which also fetches URLs and unpacks local archives)."""
    form = ins.json_form()
    args = [substitute(a, stage.env()) for a in form] if form is not None else words(rest)
    if ins.heredocs:
        args = [a for a in args if not a.startswith("<<")]
    if len(args) < (1 if ins.heredocs else 2):
        raise DockerfileError(f"dockerfile parse error line {ins.line}: {ins.cmd} requires at least two arguments")
    dest = args[-1]
    cfg = stage.config.get("config") or {}
    if not dest.startswith("/"):
        dest = posixpath.join(cfg.get("WorkingDir") or "/", dest) + ("/" if dest.endswith("/") else "")
    chown = ins.flags.get("chown")
    chmod = ins.flags.get("chmod")
    mode = int(chmod, 8) if chmod else None
    uid = gid = None
    if chown:
        from .runtime import resolve_user

        uid, gid, _ = resolve_user(chown, b.roots.lowerdirs(stage.image_id))
    owner = (uid, gid or 0) if uid is not None else None
    # Every source is a path inside a root held by fd: the build context,
    # an image's merged layers (--from), or the directory of a download.
    sources: list[Source] = []
    from_stage = ins.flags.get("from")
    if from_stage:
        view = _from_root(b, from_stage)
        for s in args[:-1]:
            kind = _native.kind_in_root(view, s.encode(), follow=True)
            if kind is None:
                raise KetchError(f"COPY failed: stat {s}: file does not exist")
            sources.append(Source(view, s, posixpath.basename(s.rstrip("/")) or "/", kind, "image"))
    elif ins.heredocs:
        pass
    else:
        ctx = Path(os.path.realpath(b.context))
        for s in args[:-1]:
            if s.startswith(("http://", "https://")):
                if ins.cmd != "ADD":
                    raise KetchError(f"source can't be a URL for COPY: {s}")
                sources.append(b.roots.download(s))
                continue
            for p in ctxmod.expand(b.context, s, b.ignore):
                rel = "/" + str(p.relative_to(ctx)) if p != ctx else "/"
                kind = _native.kind_in_root(b.roots.context_fd(), rel.encode(), follow=True)
                if kind is None:
                    raise KetchError(f"COPY failed: stat {s}: file does not exist")
                sources.append(Source(b.roots.context_fd(), rel, p.name, kind, "context", p))
    many = len(sources) + len(ins.heredocs) > 1
    if many and not dest.endswith("/"):
        raise KetchError(
            f"When using {ins.cmd} with more than one source file, the destination must be a directory and end with a /"
        )
    digest = b.cache.sources_digest(sources, ins.heredocs)
    kind = "dir" if len(sources) == 1 and sources[0].kind == "dir" else "file"
    created_by = f"/bin/sh -c #(nop) {ins.cmd} {'multi' if many else kind}:{digest[:64]} in {dest} "
    base = stage.image_id

    def fill(upper: int) -> None:
        for src in sources:
            path = src.path.encode()
            if ins.cmd == "ADD" and src.origin != "download" and _native.archive_in_root(src.fd, path):
                b.roots.mkdirs(base, upper, dest)
                _native.extract_in_root(src.fd, path, upper, dest.encode())
                continue
            if src.kind == "dir":
                target = dest
                b.roots.mkdirs(base, upper, dest)
            elif dest.endswith("/") or b.roots.is_dir(base, dest):
                b.roots.mkdirs(base, upper, dest)
                target = posixpath.join(dest, src.name)
            else:
                b.roots.mkdirs(base, upper, posixpath.dirname(dest.rstrip("/")) or "/")
                target = dest.rstrip("/")
            skip, hollow = _excluded(b, src) if src.kind == "dir" else ([], [])
            _native.copy_in_root(
                src.fd,
                path,
                upper,
                target.encode(),
                chown=owner,
                chmod=mode,
                keep_owners=src.origin == "image",
                skip=skip,
                hollow=hollow,
            )
        for name, body in ins.heredocs:
            b.roots.mkdirs(base, upper, dest if dest.endswith("/") else posixpath.dirname(dest))
            target = posixpath.join(dest, name) if dest.endswith("/") else dest
            uid_, gid_ = owner or (0, 0)
            _native.write_in_root(
                upper, target.encode(), body.encode(), mode if mode is not None else 0o644, uid_, gid_
            )

    layer_step(
        b,
        stage,
        f"{ins.cmd} {rest}",
        [ins.cmd, dest, from_stage or "", chown or "", chmod or "", digest],
        fill,
        created_by=created_by,
    )


def _from_root(b: Builder, name: str) -> int:
    """COPY --from: an earlier stage (by name or index) or an image, as a
    root held by fd (its merged layers, mounted nowhere)."""
    st = next((s for s in b.stages if s.name == name), None)
    if st is None and name.isdigit() and int(name) < len(b.stages):
        st = b.stages[int(name)]
    if st is not None:
        image_id = st.image_id
    else:
        image_id = imgs.lookup(b.store, b.ensure_image(name, "missing"))[0].id
    view = b.roots.view(image_id)
    if view is None:
        raise KetchError(f"COPY --from={name}: the stage has no files")
    return view


def _excluded(b: Builder, src: Source) -> tuple[list[bytes], list[bytes]]:
    """What `.dockerignore` leaves out of a directory of the context,
    relative to it: entries skipped, and excluded directories that may
    hold a `!` exception (walked; kept only if something in them is)."""
    if src.origin != "context" or not b.ignore.rules or src.host is None:
        return [], []
    ctx = Path(os.path.realpath(b.context))
    skip: list[bytes] = []
    hollow: list[bytes] = []

    def walk(d: Path, rel: str) -> None:
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            r = f"{rel}/{e.name}" if rel else e.name
            is_dir = e.is_dir(follow_symlinks=False)
            if b.ignore.ignored(str((d / e.name).relative_to(ctx))):
                if is_dir and b.ignore.has_exceptions:
                    hollow.append(r.encode())
                    walk(d / e.name, r)
                else:
                    skip.append(r.encode())
            elif is_dir:
                walk(d / e.name, r)

    walk(src.host, "")
    return skip, hollow
