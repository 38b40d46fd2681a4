"""`ketch commit` and `ketch diff`: a container's upper dir as a new image
layer (written by Rust, see layer/diff.rs) or as docker's change list."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import uuid
from pathlib import Path
from typing import Any

from .. import _native
from ..errors import KetchError
from ..models.image import oci_manifest
from ..reference import Reference
from ..store import Store
from ..store import images as imgs
from ..store.content import fsync_dir
from ..store.layers import chain_ids
from . import cgroups
from . import containers as ctr


def diff(store: Store, ref: str) -> list[tuple[str, str]]:
    c = ctr.lookup(store, ref)
    lowers = [str(p) for p in c.config["lowerdirs"]]
    return _native.layer_changes(ctr._dir(store, c.id) / "upper", lowers)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _image_config(parent: dict[str, Any], c: ctr.Container, changes: list[str]) -> dict[str, Any]:
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


def write_layer_blob(store: Store, upper: Path, freeze: str | None = None) -> tuple[str, str, int]:
    """A directory in overlay upper-dir form as a layer blob in the store:
    (diff id, blob digest, size). The tar is kept uncompressed, as docker
    keeps the layers it builds: compressing is for a push, and gzip would
    cost ~25 s per GB here. `freeze`: a container id frozen while its upper
    dir is read."""
    tmp = store.content.ingest_dir / f"layer-{uuid.uuid4().hex[:12]}"
    try:
        if freeze:
            cgroups.freeze(freeze, True)
        try:
            diff_id, digest, size = _native.write_layer(upper, tmp, False)
        finally:
            if freeze:
                cgroups.freeze(freeze, False)
        blob = store.content.path(digest)
        os.rename(tmp, blob)
        fsync_dir(blob.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return diff_id, digest, size


def scratch_config() -> dict[str, Any]:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    return {"architecture": arch, "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}


def record_image(
    store: Store,
    parent_id: str | None,
    parent: dict[str, Any],
    layer: tuple[str, str, int] | None,
    config_part: dict[str, Any],
    history: dict[str, Any],
    tag: Reference | None = None,
    author: str = "",
) -> str:
    """A new image: `parent` (an image config; scratch_config() for none)
    plus `layer` (diff id, blob digest, size; None adds no layer, an
    empty-layer history entry), with `config_part` as its "config". The
    layer must already be a blob in the store; it is unpacked here."""
    parent_layers: list[dict[str, Any]] = []
    if parent_id is not None:
        rows = store.db.query("SELECT manifest FROM images WHERE id=?", (parent_id,))
        if not rows or not rows[0]["manifest"]:
            raise KetchError(f"the layers of image {parent_id[7:19]} are not in the store")
        parent_layers = json.loads(store.content.read(rows[0]["manifest"]))["layers"]
    diff_ids = list(parent["rootfs"]["diff_ids"])
    layers = [(x["digest"], int(x["size"]), str(x["mediaType"])) for x in parent_layers]
    if layer is not None:
        diff_id, digest, size = layer
        diff_ids.append(diff_id)
        chains = chain_ids(diff_ids)
        store.layers.create(
            chains[-1], diff_id, chains[-2] if len(chains) > 1 else None, store.content.path(digest), digest
        )
        layers.append((digest, size, "application/vnd.oci.image.layer.v1.tar"))
    else:
        history = {**history, "empty_layer": True}
    chains = chain_ids(diff_ids)
    config: dict[str, Any] = {
        **{k: v for k, v in parent.items() if k not in ("author", "container", "container_config")},
        "created": history["created"],
        "config": config_part,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [*(parent.get("history") or []), history],
    }
    if author:
        config["author"] = author
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    image_id = _native.sha256_bytes(config_bytes)
    manifest = oci_manifest((image_id, len(config_bytes)), layers)
    imgs.record(
        store,
        image_id,
        config_bytes,
        chains,
        {d for d, _, _ in layers},
        tag,
        parent=parent_id,
        manifest=store.content.write(manifest),
    )
    return image_id


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
    is read (`pause`), as docker does."""
    from ..reference import parse

    c = ctr.lookup(store, ref)
    tag = parse(target) if target else None  # a bad name fails before any work
    parent = imgs.config(store, c.image_id)
    config_part = _image_config(parent, c, changes or [])
    if not store.db.query("SELECT 1 FROM images WHERE id=? AND manifest IS NOT NULL", (c.image_id,)):
        raise KetchError(f"cannot commit {c.name}: the layers of its image {c.image_id[7:19]} are not in the store")
    freeze = c.id if pause and c.state == "running" and not c.paused else None
    layer = write_layer_blob(store, ctr._dir(store, c.id) / "upper", freeze)
    entry: dict[str, Any] = {"created": _now(), "created_by": shlex.join(c.config["argv"])}
    if author:
        entry["author"] = author
    if message:
        entry["comment"] = message
    return record_image(store, c.image_id, parent, layer, config_part, entry, tag, author)
