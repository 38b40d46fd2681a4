"""docker's run/create flags for a container's labels, limits and kernel
settings, parsed and checked as docker does, before anything is made:
-l/--label, --label-file, --stop-signal, --stop-timeout, --ulimit,
--sysctl, --shm-size, --device, --group-add. Pure functions of the flags
(and, for --device and --ulimit, what the host has)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..errors import KetchError

# docker's --ulimit names (go-units' ulimitNameMapping) -> RLIMIT_* on Linux
ULIMITS = {
    "cpu": 0,
    "fsize": 1,
    "data": 2,
    "stack": 3,
    "core": 4,
    "rss": 5,
    "nproc": 6,
    "nofile": 7,
    "memlock": 8,
    "locks": 10,
    "sigpending": 11,
    "msgqueue": 12,
    "nice": 13,
    "rtprio": 14,
    "rttime": 15,
}
RLIM_INFINITY = (1 << 64) - 1

# docker's namespaced sysctls (docker/cli opts.ValidateSysctl): these keys,
# and every key under these prefixes; net.* only with a network namespace of its own
SYSCTLS = frozenset(
    ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem")
    + ("kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")
)
SYSCTL_PREFIXES = ("net.", "fs.mqueue.")
_SYSCTL_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:@+-]*")

LABEL_FILE_MAX = 1 << 20  # bytes read from a --label-file at most
LABEL_LINE_MAX = 64 << 10  # docker's bufio.Scanner token limit
SHM_DEFAULT = 64 << 20


def _flag_error(value: str, flag: str, why: str) -> KetchError:
    return KetchError(f'invalid argument "{value[:200]}" for "{flag}" flag: {why}')


def labels(image_labels: dict[str, str] | None, given: list[str], files: list[str]) -> dict[str, str]:
    """The container's labels: the image's, then --label-file's, then -l's (each KEY=VALUE or KEY)."""
    out = dict(image_labels or {})
    for f in files:
        for line in read_label_file(f):
            k, v = label(line, "--label-file")
            out[k] = v
    for spec in given:
        k, v = label(spec, "-l, --label")
        out[k] = v
    return out


def label(spec: str, flag: str = "-l, --label") -> tuple[str, str]:
    key, _, value = spec.partition("=")
    if not key.strip():
        raise _flag_error(spec, flag, f"invalid label '{spec[:200]}': empty name")
    if "\0" in spec:
        raise _flag_error(spec.replace("\0", "\\0"), flag, "a label cannot contain a NUL byte")
    return key.strip(), value


def read_label_file(path: str) -> list[str]:
    """A --label-file's lines (blank lines and # comments skipped): a regular
    file, read as text, of 1 MiB at most, no line longer than docker's 64 KiB."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise KetchError(f"open {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise KetchError(f"read {path}: not a regular file")
        data = f.read(LABEL_FILE_MAX + 1)
    if len(data) > LABEL_FILE_MAX:
        raise KetchError(f"read {path}: a label file is {LABEL_FILE_MAX >> 20} MiB at most")
    out = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        if len(raw) > LABEL_LINE_MAX:
            raise KetchError(f"read {path}: line {n} is longer than {LABEL_LINE_MAX >> 10} KiB: token too long")
        line = raw.decode("utf-8", errors="replace").strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def stop_timeout(value: int | None) -> int | None:
    if value is not None and value < -1:
        raise _flag_error(str(value), "--stop-timeout", "must be -1 (wait forever), 0 or more seconds")
    return value


