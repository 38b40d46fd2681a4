"""One function per Dockerfile instruction (COPY and ADD are copy.py's).
Each makes the stage's next image: RUN runs in a real container and its
upper dir becomes the layer; WORKDIR of a missing directory builds its
layer in a directory of its own; the rest only change the config (an
empty layer in the history). A step found in the cache is reused."""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path

from ..errors import KetchError
from ..models.ids import rfc3339
from ..models.instructions import apply as apply_change
from ..store import images as imgs
from . import runtime
from .cache import key
from .events import CacheHit, ContainerRemoved, ContainerStarted, StepDone, StepOutput
from .parser import DockerfileError, Instruction, healthcheck, substitute, words
from .state import BuildFailed, Stage

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .builder import Builder

    Step = Callable[["Builder", Stage, Instruction, str], None]


# Instructions whose arguments see the stage's variables before the step runs.
_SUBSTITUTED = ("ADD", "COPY", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def run_step(b: Builder, stage: Stage, ins: Instruction) -> None:
    """`ins` on `stage`, by the function for its instruction."""
    rest = substitute(ins.rest, stage.env()) if ins.cmd in _SUBSTITUTED else ins.rest
    b.steps[ins.cmd](b, stage, ins, rest)


# -- what every step ends with -------------------------------------------------


def cached(b: Builder, stage: Stage, step_key: str) -> bool:
    """A step found in the cache becomes the stage's image."""
    hit = b.cache.lookup(stage.image_id, step_key)
    if not hit:
        return False
    b.emit(CacheHit(hit))
    b.emit(StepDone(hit))
    stage.image_id = hit
    stage.config = imgs.config(b.store, hit)
    return True


def _done(b: Builder, stage: Stage, step_key: str, image_id: str) -> None:
    b.cache.remember(stage.image_id, step_key, image_id)
    stage.image_id = image_id
    stage.config = imgs.config(b.store, image_id)
    b.emit(StepDone(image_id))


def _meta_created_by(shown: str) -> str:
    return f"/bin/sh -c #(nop)  {shown}"


def meta(
    b: Builder, stage: Stage, shown: str, change: Callable[[dict[str, Any]], dict[str, Any]], author: str = ""
) -> None:
    """A step that changes only the config: a new image, no layer."""
    created_by = _meta_created_by(shown)
    step_key = key(["meta", created_by])
    if cached(b, stage, step_key):
        return
    parent_cfg = stage.config
    new_part = change(dict(parent_cfg.get("config") or {}))
    history: dict[str, Any] = {"created": rfc3339(), "created_by": created_by}
    if author:
        history["author"] = author
    image_id = runtime.record_image(
        b.store,
        stage.image_id,
        parent_cfg,
        None,
        new_part,
        history,
        author=author or str(parent_cfg.get("author") or ""),
    )
    _done(b, stage, step_key, image_id)


def layer_step(
    b: Builder,
    stage: Stage,
    shown: str,
    key_parts: list[Any],
    fill: Callable[[int], object],
    change: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    created_by: str | None = None,
) -> None:
    """A step whose layer is built in a directory of its own (COPY, ADD,
    WORKDIR): `fill` writes it, given the directory held by fd."""
    step_key = key(key_parts)
    if cached(b, stage, step_key):
        return
    import tempfile  # 1.3 ms (random, hashlib's sha512): only when a step writes

    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=b.store.root))
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
        layer = runtime.write_layer(b.store, upper)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    cfg = dict(stage.config.get("config") or {})
    if change is not None:
        cfg = change(cfg)
    image_id = runtime.record_image(
        b.store,
        stage.image_id,
        stage.config,
        layer,
        cfg,
        {"created": rfc3339(), "created_by": created_by or f"/bin/sh -c #(nop) {shown}"},
        author=str(stage.config.get("author") or ""),
    )
    _done(b, stage, step_key, image_id)


# -- the instructions ----------------------------------------------------------


