"""Image config + `run`/`create` flags -> a `ContainerSpec`: every decision
a new container is made with, by docker's rules (Entrypoint/Cmd, Env,
WorkingDir, User, mounts, ports, security), before anything is written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .. import _native
from ..errors import KetchError
from ..records import Record, field, record
from ..store import Store
from ..store import images as imgs
from . import caps, cgroups, mounts, names

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True

if TYPE_CHECKING:
    from typing import Any

    from ..models.container import ContainerSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@record(eq=False, repr=False)  # compared and shown by Record (1 ms less to import)
class Options(Record):
    """What `run`/`create` flags say about a new container."""

    name: str | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    entrypoint: str | list[str] | None = None  # the API's Entrypoint is a list
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
    interactive: bool = False  # -i: docker's OpenStdin
    mounts: list[str] = field(default_factory=list)
    init: bool = False
    publish: list[str] = field(default_factory=list)
    publish_all: bool = False
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    add_host: list[str] = field(default_factory=list)
    # -- restart policy, healthcheck, log rotation (issue 12; runtime/policies.py) --
    restart: str = "no"
    health_cmd: str | None = None
    health_interval: str | None = None
    health_timeout: str | None = None
    health_start_period: str | None = None
    health_retries: int | None = None
    no_healthcheck: bool = False
    health_test: list[str] | None = None  # the API's Healthcheck.Test (CMD, CMD-SHELL or NONE form)
    log_opt: list[str] = field(default_factory=list)
    # -- issue 12's run/create flags (wt-flags): runtime/hostconfig.py parses them
    label: list[str] = field(default_factory=list)
    label_file: list[str] = field(default_factory=list)
    stop_signal: str | None = None
    stop_timeout: int | None = None
    ulimit: list[str] = field(default_factory=list)
    sysctl: list[str] = field(default_factory=list)
    shm_size: str | None = None
    device: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    network_alias: list[str] = field(default_factory=list)
    ip: str | None = None
    stdin_once: bool = False  # the API's StdinOnce: the first attached client's end of stdin closes it
    autoremove: bool = False  # --rm (the API's HostConfig.AutoRemove): its monitor removes it once it exited


def build(store: Store, image_name: str, args: list[str], opts: Options | None = None) -> ContainerSpec:
    """The new container's spec, from its image and `opts`; a bad flag is an
    error here, before any of it is written. (A -v bind's missing host
    directory is the one thing made, as docker makes it.)"""
    from ..models.container import ContainerSpec  # 1.5 ms: not for `ps` and the other verbs

    o = opts or Options()
    img, _ = imgs.lookup(store, image_name)
    config = imgs.config(store, img.id)
    chains = imgs.layer_chain(store, img.id)
    lowerdirs = [str(store.layers.diff(c)) for c in reversed(chains)]
    if not lowerdirs:
        raise KetchError(f"image {image_name} has no layers to run")
    network = o.network
    user_subnet = False
    if network not in ("none", "host", "bridge", "default"):
        from ..network.networks import get as get_network

        net = get_network(store, network)  # a user-defined network, by name or id
        network, user_subnet = net.name, net.user_subnet
    if network == "default":
        network = "bridge"
    icfg = config.get("config") or {}
    ports = publish(network, o.publish, o.publish_all, list(icfg.get("ExposedPorts") or {}))
    entry, cmd = command(config, args, o.entrypoint)
    cid = os.urandom(32).hex()
    host = o.hostname or cid[:12]
    environment = merge_env(list(icfg.get("Env") or []), o.env)
    environment.append(f"HOSTNAME={host}")
    cwd = workdir(o.workdir, icfg)
    layer_paths = [Path(p) for p in lowerdirs]
    uid, gid, groups = resolve_user(o.user if o.user is not None else icfg.get("User") or "", layer_paths)
    home_set = not any(e.startswith("HOME=") for e in environment)
    if home_set:
        environment.append(f"HOME={home_of(uid, layer_paths)}")  # docker's (runc's) HOME: the user's passwd entry
    flags = host_flags(o, network, icfg, layer_paths)
    if o.ip is not None and not user_subnet:  # a user-defined network whose subnet ketch chose
        raise KetchError(USER_SUBNET_ONLY)
    flags["home_set"] = home_set
    groups = sorted({*groups, *flags.pop("group_ids")})
    name = names.check(o.name) if o.name else None
    seccomp_profile, nnp = security(o.security_opt, o.privileged)
    binds, tmpfs, named = mounts.parse(store.root, o.volumes, o.mounts, o.tmpfs)
    if o.init:
        binds.append((mounts.init_binary(store.settings.init_path), "/sbin/docker-init", True))
    from . import policies

    restart = policies.restart_policy(o.restart)
    image_hc = icfg.get("Healthcheck")
    if o.health_test:  # the API's Test over the image's, its other fields kept, as dockerd merges them
        image_hc = {**(image_hc or {}), "Test": list(o.health_test)}
    hc = policies.healthcheck(image_hc, o.health_cmd, o.health_interval, o.health_timeout,
                              o.health_start_period, o.health_retries, o.no_healthcheck)  # fmt: skip
    log_opts = policies.log_options(o.log_opt)
    return ContainerSpec(
        id=cid,
        name=name,
        image_id=img.id,
        image=image_name,
        entrypoint=entry,
        cmd=cmd,
        env=environment,
        cwd=cwd,
        uid=uid,
        gid=gid,
        groups=groups,
        user=o.user or icfg.get("User") or "",
        hostname=host,
        network=network,
        publish=ports,
        lowerdirs=lowerdirs,
        limits=vars(o.limits),
        binds=binds,
        tmpfs=tmpfs,
        volumes=named,
        init=o.init,
        readonly_root=o.read_only,
        caps=caps.mask(_native.docker_caps(), o.cap_add, o.cap_drop, o.privileged),
        privileged=o.privileged,
        seccomp=seccomp_profile,
        no_new_privileges=nnp,
        tty=o.tty,
        open_stdin=o.interactive,
        extra_hosts=[add_host(x) for x in o.add_host],
        dns=o.dns,
        dns_search=o.dns_search,
        restart=restart,
        healthcheck=hc,
        log_opts=log_opts,
        autoremove=o.autoremove,
        stdin_once=o.stdin_once,
        **flags,
    )


def host_flags(o: Options, network: str, icfg: dict[str, Any], layers: list[Path]) -> dict[str, Any]:
    """Issue 12's run/create flags, each checked as docker checks it: the
    ContainerSpec fields they make (and --group-add's gids, merged by the caller)."""
    from . import hostconfig as hc
    from .signals import number

    if o.stop_signal is not None:
        number(o.stop_signal)  # a bad name fails at create, as docker's
    ulimits = [hc.ulimit(u) for u in o.ulimit]
    hc.check_ulimits(ulimits)
    sysctls = dict(hc.sysctl(s, network) for s in o.sysctl)
    devices = []
    for d in o.device:
        host, inside, perms = hc.device(d)
        hc.device_node(host)  # a device node, or refused now
        if o.privileged and inside != os.path.normpath(host):
            raise KetchError(f"--privileged gives the host's /dev as it is: --device {d[:200]} maps to another path")
        devices.append((host, inside, perms))
    if devices and perms_need_v1(devices):
        raise KetchError(
            "--device with permissions other than rwm needs the devices cgroup, which cgroup v2 offers "
            "only as an eBPF program: ketch does not load one"
        )
    user_defined = network not in ("none", "host", "bridge")
    if o.network_alias and not user_defined:
        raise KetchError("network-scoped alias is supported only for containers in user defined networks")
    for alias in o.network_alias:
        check_alias(alias, "--network-alias")
    if o.ip is not None:
        if not user_defined:
            raise KetchError("user specified IP address is supported on user defined networks only")
        import ipaddress

        try:
            ipaddress.IPv4Address(o.ip)
        except ValueError:
            raise KetchError(f'invalid argument "{o.ip[:60]}" for "--ip" flag: invalid IPv4 address') from None
    group_file = (_image_file(layers, "etc/group") or b"").decode(errors="replace") if o.group_add else ""
    return {
        "labels": hc.labels(icfg.get("Labels"), o.label, o.label_file),
        "stop_signal": o.stop_signal if o.stop_signal is not None else icfg.get("StopSignal"),
        "stop_timeout": hc.stop_timeout(o.stop_timeout),
        "ulimits": ulimits,
        "sysctls": sysctls,
        "shm_size": hc.shm_size(o.shm_size),
        "devices": devices,
        "network_aliases": list(o.network_alias),
        "ip": o.ip,
        "group_add": list(o.group_add),
        "group_ids": hc.group_add(o.group_add, group_file),
    }


USER_SUBNET_ONLY = (
    "user specified IP address is supported only when connecting to networks with user configured subnets"
)


def check_alias(alias: str, flag: str) -> None:
    """A network alias is a hosts-file name: never a second line or field."""
    import json
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}", alias):
        raise KetchError(f'invalid argument {json.dumps(alias[:80])} for "{flag}" flag: not a valid DNS name')


