"""Container life cycle: create (state on disk and in the db), start in the
foreground, list, remove.

    <root>/containers/<id>/upper, work   the container's copy-on-write layer
    <root>/containers/<id>/rootfs        where its root is mounted, in its own mount namespace only
    <root>/containers/<id>/hosts, hostname, resolv.conf
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _native
from ..errors import ConflictError, ContainerNotFound, KetchError, NoSpaceError, SpawnError
from ..store import Store
from ..store import containers as rows_
from ..store import images as imgs
from . import caps, cgroups, spec

if TYPE_CHECKING:
    from ..models.container import ProcessConfig
    from .stdio import Pipes

_ADJ = "admiring brave clever dreamy eager festive gallant happy jolly keen lucid modest nifty serene".split()
_NAMES = "babbage curie darwin euler fermi galois hopper lovelace noether pascal ritchie shannon turing wozniak".split()


@dataclass
class Container:
    id: str
    name: str
    image_id: str
    image: str
    config: dict[str, Any]
    created: float
    state: str
    pid: int | None
    pid_start: int | None
    exit_code: int | None
    started: float | None
    finished: float | None
    paused: bool = False

    @property
    def short_id(self) -> str:
        return self.id[:12]


def container_dir(store: Store, cid: str) -> Path:
    return rows_.path(store, cid)


_dir = container_dir  # the name the modules written before container_dir use


def _row(r: Any) -> Container:
    return Container(
        r["id"],
        r["name"],
        r["image_id"],
        r["image"],
        json.loads(r["config"]),
        r["created"],
        r["state"],
        r["pid"],
        r["pid_start"],
        r["exit_code"],
        r["started"],
        r["finished"],
    )


def _proc_start(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if it is
    gone or a zombie (dead, waiting to be reaped)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _alive(c: Container) -> bool:
    return c.pid is not None and c.pid_start is not None and _proc_start(c.pid) == c.pid_start


def refresh(store: Store, c: Container) -> Container:
    """The container as it is now, recorded: a detached container whose
    monitor recorded its exit is exited; one recorded as running whose process
    is gone (its monitor was killed too) is exited as well: never shown as
    running forever. What it finds is written back (once there is room, on a
    full disk) and a bridged container's network released."""
    ended = _ended(store, c)
    if ended is not None:
        code, finished = ended
        if code is None:
            cgroups.remove(c.id)
        try:
            rows_.set_exited(store, c.id, code, finished, if_running=True)
        except NoSpaceError:
            pass  # shown as exited all the same; recorded once there is room
        c.state, c.finished = "exited", finished
        c.exit_code = code if code is not None else c.exit_code if c.exit_code is not None else 137
        _release_network(store, c)
    if c.state == "running":
        c.paused = cgroups.is_frozen(c.id)
    return c


reconcile = refresh  # the name the modules written before refresh use


def _ended(store: Store, c: Container) -> tuple[int | None, float] | None:
    """Whether a container recorded as running has ended: (its exit code as
    its monitor wrote it, or None if it left none, when), else None. A
    process just gone gets a moment for its monitor to write its exit."""
    if c.state != "running":
        return None
    exit_file = _dir(store, c.id) / "exit.json"
    if not exit_file.exists() and c.pid is not None and not _alive(c):
        for _ in range(25):
            time.sleep(0.02)
            if exit_file.exists():
                break
    if exit_file.exists():
        try:
            done = json.loads(exit_file.read_text())
        except (OSError, ValueError):
            done = {"exit_code": 137, "finished": time.time()}
        return done["exit_code"], done["finished"]
    if not _alive(c):
        return None, time.time()
    return None


def _bridged(c: Container) -> bool:
    return c.config.get("network", "none") not in ("none", "host")


def _release_network(store: Store, c: Container) -> None:
    """A container that ended gives back its address, ports, rules and namespace."""
    if _bridged(c):
        from ..network.endpoints import detach

        detach(store, c.id)


def _attach_network(store: Store, c: Container) -> Any:
    """Before a start: the container's network namespace, eth0 and ports (None without a bridge)."""
    if not _bridged(c):
        return None
    from ..network.endpoints import attach

    return attach(store, c.id, c.config["network"], c.config.get("publish") or [])


