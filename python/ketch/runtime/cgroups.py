"""A container's cgroups, as docker's cgroupfs driver makes them:
`<hierarchy>/ketch/<id>` for each v1 controller ketch uses (hybrid hosts like
this one), or `/sys/fs/cgroup/ketch/<id>` on a pure v2 host. Limits:
`--memory`, `--cpus`, `--pids-limit`. The container process joins them itself
before its exec (rust/src/process/child.rs writes 0 to each of `join_files`)."""

from __future__ import annotations

import errno
import time

from ..errors import KetchError
from ..records import record
from .freezer import is_frozen

TYPE_CHECKING = False  # `ps` reads a running container's freezer here: no pathlib, re or math
if TYPE_CHECKING:
    from pathlib import Path


def _root() -> Path:
    """The cgroup hierarchy: KETCH_CGROUP_ROOT, /sys/fs/cgroup by default."""
    from ..config import process_settings

    return process_settings().cgroup_root


def _parent() -> str:
    """The cgroup every container's own is made under (docker's is "docker"): KETCH_CGROUP_PARENT."""
    from ..config import process_settings

    return process_settings().cgroup_parent


# A process joining a v1 hierarchy by its `cgroup.procs` costs the start
# ~10 ms (the kernel write-locks every thread group, a synchronize_rcu);
# by `tasks` the single-threaded child moves only itself, which the kernel
# does without that lock (0.2 ms): see `join_file`. cpuacct and blkio are not
# joined, and `stats` adds up the processes' own counters instead (runtime/stats.py).
V1_CONTROLLERS = ("memory", "pids", "cpu", "freezer", "devices")  # devices only with --device
CPU_PERIOD = 100_000

# --device on a v1 host: the container's devices cgroup denies every device
# but these (runc's default allow list, as docker has it) and the --device nodes.
DEFAULT_DEVICE_RULES = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts
    "c 10:200 rwm",  # tun
)


def is_v2() -> bool:
    return (_root() / "cgroup.controllers").exists()


@record()
class Limits:
    memory: int | None = None  # bytes
    cpus: float | None = None
    pids: int | None = None


SIZE = r"(\d+(?:\.\d+)?) ?([kmgtp])?i?b?"  # docker's RAMInBytes, matched case-blind (re.IGNORECASE)


def parse_bytes(s: str, flag: str = "-m, --memory") -> int:
    """docker's RAMInBytes: 512m, 1g, 100k, 1.5GB, 1024 (bytes); anything else
    (nan, inf, -1, 1e9) is an invalid size."""
    import re

    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    m = re.fullmatch(SIZE, s, re.IGNORECASE)  # as given: go-units refuses " 32 "
    if not m:
        raise KetchError(f'invalid argument "{s}" for "{flag}" flag: invalid size: \'{s}\'')
    value = int(float(m.group(1)) * units[(m.group(2) or "").lower()])
    if value < 6 << 20:
        raise KetchError("Minimum memory limit allowed is 6MB")
    return value


def check_cpus(cpus: float | None) -> None:
    import math

    if cpus is not None and not (math.isfinite(cpus) and cpus > 0):
        raise KetchError(f'invalid argument "{cpus}" for "--cpus" flag: the number of CPUs must be a positive number')


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as e:
        raise KetchError(f"cgroup: cannot write {value!r} to {path}: {e.strerror}") from e


def dirs(cid: str) -> list[Path]:
    """The container's cgroup directories: the v2 one, or one per v1 hierarchy."""
    if is_v2():
        return [_root() / _parent() / cid]
    out, seen = [], set()
    for c in V1_CONTROLLERS:
        h = _root() / c
        if h.is_dir() and (real := h.resolve()) not in seen:  # cpu and cpuacct may be one hierarchy
            seen.add(real)
            out.append(h / _parent() / cid)
    return out


def dir_of(cid: str, controller: str) -> Path:
    """The container's directory in `controller`'s v1 hierarchy (the v2 one on v2)."""
    if is_v2():
        return _root() / _parent() / cid
    return _root() / controller / _parent() / cid


def update(cid: str, limits: Limits) -> None:
    """`docker update`: new limits written to a running container's cgroups."""
    if is_v2():
        _limits_v2(_root() / _parent() / cid, limits)
        return
    for ctl in ("memory", "pids", "cpu"):
        _limits_v1(dir_of(cid, ctl), ctl, limits)


def _limits_v2(d: Path, limits: Limits) -> None:
    if limits.memory:
        _write(d / "memory.max", str(limits.memory))
        if (d / "memory.swap.max").exists():
            _write(d / "memory.swap.max", "0")
    if limits.pids:
        _write(d / "pids.max", str(limits.pids))
    if limits.cpus:
        _write(d / "cpu.max", f"{int(limits.cpus * CPU_PERIOD)} {CPU_PERIOD}")


def _limits_v1(d: Path, ctl: str, limits: Limits) -> None:
    """The limits `ctl`'s hierarchy holds, written to the container's directory `d` in it."""
    if ctl == "memory" and limits.memory:
        memsw = d / "memory.memsw.limit_in_bytes"
        # memsw must stay >= the limit: raised first when the limit grows, lowered after when it shrinks
        try:
            grow = limits.memory > int((d / "memory.limit_in_bytes").read_text())
        except (OSError, ValueError):
            grow = False
        if grow and memsw.exists():
            _write(memsw, str(limits.memory))
        _write(d / "memory.limit_in_bytes", str(limits.memory))
        if not grow and memsw.exists():
            _write(memsw, str(limits.memory))
    if ctl == "pids" and limits.pids:
        _write(d / "pids.max", str(limits.pids))
    if ctl == "cpu" and limits.cpus:
        _write(d / "cpu.cfs_period_us", str(CPU_PERIOD))
        _write(d / "cpu.cfs_quota_us", str(int(limits.cpus * CPU_PERIOD)))


