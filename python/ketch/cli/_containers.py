"""Output of the container commands, in docker's formats."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable

from ..errors import ImageNotFound, KetchError
from ..runtime import containers as ctr
from ..store import Store
from ._format import ellipsis, human_duration, table


def _ensure_image(store: Store, image: str, pull_policy: str) -> None:
    from ..images import ensure_image

    ensure_image(store, image, pull_policy, print_pull)


def print_pull(ev: object) -> None:
    """The pull policy's events as docker's CLI prints them. The container's
    output owns stdout: the pull's lines go to stderr, as docker's do."""
    from ..images import NotFoundLocally, PullLine

    if isinstance(ev, NotFoundLocally):
        print(f"Unable to find image '{ev.ref}' locally", file=sys.stderr, flush=True)
    elif isinstance(ev, PullLine):
        from ._progress import TerminalReporter

        TerminalReporter(sys.stderr, tty=False)(ev.event)


def run(
    store: Store,
    image: str,
    args: list[str],
    opts: ctr.Options,
    *,
    create_only: bool = False,
    rm: bool = False,
    detach: bool = False,
    interactive: bool = False,
    tty: bool = False,
    env_file: list[str] | None = None,
    pull_policy: str = "missing",
    memory: str | None = None,
    cpus: float | None = None,
    pids_limit: int | None = None,
) -> int:
    from ..runtime.cgroups import Limits, check_cpus, parse_bytes
    from ..runtime.spec import read_env_file

    opts.tty = tty
    try:
        check_cpus(cpus)
        opts.limits = Limits(parse_bytes(memory) if memory else None, cpus, pids_limit)
    except KetchError as e:
        e.exit_code = 125
        raise
    _ensure_image(store, image, pull_policy)
    opts.env = [e for f in env_file or [] for e in read_env_file(f)] + opts.env
    try:
        c = ctr.create(store, image, args, opts)
    except KetchError as e:
        e.exit_code = 125
        raise
    if create_only:
        print(c.id)
        return 0
    if detach:
        try:
            ctr.start_detached(store, c, autoremove=rm)
        except KetchError:
            if rm:
                ctr.remove(store, c.id, force=True, volumes_too=True)
            raise
        print(c.id)
        return 0
    try:
        if tty:
            import os

            from ..runtime import tty as term

            pid, master = ctr.start(store, c, tty=True)
            assert master is not None
            try:
                term.relay(master, interactive)
            finally:
                os.close(master)
            return ctr.wait(store, c, pid)
        return _attached(store, c, interactive)
    finally:
        if rm:
            ctr.remove(store, c.id, force=True, volumes_too=True)


def _attached(store: Store, c: ctr.Container, interactive: bool) -> int:
    """Without -t: the container's output relayed to ours, and our stdin to
    its with -i (else it reads an empty pipe, as /dev/null under docker)."""
    from ..runtime.stdio import Pipes

    io = Pipes(interactive)
    try:
        pid, _ = ctr.start(store, c, io=io)
        return ctr.wait(store, c, pid, io)
    finally:
        io.close()


def _status(c: ctr.Container) -> str:
    now = time.time()
    if c.state == "running" and c.started:
        return f"Up {human_duration(now - c.started)}" + (" (Paused)" if c.paused else "")
    if c.state == "exited" and c.finished:
        return f"Exited ({c.exit_code}) {human_duration(now - c.finished)} ago"
    return "Created"


def _filter(store: Store, filters: list[str]) -> Callable[[ctr.Container], bool]:
    """docker ps -f: status=, name= (a substring), ancestor= (image name or id), id= (prefix)."""
    pairs = []
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise KetchError(f"bad format of filter (expected name=value): {f}")
        if key not in ("status", "name", "id", "ancestor"):
            raise KetchError(f"invalid filter '{key}'")
        pairs.append((key, value))

    def match(c: ctr.Container, key: str, value: str) -> bool:
        if key == "status":
            return ("paused" if c.paused else c.state) == value
        if key == "name":
            return value.lstrip("/") in c.name
        if key == "id":
            return c.id.startswith(value)
        return _is_ancestor(store, c, value)

    return lambda c: all(match(c, k, v) for k, v in pairs)


def _is_ancestor(store: Store, c: ctr.Container, value: str) -> bool:
    from ..store import images as imgs

    try:
        img, _ = imgs.lookup(store, value)
    except KetchError:
        return False
    return img.id == c.image_id


def _ports_column(store: Store, c: ctr.Container) -> str:
    """docker's PORTS: `0.0.0.0:32768->80/tcp`, for a running bridged container."""
    if c.state != "running" or c.config.get("network") in ("none", "host", None):
        return ""
    from ..store.networks import ports_of

    # docker writes the IPv6 side as `:::32768`
    return ", ".join(
        f"{':::' if p.host_ip == '::' else p.host_ip + ':'}{p.host_port}->{p.port}/{p.proto}"
        for p in ports_of(store, c.id)
    )


def port(store: Store, name: str, which: str | None) -> None:
    """docker port: `80/tcp -> 0.0.0.0:32768` lines, or the host side of one port."""
    from ..store.networks import ports_of

    c = ctr.lookup(store, name)
    ports = ports_of(store, c.id) if c.state == "running" else []
    if which is None:
        for p in ports:
            print(f"{p.port}/{p.proto} -> {_addr(p.host_ip)}:{p.host_port}")
        return
    num, _, proto = which.partition("/")
    hits = [p for p in ports if str(p.port) == num and p.proto == (proto or "tcp")]
    if not hits:
        raise KetchError(f"Error: No public port '{num}/{proto or 'tcp'}' published for {name}")
    for p in hits:
        print(f"{_addr(p.host_ip)}:{p.host_port}")


