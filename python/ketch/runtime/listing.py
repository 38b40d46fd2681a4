"""The containers `ps` lists (docker's filters, `select`) and what its
columns read of each: STATUS, PORTS, labels, networks, mounts. Kept apart
from inspect.py, and free of pathlib, json and re, for `ketch ps`: the
listing imports this alone (inspect.py imports what its documents share
with it: mounts, networks)."""

from __future__ import annotations

import os

from ..errors import KetchError
from ..records import record
from ..store import Store
from .state import Container, list_containers, lookup

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..store.networks import Port


def _bridged_running(c: Container) -> bool:
    return c.state == "running" and c.config.get("network") not in ("none", "host", None)


# -- ps ------------------------------------------------------------------------

# docker's container states (a status= filter names one of them)
_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
_FILTERS = (
    "status", "name", "id", "ancestor", "label", "exited", "before", "since", "network", "volume", "health",
    "publish", "expose", "is-task", "isolation",
)  # fmt: skip
_HEALTH = ("starting", "healthy", "unhealthy", "none")


def labels(store: Store, c: Container) -> dict[str, str]:
    """The container's labels (docker's Config.Labels: its image's under its
    own -l); a container made before ketch kept labels has its image's."""
    if "labels" in c.config:
        return dict(c.config.get("labels") or {})
    from ..store import images as imgs

    try:
        return dict((imgs.config(store, c.image_id).get("config") or {}).get("Labels") or {})
    except KetchError:
        return {}


def networks(store: Store, c: Container) -> list[str]:
    """The names of the networks the container is on (its own network mode
    first: `bridge`, `host`, `none` or a user-defined one), as docker's NetworkSettings.Networks."""
    from ..store.networks import networks_of

    named = [c.config.get("network") or "none", *(c.config.get("connected") or {})]
    return list(dict.fromkeys(named + networks_of(store, c.id)))


def _network_id(store: Store, name: str) -> str:
    from ..store.networks import by_name

    net = by_name(store, name)
    if net is not None:
        return net.id
    from ..network.networks import predefined_id

    return predefined_id(name)


@record(frozen=True)
class MountPoint:
    """One of a container's mounts as `ps` shows it: a named volume by its
    name, a bind by its host source."""

    name: str
    source: str
    destination: str
    volume: bool
    read_only: bool = False


def mounts(store: Store, c: Container) -> list[MountPoint]:
    volumes_dir = _parts(os.path.join(store.dir, "volumes"))
    names = set(c.config.get("volume_names") or [])
    out = []
    for src, dst, ro in c.config.get("binds") or []:
        p = _parts(src)  # <volumes>/<name>/_data: a named volume's
        name = p[-2] if len(p) >= 3 and p[-1] == "_data" and p[:-2] == volumes_dir else ""
        is_volume = bool(name) and name in names
        out.append(MountPoint(name if is_volume else "", src, dst, is_volume, bool(ro)))
    return out


def _parts(path: str) -> list[str]:
    """A path's components as pathlib compares them (`//`, `.` and a trailing
    `/` dropped, `..` kept; the root, when absolute, the first)."""
    return (["/"] if path.startswith("/") else []) + [p for p in path.split("/") if p not in ("", ".")]


def size_rw(store: Store, c: Container) -> int:
    """Bytes the container wrote to its own layer (docker's SizeRw)."""
    from ..store.containers import dir_of
    from .state import disk_size

    return disk_size(f"{dir_of(store, c.id)}/upper")


@record(frozen=True)
class ContainerFilter:
    """docker ps -f, parsed: values by key (values of one key are ORed, the
    keys ANDed; label values are ANDed, as docker's MatchKVList)."""

    values: dict[str, list[str]]
    exited: list[int]
    publish: frozenset[str] = frozenset()  # "80/tcp": the container ports asked for
    expose: frozenset[str] = frozenset()
    is_task: bool | None = None  # is-task=true|false; None: not asked

    @property
    def every_state(self) -> bool:
        """A status filter lists stopped containers without -a, as docker's."""
        return "status" in self.values

    def has(self, key: str) -> bool:
        return key in self.values


