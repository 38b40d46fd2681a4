"""What a face reads about containers: docker's inspect document, the
processes of `top`, the exit `wait` waits for, the containers `ps` shows,
the published ports of `port`, the entries of `logs`. Data only: each face
words it (the CLI as docker's text, the Engine API as its JSON)."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import ConflictError, ImageNotFound, KetchError
from ..models.ids import rfc3339
from ..records import record
from ..store import Store
from .listing import (  # the listing's part: a module of its own, for `ps`
    MountPoint,
    _bridged_running,
    _network_id,
    mounts,
    networks,
)
from .state import Container, container_dir, log_path, lookup

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

    from ..store.networks import Port

# store.networks (and ipaddress under it) are imported where a container has
# ports: `ps` of stopped or unbridged containers does without them.

_NO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time, as docker shows a time never reached


def _time(t: float | None) -> str:
    return rfc3339(t) if t else _NO_TIME


def container_inspect(store: Store, ref: str | Container) -> dict[str, Any]:
    """`docker inspect CONTAINER`: its document, as the Engine API has it:
    every key docker shows, in docker's order, set or not (the defaults
    docker's are where the container did not ask: `no` restart policy,
    json-file logs, a 64 MiB /dev/shm...)."""
    c = ref if isinstance(ref, Container) else lookup(store, ref)
    p = c.config
    running = c.state in ("running", "paused")
    d = container_dir(store, c.id)
    started = c.started is not None
    return {
        "Id": c.id,
        "Created": _time(c.created),
        "Path": p["argv"][0],
        "Args": p["argv"][1:],
        "State": {
            "Status": "restarting" if c.restarting else c.state,
            "Running": running,
            "Paused": c.state == "paused",
            "Restarting": c.restarting,
            "OOMKilled": False,
            "Dead": False,
            "Pid": c.pid if running and c.pid else 0,
            "ExitCode": c.exit_code or 0,
            "Error": "",
            "StartedAt": _time(c.started),
            "FinishedAt": _time(c.finished),
            **({"Health": _health(c)} if p.get("healthcheck") else {}),
        },
        "Image": c.image_id,
        # docker's are "" until the container first starts
        "ResolvConfPath": str(d / "resolv.conf") if started else "",
        "HostnamePath": str(d / "hostname") if started else "",
        "HostsPath": str(d / "hosts") if started else "",
        "LogPath": str(log_path(store, c)),
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": _host_config(p),
        "GraphDriver": {
            "Data": {
                "LowerDir": ":".join([str(d / "init"), *p.get("lowerdirs", [])]),
                "MergedDir": str(d / "rootfs"),
                "UpperDir": str(d / "upper"),
                "WorkDir": str(d / "work"),
            },
            "Name": "overlay2",
        },
        "Mounts": [_mount_doc(m) for m in mounts(store, c)],
        "Config": _config(store, c),
        "NetworkSettings": _network_settings(store, c),
    }


# docker's defaults for what ketch masks and makes read-only in /proc and /sys (rust/src/rootfs/masked.rs)
_MASKED = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]  # fmt: skip
_READ_ONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _host_config(p: dict[str, Any]) -> dict[str, Any]:
    """docker's HostConfig, every key: what the container was made with, docker's zero values for the rest."""
    from . import cgroups

    limits = p.get("limits") or {}
    publish = p.get("publish") or []
    bindings: dict[str, list[dict[str, str]]] = {}
    for x in publish:
        bindings.setdefault(f"{x['port']}/{x['proto']}", []).append(
            {"HostIp": "" if x["host_ip"] == "0.0.0.0" else x["host_ip"], "HostPort": str(x["host_port"] or "")}
        )
    binds = [f"{src}:{dst}" + (":ro" if ro else "") for src, dst, ro in p.get("binds") or []]
    security = ([] if p.get("seccomp", "default") == "default" else ["seccomp=unconfined"]) + (
        ["no-new-privileges"] if p.get("no_new_privileges") else []
    )
    privileged = bool(p.get("privileged"))
    return {
        "Binds": binds or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": _log_config(p)},
        "NetworkMode": p["network"],
        "PortBindings": bindings,
        "RestartPolicy": _restart_policy(p),
        "AutoRemove": bool(p.get("autoremove")),
        "VolumeDriver": "",
        "VolumesFrom": None,
        "CapAdd": p.get("cap_add") or None,
        "CapDrop": p.get("cap_drop") or None,
        "CgroupnsMode": "private" if cgroups.is_v2() else "host",
        "Dns": list(p.get("dns") or []),
        "DnsOptions": [],
        "DnsSearch": list(p.get("dns_search") or []),
        "ExtraHosts": [f"{h}:{ip}" for h, ip in p.get("extra_hosts") or []] or None,
        "GroupAdd": p.get("group_add") or None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": privileged,
        "PublishAllPorts": bool(p.get("publish_all")),
        "ReadonlyRootfs": bool(p.get("readonly_root")),
        "SecurityOpt": security or None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": p.get("shm_size") or 64 << 20,
        "Runtime": "ketch",
        "ConsoleSize": [0, 0],
        "Isolation": "",
        "CpuShares": 0,
        "Memory": limits.get("memory") or 0,
        "NanoCpus": int((limits.get("cpus") or 0) * 1e9),
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [
            {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms}
            for host, inside, perms in p.get("devices") or []
        ],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "KernelMemory": 0,
        "KernelMemoryTCP": 0,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": None,
        "OomKillDisable": False,
        "PidsLimit": limits.get("pids"),
        **({"Sysctls": p["sysctls"]} if p.get("sysctls") else {}),  # docker's omitempty
        **({"Tmpfs": {t: "" for t in p["tmpfs"]}} if p.get("tmpfs") else {}),
        "Ulimits": [{"Name": n, "Soft": soft, "Hard": hard} for n, soft, hard in p.get("ulimits") or []],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": None if privileged else list(_MASKED),
        "ReadonlyPaths": None if privileged else list(_READ_ONLY),
    }


def _config(store: Store, c: Container) -> dict[str, Any]:
    """docker's Config: the image's and the flags' (Env without what the
    engine adds itself: HOSTNAME, and HOME or PATH where the image had none)."""
    p = c.config
    image_env: list[str] = []
    volumes: dict[str, Any] = {}
    try:
        from ..store import images as imgs

        icfg = imgs.config(store, c.image_id).get("config") or {}
        image_env = list(icfg.get("Env") or [])
        volumes = dict(icfg.get("Volumes") or {})
    except (KetchError, OSError, ValueError):
        pass
    keys = {e.partition("=")[0] for e in image_env}
    env = [
        e
        for e in p["env"]
        if not e.startswith("HOSTNAME=")
        and not (e.startswith("HOME=") and p.get("home_set"))
        and not (e.startswith("PATH=") and "PATH" not in keys and e == _DEFAULT_PATH)
    ]
    interactive = bool(p.get("open_stdin"))  # -i (whether a client was attached is not recorded)
    return {
        "Hostname": p["hostname"],
        "Domainname": "",
        "User": p.get("user", ""),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": bool(p.get("tty")),
        "OpenStdin": interactive,
        "StdinOnce": bool(p.get("stdin_once")),
        "Env": env or None,
        "Cmd": p.get("cmd", p["argv"]) or None,
        **({"Healthcheck": p["healthcheck"]} if p.get("healthcheck") else {}),
        "Image": c.image,
        "Volumes": volumes or None,
        "WorkingDir": p["cwd"],
        "Entrypoint": p.get("entrypoint") or None,
        "OnBuild": None,
        **_config_flags(p),
    }


_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _mount_doc(m: MountPoint) -> dict[str, Any]:
    if m.volume:
        return {"Type": "volume", "Name": m.name, "Source": m.source, "Destination": m.destination,
                "Driver": "local", "Mode": "", "RW": not m.read_only, "Propagation": ""}  # fmt: skip
    return {"Type": "bind", "Source": m.source, "Destination": m.destination, "Mode": "", "RW": not m.read_only,
            "Propagation": "rprivate"}  # fmt: skip


def _health(c: Container) -> dict[str, Any]:
    """docker's State.Health: what the monitor found last, `starting` before its first probe."""
    h = c.health or {}
    return {"Status": h.get("Status", "starting"), "FailingStreak": h.get("FailingStreak", 0), "Log": h.get("Log", [])}


