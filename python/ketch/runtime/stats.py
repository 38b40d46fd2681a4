"""`stats`: a container's resource use, read from its cgroups (v1
hierarchies or the v2 tree, runtime/cgroups.py) and its network
namespace's /proc/PID/net/dev, as docker computes its columns: CPU % over
the time between two samples, memory without the inactive page cache, the
limit capped at the host's memory, block I/O and pids. On v1 a container
joins no cpuacct or blkio hierarchy (each one joined costs its start ~10
ms): its CPU time and block I/O are then its processes' own (utime, stime
and their reaped children's; /proc/PID/io). A container that
ends while it is read reads as zeros, never as an error."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import cgroups
from .state import Container


@dataclass(frozen=True)
class Sample:
    """One reading: counters as the kernel keeps them, and when (monotonic s)."""

    cpu_ns: int = 0
    mem_usage: int = 0
    mem_limit: int = 0
    net_rx: int = 0
    net_tx: int = 0
    blk_read: int = 0
    blk_write: int = 0
    pids: int = 0
    at: float = 0.0


@dataclass(frozen=True)
class Stats:
    """docker stats' row for one container."""

    id: str
    name: str
    cpu_percent: float
    mem_usage: int
    mem_limit: int
    mem_percent: float
    net_rx: int
    net_tx: int
    blk_read: int
    blk_write: int
    pids: int


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, ValueError):
        return ""


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0


def _keyed(text: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat)."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().isdigit():
            out[k] = int(v)
    return out


def host_memory() -> int:
    for line in _read(Path("/proc/meminfo")).splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def parse_net_dev(text: str) -> tuple[int, int]:
    """(received, sent) bytes over every interface but lo, from /proc/net/dev."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


def parse_blkio_v1(text: str) -> tuple[int, int]:
    """(read, written) bytes from blkio.throttle.io_service_bytes(_recursive)."""
    r = w = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            if parts[1].lower() == "read":
                r += int(parts[2])
            elif parts[1].lower() == "write":
                w += int(parts[2])
    return r, w


def parse_io_v2(text: str) -> tuple[int, int]:
    """(read, written) bytes from io.stat (`MAJ:MIN rbytes=N wbytes=N ...`)."""
    r = w = 0
    for line in text.splitlines():
        for field in line.split()[1:]:
            k, _, v = field.partition("=")
            if v.isdigit():
                if k == "rbytes":
                    r += int(v)
                elif k == "wbytes":
                    w += int(v)
    return r, w


def proc_cpu_ns(pid: int) -> int:
    """A process's CPU time and that of the children it reaped (utime, stime, cutime, cstime), in ns."""
    fields = _read(Path(f"/proc/{pid}/stat")).rpartition(")")[2].split()
    if len(fields) < 15:
        return 0
    ticks = sum(int(x) for x in fields[11:15])
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def parse_proc_io(text: str) -> tuple[int, int]:
    """(read, written) bytes of storage I/O from /proc/PID/io."""
    d = {k: int(v) for k, _, v in (line.partition(": ") for line in text.splitlines()) if v.strip().isdigit()}
    return d.get("read_bytes", 0), d.get("write_bytes", 0)


def sample(c: Container) -> Sample:
    """What the container's cgroups and network say now (zeros for one not running)."""
    now = time.monotonic()
    if c.state != "running":
        return Sample(at=now)
    limit_cap = host_memory()
    if cgroups.is_v2():
        d = cgroups.dir_of(c.id, "")
        cpu = _keyed(_read(d / "cpu.stat")).get("usage_usec", 0) * 1000
        mem = _int(_read(d / "memory.current"))
        inactive = _keyed(_read(d / "memory.stat")).get("inactive_file", 0)
        raw_limit = _read(d / "memory.max").strip()
        limit = _int(raw_limit) if raw_limit and raw_limit != "max" else 0
        blk = parse_io_v2(_read(d / "io.stat"))
        pids = _int(_read(d / "pids.current"))
    else:
        # cpuacct where the container is in it (a hierarchy shared with cpu), else its processes' own times
        procs = cgroups.pids(c.id)
        acct = _read(cgroups.dir_of(c.id, "cpu") / "cpuacct.usage") or _read(
            cgroups.dir_of(c.id, "cpuacct") / "cpuacct.usage"
        )
        cpu = _int(acct) if acct else sum(proc_cpu_ns(p) for p in procs)
        m = cgroups.dir_of(c.id, "memory")
        mem = _int(_read(m / "memory.usage_in_bytes"))
        inactive = _keyed(_read(m / "memory.stat")).get("total_inactive_file", 0)
        limit = _int(_read(m / "memory.limit_in_bytes"))
        b = cgroups.dir_of(c.id, "blkio")
        if b.is_dir():
            blk = parse_blkio_v1(
                _read(b / "blkio.throttle.io_service_bytes_recursive") or _read(b / "blkio.throttle.io_service_bytes")
            )
        else:
            per = [parse_proc_io(_read(Path(f"/proc/{p}/io"))) for p in procs]
            blk = (sum(r for r, _ in per), sum(w for _, w in per))
        pids = _int(_read(cgroups.dir_of(c.id, "pids") / "pids.current"))
    if limit <= 0 or (limit_cap and limit > limit_cap):
        limit = limit_cap
    usage = mem - inactive if inactive < mem else mem
    rx = tx = 0
    if c.pid is not None and c.config.get("network") != "host":
        rx, tx = parse_net_dev(_read(Path(f"/proc/{c.pid}/net/dev")))
    return Sample(cpu, usage, limit, rx, tx, blk[0], blk[1], pids, now)


def compute(c: Container, before: Sample, after: Sample) -> Stats:
    """The row: CPU % is the CPU time used between the samples over the
    time between them (100% a CPU's worth, as docker's)."""
    wall = after.at - before.at
    cpu = (after.cpu_ns - before.cpu_ns) / (wall * 1e9) * 100 if wall > 0 and after.cpu_ns >= before.cpu_ns else 0.0
    if after.cpu_ns == 0:
        cpu = 0.0
    mem_pct = after.mem_usage / after.mem_limit * 100 if after.mem_limit else 0.0
    return Stats(
        c.id, c.name, max(cpu, 0.0), after.mem_usage, after.mem_limit, mem_pct,
        after.net_rx, after.net_tx, after.blk_read, after.blk_write, after.pids,
    )  # fmt: skip


def collect(
    containers: list[Container], previous: dict[str, Sample] | None = None, interval: float = 1.0
) -> tuple[list[Stats], dict[str, Sample]]:
    """The rows of `containers`: against `previous` samples (a stream's last
    round), else against a first sample `interval` s before. Returns the rows
    and this round's samples."""
    if previous is None:
        previous = {c.id: sample(c) for c in containers}
        if any(c.state == "running" for c in containers):
            time.sleep(interval)
    now = {c.id: sample(c) for c in containers}
    rows = [compute(c, previous.get(c.id, Sample(at=now[c.id].at)), now[c.id]) for c in containers]
    return rows, now


def online_cpus() -> int:
    return len(os.sched_getaffinity(0))
