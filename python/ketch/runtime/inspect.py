"""What a face reads about containers: docker's inspect document, the
processes of `top`, the exit `wait` waits for, the containers `ps` shows,
the published ports of `port`, the entries of `logs`. Data only: each face
words it (the CLI as docker's text, the Engine API as its JSON)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, ImageNotFound, KetchError
from ..models.ids import rfc3339
from ..store import Store
from .state import Container, list_containers, log_path, lookup

if TYPE_CHECKING:
    from ..store.networks import Port

# store.networks (and ipaddress under it) are imported where a container has
# ports: `ps` of stopped or unbridged containers does without them.

_NO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time, as docker shows a time never reached


def _time(t: float | None) -> str:
    return rfc3339(t) if t else _NO_TIME


def _bridged_running(c: Container) -> bool:
    return c.state == "running" and c.config.get("network") not in ("none", "host", None)


def container_inspect(store: Store, ref: str | Container) -> dict[str, Any]:
    """`docker inspect CONTAINER`: its document, as the Engine API has it."""
    c = ref if isinstance(ref, Container) else lookup(store, ref)
    p = c.config
    running = c.state == "running"
    limits = p.get("limits") or {}
    return {
        "Id": c.id,
        "Created": _time(c.created),
        "Path": p["argv"][0],
        "Args": p["argv"][1:],
        "State": {
            "Status": c.state,
            "Running": running,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": c.pid if running else 0,
            "ExitCode": c.exit_code or 0,
            "Error": "",
            "StartedAt": _time(c.started),
            "FinishedAt": _time(c.finished),
        },
        "Image": c.image_id,
        "NetworkSettings": _network_settings(store, c),
        "LogPath": str(log_path(store, c)),
        "Name": "/" + c.name,
        "Driver": "overlay2",
        "HostConfig": {
            "NetworkMode": p["network"],
            "Memory": limits.get("memory") or 0,
            "NanoCpus": int((limits.get("cpus") or 0) * 1e9),
            "PidsLimit": limits.get("pids"),
            **_host_config_flags(p),
        },
        "Config": {
            "Hostname": p["hostname"],
            "User": p.get("user", ""),
            "Env": p["env"],
            "Cmd": p["argv"],
            "Image": c.image,
            "WorkingDir": p["cwd"],
            **_config_flags(p),
        },
    }


def _host_config_flags(p: dict[str, Any]) -> dict[str, Any]:
    """HostConfig's keys of issue 12's flags, named and shaped as docker's
    (those given: a container made without them shows what it did before)."""
    out = {
        "ShmSize": p.get("shm_size"),
        "Sysctls": p.get("sysctls"),
        "Ulimits": [{"Name": n, "Soft": soft, "Hard": hard} for n, soft, hard in p.get("ulimits") or []],
        "Devices": [
            {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms}
            for host, inside, perms in p.get("devices") or []
        ],
        "GroupAdd": p.get("group_add"),
    }
    return {k: v for k, v in out.items() if v}


def _config_flags(p: dict[str, Any]) -> dict[str, Any]:
    """Config's keys of issue 12's flags: labels, the stop signal and timeout."""
    out: dict[str, Any] = {"Labels": p.get("labels") or {}}
    if p.get("stop_signal"):
        out["StopSignal"] = p["stop_signal"]
    if p.get("stop_timeout") is not None:
        out["StopTimeout"] = p["stop_timeout"]
    return out


def _network_settings(store: Store, c: Container) -> dict[str, object]:
    if not _bridged_running(c):
        return {"IPAddress": "", "Ports": {}}
    from ..store.networks import address_of, ports_of

    ports: dict[str, list[dict[str, str]]] = {}
    for p in ports_of(store, c.id):
        ports.setdefault(f"{p.port}/{p.proto}", []).append({"HostIp": p.host_ip, "HostPort": str(p.host_port)})
    return {"IPAddress": address_of(store, c.id) or "", "Ports": ports}


def inspect_any(store: Store, name: str) -> dict[str, Any]:
    """`docker inspect NAME`: a container's document, else an image's (as
    docker resolves a name); ObjectNotFound if neither."""
    from ..errors import ContainerNotFound, ObjectNotFound
    from ..store.inspect import image_inspect

    try:
        return container_inspect(store, name)
    except ContainerNotFound:
        pass
    try:
        return image_inspect(store, name)
    except ImageNotFound:
        raise ObjectNotFound(f"No such object: {name}") from None


@dataclass(frozen=True)
class Top:
    """`docker top`: the host's `ps` header and its rows for the container's processes."""

    header: str
    lines: list[str]

    @property
    def titles(self) -> list[str]:
        return self.header.split()


def top(store: Store, ref: str, ps_args: list[str] | None = None) -> Top:
    """docker's way: the host's ps (with `ps_args`, default -ef), its rows
    kept for the pids in the container's cgroup."""
    import subprocess

    from . import cgroups

    c = lookup(store, ref)
    if c.state != "running":
        raise ConflictError(f"container {c.id} is not running")
    wanted = cgroups.pids(c.id)
    r = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or not lines:
        raise KetchError(f"ps: {r.stderr.strip() or 'failed'}")
    header = lines[0].split()
    if "PID" not in header:
        raise KetchError("couldn't find PID field in ps output")
    col = header.index("PID")
    kept = [
        line
        for line in lines[1:]
        if len(fields := line.split()) > col and fields[col].isdigit() and int(fields[col]) in wanted
    ]
    return Top(lines[0], kept)