def join_file(d: Path) -> Path:
    """The file in the container's cgroup directory `d` that a process
    joins it by, writing 0 (itself): on v1 `tasks`, which moves the writing
    thread alone (the child that writes is single-threaded, so that is the
    whole process) without the kernel's global thread-group lock and its
    ~10 ms synchronize_rcu; on v2 `cgroup.procs` (`cgroup.threads` is for
    threaded subtrees only)."""
    return d / ("cgroup.procs" if is_v2() else "tasks")


def join_files(cid: str) -> list[str]:
    """The `join_file`s of the container's existing cgroups (what an exec'd process joins)."""
    return [str(join_file(d)) for d in dirs(cid) if d.is_dir()]


def pids(cid: str) -> set[int]:
    """The processes in the container's cgroup (the first hierarchy that has it)."""
    for d in dirs(cid):
        try:
            return {int(x) for x in (d / "cgroup.procs").read_text().split()}
        except OSError:
            continue
    return set()


def device_rules(devices: list[tuple[str, int, int, str]]) -> list[str]:
    """devices.allow lines for --device nodes: (kind, major, minor, rwm) each."""
    return [f"{kind} {major}:{minor} {perms}" for kind, major, minor, perms in devices]


def create(cid: str, limits: Limits, devices: list[str] | None = None) -> list[str]:
    """Makes the container's cgroups with their limits; returns the
    files the process must join them by (`join_file`). `devices` (devices.allow
    lines for --device nodes; v1 only): the container's devices cgroup
    allows those and docker's defaults, nothing else; without them no
    devices cgroup is made (/dev's nodev mounts keep other devices out)."""
    made: list[Path] = []
    try:
        if is_v2():
            parent = _root() / _parent()
            parent.mkdir(exist_ok=True)
            enabled = set((_root() / "cgroup.subtree_control").read_text().split())
            wanted = {"memory", "pids", "cpu", "io"} & set((_root() / "cgroup.controllers").read_text().split())
            for ctl in wanted - enabled:
                _write(_root() / "cgroup.subtree_control", f"+{ctl}")
            for ctl in wanted - set((parent / "cgroup.subtree_control").read_text().split()):
                _write(parent / "cgroup.subtree_control", f"+{ctl}")
            d = parent / cid
            d.mkdir()
            made.append(d)
            _limits_v2(d, limits)
        else:
            for d in dirs(cid):
                ctl = d.parent.parent.name
                if ctl == "devices" and not devices:
                    continue
                d.mkdir(parents=True)
                made.append(d)
                if ctl == "devices" and devices:
                    _write(d / "devices.deny", "a")
                    for rule in (*DEFAULT_DEVICE_RULES, *devices):
                        _write(d / "devices.allow", rule)
                _limits_v1(d, ctl, limits)
    except BaseException:
        for d in made:
            _rmdir(d)
        raise
    return [str(join_file(d)) for d in made]


def mounts(procs: list[str]) -> list[tuple[str, str]]:
    """What the container sees at /sys/fs/cgroup (read-only, as docker mounts
    it): its own cgroup directories (`create`'s result, by their
    `join_file`s), as (host directory, path inside). v2: its one directory is
    /sys/fs/cgroup itself; v1: each hierarchy's under its name (cpu,cpuacct
    where the host co-mounts them; rust/src/rootfs adds the cpu and cpuacct links)."""
    from pathlib import Path

    out = []
    for f in procs:
        d = Path(f).parent
        if is_v2():
            out.append((str(d), "/sys/fs/cgroup"))
        else:
            hierarchy = _root() / d.relative_to(_root()).parts[0]  # <root>/<controller>/<parent>/<id>
            out.append((str(d), f"/sys/fs/cgroup/{hierarchy.resolve().name}"))
    return out


def _rmdir(d: Path) -> None:
    # The last processes of a container may still be leaving it (a pid
    # namespace's teardown can take a while on a loaded host): 3 s of tries.
    for _ in range(150):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY:
                return
            time.sleep(0.02)


def remove(cid: str) -> None:
    for d in dirs(cid):
        _rmdir(d)
        try:
            d.parent.rmdir()  # the shared "ketch" parent goes with its last container
        except OSError:
            pass


def _freezer(cid: str) -> tuple[Path, str, str] | None:
    """(file, frozen value, thawed value) of the container's freezer."""
    if is_v2():
        return _root() / _parent() / cid / "cgroup.freeze", "1", "0"
    d = _root() / "freezer" / _parent() / cid
    return (d / "freezer.state", "FROZEN", "THAWED") if d.is_dir() else None


def freeze(cid: str, frozen: bool) -> None:
    f = _freezer(cid)
    if f is None or not f[0].exists():
        raise KetchError("pause needs the freezer cgroup, which this host does not have")
    _write(f[0], f[1] if frozen else f[2])
    # v1 reports FREEZING until every task has stopped
    for _ in range(100):
        if is_frozen(cid) == frozen:
            return
        time.sleep(0.01)
