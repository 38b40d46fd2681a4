"""What a container is: every create-time decision (`ContainerSpec`), and
the process contract with the Rust side: what a container's process is
started with (`ProcessConfig`, read by rust/src/process/config.rs for
`_native.spawn`, `_native.exec_in` and the ketch-monitor program) and what a
detached container's monitor is given (`MonitorConfig`, rust/src/monitor.rs).
Each is serialised once, to JSON; Rust takes every field as required and
refuses any other, so the two sides cannot drift apart silently.

Plain records rather than pydantic: they are made on every `ketch run`,
and pydantic's import alone costs 30-100 ms. Not frozen, and without the
generated __eq__ and __repr__ (`to_json()` is their readable form): those
methods cost ~2.5 ms of every run's start-up for nothing the contract
needs; defined so, the module takes ~1.5 ms to import."""

from __future__ import annotations

import json

from ..records import field, fields_of, record

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields_of(obj)}


@record(repr=False, eq=False, slots=True)
class ContainerSpec:
    """Every decision `create` makes from the image's config and the flags
    (runtime/spec.py's `build`), before anything is written: the container's
    row and files are made from it, and its process later from its config."""

    id: str
    name: str | None  # None: a random one is picked as the row is written
    image_id: str
    image: str  # the reference as given
    entrypoint: list[str]
    cmd: list[str]
    env: list[str]
    cwd: str
    uid: int
    gid: int
    groups: list[int]
    user: str  # as given (-u or the image's USER), for commit
    hostname: str
    network: str  # none, host, bridge or a user-defined network's name
    publish: list[dict[str, Any]]  # {host_ip, host_port, proto, port}
    lowerdirs: list[str]  # image layers, top first
    limits: dict[str, Any]  # cgroups.Limits' fields
    binds: list[tuple[str, str, bool]]  # (host source, target, read-only)
    tmpfs: list[str]
    volumes: list[tuple[str, str, bool]]  # named volumes: (name, target, anonymous)
    init: bool
    readonly_root: bool
    caps: int
    privileged: bool
    seccomp: Any  # "default", None (unconfined) or a docker-format profile
    no_new_privileges: bool
    tty: bool
    extra_hosts: list[tuple[str, str]]  # --add-host (host, ip)
    dns: list[str]
    dns_search: list[str]
    # -- restart policy, healthcheck, log rotation (issue 12; runtime/policies.py) --
    restart: dict[str, Any] = field(default_factory=lambda: {"policy": "no", "max_retries": 0})
    healthcheck: dict[str, Any] | None = None  # docker's {Test, Interval, ...}, the image's merged in; None: none
    log_opts: dict[str, int] = field(default_factory=lambda: {"max_size": 0, "max_file": 1})
    # -- issue 12's run/create flags (wt-flags): labels, stop, ulimits, sysctls, /dev, network names.
    # In the row's config only when set: a container made without them (or before them) reads the defaults.
    labels: dict[str, str] = field(default_factory=dict)  # the image's labels under -l/--label-file's
    stop_signal: str | None = None  # --stop-signal (the image's StopSignal when not given)
    stop_timeout: int | None = None  # --stop-timeout: `stop`'s grace without -t
    ulimits: list[tuple[str, int, int]] = field(default_factory=list)  # --ulimit (name, soft, hard; -1 unlimited)
    sysctls: dict[str, str] = field(default_factory=dict)  # --sysctl, namespaced keys only
    shm_size: int = 64 << 20  # /dev/shm's size in bytes
    devices: list[tuple[str, str, str]] = field(default_factory=list)  # --device (host node, path inside, rwm)
    network_aliases: list[str] = field(default_factory=list)  # --network-alias (user-defined networks)
    ip: str | None = None  # --ip (user-defined networks)
    group_add: list[str] = field(default_factory=list)  # --group-add as given (their gids are in `groups`)
    open_stdin: bool = False  # -i: its stdin stays open for attached clients (docker's OpenStdin)
    stdin_once: bool = False  # the API's StdinOnce (attached clients: the end of stdin closes it)
    autoremove: bool = False  # --rm / AutoRemove: removed by its monitor once it exited
    home_set: bool = False  # HOME is ketch's (the user's passwd entry): `exec -u` gives its user's instead

    def config(self) -> dict[str, Any]:
        """The container's config as its row keeps it (`Container.config`)."""
        return {
            "argv": self.entrypoint + self.cmd,
            "entrypoint": self.entrypoint,
            "cmd": self.cmd,
            "env": self.env,
            "cwd": self.cwd,
            "uid": self.uid,
            "gid": self.gid,
            "groups": self.groups,
            "hostname": self.hostname,
            "network": self.network,
            "publish": self.publish,
            "lowerdirs": self.lowerdirs,
            "user": self.user,
            "limits": self.limits,
            "binds": self.binds,
            "tmpfs": self.tmpfs,
            "volume_names": [n for n, _, _ in self.volumes],
            "anonymous_volumes": [n for n, _, anon in self.volumes if anon],
            "init": self.init,
            "readonly_root": self.readonly_root,
            "caps": self.caps,
            "privileged": self.privileged,
            "seccomp": self.seccomp,
            "no_new_privileges": self.no_new_privileges,
            "tty": self.tty,
            **({"open_stdin": True} if self.open_stdin else {}),
            "extra_hosts": [list(x) for x in self.extra_hosts],  # the hosts file is made from these
            # issue 12's, kept only when they say something (readers take the defaults otherwise)
            **({"restart": self.restart} if self.restart.get("policy", "no") != "no" else {}),
            **({"healthcheck": self.healthcheck} if self.healthcheck else {}),
            **({"log_opts": self.log_opts} if self.log_opts.get("max_size") else {}),
            **self._flags(),
        }

    def _flags(self) -> dict[str, Any]:
        """Issue 12's run/create flags (wt-flags), those that are set."""
        flags: dict[str, Any] = {
            "labels": self.labels,
            "stop_signal": self.stop_signal,
            "stop_timeout": self.stop_timeout,
            "ulimits": [list(u) for u in self.ulimits],
            "sysctls": self.sysctls,
            "shm_size": self.shm_size if self.shm_size != 64 << 20 else None,
            "devices": [list(d) for d in self.devices],
            "network_aliases": self.network_aliases,
            "ip": self.ip,
            "group_add": self.group_add,
            "home_set": self.home_set or None,
            "autoremove": self.autoremove or None,
            "stdin_once": self.stdin_once or None,
        }
        return {k: v for k, v in flags.items() if v not in (None, [], {})}