def wait_exit(store: Store, ref: str, poll: float = 0.05) -> int:
    """`docker wait`: blocks until the container is not running; its exit code."""
    c = lookup(store, ref)
    while c.state == "running":
        time.sleep(poll)
        c = lookup(store, c.id)
    return c.exit_code if c.exit_code is not None else 0


# -- ps ------------------------------------------------------------------------

_FILTERS = ("status", "name", "id", "ancestor")


def _is_ancestor(store: Store, c: Container, value: str) -> bool:
    from ..store import images as imgs

    try:
        img, _ = imgs.lookup(store, value)
    except KetchError:
        return False
    return img.id == c.image_id


def container_filter(store: Store, filters: list[str]) -> Callable[[Container], bool]:
    """docker ps -f: status=, name= (a substring), ancestor= (image name or id), id= (prefix)."""
    pairs = []
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise KetchError(f"bad format of filter (expected name=value): {f}")
        if key not in _FILTERS:
            raise KetchError(f"invalid filter '{key}'")
        pairs.append((key, value))

    def match(c: Container, key: str, value: str) -> bool:
        if key == "status":
            return ("paused" if c.paused else c.state) == value
        if key == "name":
            return value.lstrip("/") in c.name
        if key == "id":
            return c.id.startswith(value)
        return _is_ancestor(store, c, value)

    return lambda c: all(match(c, k, v) for k, v in pairs)


def select(store: Store, all_: bool = False, filters: list[str] | None = None) -> list[Container]:
    """The containers `ps` lists: the running ones (every one with `all_`,
    or with a status filter, as docker's), those `filters` keep."""
    keep = container_filter(store, list(filters or []))
    every = all_ or any(f.startswith("status=") for f in filters or [])
    return [c for c in list_containers(store) if (every or c.state == "running") and keep(c)]


def published_ports(store: Store, c: Container) -> list[Port]:
    """A running bridged container's published ports (none otherwise)."""
    if not _bridged_running(c):
        return []
    from ..store.networks import ports_of

    return ports_of(store, c.id)


def port(store: Store, ref: str, which: str | None = None) -> list[Port]:
    """`docker port`: the container's published ports, or those of one
    PRIVATE_PORT[/PROTO] (KetchError when it has none)."""
    from ..store.networks import ports_of

    c = lookup(store, ref)
    ports = ports_of(store, c.id) if c.state == "running" else []
    if which is None:
        return ports
    num, _, proto = which.partition("/")
    hits = [p for p in ports if str(p.port) == num and p.proto == (proto or "tcp")]
    if not hits:
        raise KetchError(f"Error: No public port '{num}/{proto or 'tcp'}' published for {ref}")
    return hits


# -- logs ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One line of a container's json-file log."""

    stream: str  # "stdout" or "stderr"
    text: str
    time: str


def _tail_count(tail: str) -> int | None:
    if tail != "all" and not re.fullmatch(r"-?[0-9]{1,18}", tail):
        raise KetchError(f'invalid value "{tail[:40]}" for flag -n, --tail: a number of lines or "all"')
    return None if tail == "all" or int(tail) < 0 else int(tail)  # docker: a negative number is all of it


def _entry(line: str) -> LogEntry | None:
    try:
        e = json.loads(line)
    except ValueError:
        return None
    return LogEntry("stderr" if e.get("stream") == "stderr" else "stdout", e.get("log", ""), e.get("time", ""))


def logs(store: Store, ref: str, follow: bool = False, tail: str = "all", poll: float = 0.05) -> Iterator[LogEntry]:
    """`docker logs`: the entries of the container's log (the last `tail`),
    then with `follow` those written while it runs."""
    n = _tail_count(tail)
    c = lookup(store, ref)
    try:
        f = open(log_path(store, c), encoding="utf-8", errors="replace")  # noqa: SIM115 - followed below
    except FileNotFoundError:
        return
    with f:
        lines = f.readlines()
        if n is not None:
            lines = lines[-n:] if n > 0 else []
        while True:
            for line in lines:
                if (e := _entry(line)) is not None:
                    yield e
            if not follow:
                return
            line = f.readline()
            if line:
                lines = [line]
                continue
            if lookup(store, c.id).state != "running":
                lines, follow = f.readlines(), False
                continue
            lines = []
            time.sleep(poll)