def pause(store: Store, ref: str, paused: bool = True) -> Container:
    """docker pause/unpause: the freezer cgroup stops (or restarts) every process."""
    c = lookup(store, ref)
    if c.state != "running":
        raise ConflictError(f"Container {c.id} is not running")
    if c.paused == paused:
        raise ConflictError(f"Container {c.id} is {'already' if paused else 'not'} paused")
    cgroups.freeze(c.id, paused)
    c.paused = paused
    return c


def list_containers(store: Store) -> list[Container]:
    return [refresh(store, _row(r)) for r in rows_.every(store)]


def lookup(store: Store, ref: str) -> Container:
    """By name (with or without docker's leading /), full id or unique id prefix."""
    row = rows_.find(store, ref)
    if row is None:
        raise ContainerNotFound(f"No such container: {ref}")
    return refresh(store, _row(row))


def _pick(words: tuple[str, ...] | list[str]) -> str:
    # os.urandom rather than `random`/`secrets`: their imports cost ~7 ms of every run
    return words[int.from_bytes(os.urandom(4)) % len(words)]


def _random_name(store: Store) -> str:
    for _ in range(100):
        name = f"{_pick(_ADJ)}_{_pick(_NAMES)}"
        if not rows_.name_taken(store, name):
            return name
    return f"{_pick(_ADJ)}_{_pick(_NAMES)}{1 + int.from_bytes(os.urandom(2)) % 999}"


@dataclass
class Options:
    """What `run`/`create` flags say about a new container."""

    name: str | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    entrypoint: str | None = None
    hostname: str | None = None
    network: str = "none"
    limits: cgroups.Limits = field(default_factory=cgroups.Limits)
    volumes: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    tty: bool = False
    mounts: list[str] = field(default_factory=list)
    init: bool = False
    publish: list[str] = field(default_factory=list)
    publish_all: bool = False
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    add_host: list[str] = field(default_factory=list)


def _security(opts: list[str], privileged: bool) -> tuple[Any, bool]:
    """--security-opt: (seccomp profile: "default", None for unconfined or a
    docker-format profile; no-new-privileges). --privileged runs unconfined."""
    from . import seccomp

    profile: Any = "default"
    nnp = False
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if key == "no-new-privileges" and value in ("", "true", "false"):
            nnp = value != "false"
        elif key == "seccomp" and value:
            profile = None if value == "unconfined" else seccomp.load(value)
        elif key in ("apparmor", "label") and value:
            pass  # no LSM profiles in ketch: accepted, as on a host without AppArmor/SELinux
        else:
            raise KetchError(f'invalid --security-opt: "{opt}"')
    return (None if privileged else profile), nnp