def ulimit(spec: str) -> tuple[str, int, int]:
    """--ulimit NAME=SOFT[:HARD] (go-units' ParseUlimit; -1 is unlimited): (name, soft, hard)."""
    name, sep, limits = spec.partition("=")
    if not sep:
        raise _flag_error(spec, "--ulimit", f"invalid ulimit argument: {spec[:200]}")
    if name not in ULIMITS:
        raise _flag_error(spec, "--ulimit", f"invalid ulimit type: {name[:100]}")
    soft_s, colon, hard_s = limits.partition(":")
    try:
        soft = int(soft_s, 10)
        hard = int(hard_s, 10) if colon else soft
    except ValueError:
        raise _flag_error(spec, "--ulimit", f"invalid ulimit argument: {spec[:200]}") from None
    for v in (soft, hard):
        if v < -1 or v >= 1 << 63:
            raise _flag_error(spec, "--ulimit", f"invalid ulimit value: {v}")
    if hard != -1 and (soft == -1 or soft > hard):
        raise _flag_error(
            spec, "--ulimit", f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return name, soft, hard


def check_ulimits(ulimits: list[tuple[str, int, int]]) -> None:
    """What no process can be given, even by root: more open files than fs.nr_open allows."""
    for name, soft, hard in ulimits:
        if name != "nofile":
            continue
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            continue
        if hard == -1 or hard > nr_open or soft > nr_open:
            raise KetchError(
                f"--ulimit nofile={soft}:{hard}: above the host's hard ceiling for open files "
                f"(fs.nr_open = {nr_open}); setrlimit would fail with operation not permitted"
            )


def rlimits(ulimits: list[tuple[str, int, int]] | list[list[object]]) -> list[tuple[int, int, int]]:
    """The process contract's form: (RLIMIT_* number, soft, hard), unlimited as RLIM_INFINITY."""
    out = []
    for name, soft, hard in ulimits:
        assert isinstance(name, str) and isinstance(soft, int) and isinstance(hard, int)
        out.append((ULIMITS[name], RLIM_INFINITY if soft == -1 else soft, RLIM_INFINITY if hard == -1 else hard))
    return out


def sysctl(spec: str, network: str) -> tuple[str, str]:
    """--sysctl KEY=VALUE, namespaced keys only (docker's list); net.* needs a
    network namespace of the container's own."""
    key, sep, value = spec.partition("=")
    allowed = key in SYSCTLS or key.startswith(SYSCTL_PREFIXES)
    parts = key.split(".")
    if not sep or not allowed or not all(_SYSCTL_PART.fullmatch(p) for p in parts):
        raise _flag_error(spec, "--sysctl", f"sysctl '{spec[:200]}' is not allowed")
    if "\0" in value or "\n" in value:
        raise _flag_error(spec.replace("\0", "\\0"), "--sysctl", "a sysctl value is one line")
    if key.startswith("net.") and network == "host":
        raise KetchError(f'sysctl "{key}" not allowed in host network namespace')
    return key, value


def sysctl_path(key: str) -> str:
    """Where a sysctl is under /proc/sys: dots are slashes, as runc writes them."""
    return key.replace(".", "/")


def shm_size(value: str | None) -> int:
    if value is None:
        return SHM_DEFAULT
    import re

    from .cgroups import SIZE

    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    m = re.fullmatch(SIZE, value, re.IGNORECASE)
    size = int(float(m.group(1)) * units[(m.group(2) or "").lower()]) if m else 0
    if size <= 0:
        raise _flag_error(value, "--shm-size", f"invalid size: '{value[:100]}'")
    return size


def device(spec: str) -> tuple[str, str, str]:
    """--device HOST[:CONTAINER][:rwm] (docker's parseDevice): the host side
    must be a device node (a symlink to one is followed on the host, as docker
    does); the container side a path under /dev."""
    parts = spec.split(":")
    perms = "rwm"
    if len(parts) == 3 or (len(parts) == 2 and _perms(parts[1])):
        perms = parts.pop()
    if len(parts) not in (1, 2) or not parts[0]:
        raise _flag_error(spec, "--device", f"invalid device specification: {spec[:200]}")
    host = parts[0]
    inside = parts[1] if len(parts) == 2 else host
    if not _perms(perms):
        raise _flag_error(spec, "--device", f"invalid device mode: {perms[:10]}")
    if not inside.startswith("/"):
        raise _flag_error(spec, "--device", f"bad format for path: {inside[:200]}")
    norm = os.path.normpath(inside)
    if not norm.startswith("/dev/") or norm == "/dev/":
        raise _flag_error(spec, "--device", f"ketch maps devices to paths under /dev only: {inside[:200]}")
    return host, norm, perms


def _perms(s: str) -> bool:
    return bool(s) and len(s) <= 3 and all(c in "rwm" for c in s) and len(set(s)) == len(s)


def device_node(host: str) -> tuple[str, int, int, int]:
    """The host's device node behind `host` (symlinks followed): ("c" or "b", major, minor, mode).
    Anything else (a regular file, a directory, a FIFO) is refused."""
    real = os.path.realpath(host)
    try:
        st = os.stat(real, follow_symlinks=False)
    except OSError as e:
        raise KetchError(
            f'error gathering device information while adding custom device "{host}": {(e.strerror or "").lower()}'
        ) from None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise KetchError(f'error gathering device information while adding custom device "{host}": not a device node')
    return kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)


def group_add(given: list[str], group_file: str) -> list[int]:
    """--group-add: numbers as they are, names from the image's /etc/group."""
    from .spec import MAX_ID

    out = []
    for g in given:
        if g.isascii() and g.isdigit():
            if int(g) > MAX_ID:
                raise KetchError(f"group {g[:40]}: uids and gids must be in range 0-{MAX_ID}")
            out.append(int(g))
            continue
        for line in group_file.splitlines():
            f = line.split(":")
            if len(f) >= 3 and f[0] == g and f[2].strip().isascii() and f[2].strip().isdigit():
                gid = int(f[2].strip())
                if gid > MAX_ID:
                    raise KetchError(f"group {g[:40]}: the image's /etc/group gives {f[2][:40]!r}, not a valid id")
                out.append(gid)
                break
        else:
            raise KetchError(f"Unable to find group {g[:100]}: no matching entries in group file")
    return out