def arg(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    for w in words(rest):
        k, sep, v = w.partition("=")
        stage.args[k] = b.opts.build_args.get(k, v if sep else stage.args.get(k, ""))
    b.emit(StepDone(stage.image_id))


def run(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    """RUN: the command in a container on the stage's image; its changes are the layer."""
    form = ins.json_form()
    script = ins.rest
    if ins.heredocs and form is None:
        # RUN <<EOF: the body is the script, run by the shell
        script = ins.heredocs[0][1]
    argv = form if form is not None else [*stage.shell, script]
    created_by = shown_run = " ".join(argv) if form is None else "RUN " + json.dumps(form)
    used_args = dict(stage.args)
    step_key = key(["run", argv, sorted(used_args.items())])
    if cached(b, stage, step_key):
        return
    if stage.image_id is None:
        raise KetchError("RUN needs an image to run in: FROM scratch has no shell")
    cfg = stage.config.get("config") or {}
    env = [f"{k}={v}" for k, v in used_args.items() if not any(e.startswith(k + "=") for e in cfg.get("Env") or [])]
    c = runtime.Container(b.store, stage.image_id, argv, b.opts.network, env, cfg.get("WorkingDir") or None)
    b.emit(ContainerStarted(c.id))
    try:
        code = c.run(lambda data, stream: b.emit(StepOutput(data, stream)))
        if code != 0:
            err = BuildFailed(f"The command '{shown_run}' returned a non-zero code: {code}")
            err.exit_code = code
            raise err
        layer = c.layer()
    except BaseException:
        c.remove()
        raise
    c.remove()
    b.emit(ContainerRemoved(c.id))
    image_id = runtime.record_image(
        b.store,
        stage.image_id,
        stage.config,
        layer,
        dict(cfg),
        {"created": rfc3339(), "created_by": created_by},
        author=str(stage.config.get("author") or ""),
    )
    _done(b, stage, step_key, image_id)


def maintainer(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    meta(b, stage, f"MAINTAINER {rest}", lambda c: c, author=rest)


def shell(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    form = ins.json_form()
    if not form:
        raise DockerfileError(
            f"dockerfile parse error line {ins.line}: SHELL requires the arguments to be in JSON form"
        )
    stage.shell = form
    meta(b, stage, f"SHELL {json.dumps(form)}", lambda c: {**c, "Shell": form})


def onbuild(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    meta(b, stage, f"ONBUILD {rest}", lambda c: {**c, "OnBuild": [*(c.get("OnBuild") or []), rest]})


def healthcheck_(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    hc = healthcheck(ins)
    meta(b, stage, f"HEALTHCHECK {rest}", lambda c: {**c, "Healthcheck": hc})


def command(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    """CMD and ENTRYPOINT: the exec form as written, the shell form wrapped in the stage's SHELL."""
    cmd = ins.cmd
    form = ins.json_form()
    value = form if form is not None else [*stage.shell, rest]
    shown = "[" + " ".join(json.dumps(x) for x in value) + "]"
    field = "Cmd" if cmd == "CMD" else "Entrypoint"

    def set_cmd(c: dict[str, Any]) -> dict[str, Any]:
        c = {**c, field: value}
        if cmd == "ENTRYPOINT" and not stage.cmd_set:
            c["Cmd"] = None  # the base image's CMD does not go with a new ENTRYPOINT
        return c

    meta(b, stage, f"{cmd} {shown}", set_cmd)
    stage.cmd_set = stage.cmd_set or cmd == "CMD"


def workdir(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    """WORKDIR sets the config and makes the directory if missing (a layer then)."""
    base = (stage.config.get("config") or {}).get("WorkingDir") or "/"
    wd = posixpath.normpath(posixpath.join(base, rest))
    if stage.image_id is not None and _workdir_exists(b, stage.image_id, wd):
        meta(b, stage, f"WORKDIR {wd}", lambda c: {**c, "WorkingDir": wd})
        return
    layer_step(
        b,
        stage,
        f"WORKDIR {wd}",
        ["workdir", wd],
        lambda upper_fd: b.roots.mkdirs(stage.image_id, upper_fd, wd),
        change=lambda c: {**c, "WorkingDir": wd},
    )


def _workdir_exists(b: Builder, image_id: str, wd: str) -> bool:
    """Whether `wd` is a directory in the image: which of the two steps
    WORKDIR is. An image's layers never change, so when the cache holds
    exactly one of the two steps for this parent, that was the answer, found
    without mounting the image's layers to look (6 ms of a cached build);
    otherwise it is looked up inside the image."""
    if b.cache.enabled:
        as_meta = b.cache.lookup(image_id, key(["meta", _meta_created_by(f"WORKDIR {wd}")]))
        as_layer = b.cache.lookup(image_id, key(["workdir", wd]))
        if bool(as_meta) != bool(as_layer):
            return bool(as_meta)
    return b.roots.is_dir(image_id, wd)


def change(b: Builder, stage: Stage, ins: Instruction, rest: str) -> None:
    """ENV, LABEL, EXPOSE, USER, VOLUME, STOPSIGNAL: docker's change rules."""
    line = f"{ins.cmd} {rest}"
    meta(b, stage, line, lambda c: apply_change(c, line))


STEPS: dict[str, Step] = {
    "ARG": arg,
    "RUN": run,
    "MAINTAINER": maintainer,
    "SHELL": shell,
    "ONBUILD": onbuild,
    "HEALTHCHECK": healthcheck_,
    "CMD": command,
    "ENTRYPOINT": command,
    "WORKDIR": workdir,
    **{cmd: change for cmd in ("ENV", "LABEL", "EXPOSE", "USER", "VOLUME", "STOPSIGNAL")},
}
