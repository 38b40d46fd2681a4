"""A network's Linux bridge: made by netlink in Rust (net.rs; a netlink
library costs 100-190 ms to import, more than a whole `ketch run`), with
its address, forwarding and the base firewall rules, once, under a lock."""

from __future__ import annotations

import os
from pathlib import Path

from .. import _native
from ..models.network import Network
from ..store.layers import run_root
from . import firewall
from .settings import settings


def bridge_name() -> str:
    """The first of ketch0, ketch1, ... not on the host (every network of
    every store has a bridge of its own). KETCH_BRIDGE_PREFIX changes
    `ketch` (the tests use their own)."""
    prefix = settings().bridge_prefix
    n = 0
    while Path(f"/sys/class/net/{prefix}{n}").exists():
        n += 1
    return f"{prefix}{n}"


def ensure(net: Network) -> None:
    """The bridge and its rules, unless they are there (made once under a
    lock: concurrent first runs race for it; gone after a reboot)."""
    if Path(f"/sys/class/net/{net.bridge}").exists():
        return
    import fcntl

    locks = run_root() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / "network", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not Path(f"/sys/class/net/{net.bridge}").exists():
            _make(net)
    finally:
        os.close(fd)


def _make(net: Network) -> None:
    _native.bridge_create(net.bridge, list(net.gateway.packed), net.subnet.prefixlen)
    try:
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        # 127.0.0.1:PORT reaches a container through the DNAT below (docker's
        # userland-proxy=false way): loopback-sourced packets may be routed out.
        Path(f"/proc/sys/net/ipv4/conf/{net.bridge}/route_localnet").write_text("1")
        firewall.add_bridge_rules(net)
    except BaseException:
        _native.link_delete(net.bridge)  # made again, whole, by the next attempt
        raise


def delete(bridge: str) -> None:
    _native.link_delete(bridge)
