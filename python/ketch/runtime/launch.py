"""What `run`, `create`, `start`, `restart` and `exec` do after the face has parsed
them: docker's flags made into the runtime's Options, a new container
created, then run in the foreground (its stdio relayed, `--rm` honoured) or
detached under its monitor; and a container, by name, joined to or taken
off a network. The image is the caller's to have (images.ensure_image)."""

from __future__ import annotations

from ..errors import ConflictError, KetchError, UsageError
from ..records import fields_of
from . import containers, process, state
from .spec import Options
from .state import Container

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True

if TYPE_CHECKING:
    from typing import Any

    from ..config import Settings
    from ..store import Store
    from .stdio import Stdio

_FIELDS = set(fields_of(Options)) - {"limits", "tty", "network", "restart"}


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


def connect(
    store: Store, network: str, ref: str, aliases: list[str] | None = None, ip: str | None = None
) -> str | None:
    """`network connect [--alias A] [--ip IP]`: the container (by name or id)
    joins `network`, kept in its config so that every later start joins it
    again, as docker's daemon does; a running one gets its interface now
    and its address there is returned (None for one not running)."""
    from ..network.endpoints import connect as join
    from ..network.networks import get
    from ..store import containers as rows_
    from ..store import networks as rows
    from .spec import USER_SUBNET_ONLY, check_alias

    c = state.lookup(store, ref)
    net = get(store, network)
    own = c.config.get("network") or "none"
    if own in ("host", "none"):
        raise ConflictError(f"container {c.name} is on the {own} network: it cannot be connected to another network")
    if net.name == "bridge" and (aliases or ip):
        raise KetchError("network-scoped alias is supported only for containers in user defined networks")
    for alias in aliases or []:
        check_alias(alias, "--alias")
    if ip is not None:
        from ..network.ipam import requested_address

        if not net.user_subnet:
            raise KetchError(USER_SUBNET_ONLY)
        requested_address(net.subnet, net.gateway, ip, 0, set())  # a malformed or foreign address, refused now
    if net.name == own or net.name in (c.config.get("connected") or {}):
        raise ConflictError(f"endpoint with name {c.name} already exists in network {net.name}")
    entry = {"aliases": list(dict.fromkeys(aliases or [])), "ip": ip, "id": net.id}
    rows_.set_connected(store, c.id, net.name, entry)
    c = state.lookup(store, c.id)  # started meanwhile: it joins now
    if c.state != "running" or rows.is_member(store, c.id, net.name):
        return None
    try:
        return join(store, c.id, net.name, ip)  # its peers' hosts files name it by its aliases too
    except BaseException:
        rows_.set_connected(store, c.id, net.name, None)
        raise


def disconnect(store: Store, network: str, ref: str) -> None:
    """`network disconnect`: the container (by name or id) leaves `network`
    (its interface goes if it runs) and does not join it again."""
    from ..network.endpoints import disconnect as leave
    from ..network.networks import get
    from ..store import containers as rows_
    from ..store import networks as rows

    c = state.lookup(store, ref)
    connected = c.config.get("connected") or {}
    try:
        net = get(store, network)
    except KetchError:
        if network not in connected:
            raise
        rows_.set_connected(store, c.id, network, None)  # removed since: it is only forgotten
        return
    if net.name == (c.config.get("network") or "none"):
        raise ConflictError(f"container {c.name} runs on network {net.name}: ketch cannot take it off its own network")
    member = rows.is_member(store, c.id, net.name)
    if net.name not in connected and not member:
        raise KetchError(f"container {c.id[:12]} is not connected to network {net.name}")
    if member:
        leave(store, c.id, net.name)
    if net.name in connected:
        rows_.set_connected(store, c.id, net.name, None)
