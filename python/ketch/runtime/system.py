"""The system verbs: `info` (what this engine is and has), `system df`
(what the store holds, what a prune could give back) and `system prune`
(each owner's prune, in docker's order)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

from ..models.system import Info, Pruned, Usage
from ..store import Store
from . import cgroups


def _fs_type(path: str) -> str:
    """The filesystem under `path`, as docker's "Backing Filesystem" names it."""
    best, kind = "", "unknown"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/")):
                    if len(parts[1]) >= len(best):
                        best, kind = parts[1], parts[2]
    except OSError:
        pass
    return {"ext4": "extfs", "ext3": "extfs", "ext2": "extfs"}.get(kind, kind)


def _os_name() -> str:
    try:
        for line in open("/etc/os-release").read().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    except OSError:
        pass
    return "Linux"


def info(store: Store, version: str = "") -> Info:
    """What `ketch info` shows; `version`: the engine's (the package's, which this part may not import)."""
    from ..errors import KetchError
    from .process import helper_program
    from .state import list_containers
    from .stats import host_memory

    cs = list_containers(store)
    running = [c for c in cs if c.state == "running"]
    paused = [c for c in running if c.paused]
    from ..store.images import list_images

    try:
        monitor: str | None = helper_program()
        problem = ""
    except KetchError as e:
        monitor, problem = None, str(e)
    return Info(
        version=version,
        containers=len(cs),
        running=len(running) - len(paused),
        paused=len(paused),
        stopped=len(cs) - len(running),
        images=len(list_images(store)),
        storage_driver="overlay2",
        backing_filesystem=_fs_type(str(store.root.resolve())),
        cgroup_version=2 if cgroups.is_v2() else 1,
        cgroup_driver="cgroupfs",
        kernel=platform.release(),
        operating_system=_os_name(),
        architecture=platform.machine(),
        cpus=os.cpu_count() or 1,
        memory=host_memory(),
        name=platform.node(),
        root=str(store.root),
        monitor=monitor,
        monitor_problem=problem,
    )


def disk_usage(store: Store) -> list[Usage]:
    """`system df`'s rows: Images, Containers, Local Volumes, Build Cache."""
    from ..store import buildcache
    from ..store.images import layer_chain, list_images
    from . import volumes
    from .state import container_dir, disk_size, list_containers

    cs = list_containers(store)
    used_images = {c.image_id for c in cs}
    imgs = list_images(store)
    layer_size: dict[str, int] = {}
    active_layers: set[str] = set()
    for img in imgs:
        for ch in layer_chain(store, img.id):
            if ch not in layer_size:
                layer_size[ch] = store.layers.size(ch)
            if img.id in used_images:
                active_layers.add(ch)
    total = sum(layer_size.values())
    rows = [
        Usage(
            "Images",
            len(imgs),
            len([i for i in imgs if i.id in used_images]),
            total,
            total - sum(layer_size[ch] for ch in active_layers),
        )
    ]
    sizes = {c.id: disk_size(container_dir(store, c.id) / "upper") for c in cs}
    rows.append(
        Usage(
            "Containers",
            len(cs),
            len([c for c in cs if c.state == "running"]),
            sum(sizes.values()),
            sum(sizes[c.id] for c in cs if c.state != "running"),
        )
    )
    vols = volumes.list_all(store)
    vsize = {v.name: disk_size(v.mountpoint) for v in vols}
    in_use = {v.name for v in vols if volumes.users(store, v.name)}
    rows.append(
        Usage(
            "Local Volumes",
            len(vols),
            len(in_use),
            sum(vsize.values()),
            sum(vsize[n] for n in vsize if n not in in_use),
        )
    )
    cached = buildcache.cached_images(store) & {i.id for i in imgs}
    rows.append(Usage("Build Cache", len(cached), 0, 0, 0))
    return rows


@dataclass(frozen=True)
class SystemPruned:
    containers: Pruned
    networks: list[str]
    volumes: Pruned
    images: Pruned
    build_cache: Pruned

    @property
    def reclaimed(self) -> int:
        return self.containers.reclaimed + self.volumes.reclaimed + self.images.reclaimed + self.build_cache.reclaimed


def prune(
    store: Store, all_images: bool = False, volumes_too: bool = False, filters: list[str] | None = None
) -> SystemPruned:
    """`system prune [--filter until=|label=|label!=]`: stopped containers,
    unused networks, (with `volumes_too`) unused anonymous volumes, dangling
    images (with `all_images`: every unused one), each as the filters take
    (volumes by their labels only: with `volumes_too`, `until` is refused,
    as docker's CLI refuses it), then the build cache (the filters do not reach it)."""
    from ..models.filters import PruneFilter
    from ..network import networks
    from ..store import buildcache
    from ..store import images as imgs
    from . import containers, volumes

    f = PruneFilter(filters)  # a bad filter refused before anything goes
    if volumes_too and f.until is not None:
        from ..errors import KetchError

        raise KetchError('The "until" filter is not supported with "--volumes"')
    c = containers.prune(store, filters)
    n = networks.prune(store, filters)
    v = volumes.prune(store, filters=filters) if volumes_too else Pruned()
    i = imgs.prune(store, all_images, filters)
    b = buildcache.prune(store, all_images)  # docker's -a: all the build cache, not only the dangling
    return SystemPruned(c, n, v, i, b)
