"""What `run`, `create`, `start`, `restart` and `exec` do after the face has parsed
them: docker's flags made into the runtime's Options, a new container
created, then run in the foreground (its stdio relayed, `--rm` honoured) or
detached under its monitor; and a container, by name, joined to or taken
off a network. The image is the caller's to have (images.ensure_image)."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, KetchError, UsageError
from . import containers, process, state
from .spec import Options
from .state import Container

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import Store
    from .stdio import Stdio

_FIELDS = {f.name for f in fields(Options)} - {"limits", "tty", "network", "restart"}


def _as_usage(e: KetchError) -> KetchError:
    """docker's exit code for a container it could not create: 125."""
    e.exit_code = 125
    return e


def options(
    settings: Settings,
    *,
    network: str | None = None,
    tty: bool = False,
    memory: str | None = None,
    cpus: float | None = None,
    pids_limit: int | None = None,
    env_file: list[str] | None = None,
    restart: str = "no",
    **flags: Any,
) -> Options:
    """The Options of `run`/`create`'s flags: lists given as None are empty,
    the network is the default one (KETCH_DEFAULT_NETWORK, else bridge)
    when none is named, the limits parsed, --env-file's variables first."""
    from .cgroups import Limits, check_cpus, parse_bytes
    from .spec import read_env_file

    unknown = set(flags) - _FIELDS
    if unknown:
        raise TypeError(f"not a run option: {', '.join(sorted(unknown))}")
    given: dict[str, Any] = {
        k: (list(v) if isinstance(v, list | tuple) else v) for k, v in flags.items() if v is not None
    }
    opts = Options(network=network or settings.default_network or "bridge", tty=tty, restart=restart, **given)
    from .policies import restart_policy

    try:
        restart_policy(restart)
    except KetchError as e:
        raise UsageError(str(e)) from None
    try:
        check_cpus(cpus)
        opts.limits = Limits(parse_bytes(memory) if memory else None, cpus, pids_limit)
    except KetchError as e:
        raise _as_usage(e) from None
    opts.env = [e for f in env_file or [] for e in read_env_file(f)] + opts.env
    return opts


def create(store: Store, image: str, args: list[str], opts: Options, rm: bool = False) -> Container:
    """`create`: the container, not started (exit code 125 on failure, as
    docker's); `rm` (--rm) and a restart policy exclude each other."""
    if rm and opts.restart != "no":
        raise UsageError(f'Conflicting options: --restart and --rm (restart policy "{opts.restart[:40]}")')
    if rm:
        opts.autoremove = True  # inspect's HostConfig.AutoRemove; a later `start` honours it too
    try:
        return containers.create(store, image, args, opts)
    except KetchError as e:
        raise _as_usage(e) from None


def start_detached(store: Store, c: Container, rm: bool = False) -> None:
    """`run -d`: started under its monitor; with `rm`, removed if it could not start."""
    try:
        process.start_detached(store, c, autoremove=rm)
    except KetchError:
        if rm:
            containers.remove(store, c.id, force=True, volumes_too=True)
        raise


def _attached(store: Store, c: Container) -> None:
    """docker's `attach` event: a face's streams are the container's (run without -d, start -a)."""
    from .events import container as event

    event(store, c, "attach")


def run_attached(store: Store, c: Container, stdio: Stdio, interactive: bool = False) -> int:
    """Without -t: the container's output relayed to the face's `stdio`, and
    its stdin to the container's with -i (else it reads an empty pipe, as
    /dev/null under docker). Its exit code."""
    from .state import log_path
    from .stdio import Pipes

    io = Pipes(interactive, stdio, log=str(log_path(store, c)))  # `logs` shows it after, as docker's
    _attached(store, c)
    try:
        pid, _ = process.start(store, c, io=io)
        return process.wait(store, c, pid, io)
    finally:
        io.close()


def _relay_pty(master: int, interactive: bool, stdio: Stdio) -> None:
    """The face's terminal relayed to a container's pty until it closes."""
    import os

    from . import tty as term

    try:
        term.relay(master, interactive, stdio.stdin, stdio.stdout)
    finally:
        os.close(master)


def run_tty(store: Store, c: Container, stdio: Stdio, interactive: bool = False) -> int:
    """With -t: the face's terminal relayed to the container's pty. Its exit code."""
    _attached(store, c)
    pid, master = process.start(store, c, tty=True)
    assert master is not None
    _relay_pty(master, interactive, stdio)
    return process.wait(store, c, pid)


def needs_monitor(c: Container) -> bool:
    """A restart policy other than `no`, or a healthcheck (the flags' or the
    image's): what only a monitor does, so a foreground `run` goes through one."""
    restart = c.config.get("restart") or {}
    return restart.get("policy", "no") != "no" or bool(c.config.get("healthcheck"))


