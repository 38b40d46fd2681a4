"""A container as it is: its record (`Container`, from its row), where its
files are, and `refresh`, which turns what the row says into what is true
now (a process gone, a monitor that wrote its exit) and records it.

    <root>/containers/<id>/exit.json     a detached container's exit, written by its monitor
    <root>/containers/<id>/monitor.pid   that monitor's pid and start time
    <root>/containers/<id>/state.json    what its monitor says now: the process's pid, restarts, health
    <root>/containers/<id>/stopped       made by stop (kill, rm): the monitor starts it no more, and
                                         `system boot` leaves an unless-stopped container be
"""

from __future__ import annotations

import os
import time

from ..errors import ConflictError, ContainerNotFound, NoSpaceError
from ..fastjson import loads
from ..records import Record, record
from ..store import Store
from ..store import containers as rows_
from .freezer import is_frozen

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


@record(eq=False, repr=False)  # compared and shown by Record
class Container(Record):
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
    # -- what its monitor says (state.json): restarts and health (issue 12) --
    restarting: bool = False  # exited, its monitor waiting to start it again
    restart_count: int = 0
    health: dict[str, Any] | None = None  # docker's State.Health

    @property
    def short_id(self) -> str:
        return self.id[:12]


def container_dir(store: Store, cid: str) -> Path:
    return rows_.path(store, cid)


def _file(store: Store, cid: str, name: str) -> str:
    """A file of the container's directory, as a str: what `ps` reads (state.json,
    exit.json, monitor.pid) it reads without pathlib."""
    return f"{rows_.dir_of(store, cid)}/{name}"


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def log_path(store: Store, c: Container) -> Path:
    return container_dir(store, c.id) / f"{c.id}-json.log"


def from_row(r: Any) -> Container:
    return Container(
        r["id"],
        r["name"],
        r["image_id"],
        r["image"],
        loads(r["config"]),
        r["created"],
        r["state"],
        r["pid"],
        r["pid_start"],
        r["exit_code"],
        r["started"],
        r["finished"],
    )