@record(repr=False, eq=False)
class NewContainer:
    """What a new container is made of (absent for a process exec'd into one)."""

    rootfs: str  # the empty directory its root is mounted on
    lowerdirs: list[str]  # image layers, top first
    upperdir: str
    workdir: str
    hostname: str
    new_net: bool  # a network namespace of its own; False shares the host's
    netns: str | None  # a namespace made beforehand (a bridge's) to join instead
    files: list[tuple[str, str]]  # host file -> path inside (hosts, hostname, resolv.conf)
    binds: list[tuple[str, str, bool]]  # (host source, target, read-only)
    tmpfs: list[str]
    readonly_root: bool
    privileged: bool
    # -- issue 12's run/create flags (wt-flags)
    shm_size: int  # /dev/shm's tmpfs size in bytes (--shm-size)
    sysctls: list[tuple[str, str]]  # (path under /proc/sys, value), written before the exec
    devices: list[tuple[str, str, int, int, int]]  # (path under /dev, "c" or "b", major, minor, mode)
    # (host cgroup directory, path inside): the container's own cgroups, read-only at /sys/fs/cgroup
    cgroup_mounts: list[tuple[str, str]]


@record(repr=False, eq=False)
class ProcessConfig:
    """A container process: the first of a new container (with `container`)
    or one exec'd into a running container (without)."""

    argv: list[str]
    env: list[str]
    cwd: str
    uid: int
    gid: int
    groups: list[int]
    caps: int  # capability bit mask kept
    seccomp: dict[str, Any] | None  # seccomp.compile_rules's result; None: unconfined
    no_new_privileges: bool
    cgroup_procs: list[str]  # the files of the cgroups it joins first (runtime/cgroups.join_file)
    helper: str  # the ketch-monitor program, re-executed sealed (rust/src/process/reexec.rs)
    detached: bool  # does not die with the caller
    container: NewContainer | None
    # -- issue 12's run/create flags (wt-flags)
    rlimits: list[tuple[int, int, int]]  # --ulimit: (RLIMIT_* number, soft, hard; 2^64-1 unlimited)

    def to_json(self) -> str:
        return json.dumps(self, default=_fields, separators=(",", ":"))


@record(repr=False, eq=False)
class RestartPolicy:
    """--restart: "no", "on-failure" (at most `max_retries` restarts, 0: no
    maximum), "always" or "unless-stopped" (rust/src/monitor.rs `Restart`)."""

    policy: str
    max_retries: int = 0


@record(repr=False, eq=False)
class HealthConfig:
    """The healthcheck the monitor runs (rust/src/monitor/health.rs `Health`):
    `process` exec'd into the container every `interval_ns`, killed after
    `timeout_ns`; `retries` failures in a row are unhealthy, failures within
    `start_period_ns` of the start do not count until one probe succeeded."""

    process: ProcessConfig  # without a `container` part
    interval_ns: int
    timeout_ns: int
    start_period_ns: int
    retries: int
    # each change of status appended to the store's event log as docker's
    # `health_status: STATUS` event (store/events.py's line); "": none
    events_file: str
    event_id: str
    event_attributes: dict[str, str]


@record(repr=False, eq=False)
class MonitorConfig:
    """What `ketch-monitor MONITOR.JSON READY_FD` runs a detached container with."""

    process: ProcessConfig
    log: str  # docker's json-file log
    exit_file: str  # {"exit_code", "finished"}, written once the container ends
    cgroup_dirs: list[str]  # removed once it ends
    tty: bool
    proxies: list[tuple[int, str, int]]  # [::] listeners: (fd, container ip, port)
    after: list[str] | None  # argv exec'd once it ends, for Python's part of the clean-up
    # -- restart policy, healthcheck, log rotation (issue 12) --
    restart: RestartPolicy  # whether the monitor starts the process again once it exits
    health: HealthConfig | None  # the healthcheck the monitor runs; None: none
    log_max_size: int  # --log-opt max-size in bytes; 0: never rotated
    log_max_files: int  # --log-opt max-file
    state_file: str  # the monitor's {pid, started, restart_count, restarting, exit_code, finished, health}
    stop_file: str  # made by stop/kill/rm: the process is not started again
    # -- attach (rust/src/monitor/attach.rs) --
    stdin: bool = False  # -i: the container's stdin is the monitor's pipe (the pty with -t), else /dev/null
    attach_dir: str | None = None  # where the attach socket is made (the container's directory); None: none
    # the clients connected before the start: (each one's socket, its hello's flags)
    attached: list[tuple[int, int]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self, default=_fields, separators=(",", ":"))
