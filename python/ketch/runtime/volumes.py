"""Named volumes (`-v NAME:/path`, `--mount type=volume`, `ketch volume`):
directories under `<root>/volumes/<name>/_data`, as docker's local driver
keeps them. A new, empty volume is filled with what the image has at its
mount point the first time a container mounts it, as docker does."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, KetchError
from ..models.ids import rfc3339
from ..store import Store

if TYPE_CHECKING:
    from ..models.system import Pruned

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


class VolumeNotFound(KetchError):
    pass


@dataclass
class Volume:
    name: str
    mountpoint: Path
    created: str
    anonymous: bool
    labels: dict[str, str] | None = None  # `volume create --label`

    def inspect(self) -> dict[str, Any]:
        labels = {**(self.labels or {}), **({"com.docker.volume.anonymous": ""} if self.anonymous else {})}
        return {
            "CreatedAt": self.created,
            "Driver": "local",
            "Labels": labels or None,
            "Mountpoint": str(self.mountpoint),
            "Name": self.name,
            "Options": None,
            "Scope": "local",
        }


def _root(store: Store) -> Path:
    return store.root / "volumes"


def is_name(s: str) -> bool:
    return bool(_NAME.fullmatch(s))  # fullmatch: `$` would take a name ending in a newline


def get(store: Store, name: str) -> Volume:
    d = _root(store) / name
    if not is_name(name) or not (d / "meta.json").is_file():
        raise VolumeNotFound(f"get {name}: no such volume")
    meta = json.loads((d / "meta.json").read_text())
    return Volume(name, d / "_data", meta["created"], bool(meta.get("anonymous")), meta.get("labels") or None)


def create(
    store: Store, name: str | None = None, anonymous: bool = False, labels: dict[str, str] | None = None
) -> tuple[Volume, bool]:
    """The volume `name` (made if missing, with `labels`); the flag says whether it is new."""
    if name is None:
        name = os.urandom(32).hex()
    if not is_name(name):
        raise KetchError(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'
        )
    d = _root(store) / name
    try:
        return get(store, name), False
    except VolumeNotFound:
        pass
    (d / "_data").mkdir(parents=True, exist_ok=True)
    now = rfc3339(fraction=False)
    tmp = d / "meta.json.tmp"
    tmp.write_text(json.dumps({"created": now, "anonymous": anonymous, "labels": labels or None}))
    os.replace(tmp, d / "meta.json")
    from ..store import events

    events.record(store, "volume", "create", name, {"driver": "local"})
    return get(store, name), True


def list_all(store: Store) -> list[Volume]:
    root = _root(store)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        try:
            out.append(get(store, d.name))
        except (VolumeNotFound, OSError, ValueError):
            continue
    return out


def users(store: Store, name: str) -> list[str]:
    """Ids of the containers that mount the volume."""
    from ..store.containers import configs

    return [cid for cid, config in configs(store) if name in (config.get("volume_names") or [])]


def remove(store: Store, name: str, force: bool = False) -> None:
    v = get(store, name)
    in_use = users(store, name)
    if in_use:
        raise ConflictError(f"remove {name}: volume is in use - [{', '.join(in_use)}]")
    shutil.rmtree(v.mountpoint.parent)
    from ..store import events

    events.record(store, "volume", "destroy", name, {"driver": "local"})


def prune(store: Store, all_: bool = False, filters: list[str] | None = None) -> Pruned:
    """Unused volumes: anonymous ones (all with `all_`), as docker 23+
    prunes, that the filters take (`label=`, `label!=`; a volume has no
    `until`); their names and the bytes their data held (docker's
    directory.Size of each, taken before it goes)."""
    from ..models.filters import PruneFilter
    from ..models.system import Pruned
    from ..store import events
    from .state import disk_size

    f = PruneFilter(filters, ("label", "label!"))
    gone, reclaimed = [], 0
    for v in list_all(store):
        if (v.anonymous or all_) and not users(store, v.name) and f.takes(None, v.inspect()["Labels"]):
            size = disk_size(v.mountpoint)
            shutil.rmtree(v.mountpoint.parent, ignore_errors=True)
            if v.mountpoint.parent.exists():
                continue  # not removed (a mount on it, a read-only file system): neither listed nor counted
            gone.append(v.name)
            reclaimed += size
            events.record(store, "volume", "destroy", v.name, {"driver": "local"})
    return Pruned(gone, reclaimed)


def copy_up(lowerdirs: list[str], target: str, data: Path) -> None:
    """Fills a new volume with what the image has at `target`, as docker
    does: the image's layers merged (mounted nowhere, held by fd), `target`
    resolved inside them (a link such as `/data -> /` stays in the image),
    and its content copied by Rust into the volume: links as links, device
    nodes, FIFOs and sockets as nodes (never opened), owners, modes, xattrs
    and times kept; the volume's directory takes the target's metadata."""
    from .. import _native

    view = _native.overlay_root(lowerdirs)
    try:
        if _native.kind_in_root(view, target.encode(), follow=True) != "dir":
            return
        dst = os.open(data, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _native.copy_in_root(view, target.encode(), dst, b"/", keep_owners=True, top_meta=True)
        finally:
            os.close(dst)
    finally:
        os.close(view)
