"""`ketch build`: docker's legacy builder, step by step. Each instruction
makes an image whose parent is the previous step's; RUN runs in a real
container and its upper dir becomes the layer (Rust writes it, see
layer/diff.rs); COPY and ADD build their layer in a directory of their own
without a container; the rest only change the config (an empty layer in
the history). A step is reused from the cache when its parent image, its
instruction after substitution and, for COPY/ADD, its files are the same."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _native
from ..errors import KetchError
from ..models.instructions import apply as apply_change
from ..store import Store
from ..store import images as imgs
from . import context as ctxmod
from .parser import DockerfileError, Instruction, parse, substitute, words


class BuildFailed(KetchError):
    """A RUN that exited non-zero: the build stops with its code."""


@dataclass
class Options:
    tags: list[str] = field(default_factory=list)
    dockerfile: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    quiet: bool = False
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    pull: bool = False
    network: str = "default"  # RUN on the default bridge, as docker's builder


@dataclass
class Stage:
    name: str | None
    image_id: str | None  # None: scratch, nothing yet
    config: dict[str, Any]
    args: dict[str, str] = field(default_factory=dict)
    shell: list[str] = field(default_factory=lambda: ["/bin/sh", "-c"])
    cmd_set: bool = False  # a CMD in this stage survives a later ENTRYPOINT


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[1][:12]


_CACHE_DDL = (
    "CREATE TABLE IF NOT EXISTS build_cache("
    "parent TEXT NOT NULL, key TEXT NOT NULL, image_id TEXT NOT NULL, PRIMARY KEY(parent, key))"
)
# A file's content digest, valid while its stat says the same (size, times to
# the nanosecond, inode): a rebuild hashes only files whose stat changed.
_FILES_DDL = "CREATE TABLE IF NOT EXISTS build_files(path TEXT PRIMARY KEY, stat TEXT NOT NULL, digest TEXT NOT NULL)"


class Builder:
    def __init__(self, store: Store, context: Path, opts: Options, out: Callable[[str], None]) -> None:
        self.store = store
        self.context = context
        self.opts = opts
        self.out = out
        self.ignore = ctxmod.Ignore.of(context)
        self.stages: list[Stage] = []
        with store.db.write() as db:
            db.execute(_CACHE_DDL)
            db.execute(_FILES_DDL)
        self._file_digests: dict[str, tuple[str, str]] | None = None
        self._tmpdirs: list[Path] = []
        self._new_digests: dict[str, tuple[str, str]] = {}
        # Roots held by fd (see layer/copy.rs): images' merged layers (mounted
        # nowhere), by image id, and the build context.
        self._views: dict[str, int] = {}
        self._ctx_fd: int | None = None
        self._tmpfds: list[int] = []

    # -- cache ----------------------------------------------------------------

    def _cached(self, parent: str | None, key: str) -> str | None:
        if self.opts.no_cache:
            return None
        rows = self.store.db.query(
            "SELECT image_id FROM build_cache WHERE parent=? AND key=?", (parent or "scratch", key)
        )
        if rows and self.store.db.query("SELECT 1 FROM images WHERE id=?", (rows[0]["image_id"],)):
            return str(rows[0]["image_id"])
        return None

    def _from_cache(self, stage: Stage, key: str) -> bool:
        """A step found in the cache becomes the stage's image, printed as docker prints it."""
        hit = self._cached(stage.image_id, key)
        if not hit:
            return False
        self.out(" ---> Using cache")
        self.out(f" ---> {_short(hit)}")
        stage.image_id = hit
        stage.config = imgs.config(self.store, hit)
        return True

    def _remember(self, parent: str | None, key: str, image_id: str) -> None:
        with self.store.db.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO build_cache(parent, key, image_id) VALUES (?,?,?)",
                (parent or "scratch", key, image_id),
            )

    # -- the build ------------------------------------------------------------

    def build(self, text: str, name: str) -> str:
        instructions = parse(text, name)
        # ARG before the first FROM: defaults for FROM lines.
        meta_args: dict[str, str] = {}
        steps = []
        seen_from = False
        for ins in instructions:
            if ins.cmd == "FROM":
                seen_from = True
            if not seen_from:
                if ins.cmd != "ARG":
                    raise DockerfileError(f"dockerfile parse error line {ins.line}: {ins.cmd} before the first FROM")
                k, _, v = ins.rest.partition("=")
                meta_args[k.strip()] = self.opts.build_args.get(k.strip(), v.strip().strip('"'))
            steps.append(ins)
        if not seen_from:
            raise DockerfileError("no build stage in current context")
        if self.opts.target and not any(
            i.cmd == "FROM" and i.rest.lower().split()[-2:-1] == ["as"] and i.rest.split()[-1] == self.opts.target
            for i in instructions
        ):
            raise KetchError(f"failed to reach build target {self.opts.target} in Dockerfile")
        total = len(steps)
        stage: Stage | None = None
        for n, ins in enumerate(steps, 1):
            self.out(f"Step {n}/{total} : {ins.original}")
            if ins.cmd == "FROM":
                if stage is not None and self.opts.target and stage.name == self.opts.target:
                    break
                stage = self._from(ins, meta_args)
                self.stages.append(stage)
                if stage.image_id is not None:
                    self.out(f" ---> {_short(stage.image_id)}")
                self._onbuild(stage)
                continue
            if stage is None:
                if ins.cmd == "ARG":
                    continue
                raise DockerfileError(f"dockerfile parse error line {ins.line}: {ins.cmd} before the first FROM")
            self._step(stage, ins)
        assert stage is not None
        if self.opts.target:
            chosen = next((s for s in self.stages if s.name == self.opts.target), stage)
            stage = chosen
        if stage.image_id is None:
            # FROM scratch and nothing else: an empty image
            from ..runtime.commit import record_image, scratch_config

            cfg = scratch_config()
            stage.image_id = record_image(
                self.store, None, cfg, None, {}, {"created": _now(), "created_by": "/bin/sh -c #(nop) FROM scratch"}
            )
        if self.opts.labels:
            stage.image_id = self._meta(
                stage,
                "LABEL " + " ".join(f"{k}={v}" for k, v in self.opts.labels.items()),
                lambda c: {**c, "Labels": {**(c.get("Labels") or {}), **self.opts.labels}},
            )
        return stage.image_id

    def _from(self, ins: Instruction, meta_args: dict[str, str]) -> Stage:
        parts = substitute(ins.rest, meta_args).split()
        name = None
        if len(parts) == 3 and parts[1].lower() == "as":
            name = parts[2]
        elif len(parts) != 1:
            raise DockerfileError(
                f"dockerfile parse error line {ins.line}: FROM requires either one or three arguments"
            )
        base = parts[0]
        platform = substitute(ins.flags.get("platform", ""), meta_args)
        if platform:
            arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
            if platform.split("/")[:2] != ["linux", arch]:
                raise KetchError(f"FROM --platform={platform}: ketch runs linux/{arch} only (RUN could not execute it)")
        if base == "scratch":
            from ..runtime.commit import scratch_config

            return Stage(name, None, scratch_config())
        earlier = next((s for s in self.stages if s.name == base), None)
        if earlier is not None:
            return Stage(name, earlier.image_id, json.loads(json.dumps(earlier.config)), shell=list(earlier.shell))
        from ..cli._containers import _ensure_image

        _ensure_image(self.store, base, "always" if self.opts.pull else "missing")
        img, _ = imgs.lookup(self.store, base)
        return Stage(name, img.id, imgs.config(self.store, img.id))

    def _onbuild(self, stage: Stage) -> None:
        """The base image's ONBUILD triggers run first, then are cleared."""
        triggers = list((stage.config.get("config") or {}).get("OnBuild") or [])
        if not triggers:
            return
        self.out(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
        cfg = stage.config.get("config") or {}
        stage.config = {**stage.config, "config": {**cfg, "OnBuild": None}}
        for line in triggers:
            for ins in parse(line, "ONBUILD trigger"):
                if ins.cmd in ("ONBUILD", "FROM", "MAINTAINER"):
                    raise DockerfileError(f"{ins.cmd} isn't allowed as an ONBUILD trigger")
                self._step(stage, ins)

    # -- one instruction ------------------------------------------------------

    def _env(self, stage: Stage) -> dict[str, str]:
        env = dict(stage.args)
        for e in (stage.config.get("config") or {}).get("Env") or []:
            k, _, v = e.partition("=")
            env[k] = v
        return env

    def _step(self, stage: Stage, ins: Instruction) -> None:
        cmd = ins.cmd
        rest = (
            substitute(ins.rest, self._env(stage))
            if cmd in ("ADD", "COPY", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
            else ins.rest
        )
        if cmd == "ARG":
            for w in words(rest):
                k, sep, v = w.partition("=")
                stage.args[k] = self.opts.build_args.get(k, v if sep else stage.args.get(k, ""))
            self.out(f" ---> {_short(stage.image_id)}" if stage.image_id else " ---> Running in scratch")
            return
        if cmd == "RUN":
            self._run(stage, ins)
            return
        if cmd in ("COPY", "ADD"):
            self._copy(stage, ins, rest)
            return
        if cmd == "MAINTAINER":
            stage.image_id = self._meta(stage, f"MAINTAINER {rest}", lambda c: c, author=rest)
            return
        if cmd == "SHELL":
            form = ins.json_form()
            if not form:
                raise DockerfileError(
                    f"dockerfile parse error line {ins.line}: SHELL requires the arguments to be in JSON form"
                )
            stage.shell = form
            stage.image_id = self._meta(stage, f"SHELL {json.dumps(form)}", lambda c: {**c, "Shell": form})
            return
        if cmd == "ONBUILD":
            stage.image_id = self._meta(
                stage, f"ONBUILD {rest}", lambda c: {**c, "OnBuild": [*(c.get("OnBuild") or []), rest]}
            )
            return
        if cmd == "HEALTHCHECK":
            hc = _healthcheck(ins)
            stage.image_id = self._meta(stage, f"HEALTHCHECK {rest}", lambda c: {**c, "Healthcheck": hc})
            return
        if cmd in ("CMD", "ENTRYPOINT"):
            form = ins.json_form()
            value = form if form is not None else [*stage.shell, rest]
            shown = "[" + " ".join(json.dumps(x) for x in value) + "]"
            key = "Cmd" if cmd == "CMD" else "Entrypoint"

            def set_cmd(c: dict[str, Any]) -> dict[str, Any]:
                c = {**c, key: value}
                if cmd == "ENTRYPOINT" and not stage.cmd_set:
                    c["Cmd"] = None  # the base image's CMD does not go with a new ENTRYPOINT
                return c

            stage.image_id = self._meta(stage, f"{cmd} {shown}", set_cmd)
            stage.cmd_set = stage.cmd_set or cmd == "CMD"
            return
        if cmd == "WORKDIR":
            wd = self._workdir(stage, rest)
            self._workdir_step(stage, wd)
            return
        # ENV, LABEL, EXPOSE, USER, VOLUME, STOPSIGNAL: docker's change rules
        stage.image_id = self._meta(stage, f"{cmd} {rest}", lambda c: apply_change(c, f"{cmd} {rest}"))

    def _workdir(self, stage: Stage, path: str) -> str:
        import posixpath

        base = (stage.config.get("config") or {}).get("WorkingDir") or "/"
        return posixpath.normpath(posixpath.join(base, path))

    def _meta(
        self, stage: Stage, shown: str, change: Callable[[dict[str, Any]], dict[str, Any]], author: str = ""
    ) -> str:
        """A step that changes only the config: a new image, no layer."""
        from ..runtime.commit import record_image

        created_by = f"/bin/sh -c #(nop)  {shown}"
        key = hashlib.sha256(json.dumps(["meta", created_by]).encode()).hexdigest()
        if self._from_cache(stage, key):
            assert stage.image_id is not None
            return stage.image_id
        parent_cfg = stage.config
        new_part = change(dict(parent_cfg.get("config") or {}))
        history: dict[str, Any] = {"created": _now(), "created_by": created_by}
        if author:
            history["author"] = author
        image_id = record_image(
            self.store,
            stage.image_id,
            parent_cfg,
            None,
            new_part,
            history,
            author=author or str(parent_cfg.get("author") or ""),
        )
        self._remember(stage.image_id, key, image_id)
        stage.config = imgs.config(self.store, image_id)
        self.out(f" ---> {_short(image_id)}")
        return image_id

    # -- RUN ------------------------------------------------------------------

    def _run(self, stage: Stage, ins: Instruction) -> None:
        from ..runtime import containers as ctr
        from ..runtime.commit import record_image, write_layer_blob

        form = ins.json_form()
        script = ins.rest
        if ins.heredocs and form is None:
            # RUN <<EOF: the body is the script, run by the shell
            script = ins.heredocs[0][1]
        argv = form if form is not None else [*stage.shell, script]
        created_by = shown_run = " ".join(argv) if form is None else "RUN " + json.dumps(form)
        used_args = {k: v for k, v in stage.args.items()}
        key = hashlib.sha256(json.dumps(["run", argv, sorted(used_args.items())]).encode()).hexdigest()
        if self._from_cache(stage, key):
            return
        if stage.image_id is None:
            raise KetchError("RUN needs an image to run in: FROM scratch has no shell")
        cfg = stage.config.get("config") or {}
        env = [f"{k}={v}" for k, v in used_args.items() if not any(e.startswith(k + "=") for e in cfg.get("Env") or [])]
        opts = ctr.Options(entrypoint="", network=self.opts.network, env=env, workdir=cfg.get("WorkingDir") or None)
        c = ctr.create(self.store, stage.image_id, argv, opts)
        self.out(f" ---> Running in {c.id[:12]}")
        log = None
        try:
            sys.stdout.flush()
            if self.opts.quiet:  # -q: the step's output only if it fails
                log = tempfile.TemporaryFile()
            from ..runtime.stdio import Pipes

            io = Pipes(out=log.fileno() if log else 1, err=log.fileno() if log else 2)
            try:
                pid, _ = ctr.start(self.store, c, io=io)
                code = ctr.wait(self.store, c, pid, io)
            finally:
                io.close()
            if code != 0:
                if log is not None:
                    log.seek(0)
                    sys.stderr.write(log.read().decode(errors="replace"))
                err = BuildFailed(f"The command '{shown_run}' returned a non-zero code: {code}")
                err.exit_code = code
                raise err
            layer = write_layer_blob(self.store, ctr._dir(self.store, c.id) / "upper")
        except BaseException:
            ctr.remove(self.store, c.id, force=True, volumes_too=True)
            raise
        finally:
            if log is not None:
                log.close()
        ctr.remove(self.store, c.id, force=True, volumes_too=True)
        self.out(f"Removing intermediate container {c.id[:12]}")
        image_id = record_image(
            self.store,
            stage.image_id,
            stage.config,
            layer,
            dict(cfg),
            {"created": _now(), "created_by": created_by},
            author=str(stage.config.get("author") or ""),
        )
        self._remember(stage.image_id, key, image_id)
        stage.image_id = image_id
        stage.config = imgs.config(self.store, image_id)
        self.out(f" ---> {_short(image_id)}")

    # -- WORKDIR ----------------------------------------------------------------

    def _workdir_step(self, stage: Stage, wd: str) -> None:
        """WORKDIR sets the config and makes the directory if missing (a layer then)."""
        exists = stage.image_id is not None and self._exists_in_image(stage, wd)
        if exists:
            stage.image_id = self._meta(stage, f"WORKDIR {wd}", lambda c: {**c, "WorkingDir": wd})
            return
        self._layer_step(
            stage,
            f"WORKDIR {wd}",
            ["workdir", wd],
            lambda upper_fd: self._mkdirs(stage, upper_fd, wd),
            change=lambda c: {**c, "WorkingDir": wd},
        )

    def _lowerdirs(self, stage: Stage) -> list[Path]:
        if stage.image_id is None:
            return []
        return [self.store.layers.diff(ch) for ch in reversed(imgs.layer_chain(self.store, stage.image_id))]

    def _view(self, image_id: str | None) -> int | None:
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

    def _context_fd(self) -> int:
        if self._ctx_fd is None:
            self._ctx_fd = os.open(os.path.realpath(self.context), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._ctx_fd

    def _exists_in_image(self, stage: Stage, path: str) -> bool:
        """Whether `path` is a directory in the stage's image (links followed inside the image)."""
        view = self._view(stage.image_id)
        return view is not None and _native.kind_in_root(view, path.encode(), follow=True) == "dir"

    def _mkdirs(self, stage: Stage, upper_fd: int, path: str, mode: int = 0o755) -> None:
        """`path`'s directories inside the layer being built (`upper_fd`),
        each with the metadata the image gives it (so the layer does not
        change them), new ones 0755 root."""
        _native.mkdirs_in_root(upper_fd, path.encode(), self._view(stage.image_id), mode)

    def _layer_step(
        self,
        stage: Stage,
        shown: str,
        key_parts: list[Any],
        fill: Callable[[int], object],
        change: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        created_by: str | None = None,
    ) -> None:
        """A step whose layer is built in a directory of its own (COPY, ADD, WORKDIR)."""
        from ..runtime.commit import record_image, write_layer_blob

        key = hashlib.sha256(json.dumps(key_parts).encode()).hexdigest()
        if self._from_cache(stage, key):
            return
        tmp = Path(tempfile.mkdtemp(prefix="build-", dir=self.store.root))
        try:
            upper = tmp / "upper"
            upper.mkdir()
            upper_fd = os.open(upper, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fill(upper_fd)
            except (OSError, ValueError) as e:
                # From the in-root copy: one line, docker's words.
                msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                raise KetchError(f"{shown.split(' ', 1)[0]} failed: {msg}") from None
            finally:
                os.close(upper_fd)
            layer = write_layer_blob(self.store, upper)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        cfg = dict(stage.config.get("config") or {})
        if change is not None:
            cfg = change(cfg)
        image_id = record_image(
            self.store,
            stage.image_id,
            stage.config,
            layer,
            cfg,
            {"created": _now(), "created_by": created_by or f"/bin/sh -c #(nop) {shown}"},
            author=str(stage.config.get("author") or ""),
        )
        self._remember(stage.image_id, key, image_id)
        stage.image_id = image_id
        stage.config = imgs.config(self.store, image_id)
        self.out(f" ---> {_short(image_id)}")

    # -- COPY / ADD -------------------------------------------------------------

    def _copy(self, stage: Stage, ins: Instruction, rest: str) -> None:
        import posixpath

        form = ins.json_form()
        args = [substitute(a, self._env(stage)) for a in form] if form is not None else words(rest)
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
            from ..runtime.spec import resolve_user

            uid, gid, _ = resolve_user(chown, self._lowerdirs(stage))
        owner = (uid, gid or 0) if uid is not None else None
        # Every source is a path inside a root held by fd: the build context,
        # an image's merged layers (--from), or the directory of a download.
        sources: list[_Source] = []
        from_stage = ins.flags.get("from")
        if from_stage:
            view = self._from_root(from_stage)
            for s in args[:-1]:
                kind = _native.kind_in_root(view, s.encode(), follow=True)
                if kind is None:
                    raise KetchError(f"COPY failed: stat {s}: file does not exist")
                sources.append(_Source(view, s, posixpath.basename(s.rstrip("/")) or "/", kind, "image"))
        elif ins.heredocs:
            pass
        else:
            ctx = Path(os.path.realpath(self.context))
            for s in args[:-1]:
                if s.startswith(("http://", "https://")):
                    if ins.cmd != "ADD":
                        raise KetchError(f"source can't be a URL for COPY: {s}")
                    got = self._download(s)
                    fd = os.open(got.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    self._tmpfds.append(fd)
                    sources.append(_Source(fd, got.name, got.name, "file", "download", got))
                    continue
                for p in ctxmod.expand(self.context, s, self.ignore):
                    rel = "/" + str(p.relative_to(ctx)) if p != ctx else "/"
                    kind = _native.kind_in_root(self._context_fd(), rel.encode(), follow=True)
                    if kind is None:
                        raise KetchError(f"COPY failed: stat {s}: file does not exist")
                    sources.append(_Source(self._context_fd(), rel, p.name, kind, "context", p))
        many = len(sources) + len(ins.heredocs) > 1
        if many and not dest.endswith("/"):
            raise KetchError(
                f"When using {ins.cmd} with more than one source file, "
                "the destination must be a directory and end with a /"
            )
        digest = self._sources_digest(sources, ins.heredocs)
        kind = "dir" if len(sources) == 1 and sources[0].kind == "dir" else "file"
        created_by = f"/bin/sh -c #(nop) {ins.cmd} {'multi' if many else kind}:{digest[:64]} in {dest} "

        def fill(upper: int) -> None:
            for src in sources:
                path = src.path.encode()
                if ins.cmd == "ADD" and src.origin != "download" and _native.archive_in_root(src.fd, path):
                    self._mkdirs(stage, upper, dest)
                    _native.extract_in_root(src.fd, path, upper, dest.encode())
                    continue
                if src.kind == "dir":
                    target = dest
                    self._mkdirs(stage, upper, dest)
                elif dest.endswith("/") or self._exists_in_image(stage, dest):
                    self._mkdirs(stage, upper, dest)
                    target = posixpath.join(dest, src.name)
                else:
                    self._mkdirs(stage, upper, posixpath.dirname(dest.rstrip("/")) or "/")
                    target = dest.rstrip("/")
                skip, hollow = self._excluded(src) if src.kind == "dir" else ([], [])
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
                self._mkdirs(stage, upper, dest if dest.endswith("/") else posixpath.dirname(dest))
                target = posixpath.join(dest, name) if dest.endswith("/") else dest
                uid_, gid_ = owner or (0, 0)
                _native.write_in_root(
                    upper, target.encode(), body.encode(), mode if mode is not None else 0o644, uid_, gid_
                )

        self._layer_step(
            stage,
            f"{ins.cmd} {rest}",
            [ins.cmd, dest, from_stage or "", chown or "", chmod or "", digest],
            fill,
            created_by=created_by,
        )

    def _download(self, url: str) -> Path:
        """ADD of a URL: fetched (not extracted), mode 0600, named after the
        URL's last path component."""
        import urllib.parse
        import urllib.request

        if not hasattr(self, "_downloads"):
            self._downloads = Path(tempfile.mkdtemp(prefix="add-", dir=self.store.root))
            self._tmpdirs.append(self._downloads)
        name = Path(urllib.parse.urlparse(url).path).name or "download"
        d = Path(tempfile.mkdtemp(dir=self._downloads))
        target = d / name
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(target, "wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
        except OSError as e:
            raise KetchError(f"ADD failed: downloading {url}: {e}") from None
        os.chmod(target, 0o600)
        return target

    def _from_root(self, name: str) -> int:
        """COPY --from: an earlier stage (by name or index) or an image, as a
        root held by fd (its merged layers, mounted nowhere)."""
        st = next((s for s in self.stages if s.name == name), None)
        if st is None and name.isdigit() and int(name) < len(self.stages):
            st = self.stages[int(name)]
        if st is not None:
            image_id = st.image_id
        else:
            from ..cli._containers import _ensure_image

            _ensure_image(self.store, name, "missing")
            image_id = imgs.lookup(self.store, name)[0].id
        view = self._view(image_id)
        if view is None:
            raise KetchError(f"COPY --from={name}: the stage has no files")
        return view

    def close(self) -> None:
        for fd in [*self._views.values(), *self._tmpfds, *([self._ctx_fd] if self._ctx_fd is not None else [])]:
            os.close(fd)
        self._views.clear()
        self._tmpfds.clear()
        self._ctx_fd = None
        for d in self._tmpdirs:
            shutil.rmtree(d, ignore_errors=True)

    def _excluded(self, src: _Source) -> tuple[list[bytes], list[bytes]]:
        """What `.dockerignore` leaves out of a directory of the context,
        relative to it: entries skipped, and excluded directories that may
        hold a `!` exception (walked; kept only if something in them is)."""
        if src.origin != "context" or not self.ignore.rules or src.host is None:
            return [], []
        ctx = Path(os.path.realpath(self.context))
        skip: list[bytes] = []
        hollow: list[bytes] = []

        def walk(d: Path, rel: str) -> None:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
            for e in entries:
                r = f"{rel}/{e.name}" if rel else e.name
                is_dir = e.is_dir(follow_symlinks=False)
                if self.ignore.ignored(str((d / e.name).relative_to(ctx))):
                    if is_dir and self.ignore.has_exceptions:
                        hollow.append(r.encode())
                        walk(d / e.name, r)
                    else:
                        skip.append(r.encode())
                elif is_dir:
                    walk(d / e.name, r)

        walk(src.host, "")
        return skip, hollow

    def save_digests(self) -> None:
        if self._new_digests:
            with self.store.db.write() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO build_files(path, stat, digest) VALUES (?,?,?)",
                    [(k, st, d) for k, (st, d) in self._new_digests.items()],
                )
            self._new_digests.clear()

    def _sources_digest(self, sources: list[_Source], heredocs: list[tuple[str, str]]) -> str:
        """What COPY's cache depends on: names, modes, owners, link targets
        and contents of every file copied; never an mtime. For the context
        and downloads the walk (with .dockerignore) is here and stat,
        compare and hash are Rust's (`digest_entries`), reading a file again
        only when its stat changed; an image's files are hashed inside its
        merged view (`digest_in_root`)."""
        ctx = Path(os.path.realpath(self.context))
        entries: list[tuple[str, str]] = []
        ignoring = bool(self.ignore.rules)

        def walk(p: Path, name: str, rel: str | None) -> None:
            entries.append((name, str(p)))
            if p.is_dir() and not p.is_symlink():
                for e in sorted(os.listdir(p)):
                    child_rel = f"{rel}/{e}" if rel else e
                    if ignoring and rel is not None and self.ignore.ignored(child_rel):
                        continue
                    walk(p / e, f"{name}/{e}", child_rel if rel is not None else None)

        in_images = [s for s in sources if s.origin == "image"]
        for src in sources:
            if src.host is None:
                continue
            p = src.host
            inside = p == ctx or ctx in p.parents
            walk(p, p.name, (str(p.relative_to(ctx)) if p != ctx else "") if inside else None)
        if self._file_digests is None:
            self._file_digests = {
                r["path"]: (r["stat"], r["digest"])
                for r in self.store.db.query("SELECT path, stat, digest FROM build_files")
            }
        hexdigest, fresh = _native.digest_entries(entries, self._file_digests)
        for path, stat, digest in fresh:
            self._file_digests[path] = self._new_digests[path] = (stat, digest)
        h = hashlib.sha256(hexdigest.encode())
        if in_images:
            h.update(_native.digest_in_root(in_images[0].fd, [s.path.encode() for s in in_images]).encode())
        for name, body in heredocs:
            h.update(f"heredoc\0{name}\0{body}".encode())
        return h.hexdigest()


@dataclass
class _Source:
    """One source of COPY/ADD: `path` inside the root `fd`."""

    fd: int
    path: str
    name: str  # its name in a destination directory
    kind: str  # "dir", "file", "symlink" or "other", the path followed
    origin: str  # "context", "image" or "download"
    host: Path | None = None  # context and downloads: the same file by its host path (the cache's walk)


def _duration(v: str) -> int:
    """docker's durations (`30s`, `1m30s`, `500ms`) in nanoseconds."""
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", v)
    if not parts or "".join(n + u for n, u in parts) != v:
        raise DockerfileError(f"HEALTHCHECK: invalid duration {v!r}")
    total = sum(float(n) * units[u] for n, u in parts)
    if not total < 2**63:  # docker's durations are int64 nanoseconds; also catches inf
        raise DockerfileError(f"HEALTHCHECK: invalid duration {v!r}: out of range")
    return int(total)


def _healthcheck(ins: Instruction) -> dict[str, Any]:
    """HEALTHCHECK [--interval= --timeout= --start-period= --retries=] CMD ... | NONE."""
    word, _, rest = ins.rest.strip().partition(" ")
    if word.upper() == "NONE":
        return {"Test": ["NONE"]}
    if word.upper() != "CMD":
        raise DockerfileError(f"dockerfile parse error line {ins.line}: HEALTHCHECK needs CMD or NONE")
    form = Instruction("CMD", rest, ins.line, "").json_form()
    hc: dict[str, Any] = {"Test": ["CMD", *form] if form is not None else ["CMD-SHELL", rest.strip()]}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod")):
        if flag in ins.flags:
            hc[key] = _duration(ins.flags[flag])
    if "retries" in ins.flags:
        hc["Retries"] = int(ins.flags["retries"])  # a count: the parser checked it
    return hc


def build(store: Store, context_arg: str, opts: Options, out: Callable[[str], None] | None = None) -> str:
    """Builds; returns the final image id (and tags it)."""
    from ..reference import parse as parse_ref

    emit = out or (lambda line: print(line, flush=True))
    refs = [parse_ref(t) for t in opts.tags]  # bad names fail before any work
    tmp_ctx = None
    if context_arg == "-":
        # The context as a tar stream (any compression) on stdin: extracted
        # by Rust, every entry confined to the new directory.
        tmp_ctx = Path(tempfile.mkdtemp(prefix="context-", dir=store.root))
        try:
            _native.extract_tar_fd(os.dup(sys.stdin.fileno()), tmp_ctx)
        except (OSError, ValueError, KetchError) as e:
            shutil.rmtree(tmp_ctx, ignore_errors=True)
            msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise KetchError(f"unable to prepare context: {msg}") from None
        context = tmp_ctx
    else:
        context = Path(context_arg)
        if not context.is_dir():
            raise KetchError(f'unable to prepare context: path "{context_arg}" not found')
    try:
        df = Path(opts.dockerfile) if opts.dockerfile else context / "Dockerfile"
        if opts.dockerfile and not df.is_absolute() and not df.exists():
            df = context / opts.dockerfile
        try:
            text = df.read_text()
        except OSError:
            raise KetchError(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                f"lstat {df}: no such file or directory"
            ) from None
        b = Builder(store, context, opts, (lambda line: None) if opts.quiet else emit)
        t0 = time.time()
        try:
            image_id = b.build(text, str(df))
        finally:
            b.save_digests()
            b.close()
        _ = t0
        if opts.quiet:
            emit(image_id)
        else:
            emit(f"Successfully built {_short(image_id)}")
        for ref in refs:
            imgs.tag(store, image_id, str(ref))
            if not opts.quiet:
                emit(f"Successfully tagged {ref.familiar()}")
        return image_id
    finally:
        if tmp_ctx is not None:
            shutil.rmtree(tmp_ctx, ignore_errors=True)