def proc_start(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if it is
    gone or a zombie (dead, waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = data.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(c: Container) -> bool:
    return c.pid is not None and c.pid_start is not None and proc_start(c.pid) == c.pid_start


def record_monitor(store: Store, cid: str, pid: int) -> None:
    """A detached container's monitor, so that `refresh` knows an exit is
    still to be written (the container gone, its monitor not yet done)."""
    start = proc_start(pid)
    if start is not None:
        (container_dir(store, cid) / "monitor.pid").write_text(f"{pid} {start}\n")


def _monitor_alive(store: Store, cid: str) -> bool:
    try:
        pid, start = (int(x) for x in _read(_file(store, cid, "monitor.pid")).split())
    except (OSError, ValueError):
        return False
    return proc_start(pid) == start


def await_monitor(store: Store, cid: str, seconds: float = 10.0) -> None:
    """Until the container's last monitor has ended (the exit it recorded is
    followed by its after-program, which releases the container's network):
    a start that did not wait would have its new network released with the old."""
    deadline = time.monotonic() + seconds
    while _monitor_alive(store, cid) and time.monotonic() < deadline:
        time.sleep(0.005)


def mark_stopped(store: Store, cid: str) -> None:
    """A stop asked for (docker's HasBeenManuallyStopped): the monitor
    starts the process no more, and `system boot` leaves an unless-stopped
    container be. Gone at the next start."""
    try:
        (container_dir(store, cid) / "stopped").touch()
    except FileNotFoundError:
        pass  # its directory is gone: nothing would restart it


def manually_stopped(store: Store, cid: str) -> bool:
    return os.path.exists(_file(store, cid, "stopped"))


def _monitor_state(store: Store, c: Container) -> None:
    """What the monitor wrote last (state.json, replaced whole): the pid of
    the process it runs now, its start, restarts, health."""
    try:
        st = loads(_read(_file(store, c.id, "state.json")))
    except (OSError, ValueError):
        return
    if not isinstance(st, dict):
        return
    c.restart_count = int(st.get("restart_count") or 0)
    health = st.get("health")
    c.health = health if isinstance(health, dict) else None
    if c.state != "running":
        return
    if st.get("restarting"):
        c.restarting, c.pid, c.pid_start = True, None, None
        c.exit_code, c.finished = st.get("exit_code"), st.get("finished")
    elif isinstance(st.get("pid"), int) and st["pid"] > 0 and st["pid"] != c.pid:
        c.pid, c.pid_start, c.started = st["pid"], proc_start(st["pid"]), st.get("started") or c.started


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
            from . import cgroups

            cgroups.remove(c.id)
        try:
            changed = rows_.set_exited(store, c.id, code, finished, if_running=True)
        except NoSpaceError:
            changed = False  # shown as exited all the same; recorded once there is room
        c.state, c.finished = "exited", finished
        c.exit_code = code if code is not None else c.exit_code if c.exit_code is not None else 137
        if changed:
            from .events import container as event

            event(store, c, "die", finished, exitCode=str(c.exit_code))
        release_network(store, c)
    _monitor_state(store, c)
    if c.state == "running":
        c.paused = is_frozen(c.id)
    return c


def _ended(store: Store, c: Container) -> tuple[int | None, float] | None:
    """Whether a container recorded as running has ended: (its exit code as
    its monitor wrote it, or None if it left none, when), else None. Read,
    never waited for: a process gone whose monitor lives has its exit still
    to be written, and is running until then."""
    if c.state != "running":
        return None
    exit_file = _file(store, c.id, "exit.json")
    if not os.path.exists(exit_file):
        if alive(c) or _monitor_alive(store, c.id):
            return None
        if _legacy_monitor(store, c.id):
            _await(exit_file, 0.5)
        if not os.path.exists(exit_file):  # (or written just before its monitor ended)
            return None, time.time()
    try:
        done = loads(_read(exit_file))
    except (OSError, ValueError):
        done = {"exit_code": 137, "finished": time.time()}
    return done["exit_code"], done["finished"]


def _legacy_monitor(store: Store, cid: str) -> bool:
    """A detached container started before monitors were recorded
    (monitor.json without monitor.pid): whether its monitor still has an
    exit to write cannot be read, so it is given the time it needs."""
    return os.path.exists(_file(store, cid, "monitor.json")) and not os.path.exists(_file(store, cid, "monitor.pid"))


def _await(path: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def bridged(c: Container) -> bool:
    return c.config.get("network", "none") not in ("none", "host")


def release_network(store: Store, c: Container) -> None:
    """A container that ended gives back its address, ports, rules and namespace."""
    if bridged(c):
        from ..network.endpoints import detach

        detach(store, c.id)


def pause(store: Store, ref: str, paused: bool = True) -> Container:
    """docker pause/unpause: the freezer cgroup stops (or restarts) every process."""
    c = lookup(store, ref)
    if c.state != "running":
        raise ConflictError(f"Container {c.id} is not running")
    if c.paused == paused:
        raise ConflictError(f"Container {c.id} is {'already' if paused else 'not'} paused")
    from . import cgroups

    cgroups.freeze(c.id, paused)
    c.paused = paused
    from .events import container as event

    event(store, c, "pause" if paused else "unpause")
    return c


def list_containers(store: Store) -> list[Container]:
    return [refresh(store, from_row(r)) for r in rows_.every(store)]


def lookup(store: Store, ref: str) -> Container:
    """By name (with or without docker's leading /), full id or unique id prefix."""
    row = rows_.find(store, ref)
    if row is None:
        raise ContainerNotFound(f"No such container: {ref}")
    return refresh(store, from_row(row))


def disk_size(path: os.PathLike[str] | str) -> int:
    """Bytes of what is under `path` but its directories (a container's
    SizeRw, a volume's size), as docker's directory.Size counts them: links
    by their own size, never followed; a file with several names once."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(path):  # never into a linked directory
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]  # counted as the links they are
        for name in [*files, *links]:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total
