"""`ketch build`: docker's legacy builder, step by step. Each instruction
makes an image whose parent is the previous step's (steps.py, copy.py); a
step is reused from the cache when its parent image, its instruction after
substitution and, for COPY/ADD, its files are the same (cache.py). What
happens is told through typed events (events.py); nothing is printed here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .. import _native
from ..errors import KetchError
from ..models.ids import host_arch, rfc3339
from ..store import Store
from ..store import images as imgs
from . import context as ctxmod
from . import runtime, steps
from .cache import Cache
from .copy import Roots, copy
from .events import Built, StepDone, StepStarted, Tagged, TriggersRunning
from .parser import DockerfileError, Instruction, parse, substitute
from .state import BuildFailed, Options, Stage

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    OnEvent = Callable[[Any], None]  # build events (events.Event) and, from a pull, ketch.images' events

__all__ = ["BuildFailed", "Builder", "Options", "Stage", "build"]


class Builder:
    def __init__(self, store: Store, context: Path, opts: Options, emit: OnEvent) -> None:
        self.store = store
        self.context = context
        self.opts = opts
        self.emit = emit
        self.ignore = ctxmod.Ignore.of(context)
        self.stages: list[Stage] = []
        self.cache = Cache(store, context, self.ignore, enabled=not opts.no_cache)
        self.roots = Roots(store, context)
        self.steps: dict[str, steps.Step] = {**steps.STEPS, "COPY": copy, "ADD": copy}

    def ensure_image(self, name: str, policy: str) -> str:
        """Pulls `name` if the policy says so; the name the store knows it by
        (a short name's search-registry candidate, images.local_name)."""
        from ..images import ensure_image, local_name

        ensure_image(self.store, name, policy, self.emit)
        return local_name(self.store, name)

    def build(self, text: str, name: str) -> str:
        instructions = parse(text, name)
        # ARG before the first FROM: defaults for FROM lines.
        meta_args: dict[str, str] = {}
        todo: list[Instruction] = []
        seen_from = False
        for ins in instructions:
            if ins.cmd == "FROM":
                seen_from = True
            if not seen_from:
                if ins.cmd != "ARG":
                    raise DockerfileError(f"dockerfile parse error line {ins.line}: {ins.cmd} before the first FROM")
                k, _, v = ins.rest.partition("=")
                meta_args[k.strip()] = self.opts.build_args.get(k.strip(), v.strip().strip('"'))
            todo.append(ins)
        if not seen_from:
            raise DockerfileError("no build stage in current context")
        if self.opts.target and not any(
            i.cmd == "FROM" and i.rest.lower().split()[-2:-1] == ["as"] and i.rest.split()[-1] == self.opts.target
            for i in instructions
        ):
            raise KetchError(f"failed to reach build target {self.opts.target} in Dockerfile")
        total = len(todo)
        stage: Stage | None = None
        for n, ins in enumerate(todo, 1):
            self.emit(StepStarted(n, total, ins.original))
            if ins.cmd == "FROM":
                if stage is not None and self.opts.target and stage.name == self.opts.target:
                    break
                stage = self._from(ins, meta_args)
                self.stages.append(stage)
                if stage.image_id is not None:
                    self.emit(StepDone(stage.image_id))
                self._onbuild(stage)
                continue
            if stage is None:
                if ins.cmd == "ARG":
                    continue
                raise DockerfileError(f"dockerfile parse error line {ins.line}: {ins.cmd} before the first FROM")
            steps.run_step(self, stage, ins)
        assert stage is not None
        if self.opts.target:
            stage = next((s for s in self.stages if s.name == self.opts.target), stage)
        if stage.image_id is None:
            # FROM scratch and nothing else: an empty image
            stage.image_id = runtime.record_image(
                self.store,
                None,
                runtime.scratch_config(),
                None,
                {},
                {"created": rfc3339(), "created_by": "/bin/sh -c #(nop) FROM scratch"},
            )
        if self.opts.labels:
            labels = self.opts.labels
            steps.meta(
                self,
                stage,
                "LABEL " + " ".join(f"{k}={v}" for k, v in labels.items()),
                lambda c: {**c, "Labels": {**(c.get("Labels") or {}), **labels}},
            )
        assert stage.image_id is not None
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
            arch = host_arch()
            if platform.split("/")[:2] != ["linux", arch]:
                raise KetchError(f"FROM --platform={platform}: ketch runs linux/{arch} only (RUN could not execute it)")
        if base == "scratch":
            return Stage(name, None, runtime.scratch_config())
        earlier = next((s for s in self.stages if s.name == base), None)
        if earlier is not None:
            return Stage(name, earlier.image_id, json.loads(json.dumps(earlier.config)), shell=list(earlier.shell))
        img, _ = imgs.lookup(self.store, self.ensure_image(base, "always" if self.opts.pull else "missing"))
        return Stage(name, img.id, imgs.config(self.store, img.id))

    def _onbuild(self, stage: Stage) -> None:
        """The base image's ONBUILD triggers run first, then are cleared."""
        triggers = list((stage.config.get("config") or {}).get("OnBuild") or [])
        if not triggers:
            return
        self.emit(TriggersRunning(len(triggers)))
        cfg = stage.config.get("config") or {}
        stage.config = {**stage.config, "config": {**cfg, "OnBuild": None}}
        for line in triggers:
            for ins in parse(line, "ONBUILD trigger"):
                if ins.cmd in ("ONBUILD", "FROM", "MAINTAINER"):
                    raise DockerfileError(f"{ins.cmd} isn't allowed as an ONBUILD trigger")
                steps.run_step(self, stage, ins)

    def close(self) -> None:
        self.cache.save()
        self.roots.close()


def build(store: Store, context_arg: str, opts: Options, on_event: OnEvent | None = None) -> str:
    """Builds; returns the final image id (and tags it). `on_event` gets
    every events.Event of the build, in order, and the events of a pull
    (ketch.images) when a base image is fetched."""
    from ..reference import parse as parse_ref

    emit: OnEvent = on_event or (lambda ev: None)
    refs = [parse_ref(t) for t in opts.tags]  # bad names fail before any work
    tmp_ctx = None
    if context_arg == "-":
        # The context as a tar stream (any compression) on stdin: extracted
        # by Rust, every entry confined to the new directory.
        import tempfile  # 1.3 ms (random, hashlib's sha512): only for a context on stdin

        tmp_ctx = Path(tempfile.mkdtemp(prefix="context-", dir=store.root))
        try:
            _native.extract_tar_fd(os.dup(sys.stdin.fileno()), tmp_ctx)
        except (OSError, ValueError, KetchError) as e:
            import shutil

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
        b = Builder(store, context, opts, emit)
        try:
            image_id = b.build(text, str(df))
        finally:
            b.close()
        emit(Built(image_id))
        for ref in refs:
            imgs.tag(store, image_id, str(ref))
            emit(Tagged(ref.familiar()))
        return image_id
    finally:
        if tmp_ctx is not None:
            import shutil

            shutil.rmtree(tmp_ctx, ignore_errors=True)