def perms_need_v1(devices: list[tuple[str, str, str]]) -> bool:
    """Whether a --device's permissions (other than rwm) cannot be enforced here: a cgroup v2 host."""
    return any(perms != "rwm" for _, _, perms in devices) and cgroups.is_v2()


def home_of(uid: int, layers: list[Path]) -> str:
    """The home directory of `uid` in the image's /etc/passwd; / when it has none."""
    passwd = (_image_file(layers, "etc/passwd") or b"").decode(errors="replace")
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) >= 6 and f[2].strip() == str(uid):
            return f[5] or "/"
    return "/"


def publish(network: str, specs: list[str], publish_all: bool, exposed: list[str]) -> list[dict[str, Any]]:
    """-p specs, then with -P each of the image's `exposed` ports ("80/tcp")
    on a random host port: {host_ip, host_port, proto, port} each."""
    if not specs and not publish_all:
        return []
    if network in ("none", "host"):
        raise KetchError(f"conflicting options: port publishing and the container type network mode ({network})")
    from ..network.ports import parse_publish

    out = [p for spec in specs for p in parse_publish(spec)]
    for port in exposed if publish_all else []:
        number, _, proto = port.partition("/")
        out.append({"host_ip": "0.0.0.0", "host_port": 0, "proto": proto or "tcp", "port": int(number)})
    return out


