"""Capability names and docker's rules for --cap-add, --cap-drop, --privileged."""

from __future__ import annotations

from pathlib import Path

from ..errors import KetchError

NAMES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT "
    "SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE "
    "AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ "
    "PERFMON BPF CHECKPOINT_RESTORE"
).split()


def all_caps() -> int:
    """Every capability ketch itself holds (a container cannot get more)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapPrm:"):
            return int(line.split()[1], 16)
    return (1 << len(NAMES)) - 1


def _bit(name: str) -> int:
    n = name.upper().removeprefix("CAP_")
    if n not in NAMES:
        raise KetchError(f'invalid capability: {name} (unknown capability: "CAP_{n}")')
    return 1 << NAMES.index(n)


def mask(default: int, add: list[str], drop: list[str], privileged: bool) -> int:
    """docker's order: --privileged gives all; ALL in --cap-add gives all but
    what --cap-drop names; ALL in --cap-drop leaves only --cap-add's;
    otherwise drops from the default, then adds. Every name is checked."""
    if privileged:
        return all_caps()

    def bits(names: list[str]) -> tuple[bool, int]:
        every = any(n.upper() in ("ALL", "CAP_ALL") for n in names)
        out = 0
        for n in names:
            if n.upper() not in ("ALL", "CAP_ALL"):
                out |= _bit(n)
        return every, out

    drop_all, dropped = bits(drop)
    add_all, added = bits(add)
    if add_all:
        return all_caps() & ~dropped
    if drop_all:
        return added
    return (default & ~dropped) | added