def parse_filters(filters: list[str]) -> ContainerFilter:
    from ..models.filters import parse

    values = parse(filters, _FILTERS)
    exited = []
    for v in values.get("exited", []):
        try:
            exited.append(int(v))
        except ValueError:
            raise KetchError(f"invalid filter 'exited={v}': strconv.Atoi: parsing \"{v}\": invalid syntax") from None
    for v in values.get("status", []):
        if v not in _STATES:
            raise KetchError(
                f"invalid filter 'status={v}': invalid value for state ({v}): must be one of {', '.join(_STATES)}"
            )
    is_task = None
    if "is-task" in values:
        tasks = values["is-task"]
        if "true" in tasks:
            is_task = True
        elif "false" in tasks:
            is_task = False
        else:
            raise KetchError(f"Invalid filter 'is-task=[{' '.join(tasks)}]'")
    for v in values.get("health", []):
        if v not in _HEALTH:
            raise KetchError(f"Unrecognised filter value for health: {v}")
    publish = frozenset(p for v in values.get("publish", []) for p in _filter_ports("publish", v))
    expose = frozenset(p for v in values.get("expose", []) for p in _filter_ports("expose", v))
    return ContainerFilter(values, exited, publish, expose, is_task)


def _filter_ports(key: str, value: str) -> list[str]:
    """publish= and expose= values as docker reads them: PORT[/PROTO] or
    START-END[/PROTO] (tcp when no protocol), each port as "80/tcp"."""
    if ":" in value:
        raise KetchError(f"filter for '{key}' should not contain ':': {value}")
    port, _, proto = value.partition("/")
    proto = proto or "tcp"
    lo, sep, hi = port.partition("-")

    def number(s: str) -> int:
        if not (s.isascii() and s.isdigit()):
            raise KetchError(
                f'error while looking up for {key} {value}: strconv.ParseUint: parsing "{s}": invalid syntax'
            )
        n = int(s)
        if n > 65535:
            raise KetchError(
                f'error while looking up for {key} {value}: strconv.ParseUint: parsing "{s}": value out of range'
            )
        return n

    if not port:
        raise KetchError(f"error while looking up for {key} {value}: Empty string specified for ports.")
    start = number(lo)
    end = number(hi) if sep else start
    if end < start:
        raise KetchError(f"error while looking up for {key} {value}: Invalid range specified for the Port: {port}")
    return [f"{n}/{proto.lower()}" for n in range(start, end + 1)]


def health_status(c: Container) -> str:
    """What ps's health= filter matches: the healthcheck's status
    (starting, healthy, unhealthy), or none for a container without one, or
    not started since it was made (docker keeps no State.Health then)."""
    if not c.config.get("healthcheck"):
        return "none"
    status = (c.health or {}).get("Status")
    if isinstance(status, str) and status:
        return status
    return "starting" if c.state == "running" else "none"


def _bound_ports(c: Container) -> set[str]:
    """The container ports it publishes (docker's HostConfig.PortBindings' keys), as "80/tcp"."""
    return {f"{p['port']}/{p.get('proto') or 'tcp'}" for p in c.config.get("publish") or []}


def exposed_ports(store: Store, c: Container) -> set[str]:
    """docker's Config.ExposedPorts: its image's EXPOSE, and the ports it publishes."""
    from ..store import images as imgs

    try:
        image = set((imgs.config(store, c.image_id).get("config") or {}).get("ExposedPorts") or {})
    except KetchError:
        image = set()
    return {p if "/" in p else f"{p}/tcp" for p in image} | _bound_ports(c)


