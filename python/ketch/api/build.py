"""`POST /build`: the legacy builder over a tar context in the body, its
output as dockerd's JSON stream ({"stream": line} per line, a FROM's pull
as pull progress, {"aux": {"ID": ...}} before "Successfully built" for
--iidfile, an error as the stream's last message); and `/build/prune`.

The context is unpacked by the Rust extractor into a directory of the
store's own (every entry confined to it); the Dockerfile is looked up
inside it only: a `dockerfile` that leaves the context (`../`, an absolute
path, a symlink out) is refused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .http import HTTPError
from .images import Progress, decode_auth, progress_doc
from .router import Call

MAX_CONTEXT = 16 << 30  # a build context's upload: beyond, 413


def _json_map(call: Call, name: str) -> dict[str, str]:
    doc = call.req.json_arg(name)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise HTTPError(400, f"{name} must be a JSON object")
    out = {}
    for k, v in doc.items():
        if v is None:  # a build arg given without a value (and none in the client's environment)
            continue
        if not isinstance(k, str) or not isinstance(v, str):
            raise HTTPError(400, f"{name} must map strings to strings")
        out[k] = v
    return out


def _dockerfile(context: Path, given: str | None) -> str:
    """The Dockerfile's path, inside `context` (its real path: no symlink out)."""
    name = given or "Dockerfile"
    if os.path.isabs(name) or "\0" in name:
        raise HTTPError(400, f"the Dockerfile ({name[:80]}) must be a path inside the build context")
    root = os.path.realpath(context)
    real = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, real]) != root:
        raise HTTPError(400, f"the Dockerfile ({name[:80]}) must be a path inside the build context")
    if not os.path.isfile(real):
        raise HTTPError(400, f"Cannot locate specified Dockerfile: {name[:200]}")
    return real


def _with_registry_config(call: Call) -> Any:
    """The store, with X-Registry-Config's credentials (base64url JSON:
    registry -> {username, password}) for a FROM's pull: this build alone."""
    raw = call.req.headers.get("x-registry-config", "")
    if not raw.strip():
        return call.store
    doc = decode_auth(raw)
    settings = call.store.settings
    from ..registry.login import server_key

    for server, entry in doc.items():
        if isinstance(entry, dict) and (entry.get("username") or entry.get("identitytoken")):
            domain, _ = server_key(server)
            settings = settings.with_auth(domain, str(entry.get("username") or ""), str(entry.get("password") or ""),
                                          str(entry.get("identitytoken") or ""))  # fmt: skip
    if settings is call.store.settings:
        return call.store
    import copy

    store = copy.copy(call.store)
    store.settings = settings
    return store


def _receive(call: Call, dest: Path) -> None:
    """The body (a tar, any compression) unpacked into `dest`."""
    from .. import _native
    from ..errors import KetchError

    tar = dest.with_suffix(".tar")
    try:
        with open(tar, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            for piece in call.req.chunks(MAX_CONTEXT):
                f.write(piece)
        _complete_tail(tar)
        fd = os.open(tar, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _native.extract_tar_fd(fd, dest)
        except (OSError, ValueError, KetchError) as e:
            msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise HTTPError(400, f"unable to prepare context: {msg}") from None
    finally:
        tar.unlink(missing_ok=True)


def _complete_tail(tar: Path) -> None:
    """docker's CLI sends a context whose Dockerfile lies outside the
    directory as a tar that ends right after its last member's data (no
    padding, no end-of-archive blocks), which dockerd takes. Such a tail is
    completed here, when the walk of the headers shows the last member
    whole: a member cut short stays cut short (the extractor refuses it)."""
    size = tar.stat().st_size
    if size % 512 == 0:
        return
    with open(tar, "rb") as f:
        if f.read(262)[257:262] != b"ustar":  # compressed, or not a tar the CLI wrote: as it is
            return
        at = 0
        while at + 512 <= size:
            f.seek(at)
            head = f.read(512)
            if head == b"\0" * 512:
                return
            field = head[124:136]
            if field[0] & 0x80:  # base-256
                n = int.from_bytes(field[1:], "big")
            else:
                try:
                    n = int(field.strip(b"\0 ") or b"0", 8)
                except ValueError:
                    return
            end = at + 512 + n
            if end == size:  # the last member, whole: only its padding and the trailer are missing
                with open(tar, "ab") as g:
                    g.write(b"\0" * ((-n) % 512) + b"\0" * 1024)
                return
            at = end + (-n) % 512


def build(call: Call) -> None:
    """POST /build?t=&dockerfile=&buildargs=&labels=&target=&networkmode=&nocache=&pull=&q=."""
    import tempfile

    from ..builder import events as ev
    from ..builder.builder import build as do_build
    from ..builder.state import Options
    from ..images import PullLine

    req = call.req
    if req.arg("remote"):
        raise HTTPError(400, "a remote build context is not supported: send the context as the body")
    network = req.arg("networkmode") or "default"
    if network not in ("default", "bridge", "host", "none"):
        raise HTTPError(400, f"network mode {network[:40]!r} is not supported for builds")
    quiet = req.flag("q")
    opts = Options(
        tags=[t for t in req.args("t") if t],
        build_args=_json_map(call, "buildargs"),
        labels=_json_map(call, "labels"),
        no_cache=req.flag("nocache"),
        target=req.arg("target") or None,
        pull=req.flag("pull"),
        network=network if network != "default" else call.store.settings.default_network or "default",
    )
    store = _with_registry_config(call)
    context = Path(tempfile.mkdtemp(prefix="api-context-", dir=call.store.root))
    try:
        _receive(call, context)
        opts.dockerfile = _dockerfile(context, req.arg("dockerfile"))
        out = Progress(call)

        def on_event(e: Any) -> None:
            if isinstance(e, ev.StepOutput):
                if not quiet:
                    out.send({"stream": e.data.decode("utf-8", "replace")})
            elif isinstance(e, PullLine):
                doc = progress_doc(e.event)
                if doc is not None and not quiet:
                    out.send(doc)
            elif isinstance(e, ev.Built):
                out.send({"aux": {"ID": e.image_id}})
                if quiet:
                    out.send({"stream": e.image_id + "\n"})
                else:
                    out.send({"stream": f"{ev.legacy_line(e)}\n"})
            elif not quiet and (line := ev.legacy_line(e)) is not None:
                out.send({"stream": line + "\n"})

        try:
            do_build(store, str(context), opts, on_event)
        except Exception as e:
            from .router import status_of

            msg = status_of(e).message
            code = getattr(e, "exit_code", 1)
            out.send({"errorDetail": {"code": code, "message": msg}, "error": msg})
        shutil.rmtree(context, ignore_errors=True)  # before the answer ends: the client sees nothing left
        out.close()
    finally:
        shutil.rmtree(context, ignore_errors=True)


def prune(call: Call) -> dict[str, Any]:
    """POST /build/prune?all=: the build cache's dangling entries (all with `all`)."""
    from ..store.buildcache import prune as do_prune

    r = do_prune(call.store, call.req.flag("all"))
    return {"CachesDeleted": list(r.deleted) or None, "SpaceReclaimed": r.reclaimed}


ROUTES = [
    ("POST", "/build", build),
    ("POST", "/build/prune", prune),
]
