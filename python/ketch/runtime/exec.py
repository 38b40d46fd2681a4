"""`docker exec`: a process in a running container, with its confinement."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import _native
from ..errors import ConflictError, KetchError, SpawnError
from ..store import Store
from . import cgroups, spec
from .process import confined, describe
from .state import lookup

if TYPE_CHECKING:
    from .stdio import Pipes


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
    exec_id: str | None = None,
) -> tuple[int, int | None]:
    """`docker exec`: a process in the running container's cgroups and
    namespaces, with its capabilities, seccomp filter and environment.
    Returns the pid to wait for and, with `tty`, the master side of the pty
    it got from the container's devpts. Without `tty` its stdio are `io`'s
    pipes; with `detach` (or without `io`) it runs on /dev/null, and after the caller.
    Records docker's `exec_create: ARGV` and, once it runs, `exec_start:
    ARGV` events under `exec_id` (a new one when None); its `exec_die` is the
    waiter's (exec_died)."""
    import socket

    from .events import container as event

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
        layers = [Path(x) for x in p["lowerdirs"]]
        ids = spec.resolve_user(user, layers)
        if p.get("home_set") and not any(e.startswith("HOME=") for e in env or []):
            # the HOME ketch gave the container's user (not the image's or -e's): the exec's user's own
            environment = [e for e in environment if not e.startswith("HOME=")]
            environment.append(f"HOME={spec.home_of(ids[0], layers)}")
    else:
        ids = p["uid"], p["gid"], p["groups"]
    procs = cgroups.join_files(c.id)
    process = confined(p, argv, environment, workdir or p["cwd"], ids, procs, detached=detach)
    exec_id = exec_id or new_exec_id()
    command = argv[0] + " " + " ".join(argv[1:])  # docker's: the entrypoint, a space, the arguments
    event(store, c, f"exec_create: {command}", execID=exec_id)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) if tty and not detach else (None, None)
    try:
        pid = _native.exec_in(
            c.pid,
            process.to_json(),
            theirs.fileno() if theirs is not None else -1,
            io.child if io is not None and not detach and not tty else None,
        )
        event(store, c, f"exec_start: {command}", execID=exec_id)
        master = None
        if ours is not None and theirs is not None:
            theirs.close()
            _, fds, _, _ = socket.recv_fds(ours, 1, 1)
            master = fds[0]
        return pid, master
    except SpawnError as e:
        raise describe(e, argv[0], exec_=True) from e
    finally:
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
        if io is not None:
            io.started()


def new_exec_id() -> str:
    """An exec's id, as docker makes them: 64 random hex digits."""
    import secrets

    return secrets.token_hex(32)


def exec_died(store: Store, ref: str, exec_id: str, code: int) -> None:
    """docker's `exec_die` event (with the exec's exitCode), once the process has been waited for."""
    from ..errors import ContainerNotFound
    from .events import container as event

    try:
        c = lookup(store, ref)
    except ContainerNotFound:
        return  # removed meanwhile (rm -f): its events end with its destroy
    event(store, c, "exec_die", execID=exec_id, exitCode=str(code))
