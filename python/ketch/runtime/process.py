"""A container's process: the `ProcessConfig` it is started with (the
contract with rust/src/process/config.rs), and the one launch path both
starts take: in the foreground (`start`, the caller waits) and detached
(`start_detached`, under a monitor of its own). Cgroups, the network, the
state written and the failure path are the launch's, written once."""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from .. import _native
from ..errors import KetchError, SpawnError
from ..records import record
from ..store import Store
from ..store import containers as rows_
from . import cgroups
from .state import Container, await_monitor, bridged, container_dir, proc_start, record_monitor, release_network

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True

if TYPE_CHECKING:
    from typing import Any

    from ..models.container import HealthConfig, NewContainer, ProcessConfig
    from ..network.endpoints import Attached
    from .stdio import Pipes


@record(frozen=True)
class HelperProgram:
    """Where `ketch-monitor` is looked for and whether it can be run (what
    `ketch info` reports): without it no container starts."""

    path: str
    present: bool
    problem: str | None = None  # why it cannot be run, in words; None when present


def helper_status() -> HelperProgram:
    """`ketch-monitor` beside the extension (every wheel carries it, built by
    rust/build.rs): present and executable, or what is wrong with it."""
    program = Path(_native.__file__).with_name("ketch-monitor")
    if not program.is_file():
        return HelperProgram(str(program), False, "missing")
    if not os.access(program, os.X_OK):
        return HelperProgram(str(program), False, "not executable")
    return HelperProgram(str(program), True)


def helper_program() -> str:
    """`ketch-monitor`: a sealed in-memory copy of it is the process that
    crosses into every container (rust/src/process/reexec.rs), so no
    container process is ever a copy of this interpreter; it is the detached
    containers' monitor and the `--init` too. There is no fallback: without
    it, a clear error."""
    status = helper_status()
    if not status.present:
        raise KetchError(
            f"{status.path} is {status.problem}: ketch starts container processes only through it; "
            "reinstall ketch (every wheel carries it; a source build makes it with cargo)"
        )
    return status.path


def confined(
    p: dict[str, Any],
    argv: list[str],
    env: list[str],
    cwd: str,
    ids: tuple[int, int, list[int]],
    cgroup_procs: list[str],
    detached: bool = False,
    container: NewContainer | None = None,
) -> ProcessConfig:
    """A process of the container whose config is `p`: its capabilities,
    seccomp filter and no_new_privs, the same for the container's first
    process and every process exec'd into it."""
    from ..models.container import ProcessConfig
    from . import seccomp
    from .hostconfig import rlimits

    mask = p.get("caps", _native.docker_caps())
    profile = p.get("seccomp", "default")
    if profile == "default":
        profile = seccomp.default_profile()
    return ProcessConfig(
        argv,
        env,
        cwd,
        *ids,  # uid, gid, groups
        caps=mask,
        seccomp=None if profile is None else seccomp.compile_rules(profile, mask),
        no_new_privileges=p.get("no_new_privileges", False),
        cgroup_procs=cgroup_procs,
        helper=helper_program(),
        detached=detached,
        container=container,
        rlimits=rlimits(p.get("ulimits") or []),  # exec'd processes get them too, as docker's
    )


def process_config(store: Store, c: Container, cgroup_procs: list[str], netns: str | None = None) -> ProcessConfig:
    """What `_native.spawn` and the monitor start the container's process with."""
    from ..models.container import NewContainer

    p = c.config
    d = container_dir(store, c.id)
    return confined(
        p,
        (["/sbin/docker-init", "--"] if p.get("init") else []) + p["argv"],
        p["env"],
        p["cwd"],
        (p["uid"], p["gid"], p["groups"]),
        cgroup_procs,
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
            **new_container_flags(p, cgroup_procs),
        ),
    )


