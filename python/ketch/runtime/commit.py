"""`ketch commit` and `ketch diff`: a container's upper dir as a new image
layer (written by Rust, see layer/diff.rs) or as docker's change list."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from .. import _native
from ..errors import KetchError
from ..models.ids import rfc3339, short_id
from ..store import Store
from ..store import images as imgs
from ..store.images import LayerBlob, scratch_config
from . import cgroups, state

__all__ = ["commit", "diff", "scratch_config", "write_layer_blob"]


def diff(store: Store, ref: str) -> list[tuple[str, str]]:
    c = state.lookup(store, ref)
    lowers = [str(p) for p in c.config["lowerdirs"]]
    return _native.layer_changes(state.container_dir(store, c.id) / "upper", lowers)


def _image_config(parent: dict[str, Any], c: state.Container, changes: list[str]) -> dict[str, Any]:
    """The container's own settings over its image's, as docker commits them, then --change."""
    from ..models.instructions import apply

    p = c.config
    cc = dict(parent.get("config") or {})
    cc["Cmd"] = p.get("cmd", p["argv"])
    cc["Entrypoint"] = p.get("entrypoint") or None
    cc["Env"] = [e for e in p["env"] if not e.startswith("HOSTNAME=")]
    cc["WorkingDir"] = "" if p["cwd"] == "/" and not cc.get("WorkingDir") else p["cwd"]
    cc["User"] = p.get("user", "")
    for line in changes:
        cc = apply(cc, line)
    return cc


def write_layer_blob(store: Store, upper: Path, freeze: str | None = None) -> LayerBlob:
    """A directory in overlay upper-dir form as a layer blob in the store
    (its diff id known). The tar is kept uncompressed, as docker keeps the
    layers it builds: compressing is for a push, and gzip would cost ~25 s
    per GB here. `freeze`: a container id frozen while its upper dir is read."""
    tmp = store.content.temp("layer-")
    try:
        if freeze:
            cgroups.freeze(freeze, True)
        try:
            diff_id, digest, size = _native.write_layer(upper, tmp, False)
        finally:
            if freeze:
                cgroups.freeze(freeze, False)
        store.content.commit_file(tmp, digest, size, digest=digest)
    finally:
        tmp.unlink(missing_ok=True)
    return LayerBlob(digest, size, diff_id=diff_id)


def commit(
    store: Store,
    ref: str,
    target: str | None = None,
    message: str = "",
    author: str = "",
    pause: bool = True,
    changes: list[str] | None = None,
) -> str:
    """A new image: the container's image plus one layer holding its changes;
    returns the image id. A running container is frozen while its upper dir
    is read (`pause`), as docker does. Its events are docker's: pause and
    unpause around the read, the image's tag, then the container's commit
    (comment, imageID, imageRef)."""
    from ..reference import parse
    from ..store import events
    from .events import container as event

    c = state.lookup(store, ref)
    tag = parse(target) if target else None  # a bad name fails before any work
    parent = imgs.config(store, c.image_id)
    config_part = _image_config(parent, c, changes or [])
    if not imgs.manifest_digest(store, c.image_id):
        raise KetchError(f"cannot commit {c.name}: the layers of its image {short_id(c.image_id)} are not in the store")
    freeze = c.id if pause and c.state == "running" and not c.paused else None
    if freeze:
        event(store, c, "pause")
    try:
        layer = write_layer_blob(store, state.container_dir(store, c.id) / "upper", freeze)
    finally:
        if freeze:
            event(store, c, "unpause")
    entry: dict[str, Any] = {"created": rfc3339(), "created_by": shlex.join(c.config["argv"])}
    if author:
        entry["author"] = author
    if message:
        entry["comment"] = message
    image_id = imgs.create_image(
        store, config_part, [layer], parent=c.image_id, parent_config=parent, history=entry, author=author, tag=tag
    )
    if tag is not None:
        events.record(store, "image", "tag", image_id, {"name": tag.familiar()})
    imageref = tag.familiar() if tag is not None else ""
    event(store, c, "commit", comment=message, imageID=image_id, imageRef=imageref)
    return image_id
