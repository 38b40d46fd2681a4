"""What the system verbs return: a prune's report, disk usage, info."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pruned:
    """What a prune removed (ids or names, as docker lists them) and the
    bytes it gave back; an image prune also lists the names it untagged."""

    deleted: list[str] = field(default_factory=list)
    reclaimed: int = 0
    untagged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Usage:
    """One row of `system df`: objects, those in use, their bytes, and the
    bytes a prune could give back."""

    type: str
    total: int
    active: int
    size: int
    reclaimable: int


@dataclass(frozen=True)
class Info:
    version: str
    containers: int
    running: int
    paused: int
    stopped: int
    images: int
    storage_driver: str
    backing_filesystem: str
    cgroup_version: int
    cgroup_driver: str
    kernel: str
    operating_system: str
    architecture: str
    cpus: int
    memory: int
    name: str
    root: str
    monitor: str | None  # the ketch-monitor program's path, None when it is missing
    monitor_problem: str = ""