def workdir(given: str | None, image_config: dict[str, Any]) -> str:
    """-w, else the image's WorkingDir, else /: absolute either way."""
    cwd = given or image_config.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise KetchError(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    return cwd


def security(opts: list[str], privileged: bool) -> tuple[Any, bool]:
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


def add_host(spec: str) -> tuple[str, str]:
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


def command(config: dict[str, Any], args: list[str], entrypoint: str | list[str] | None) -> tuple[list[str], list[str]]:
    """(Entrypoint, Cmd) by docker's rule: an --entrypoint replaces the
    image's and drops its Cmd; arguments after the image replace Cmd. The
    process runs Entrypoint + Cmd."""
    img = config.get("config") or {}
    if entrypoint is not None:
        ep = list(entrypoint) if isinstance(entrypoint, list) else [entrypoint] if entrypoint else []
        cmd = args
    else:
        ep = list(img.get("Entrypoint") or [])
        cmd = args or list(img.get("Cmd") or [])
    if not ep + cmd:
        raise KetchError("no command specified")
    return ep, cmd


def merge_env(image_env: list[str], extra: list[str]) -> list[str]:
    """Image Env, then -e values (KEY=VAL sets, bare KEY copies the caller's value);
    PATH gets docker's default when the image has none; HOSTNAME is added by the caller."""
    out: dict[str, str] = {}
    for e in image_env:
        k, _, v = e.partition("=")
        out[k] = v
    for e in extra:
        k, sep, v = e.partition("=")
        if not k:
            raise KetchError(f"invalid environment variable: {e}")
        if sep:
            out[k] = v
        elif k in os.environ:
            out[k] = os.environ[k]
    out.setdefault("PATH", DEFAULT_PATH)
    return [f"{k}={v}" for k, v in out.items()]


def read_env_file(path: str) -> list[str]:
    out = []
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise KetchError(f"open {path}: {e.strerror}") from e
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _image_file(lowerdirs: list[Path], rel: str) -> bytes | None:
    """A small file of the image as the container would see it (top layer
    first, stopping at a whiteout), read without following any symlink."""
    parts = rel.strip("/").split("/")
    for layer in lowerdirs:
        d = layer
        ok = True
        for comp in parts[:-1]:
            d = d / comp
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                ok = False
                break
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # whited out
            if not stat.S_ISDIR(st.st_mode):
                return None  # a symlink or file in the way: not followed from the host
        if not ok:
            continue
        target = d / parts[-1]
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            return None
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            return f.read(1 << 20)
    return None


MAX_ID = (1 << 32) - 2  # uid_t is 32 bits, and (uid_t)-1 means "unchanged" to the kernel


def _numeric_id(text: str, what: str) -> int | None:
    """A uid or gid written as a number (None for a name); out of range is an
    error, never wrapped (2^32 would be root)."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    if value > MAX_ID:
        raise KetchError(f"{what} {text[:40]}: uids and gids must be in range 0-{MAX_ID}")
    return value


def _file_id(text: str, what: str, file: str) -> int:
    """An id read from the image's passwd or group file."""
    value = _numeric_id(text.strip(), what)
    if value is None:
        raise KetchError(f"{what}: the image's {file} gives {text[:40]!r}, not a valid id")
    return value


def resolve_user(user: str, lowerdirs: list[Path]) -> tuple[int, int, list[int]]:
    """`-u`/USER (`name`, `uid`, `name:group`, `uid:gid`) -> uid, gid, groups,
    from the image's own /etc/passwd and /etc/group, read as files."""
    if not user:
        user = "0"
    name, _, group = user.partition(":")
    uid_given = _numeric_id(name, "user")
    gid_given = _numeric_id(group, "group") if group else None
    passwd = (_image_file(lowerdirs, "etc/passwd") or b"").decode(errors="replace")
    groups_text = (_image_file(lowerdirs, "etc/group") or b"").decode(errors="replace")
    uid = gid = None
    username = None
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) < 4:
            continue
        if f[0] == name or (uid_given is not None and f[2].strip() == str(uid_given)):
            uid = _file_id(f[2], f"user {name}", "/etc/passwd")
            gid = _file_id(f[3], f"user {name}", "/etc/passwd")
            username = f[0]
            break
    if uid is None:
        if uid_given is None:
            raise KetchError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = uid_given, 0
    if group:
        found = None
        for line in groups_text.splitlines():
            f = line.split(":")
            if len(f) >= 3 and (f[0] == group or (gid_given is not None and f[2].strip() == str(gid_given))):
                found = _file_id(f[2], f"group {group}", "/etc/group")
                break
        if found is None:
            if gid_given is None:
                raise KetchError(f"unable to find group {group}: no matching entries in group file")
            found = gid_given
        gid = found
    extra = []
    if username:
        for line in groups_text.splitlines():
            f = line.split(":")
            if len(f) >= 4 and username in f[3].split(","):
                extra.append(_file_id(f[2], f"group {f[0]}", "/etc/group"))
    assert gid is not None
    return uid, gid, sorted({gid, *extra})