def create(store: Store, image_name: str, args: list[str], opts: Options | None = None) -> Container:
    o = opts or Options()
    img, _ = imgs.lookup(store, image_name)
    config = imgs.config(store, img.id)
    chains = imgs.layer_chain(store, img.id)
    lowerdirs = [str(store.layers.diff(c)) for c in reversed(chains)]
    if not lowerdirs:
        raise KetchError(f"image {image_name} has no layers to run")
    if o.network not in ("none", "host", "bridge", "default"):
        from ..network.networks import get as get_network

        o.network = get_network(store, o.network).name  # a user-defined network, by name or id
    if o.network == "default":
        o.network = "bridge"
    publish: list[dict[str, Any]] = []
    if o.publish or o.publish_all:
        if o.network in ("none", "host"):
            raise KetchError(f"conflicting options: port publishing and the container type network mode ({o.network})")
        from ..network.ports import parse_publish

        for pspec in o.publish:
            publish += parse_publish(pspec)
        if o.publish_all:
            for exposed in (config.get("config") or {}).get("ExposedPorts") or {}:
                port, _, proto = exposed.partition("/")
                publish.append({"host_ip": "0.0.0.0", "host_port": 0, "proto": proto or "tcp", "port": int(port)})
    icfg = config.get("config") or {}
    entry, cmd = spec.command(config, args, o.entrypoint)
    argv = entry + cmd
    cid = os.urandom(32).hex()
    host = o.hostname or cid[:12]
    environment = spec.merge_env(list(icfg.get("Env") or []), o.env)
    environment.append(f"HOSTNAME={host}")
    cwd = o.workdir or icfg.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise KetchError(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    uid, gid, groups = spec.resolve_user(
        o.user if o.user is not None else icfg.get("User") or "", [Path(p) for p in lowerdirs]
    )
    if o.name and not _NAME.match(o.name):
        raise KetchError(f"Invalid container name ({o.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    name = o.name.lstrip("/") if o.name else None
    seccomp_profile, nnp = _security(o.security_opt, o.privileged)
    binds, tmpfs, named = _mounts(store, o)
    if o.init:
        binds.append((_init_binary(store), "/sbin/docker-init", True))
    process = {
        "argv": argv,
        "entrypoint": entry,
        "cmd": cmd,
        "env": environment,
        "cwd": cwd,
        "uid": uid,
        "gid": gid,
        "groups": groups,
        "hostname": host,
        "network": o.network,
        "publish": publish,
        "lowerdirs": lowerdirs,
        "user": o.user or icfg.get("User") or "",
        "limits": vars(o.limits),
        "binds": binds,
        "tmpfs": tmpfs,
        "volume_names": [n for n, _, _ in named],
        "anonymous_volumes": [n for n, _, anon in named if anon],
        "init": o.init,
        "readonly_root": o.read_only,
        "caps": caps.mask(_native.docker_caps(), o.cap_add, o.cap_drop, o.privileged),
        "privileged": o.privileged,
        "seccomp": seccomp_profile,
        "no_new_privileges": nnp,
        "tty": o.tty,
        "extra_hosts": [list(_add_host(x)) for x in o.add_host],  # the hosts file is made from these
    }
    d = _dir(store, cid)
    now = time.time()
    rows_.insert(store, cid, name, img.id, image_name, process, now, lambda: _random_name(store))
    try:
        for sub in ("upper", "work", "rootfs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        _init_layer(d / "init", lowerdirs, o.init)
        for vol_name, target, anon in named:
            from . import volumes

            vol, new = volumes.create(store, vol_name, anonymous=anon)
            if new:
                volumes.copy_up(lowerdirs, target, vol.mountpoint)
        (d / "hostname").write_text(host + "\n")
        from ..network import dns

        dns.write_hosts(store, cid, process, create=True)
        (d / "resolv.conf").write_text(dns.resolv_conf(o.dns, o.dns_search))
    except BaseException:
        remove(store, cid, force=True, volumes_too=True)
        raise
    return lookup(store, cid)


def _init_binary(store: Store) -> str:
    """--init runs tini (docker's docker-init), mounted read-only at /sbin/docker-init."""
    path = store.settings.init_path or shutil.which("tini-static") or "/usr/bin/tini-static"
    if not os.path.isfile(path):
        raise KetchError(f"--init needs a static init binary: {path} not found (apt-get install tini)")
    return os.path.realpath(path)


def _mounts(store: Store, o: Options) -> tuple[list[tuple[str, str, bool]], list[str], list[tuple[str, str, bool]]]:
    """-v, --mount and --tmpfs: (binds (source, target, read-only), tmpfs
    targets, named volumes (name, target, anonymous))."""
    from . import volumes

    binds: list[tuple[str, str, bool]] = []
    tmpfs = [_mount_point(t.split(":", 1)[0], "--tmpfs") for t in o.tmpfs]
    named: list[tuple[str, str, bool]] = []

    def volume(name: str | None, target: str, ro: bool) -> None:
        anon = name is None
        name = name or os.urandom(32).hex()
        named.append((name, _mount_point(target, "volume"), anon))
        binds.append((str(store.root / "volumes" / name / "_data"), target, ro))

    for vspec in o.volumes:
        parts = vspec.split(":")
        if len(parts) == 1 and vspec.startswith("/"):
            volume(None, vspec, False)  # -v /path: an anonymous volume
        elif len(parts) in (2, 3) and not parts[0].startswith("/") and volumes.is_name(parts[0]):
            if len(parts) == 3 and parts[2] not in ("ro", "rw"):
                raise KetchError(f"invalid volume specification: '{vspec}'")
            volume(parts[0], parts[1], len(parts) == 3 and parts[2] == "ro")
        else:
            binds.append(_bind(vspec))
    for mspec in o.mounts:
        m = volumes.parse_mount(mspec)
        if m["type"] == "tmpfs":
            tmpfs.append(_mount_point(m["target"], "--mount"))
        elif m["type"] == "volume":
            volume(m["source"] or None, m["target"], m["readonly"])
        else:
            binds.append((os.path.realpath(m["source"]), _mount_point(m["target"], "--mount"), m["readonly"]))
    return binds, tmpfs, named


def _init_layer(init: Path, lowerdirs: list[str], tini: bool = False) -> None:
    """The mount points ketch itself needs (/proc, /sys, /dev and the files
    bind-mounted into /etc), in a layer of their own between the image and
    the container's upper dir, as docker's "-init" layer: so they never show
    in `diff` or in a committed layer. /etc's files only where the image's
    /etc is a real directory (a symlinked /etc keeps its meaning)."""
    for sub in ("proc", "sys", "dev"):
        (init / sub).mkdir(parents=True, exist_ok=True)

    def real_dir(name: str) -> bool:
        found = next((Path(lower) / name for lower in lowerdirs if os.path.lexists(Path(lower) / name)), None)
        return found is None or (found.is_dir() and not found.is_symlink())

    if real_dir("etc"):
        (init / "etc").mkdir(exist_ok=True)
        for f in ("hosts", "hostname", "resolv.conf"):
            (init / "etc" / f).touch()
    if tini and real_dir("sbin"):
        (init / "sbin").mkdir(exist_ok=True)
        (init / "sbin" / "docker-init").touch()


def _mount_point(path: str, flag: str) -> str:
    if not path.startswith("/") or ".." in path.split("/") or path.rstrip("/") == "":
        raise KetchError(f"invalid {flag} destination {path!r}: it must be an absolute path inside the container")
    return path


def _bind(spec: str) -> tuple[str, str, bool]:
    """docker's -v HOST:CONTAINER[:ro|rw] (a missing host directory is created, as docker does)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise KetchError(f"invalid volume specification: '{spec}'")
    src, dst = parts[0], _mount_point(parts[1], "volume")
    if not src.startswith("/"):
        raise KetchError(f"invalid volume specification: '{spec}': a host path must be absolute")
    if not os.path.lexists(src):
        os.makedirs(src)
    return (os.path.realpath(src), dst, len(parts) == 3 and parts[2] == "ro")


def _add_host(spec: str) -> tuple[str, str]:
    """--add-host HOST:IP (docker's form; an IPv6 address may follow the first colon)."""
    import ipaddress

    host, sep, ip = spec.partition(":")
    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise KetchError(f'invalid argument "{spec}" for "--add-host" flag: invalid IP address in add-host') from None
    if not host or not sep:
        raise KetchError(f'invalid argument "{spec}" for "--add-host" flag: bad format for add-host')
    return host, ip.strip("[]")


def _confinement(p: dict[str, Any]) -> tuple[int, dict[str, Any] | None, bool]:
    """Capabilities, seccomp filter and no_new_privs: the same for the
    container's process and every process exec'd into it."""
    from . import seccomp

    mask = p.get("caps", _native.docker_caps())
    profile = p.get("seccomp", "default")
    if profile == "default":
        profile = seccomp.default_profile()
    return (
        mask,
        None if profile is None else seccomp.compile_rules(profile, mask),
        p.get("no_new_privileges", False),
    )


def _process(store: Store, c: Container, cgroup_procs: list[str], netns: str | None = None) -> ProcessConfig:
    """What `_native.spawn` and the monitor start the container's process with."""
    from ..models.container import NewContainer, ProcessConfig

    p = c.config
    d = _dir(store, c.id)
    mask, profile, nnp = _confinement(p)
    return ProcessConfig(
        argv=(["/sbin/docker-init", "--"] if p.get("init") else []) + p["argv"],
        env=p["env"],
        cwd=p["cwd"],
        uid=p["uid"],
        gid=p["gid"],
        groups=p["groups"],
        caps=mask,
        seccomp=profile,
        no_new_privileges=nnp,
        cgroup_procs=cgroup_procs,
        helper=helper_program(),
        detached=False,
        container=NewContainer(
            rootfs=str(d / "rootfs"),
            lowerdirs=([str(d / "init")] if (d / "init").is_dir() else []) + p["lowerdirs"],
            upperdir=str(d / "upper"),
            workdir=str(d / "work"),
            hostname=p["hostname"],
            new_net=p["network"] != "host",
            netns=netns,
            files=[(str(d / f), f"/etc/{f}") for f in ("hosts", "hostname", "resolv.conf")],
            binds=[(src, dst, ro) for src, dst, ro in p.get("binds", [])],
            tmpfs=p.get("tmpfs", []),
            readonly_root=p.get("readonly_root", False),
            privileged=p.get("privileged", False),
        ),
    )


def helper_program() -> str:
    """`ketch-monitor` beside the extension: a sealed in-memory copy of it is
    the process that crosses into every container (rust/src/process/reexec.rs), so
    no container process is ever a copy of this interpreter."""
    program = Path(_native.__file__).with_name("ketch-monitor")
    if not os.access(program, os.X_OK):
        raise KetchError(
            f"{program} is missing: ketch starts container processes only through it; "
            "reinstall ketch (scripts/setup.sh builds it)"
        )
    return str(program)


def start(store: Store, c: Container, tty: bool = False, io: Pipes | None = None) -> tuple[int, int | None]:
    """Starts the container's process; returns its pid and, with `tty`, the
    master side of the pty it got from its own devpts (its stdin, stdout,
    stderr and controlling terminal). Exec failures raise SpawnError with
    docker's exit codes (127 not found, 126 not executable). Without `tty`
    its stdio are `io`'s pipes (never the caller's own files); without `io`, /dev/null."""
    ours, theirs = _socketpair() if tty else (None, None)
    p = c.config
    procs = cgroups.create(c.id, cgroups.Limits(**p.get("limits", {})))
    try:
        att = _attach_network(store, c)
        if att is not None:
            _HELD[c.id] = att.held + [x for x, _ in att.proxies]  # the published ports, held until the end
        pid = _native.spawn(
            _process(store, c, procs, att.netns if att is not None else None).to_json(),
            theirs.fileno() if theirs is not None else -1,
            io.child if io is not None and not tty else None,
        )
    except BaseException as e:
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
        cgroups.remove(c.id)
        _drop_held(c.id)
        _release_network(store, c)
        if not isinstance(e, SpawnError):
            raise
        rows_.set_exited(store, c.id, _exit_code(e), time.time())
        raise _describe(e, p["argv"][0]) from e
    finally:
        if io is not None:
            io.started()
    rows_.set_running(store, c.id, pid, _proc_start(pid), time.time())
    # [::] sides of published ports, proxied on threads of this process: only
    # after the spawn (a fork-like clone must not happen in a threaded process)
    if att is not None:
        for sock, port in att.proxies:
            _native.proxy_start(os.dup(sock.fileno()), att.ip, port)
    master = None
    if ours is not None and theirs is not None:
        import socket

        theirs.close()
        _, fds, _, _ = socket.recv_fds(ours, 1, 1)
        ours.close()
        master = fds[0]
    return pid, master


# Sockets that hold a foreground container's published ports, by container id.
_HELD: dict[str, list[Any]] = {}


def _drop_held(cid: str) -> None:
    for sock in _HELD.pop(cid, []):
        sock.close()


def _socketpair() -> tuple[Any, Any]:
    import socket  # 5 ms: only for a pty

    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def after_monitor(network: list[str] | None, autoremove: list[str] | None) -> None:
    """What is left once a detached container has ended, run by its monitor
    (the ketch-monitor program execs runtime/after_monitor.py for it): the bridge's
    address, ports and rules; the container itself for --rm. Each is
    [store root, container id]."""
    if network:
        from ..network.endpoints import detach

        detach(Store(network[0]), network[1])
    if autoremove:
        remove(Store(autoremove[0]), autoremove[1], force=True, volumes_too=True)


def start_detached(store: Store, c: Container, autoremove: bool = False) -> int:
    """Starts the container under a monitor process of its own (the
    ketch-monitor program, rust/src/monitor.rs) and returns the container's
    pid. A container created with -t gets a pty, logged as its stdout; with `autoremove`
    (--rm) the monitor removes the container once it has exited."""
    import subprocess
    import sys

    p = c.config
    d = _dir(store, c.id)
    (d / "exit.json").unlink(missing_ok=True)  # a previous run's
    procs = cgroups.create(c.id, cgroups.Limits(**p.get("limits", {})))
    try:
        att = _attach_network(store, c)
    except BaseException:
        cgroups.remove(c.id)
        raise
    held = att.held if att is not None else []
    proxies = att.proxies if att is not None else []
    from ..models.container import MonitorConfig

    # What is left for Python once the container has ended, exec'd by the
    # monitor: the bridge's address, ports and rules; --rm's removal.
    flags = (["--network"] if att is not None else []) + (["--rm"] if autoremove else [])
    script = str(Path(__file__).with_name("after_monitor.py"))
    args = MonitorConfig(
        process=_process(store, c, procs, att.netns if att is not None else None),
        log=str(log_path(store, c)),
        exit_file=str(d / "exit.json"),
        cgroup_dirs=[str(Path(x).parent) for x in procs],
        tty=bool(p.get("tty")),
        proxies=[(sock.fileno(), att.ip, port) for sock, port in proxies] if att is not None else [],
        after=[sys.executable, "-S", "-E", script, str(store.root), c.id, *flags] if flags else None,
    )
    (d / "monitor.json").write_text(args.to_json())
    argv = [args.process.helper, str(d / "monitor.json")]  # ketch-monitor: the helper is the monitor too
    r, w = os.pipe()
    try:
        subprocess.Popen(
            [*argv, str(w)],
            pass_fds=(w, *(sock.fileno() for sock in held + [x for x, _ in proxies])),  # the monitor holds the ports
            start_new_session=True,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(d / "monitor.log", "ab"),  # noqa: SIM115 - the monitor's own errors, for diagnosis
        )
    except BaseException:
        os.close(r)
        os.close(w)
        cgroups.remove(c.id)
        for sock in held + [x for x, _ in proxies]:
            sock.close()
        _release_network(store, c)
        raise
    os.close(w)
    for sock in held + [x for x, _ in proxies]:
        sock.close()
    from ..models.container import ready

    with os.fdopen(r, "rb") as f:
        answer = ready(f.read())
    if not isinstance(answer, int):
        cgroups.remove(c.id)
        _release_network(store, c)
        e = SpawnError(*answer)
        rows_.set_exited(store, c.id, _exit_code(e), time.time())
        raise _describe(e, p["argv"][0])
    pid = answer
    rows_.set_running(store, c.id, pid, _proc_start(pid), time.time())
    return pid


def stop(store: Store, ref: str, timeout: float = 10.0) -> Container:
    """The image's StopSignal (SIGTERM by default), then SIGKILL after `timeout` seconds."""
    c = lookup(store, ref)
    if c.state != "running" or c.pid is None:
        return c
    if c.paused:
        cgroups.freeze(c.id, False)  # a frozen process cannot act on the signal
    img_cfg = imgs.config(store, c.image_id).get("config") or {}
    first = _signal(img_cfg.get("StopSignal") or "SIGTERM")
    for sig, grace in ((first, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(c.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            c = reconcile(store, c)
            if c.state != "running":
                return c
            time.sleep(0.02)
    return reconcile(store, c)


def _signal(name: str) -> int:
    """A signal by name (KILL, SIGTERM) or number (1 to SIGRTMAX)."""
    n = name.upper()
    if n.isascii() and n.isdigit():
        if 0 < int(n) <= signal.SIGRTMAX:
            return int(n)
        raise KetchError(f"invalid signal: {name[:40]}")
    if not n.startswith("SIG"):
        n = "SIG" + n
    try:
        return signal.Signals[n]
    except KeyError:
        raise KetchError(f"invalid signal: {name}") from None


def kill(store: Store, ref: str, sig: str = "KILL") -> Container:
    signum = _signal(sig)  # a bad signal is the flag's fault, whatever the container
    c = lookup(store, ref)
    if c.state != "running" or c.pid is None:
        raise ConflictError(f"Cannot kill container: {ref}: Container {c.id} is not running")
    try:
        os.kill(c.pid, signum)
    except ProcessLookupError:
        pass
    if signum == signal.SIGKILL and c.paused:
        cgroups.freeze(c.id, False)  # a frozen task acts on SIGKILL only once thawed
    return c


_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def rename(store: Store, ref: str, new: str) -> None:
    c = lookup(store, ref)
    if not _NAME.match(new):
        raise KetchError(f"Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    rows_.rename(store, c.id, new.lstrip("/"))


def log_path(store: Store, c: Container) -> Path:
    return _dir(store, c.id) / f"{c.id}-json.log"


def _exit_code(e: SpawnError) -> int:
    if e.stage == "exec":
        return 127 if e.errno == 2 else 126
    return 125


def _describe(e: SpawnError, cmd: str) -> KetchError:
    msg = str(e.args[2]).split(" (os error")[0].lower()
    if e.stage == "exec":
        text = f'exec: "{cmd}": stat {cmd}: {msg}' if e.errno == 2 else f'exec: "{cmd}": {msg}'
    else:
        text = f"{e.stage}: {msg}"
    err = KetchError(f"ketch: failed to start container process: {text}")
    err.exit_code = _exit_code(e)
    return err


def wait(store: Store, c: Container, pid: int, io: Pipes | None = None) -> int:
    """Waits for the process (relaying `io` until it ends), forwarding
    SIGINT/SIGTERM/SIGHUP to it, and records its exit."""
    code = wait_forwarding(pid, io.relay if io is not None else None)
    cgroups.remove(c.id)
    rows_.set_exited(store, c.id, code, time.time())
    _drop_held(c.id)
    _release_network(store, c)
    return code


def exec_in(
    store: Store,
    ref: str,
    argv: list[str],
    *,
    env: list[str] | None = None,
    workdir: str | None = None,
    user: str | None = None,
    tty: bool = False,
    detach: bool = False,
    io: Pipes | None = None,
) -> tuple[int, int | None]:
    """`docker exec`: a process in the running container's cgroups and
    namespaces, with its capabilities, seccomp filter and environment.
    Returns the pid to wait for and, with `tty`, the master side of the pty
    it got from the container's devpts. Without `tty` its stdio are `io`'s
    pipes; with `detach` (or without `io`) it runs on /dev/null, and after the caller."""
    import socket

    c = lookup(store, ref)
    if c.state != "running" or c.pid is None:
        raise ConflictError(f"Container {c.id} is not running")
    if c.paused:
        raise ConflictError(f"Container {c.id} is paused, unpause the container before exec")
    if not argv:
        raise KetchError("exec: no command given")
    p = c.config
    environment = spec.merge_env(p["env"], list(env or []))
    if user is not None:
        uid, gid, groups = spec.resolve_user(user, [Path(x) for x in p["lowerdirs"]])
    else:
        uid, gid, groups = p["uid"], p["gid"], p["groups"]
    procs = [str(d / "cgroup.procs") for d in cgroups._dirs(c.id) if d.is_dir()]
    from ..models.container import ProcessConfig

    mask, profile, nnp = _confinement(p)
    process = ProcessConfig(
        argv=argv,
        env=environment,
        cwd=workdir or p["cwd"],
        uid=uid,
        gid=gid,
        groups=groups,
        caps=mask,
        seccomp=profile,
        no_new_privileges=nnp,
        cgroup_procs=procs,
        helper=helper_program(),
        detached=detach,
        container=None,
    )
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) if tty and not detach else (None, None)
    try:
        pid = _native.exec_in(
            c.pid,
            process.to_json(),
            theirs.fileno() if theirs is not None else -1,
            io.child if io is not None and not detach and not tty else None,
        )
        master = None
        if ours is not None and theirs is not None:
            theirs.close()
            _, fds, _, _ = socket.recv_fds(ours, 1, 1)
            master = fds[0]
        return pid, master
    except SpawnError as e:
        raise _describe(e, argv[0]) from e
    finally:
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
        if io is not None:
            io.started()


def wait_forwarding(pid: int, relay: Callable[[int], None] | None = None) -> int:
    """Waits for a child (after `relay(pid)`, which copies its stdio until it
    ends), forwarding SIGINT/SIGTERM/SIGHUP to it; its exit code as docker reports it."""
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.getsignal(s) for s in forwarded}

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in forwarded:
        signal.signal(s, forward)
    try:
        if relay is not None:
            relay(pid)
        while (code := _native.wait(pid)) is None:
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return code


def remove(store: Store, ref: str, force: bool = False, volumes_too: bool = False) -> Container:
    """`rm`: with `volumes_too` (-v), the container's anonymous volumes go with it."""
    c = lookup(store, ref)
    if c.state == "running":
        if not force:
            raise ConflictError(
                f"You cannot remove a running container {c.id}. Stop the container before attempting removal "
                "or force remove"
            )
        if c.paused:
            cgroups.freeze(c.id, False)
        if c.pid is not None and _alive(c):
            os.kill(c.pid, signal.SIGKILL)
            for _ in range(100):
                if not _alive(c):
                    break
                time.sleep(0.01)
    cgroups.remove(c.id)
    _release_network(store, c)
    shutil.rmtree(_dir(store, c.id), ignore_errors=True)
    rows_.delete(store, c.id)
    if volumes_too and c.config.get("anonymous_volumes"):
        from . import volumes

        for name in c.config["anonymous_volumes"]:
            try:
                volumes.remove(store, name)
            except KetchError:
                pass  # another container mounts it too (--volumes-from)
    return c