def new_container_flags(p: dict[str, Any], cgroup_procs: list[str]) -> dict[str, Any]:
    """NewContainer's fields from issue 12's flags (a container made before
    them has none): /dev/shm's size, sysctls, --device nodes, /sys/fs/cgroup."""
    from .hostconfig import SHM_DEFAULT, device_node, sysctl_path

    devices = []
    for host, inside, _ in p.get("devices") or []:
        kind, major, minor, mode = device_node(host)  # again: the host's node may have changed since create
        devices.append((inside, kind, major, minor, mode))
    return {
        "shm_size": p.get("shm_size") or SHM_DEFAULT,
        "sysctls": [(sysctl_path(k), v) for k, v in (p.get("sysctls") or {}).items()],
        "devices": devices,
        "cgroup_mounts": cgroups.mounts(cgroup_procs),
    }


def device_rules(p: dict[str, Any]) -> list[str]:
    """devices.allow lines for the container's --device nodes (v1's devices cgroup)."""
    from .hostconfig import device_node

    out = []
    for host, _, perms in p.get("devices") or []:
        kind, major, minor, _ = device_node(host)
        out.append((kind, major, minor, perms))
    return cgroups.device_rules(out)


def exit_code(e: SpawnError) -> int:
    """docker's exit code for a process that did not start: 127 not found, 126 not executable."""
    if e.stage == "exec":
        return 127 if e.errno == 2 else 126
    return 125


def describe(e: SpawnError, cmd: str, exec_: bool = False) -> KetchError:
    """docker's (runc's) words for a process that did not start: a name
    looked up on PATH is `executable file not found in $PATH`, a path
    `stat PATH: no such file or directory`. `exec_`: the process of `exec`,
    whose failure docker exits 126 whatever it was."""
    msg = str(e.args[2]).split(" (os error")[0].lower()
    if e.stage == "exec":
        if e.errno == 2:
            text = f'exec: "{cmd}": ' + (f"stat {cmd}: {msg}" if "/" in cmd else "executable file not found in $PATH")
        else:
            text = f'exec: "{cmd}": {msg}'
    else:
        text = f"{e.stage}: {msg}"
    err = KetchError(f"ketch: failed to start container process: {text}")
    err.exit_code = 126 if exec_ and e.stage == "exec" else exit_code(e)
    return err


# Sockets that hold a foreground container's published ports, by container id.
_HELD: dict[str, list[Any]] = {}


def _drop_held(cid: str) -> None:
    for sock in _HELD.pop(cid, []):
        sock.close()


def ready(answer: bytes) -> int | tuple[str, int, str]:
    """The monitor's one answer on its ready pipe, on spawn's report
    protocol (rust/src/process/report.rs): the container's pid, or (stage,
    errno, message) where its start failed. Nothing, or less than a whole
    report: the monitor died first."""
    decoded = _native.ready_report(answer)
    if decoded is None:
        return ("start the monitor", errno.EIO, os.strerror(errno.EIO))
    stage, err, pid, message = decoded
    return pid if stage is None else (stage, err, message)


def _launch(
    store: Store, c: Container, spawn: Callable[[ProcessConfig, Attached | None], int]
) -> tuple[int, Attached | None]:
    """The one way a container's process starts: its cgroups, its network
    (namespace, eth0, ports) for a bridged one, then `spawn(process,
    attached)`, which returns its pid or raises; the container is then
    recorded running. Whatever fails, what was made goes again, and a
    process that could not start records the container exited with docker's
    code (127, 126) and raises docker's message."""
    d = container_dir(store, c.id)
    await_monitor(store, c.id)  # a restart: the last run's monitor may still be releasing its network
    for previous in ("exit.json", "monitor.pid", "state.json", "stopped"):  # a previous run's
        (d / previous).unlink(missing_ok=True)
    rules = device_rules(c.config) if c.config.get("devices") and not cgroups.is_v2() else None
    procs = cgroups.create(c.id, cgroups.Limits(**c.config.get("limits", {})), rules)
    try:
        att = None
        if bridged(c):
            from ..network.endpoints import attach

            att = attach(store, c.id, c.config["network"], c.config.get("publish") or [], c.config.get("ip"))
            if c.config.get("connected"):
                _join_connected(store, c)
        pid = spawn(process_config(store, c, procs, att.netns if att is not None else None), att)
    except BaseException as e:
        cgroups.remove(c.id)
        _drop_held(c.id)
        if att is not None:  # the published ports it held (a second close is nothing)
            for sock in att.held + [x for x, _ in att.proxies]:
                sock.close()
        release_network(store, c)
        if not isinstance(e, SpawnError):
            raise
        rows_.set_exited(store, c.id, exit_code(e), time.time())
        from .events import container as event

        event(store, c, "die", exitCode=str(exit_code(e)))
        raise describe(e, c.config["argv"][0]) from e
    rows_.set_running(store, c.id, pid, proc_start(pid), time.time())
    from .events import container as event

    event(store, c, "start")
    return pid, att