def _restart_policy(p: dict[str, Any]) -> dict[str, Any]:
    r = p.get("restart") or {}
    return {"Name": r.get("policy", "no"), "MaximumRetryCount": r.get("max_retries", 0)}


def _log_config(p: dict[str, Any]) -> dict[str, str]:
    """--log-opt as docker shows it back (max-size in bytes)."""
    o = p.get("log_opts") or {}
    out = {}
    if o.get("max_size"):
        out["max-size"] = str(o["max_size"])
    if o.get("max_file", 1) > 1:
        out["max-file"] = str(o["max_file"])
    return out


def _config_flags(p: dict[str, Any]) -> dict[str, Any]:
    """Config's keys of issue 12's flags: labels, the stop signal and timeout."""
    out: dict[str, Any] = {"Labels": p.get("labels") or {}}
    if p.get("stop_signal"):
        out["StopSignal"] = p["stop_signal"]
    if p.get("stop_timeout") is not None:
        out["StopTimeout"] = p["stop_timeout"]
    return out


def _network_settings(store: Store, c: Container) -> dict[str, object]:
    """docker's NetworkSettings, every key; the address, its prefix, the
    gateway and the ports of a bridged container while it runs; `Networks`
    one endpoint per network the container is on (`endpoints`)."""
    ports: dict[str, list[dict[str, str]]] = {}
    if _bridged_running(c):
        from ..store.networks import ports_of

        for p in ports_of(store, c.id):
            ports.setdefault(f"{p.port}/{p.proto}", []).append({"HostIp": p.host_ip, "HostPort": str(p.host_port)})
    nets = endpoints(store, c)
    own = nets.get(c.config.get("network") or "none") or {}
    ip, prefix, gateway = own.get("IPAddress", ""), own.get("IPPrefixLen", 0), own.get("Gateway", "")
    return {
        "Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports, "SandboxKey": "", "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": "", "Gateway": gateway, "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": ip,
        "IPPrefixLen": prefix, "IPv6Gateway": "", "MacAddress": "", "Networks": nets,
    }  # fmt: skip