def run_monitored(store: Store, c: Container, stdio: Stdio, interactive: bool, rm: bool = False) -> int:
    """A foreground `run` as docker's: started detached under its monitor
    with our client attached from the start, until the process's first exit
    (its code) or a detach (0, the container runs on); the monitor applies
    the restart policy and the healthcheck from then on. With `rm` the
    monitor removes it (a healthcheck's container: --rm and a policy exclude
    each other), which is waited for, as docker's `run --rm` does."""
    from .attach import run_attached as join

    def start(attached: tuple[int, int]) -> int:
        return process.start_detached(store, c, autoremove=rm, attached=[attached])

    try:
        outcome = join(store, c, stdio, start, interactive=interactive, stdin_once=interactive)
    except KetchError:
        if rm:
            containers.remove(store, c.id, force=True, volumes_too=True)
        raise
    if outcome.exit_code is None:
        return 0
    if rm:
        _wait_removed(store, c.id)
    return outcome.exit_code


def _wait_removed(store: Store, cid: str, timeout: float = 10.0) -> None:
    import time

    from ..errors import ContainerNotFound

    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            state.lookup(store, cid)
        except ContainerNotFound:
            return
        time.sleep(0.05)


def run_foreground(store: Store, c: Container, stdio: Stdio, tty: bool, interactive: bool, rm: bool = False) -> int:
    """`run` without -d: attached to the face's `stdio` until it ends; with
    `rm`, removed after. Its exit code. One with a restart policy or a
    healthcheck goes through its monitor (`run_monitored`); the others keep
    the direct path (no monitor: faster)."""
    if needs_monitor(c):
        return run_monitored(store, c, stdio, interactive, rm)
    try:
        return run_tty(store, c, stdio, interactive) if tty else run_attached(store, c, stdio, interactive)
    finally:
        if rm:
            containers.remove(store, c.id, force=True, volumes_too=True)


def start(
    store: Store, ref: str, attach: Stdio | None = None, interactive: bool = False, keys: str | None = None
) -> int | None:
    """`start`: a stopped container detached under its monitor (None), or
    with `attach` (-a) as a foreground `run` is: a container with a restart
    policy, a healthcheck or -t under its monitor with the face's files
    attached from the start (runtime/attach.py), the others directly. Its
    exit code (0 after a detach by `keys`, as docker's). With `interactive` (-i) the face's stdin is sent (the
    container has -i), and its end closes the container's (docker's StdinOnce).
    A running one is left be."""
    c = state.lookup(store, ref)
    if c.state == "running":
        return None
    if attach is not None and not (needs_monitor(c) or c.config.get("tty")):
        return run_attached(store, c, attach, interactive)  # as a foreground run: no monitor, faster
    if attach is not None:
        from .attach import run_attached as join

        outcome = join(
            store,
            c,
            attach,
            lambda attached: process.start_detached(store, c, attached=[attached]),
            interactive=interactive,
            stdin_once=interactive,
            keys=keys,
        )
        return 0 if outcome.exit_code is None else outcome.exit_code
    process.start_detached(store, c)
    return None


def restart(store: Store, ref: str, timeout: float | None = None) -> None:
    """`restart`: stopped (if running), then started detached."""
    from .signals import stop

    stop(store, ref, timeout)
    process.start_detached(store, state.lookup(store, ref))


def exec_foreground(
    store: Store, ref: str, argv: list[str], stdio: Stdio, *, interactive: bool = False, **how: Any
) -> int:
    """`exec`: the process in the running container (`how`: exec_in's env,
    workdir, user, tty, detach); with `detach` left to run (0), else its
    stdio relayed to the face's `stdio` (a terminal to its pty with `tty`)
    until it ends, signals forwarded. Its exit code."""
    from .exec import exec_died, exec_in, new_exec_id
    from .stdio import Pipes

    tty, detach = bool(how.get("tty")), bool(how.get("detach"))
    io = Pipes(interactive, stdio) if not tty and not detach else None
    exec_id = new_exec_id()
    try:
        pid, master = exec_in(store, ref, argv, io=io, exec_id=exec_id, **how)
        if detach:
            return 0  # no one waits for it: docker's daemon would, ketch has none (no exec_die)
        if master is not None:
            _relay_pty(master, interactive, stdio)
        code = process.wait_forwarding(pid, io.relay if io is not None else None)
        exec_died(store, ref, exec_id, code)
        return code
    finally:
        if io is not None:
            io.close()


def connect(store: Store, network: str, ref: str) -> str:
    """`network connect`: a running container (by name or id) gets an
    interface on `network`; its address there."""
    from ..network.endpoints import connect as join

    c = state.lookup(store, ref)
    if c.state != "running":
        raise ConflictError(f"container {c.id} is not running: ketch connects running containers only")
    return join(store, c.id, network)


def disconnect(store: Store, network: str, ref: str) -> None:
    """`network disconnect`: the container (by name or id) leaves `network`."""
    from ..network.endpoints import disconnect as leave

    leave(store, state.lookup(store, ref).id, network)