def _join_connected(store: Store, c: Container) -> None:
    """The networks `network connect` added to the container, joined again
    at its start (eth1, eth2, ...); one that is gone fails the start, as docker's does."""
    from ..network.endpoints import connect
    from ..store import networks as rows

    for name, how in c.config["connected"].items():
        net = rows.by_name(store, name)
        if net is None or net.id != how.get("id", net.id):  # gone, or another network made under its name
            raise KetchError(
                f"network {name} not found: `ketch network disconnect {name} {c.name}`, then connect it again"
            )
        connect(store, c.id, name, how.get("ip"))


def _socketpair() -> tuple[Any, Any]:
    import socket  # 5 ms: only for a pty

    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def start(store: Store, c: Container, tty: bool = False, io: Pipes | None = None) -> tuple[int, int | None]:
    """Starts the container's process; returns its pid and, with `tty`, the
    master side of the pty it got from its own devpts (its stdin, stdout,
    stderr and controlling terminal). Exec failures raise a KetchError with
    docker's exit codes (127 not found, 126 not executable). Without `tty`
    its stdio are `io`'s pipes (never the caller's own files); without `io`, /dev/null."""
    ours, theirs = _socketpair() if tty else (None, None)

    def spawn(process: ProcessConfig, att: Attached | None) -> int:
        if att is not None:
            _HELD[c.id] = att.held + [x for x, _ in att.proxies]  # the published ports, held until the end
        return _native.spawn(
            process.to_json(),
            theirs.fileno() if theirs is not None else -1,
            io.child if io is not None and not tty else None,
        )

    try:
        pid, att = _launch(store, c, spawn)
    except BaseException:
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
        raise
    finally:
        if io is not None:
            io.started()
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


def health_config(c: Container, process: ProcessConfig, events_file: str = "") -> HealthConfig | None:
    """The container's healthcheck as its monitor runs it: the probe exec'd
    as the container's own processes are (its user, environment, cgroups
    and confinement), dying with the monitor's helper when killed; docker's
    defaults where the check leaves a field at 0. Its changes of status go
    to `events_file` (the store's event log) with the container's event
    attributes (runtime/events.py)."""
    from ..models.container import HealthConfig
    from . import policies
    from .events import attributes

    hc = c.config.get("healthcheck")
    if not hc:
        return None
    p = c.config
    probe = confined(
        p, policies.probe_argv(hc), p["env"], p["cwd"], (p["uid"], p["gid"], p["groups"]), process.cgroup_procs
    )
    return HealthConfig(
        probe,
        interval_ns=hc.get("Interval") or policies.DEFAULT_INTERVAL,
        timeout_ns=hc.get("Timeout") or policies.DEFAULT_TIMEOUT,
        start_period_ns=hc.get("StartPeriod") or 0,
        retries=hc.get("Retries") or policies.DEFAULT_RETRIES,
        events_file=events_file,
        event_id=c.id,
        event_attributes=attributes(c),
    )