def endpoints(store: Store, c: Container) -> dict[str, dict[str, Any]]:
    """docker's NetworkSettings.Networks (its EndpointSettings, docker 28's
    keys): one per network the container is on. `Aliases` are its
    --network-alias names on the network it was run on, and `network connect
    --alias` names on one it was connected to (null without, and on bridge,
    host and none); `DNSNames`, on a user-defined network once
    started, what peers resolve it by: its name, those aliases, its short id
    and its hostname (docker >= 25; docker 20.10 put the short id in
    Aliases instead). ketch has no endpoint ids or MAC addresses to show."""
    from ..models.ids import short_id
    from ..store.networks import address_of, aliases_on, by_name

    own = c.config.get("network") or "none"
    connected = c.config.get("connected") or {}
    up = _bridged_running(c)
    out: dict[str, dict[str, Any]] = {}
    for name in networks(store, c):
        net = by_name(store, name) if name not in ("host", "none") else None
        user_defined = name not in ("bridge", "host", "none")
        ip = (address_of(store, c.id, name) or "") if up and net is not None else ""
        aliases = aliases_on(c.config, name)
        names = (
            [c.name, *aliases, short_id(c.id), c.config.get("hostname") or ""] if name == own else [c.name, *aliases]
        )
        fixed = c.config.get("ip") if name == own else (connected.get(name) or {}).get("ip")
        out[name] = {
            "IPAMConfig": {"IPv4Address": fixed} if fixed else None,
            "Links": None,
            "Aliases": aliases if user_defined and aliases else None,
            "MacAddress": "",
            "DriverOpts": None,
            "GwPriority": 0,
            "NetworkID": net.id if net is not None else _network_id(store, name),
            "EndpointID": "",
            "Gateway": str(net.gateway) if ip and net is not None else "",
            "IPAddress": ip,
            "IPPrefixLen": net.subnet.prefixlen if ip and net is not None else 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": list(dict.fromkeys(n for n in names if n)) if user_defined and c.started else None,
        }
    return out


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


@record(frozen=True)
class Top:
    """`docker top`: the host's `ps` header and its rows for the container's processes."""

    header: str
    lines: list[str]

    @property
    def titles(self) -> list[str]:
        return self.header.split()

    @property
    def processes(self) -> list[list[str]]:
        """Each row split as docker's daemon splits ps's output: on blanks, the
        last column (the command, with its arguments) taking the rest."""
        n = len(self.titles)
        return [(f[: n - 1] + [" ".join(f[n - 1 :])]) if len(f := line.split()) > n else f for line in self.lines]


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


@record(frozen=True)
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


