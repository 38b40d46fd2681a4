"""A container's process: the `ProcessConfig` it is started with (the
contract with rust/src/process/config.rs), and the one launch path both
starts take: in the foreground (`start`, the caller waits) and detached
(`start_detached`, under a monitor of its own). Cgroups, the network, the
state written and the failure path are the launch's, written once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _native
from ..errors import KetchError, SpawnError
from ..store import Store
from ..store import containers as rows_
from . import cgroups
from .state import Container, bridged, container_dir, proc_start, record_monitor, release_network

if TYPE_CHECKING:
    from ..models.container import NewContainer, ProcessConfig
    from ..network.endpoints import Attached
    from .stdio import Pipes


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
        ),
    )


def exit_code(e: SpawnError) -> int:
    """docker's exit code for a process that did not start: 127 not found, 126 not executable."""
    if e.stage == "exec":
        return 127 if e.errno == 2 else 126
    return 125


def describe(e: SpawnError, cmd: str) -> KetchError:
    msg = str(e.args[2]).split(" (os error")[0].lower()
    if e.stage == "exec":
        text = f'exec: "{cmd}": stat {cmd}: {msg}' if e.errno == 2 else f'exec: "{cmd}": {msg}'
    else:
        text = f"{e.stage}: {msg}"
    err = KetchError(f"ketch: failed to start container process: {text}")
    err.exit_code = exit_code(e)
    return err


# Sockets that hold a foreground container's published ports, by container id.
_HELD: dict[str, list[Any]] = {}


def _drop_held(cid: str) -> None:
    for sock in _HELD.pop(cid, []):
        sock.close()


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
    for previous in ("exit.json", "monitor.pid"):  # a previous run's
        (d / previous).unlink(missing_ok=True)
    procs = cgroups.create(c.id, cgroups.Limits(**c.config.get("limits", {})))
    try:
        att = None
        if bridged(c):
            from ..network.endpoints import attach

            att = attach(store, c.id, c.config["network"], c.config.get("publish") or [])
        pid = spawn(process_config(store, c, procs, att.netns if att is not None else None), att)
    except BaseException as e:
        cgroups.remove(c.id)
        _drop_held(c.id)
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


def start_detached(store: Store, c: Container, autoremove: bool = False) -> int:
    """Starts the container under a monitor process of its own (the
    ketch-monitor program, rust/src/monitor.rs) and returns the container's
    pid. A container created with -t gets a pty, logged as its stdout; with `autoremove`
    (--rm) the monitor removes the container once it has exited."""
    d = container_dir(store, c.id)

    def spawn(process: ProcessConfig, att: Attached | None) -> int:
        import subprocess
        import sys

        from ..models.container import MonitorConfig, ready
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
        )
        (d / "monitor.json").write_text(args.to_json())
        ports = att.held + [x for x, _ in att.proxies] if att is not None else []
        r, w = os.pipe()
        try:
            monitor = subprocess.Popen(
                [process.helper, str(d / "monitor.json"), str(w)],  # ketch-monitor: the helper is the monitor too
                pass_fds=(w, *(sock.fileno() for sock in ports)),  # the monitor holds the ports
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
        record_monitor(store, c.id, monitor.pid)
        with os.fdopen(r, "rb") as f:
            answer = ready(f.read())
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