def start_detached(
    store: Store, c: Container, autoremove: bool = False, attached: list[tuple[int, int]] | None = None
) -> int:
    """Starts the container under a monitor process of its own (the
    ketch-monitor program, rust/src/monitor.rs) and returns the container's
    pid. A container created with -t gets a pty, logged as its stdout; with `autoremove`
    (--rm) the monitor removes the container once it has exited. The monitor
    listens on the container's attach socket (rust/src/monitor/attach.rs;
    with -i it holds the container's stdin); `attached` are clients' sockets
    (each with its hello's flags, runtime/attach.pair) the monitor serves
    from before the start, so that they miss no output: the caller keeps
    their other ends and closes these."""
    d = container_dir(store, c.id)
    autoremove = autoremove or bool(c.config.get("autoremove"))  # created with --rm (or AutoRemove)

    def spawn(process: ProcessConfig, att: Attached | None) -> int:
        import subprocess
        import sys

        from ..models.container import MonitorConfig, RestartPolicy
        from ..store import events
        from .state import log_path

        # What is left for Python once the container has ended, exec'd by the
        # monitor: its end recorded (its die event), the bridge's address,
        # ports and rules; --rm's removal.
        flags = (["--network"] if att is not None else []) + (["--rm"] if autoremove else [])
        script = str(Path(__file__).with_name("after_monitor.py"))
        args = MonitorConfig(
            process=process,
            log=str(log_path(store, c)),
            exit_file=str(d / "exit.json"),
            cgroup_dirs=[str(Path(x).parent) for x in process.cgroup_procs],
            tty=bool(c.config.get("tty")),
            proxies=[(sock.fileno(), att.ip, port) for sock, port in att.proxies] if att is not None else [],
            after=[sys.executable, "-S", "-E", script, str(store.root), c.id, *flags],
            restart=RestartPolicy(**(c.config.get("restart") or {"policy": "no"})),
            health=health_config(c, process, str(events.path(store))),
            log_max_size=int((c.config.get("log_opts") or {}).get("max_size", 0)),
            log_max_files=int((c.config.get("log_opts") or {}).get("max_file", 1)),
            state_file=str(d / "state.json"),
            stop_file=str(d / "stopped"),
            stdin=bool(c.config.get("open_stdin")),
            attach_dir=str(d),
            attached=list(attached or []),
        )
        (d / "monitor.json").write_text(args.to_json())
        ports = att.held + [x for x, _ in att.proxies] if att is not None else []
        r, w = os.pipe()
        try:
            monitor = subprocess.Popen(
                [process.helper, str(d / "monitor.json"), str(w)],  # ketch-monitor: the helper is the monitor too
                # the monitor holds the ports (and the attached client's socket)
                pass_fds=(w, *(sock.fileno() for sock in ports), *(fd for fd, _ in attached or [])),
                start_new_session=True,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(d / "monitor.log", "ab"),  # noqa: SIM115 - the monitor's own errors, for diagnosis
            )
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
            for sock in ports:
                sock.close()
        try:
            record_monitor(store, c.id, monitor.pid)
            with os.fdopen(r, "rb") as f:
                r = -1  # the file owns it now
                answer = ready(f.read())
        except BaseException:
            # the start failed after the monitor began (a full disk, ^C):
            # the monitor, and with it the container, goes too, or the row
            # would say created while a process of it runs on
            monitor.kill()
            monitor.wait()
            if r >= 0:
                os.close(r)
            raise
        if not isinstance(answer, int):
            raise SpawnError(*answer)
        return answer

    pid, _ = _launch(store, c, spawn)
    return pid


def wait(store: Store, c: Container, pid: int, io: Pipes | None = None) -> int:
    """Waits for the process (relaying `io` until it ends), forwarding
    SIGINT/SIGTERM/SIGHUP to it, and records its exit."""
    code = wait_forwarding(pid, io.relay if io is not None else None)
    cgroups.remove(c.id)
    if rows_.set_exited(store, c.id, code, time.time()):
        from .events import container as event

        event(store, c, "die", exitCode=str(code))
    _drop_held(c.id)
    release_network(store, c)
    return code


def wait_forwarding(pid: int, relay: Callable[[int], None] | None = None) -> int:
    """Waits for a child (after `relay(pid)`, which copies its stdio until it
    ends), forwarding SIGINT/SIGTERM/SIGHUP to it; its exit code as docker
    reports it. Off the main thread (a build served by the Engine API) the
    signals are the process's, not this child's: none is forwarded."""
    import sys

    threading = sys.modules.get("threading")  # never imported: no thread was started, this is the main one
    main = threading is None or threading.current_thread() is threading.main_thread()
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if main else ()
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