def log_files(path: Path, max_file: int) -> list[Path]:
    """A container's json-file log and the files rotated from it (--log-opt
    max-file), oldest first: <id>-json.log.N ... .1, <id>-json.log (some
    may not be there, or not yet)."""
    return [path.with_name(f"{path.name}.{n}") for n in range(max(max_file, 1) - 1, 0, -1)] + [path]


def _lines(paths: list[Path], n: int | None) -> list[str]:
    """The last `n` lines (all: None) across `paths`, read from the newest back."""
    out: list[str] = []
    for p in reversed(paths[:-1]):
        if n is not None and len(out) >= n:
            break
        try:
            out = p.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True) + out
        except FileNotFoundError:
            continue  # rotated away meanwhile
    return out


def _lines_after(paths: list[Path], inode: int) -> list[str]:
    """The lines of the rotated files newer than the one `inode` was (all of
    them if it was rotated away): what a follower that fell behind missed."""
    import os

    newer: list[Path] = []
    for p in reversed(paths[:-1]):  # .1 (the newest) first
        try:
            if os.stat(p).st_ino == inode:
                break
        except FileNotFoundError:
            continue
        newer.append(p)
    return _lines(list(reversed(newer)) + [paths[-1]], None)


def logs(
    store: Store,
    ref: str,
    follow: bool = False,
    tail: str = "all",
    poll: float = 0.05,
    since: str | None = None,
    until: str | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[LogEntry]:
    """`docker logs`: the entries of the container's log (the last `tail`),
    across the files rotated from it, then with `follow` those written while
    it runs (a rotation followed to the new file) or until `stop()` says so
    (a reader that went away). `since` and `until` (a time, Unix seconds or
    a duration ago, as docker takes them) keep the entries written in
    between, as docker's reader does after the tail."""
    n = _tail_count(tail)
    window = _log_window(since, until)
    c = lookup(store, ref)
    if window == (None, None):
        yield from _log_entries(store, c, follow, n, poll, stop)
        return
    from ..models.ids import parse_rfc3339

    low, high = window
    for e in _log_entries(store, c, follow, n, poll, stop):
        t = parse_rfc3339(e.time)
        when = t.timestamp() if t is not None else 0.0
        if high is not None and when > high:
            return
        if low is None or when >= low:
            yield e


def _log_window(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    from ..models.filters import parse_time

    now = time.time()
    out: list[float | None] = []
    for flag, v in (("since", since), ("until", until)):
        try:
            out.append(parse_time(v, now) if v else None)
        except KetchError as e:
            raise KetchError(f'invalid value for "{flag}": {e}') from None
    return out[0], out[1]


def _last_lines(f: Any, n: int, block: int = 64 << 10) -> list[str]:
    """The last `n` lines of the text file `f`, read from its end back (a
    tail of a log of gigabytes reads kilobytes); `f` is left at that end,
    where a follower goes on."""
    import os

    fd = f.fileno()
    end = os.fstat(fd).st_size
    at, data = end, b""
    while at > 0 and data.count(b"\n") <= n:
        step = min(block, at)
        at -= step
        data = os.pread(fd, step, at) + data
    f.seek(end)  # a UTF-8 log's byte offset is its text position (no decoder state between lines)
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    if at > 0:
        lines = lines[1:]  # the first may be cut: more than n are kept, so it is not needed
    return lines[-n:] if n > 0 else []


def _log_entries(
    store: Store, c: Container, follow: bool, n: int | None, poll: float, stop: Callable[[], bool] | None = None
) -> Iterator[LogEntry]:
    import os

    path = log_path(store, c)
    try:
        f = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - followed below
    except FileNotFoundError:
        return
    with_rotated = log_files(path, int((c.config.get("log_opts") or {}).get("max_file", 1)))
    try:
        lines: Iterable[str]
        if n is None:  # all of it: the rotated files, then the current one read as it is iterated (not held)
            lines = itertools.chain(_lines(with_rotated, None), f)
        else:
            tail = _last_lines(f, n)
            if len(tail) < n:
                tail = _lines(with_rotated, n - len(tail)) + tail
            lines = tail[-n:] if n > 0 else []
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
            try:
                rotated = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                rotated = False
            if rotated:  # the rest of the old file, those rotated after it, then the new one
                lines = f.readlines() + _lines_after(with_rotated, os.fstat(f.fileno()).st_ino)
                f.close()
                f = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
                continue
            if lookup(store, c.id).state != "running":
                lines, follow = f.readlines(), False
                continue
            if stop is not None and stop():
                return
            lines = []
            time.sleep(poll)
    finally:
        f.close()