def container_filter(store: Store, filters: list[str]) -> Callable[[Container], bool]:
    """docker ps -f for one container at a time: status=, name= (a substring),
    id= (a prefix), ancestor= (image name or id), label=KEY or KEY=VALUE,
    exited=CODE, network= (name or id prefix), volume= (name or mount point),
    health=starting|healthy|unhealthy|none, publish= and expose=
    PORT[/PROTO] or a range (the container's ports), is-task=true|false,
    isolation= (Windows': any value keeps all, as docker on Linux).
    (before= and since= are about the list: `select` applies them.)"""
    f = parse_filters(filters)
    return lambda c: _matches(store, f, c)


def _matches(store: Store, f: ContainerFilter, c: Container) -> bool:
    v = f.values
    if "status" in v and ("paused" if c.paused else "restarting" if c.restarting else c.state) not in v["status"]:
        return False
    if "name" in v and not any(x.lstrip("/") in c.name for x in v["name"]):
        return False
    if "id" in v and not any(c.id.startswith(x) for x in v["id"]):
        return False
    if "ancestor" in v and not any(_is_ancestor(store, c, x) for x in v["ancestor"]):
        return False
    if "label" in v:
        from ..models.filters import match_labels

        if not match_labels(v["label"], labels(store, c)):
            return False
    if f.exited and not (c.state == "exited" and c.started and c.exit_code in f.exited):
        return False
    if "network" in v:
        nets = networks(store, c)
        if not any(x in nets or any(_network_id(store, n).startswith(x) for n in nets) for x in v["network"] if x):
            return False
    if "volume" in v:
        ms = mounts(store, c)
        names = {m.name or m.source for m in ms} | {m.destination for m in ms}
        if not any(x in names for x in v["volume"]):
            return False
    if "health" in v and health_status(c) not in v["health"]:
        return False
    if f.is_task is True:  # ketch runs no swarm tasks: none is one ("is-task=false" keeps all)
        return False
    # isolation= is Windows' (process, hyperv); on Linux docker accepts any value and keeps every container
    if f.publish and not f.publish & _bound_ports(c):
        return False
    if f.expose and not f.expose & exposed_ports(store, c):
        return False
    return True


def _is_ancestor(store: Store, c: Container, value: str) -> bool:
    from ..store import images as imgs

    try:
        img, _ = imgs.lookup(store, value)
    except KetchError:
        return False
    return img.id == c.image_id


def select(store: Store, all_: bool = False, filters: list[str] | None = None) -> list[Container]:
    """The containers `ps` lists, the newest first: the running ones (every
    one with `all_`, or with a status filter, as docker's), those `filters`
    keep; before=/since= (a name or id) keep those created before or after that one."""
    f = parse_filters(list(filters or []))
    every = all_ or f.every_state
    before = lookup(store, f.values["before"][-1]).id if f.has("before") else None
    since = lookup(store, f.values["since"][-1]).id if f.has("since") else None
    out = []
    for c in list_containers(store):  # newest first
        if before is not None:
            if c.id == before:
                before = None
            continue
        if since is not None and c.id == since:
            break
        if (every or c.state == "running") and _matches(store, f, c):
            out.append(c)
    return out


def published_ports(store: Store, c: Container) -> list[Port]:
    """A running bridged container's published ports (none otherwise)."""
    if not _bridged_running(c):
        return []
    from ..store.networks import ports_of

    return ports_of(store, c.id)


def status_text(c: Container) -> str:
    """docker's STATUS of a container (ps, the Engine API's Status): Up 5
    minutes (healthy), Exited (3) 2 hours ago, Restarting (1) ..., Created."""
    import time

    from ..models.ids import human_duration

    now = time.time()
    if c.restarting:
        return f"Restarting ({c.exit_code}) {human_duration(now - (c.finished or now))} ago"
    if c.state == "running" and c.started:
        up = f"Up {human_duration(now - c.started)}"
        if c.paused:
            return up + " (Paused)"
        if c.config.get("healthcheck"):
            status = (c.health or {}).get("Status", "starting")
            return up + (" (health: starting)" if status == "starting" else f" ({status})")
        return up
    if c.state == "exited" and c.finished:
        return f"Exited ({c.exit_code}) {human_duration(now - c.finished)} ago"
    return "Created"