def _addr(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def ps(store: Store, all_: bool, quiet: bool, no_trunc: bool, filters: list[str] | None = None) -> None:
    keep = _filter(store, list(filters or []))
    # a status filter shows stopped containers too, as docker's does
    every = all_ or any(f.startswith("status=") for f in filters or [])
    rows = [c for c in ctr.list_containers(store) if (every or c.state == "running") and keep(c)]
    if quiet:
        for c in rows:
            print(c.id if no_trunc else c.short_id)
        return
    out = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
    for c in rows:
        cmd = " ".join(shlex.quote(a) if " " in a else a for a in c.config["argv"])
        cmd = json.dumps(cmd if no_trunc else ellipsis(cmd, 20), ensure_ascii=False)
        out.append(
            [
                c.id if no_trunc else c.short_id,
                c.image,
                cmd,
                f"{human_duration(time.time() - c.created)} ago",
                _status(c),
                _ports_column(store, c),
                c.name,
            ]
        )
    print(table(out))


def logs(store: Store, ref: str, follow: bool, tail: str, timestamps: bool) -> None:
    """docker logs: the json-file lines, stdout to stdout and stderr to stderr."""
    import re

    if tail != "all" and not re.fullmatch(r"-?[0-9]{1,18}", tail):
        raise KetchError(f'invalid value "{tail[:40]}" for flag -n, --tail: a number of lines or "all"')
    n = None if tail == "all" or int(tail) < 0 else int(tail)  # docker: a negative number is all of it
    c = ctr.lookup(store, ref)
    path = ctr.log_path(store, c)
    try:
        f = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - followed below
    except FileNotFoundError:
        return
    with f:
        lines = f.readlines()
        if n is not None:
            lines = lines[-n:] if n > 0 else []
        for line in lines:
            _emit(line, timestamps)
        while follow:
            line = f.readline()
            if line:
                _emit(line, timestamps)
                continue
            if ctr.lookup(store, c.id).state != "running":
                for line in f.readlines():
                    _emit(line, timestamps)
                return
            time.sleep(0.05)


def _emit(line: str, timestamps: bool) -> None:
    try:
        entry = json.loads(line)
    except ValueError:
        return
    out = sys.stderr if entry.get("stream") == "stderr" else sys.stdout
    text = entry.get("log", "")
    if timestamps:
        text = f"{entry.get('time', '')} {text}"
    out.write(text)
    out.flush()


def inspect(store: Store, names: list[str]) -> int:
    """docker inspect: containers first, then images, as docker resolves a name."""
    from ..errors import ContainerNotFound
    from . import _images

    out: list[dict[str, object]] = []
    rc = 0
    for n in names:
        try:
            out.append(_container_json(store, ctr.lookup(store, n)))
            continue
        except ContainerNotFound:
            pass
        try:
            out.append(_images.inspect_one(store, n))
        except ImageNotFound:
            print(f"Error: No such object: {n}", file=sys.stderr)
            rc = 1
    print(json.dumps(out, indent=4))
    return rc


def _iso(t: float | None) -> str:
    import datetime as dt

    if not t:
        return "0001-01-01T00:00:00Z"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _container_json(store: Store, c: ctr.Container) -> dict[str, object]:
    p = c.config
    running = c.state == "running"
    return {
        "Id": c.id,
        "Created": _iso(c.created),
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
            "StartedAt": _iso(c.started),
            "FinishedAt": _iso(c.finished),
        },
        "Image": c.image_id,
        "NetworkSettings": _network_settings(store, c),
        "LogPath": str(ctr.log_path(store, c)),
        "Name": "/" + c.name,
        "Driver": "overlay2",
        "HostConfig": {
            "NetworkMode": p["network"],
            "Memory": (p.get("limits") or {}).get("memory") or 0,
            "NanoCpus": int(((p.get("limits") or {}).get("cpus") or 0) * 1e9),
            "PidsLimit": (p.get("limits") or {}).get("pids"),
        },
        "Config": {
            "Hostname": p["hostname"],
            "User": p.get("user", ""),
            "Env": p["env"],
            "Cmd": p["argv"],
            "Image": c.image,
            "WorkingDir": p["cwd"],
        },
    }


def _network_settings(store: Store, c: ctr.Container) -> dict[str, object]:
    if c.config.get("network") in ("none", "host", None) or c.state != "running":
        return {"IPAddress": "", "Ports": {}}
    from ..store.networks import address_of, ports_of

    ports: dict[str, list[dict[str, str]]] = {}
    for p in ports_of(store, c.id):
        ports.setdefault(f"{p.port}/{p.proto}", []).append({"HostIp": p.host_ip, "HostPort": str(p.host_port)})
    return {"IPAddress": address_of(store, c.id) or "", "Ports": ports}


def restart(store: Store, names: list[str], timeout: float) -> int:
    """docker restart: stop (if running), then start detached."""
    rc = 0
    for n in names:
        try:
            ctr.stop(store, n, timeout)
            ctr.start_detached(store, ctr.lookup(store, n))
            print(n)
        except KetchError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            rc = 1
    return rc


def start(store: Store, names: list[str], attach: bool, interactive: bool = False) -> int:
    """docker start: detached under a monitor, or attached (-a) in the foreground."""
    rc = 0
    for n in names:
        try:
            c = ctr.lookup(store, n)
            if c.state == "running":
                print(n)
                continue
            if attach:
                rc = _attached(store, c, interactive)
            else:
                ctr.start_detached(store, c)
                print(n)
        except KetchError as e:
            print(f"Error: {e}", file=sys.stderr)
            rc = 1
    return rc
