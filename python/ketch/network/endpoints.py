"""A container's side of a network: before it starts, a namespace with eth0
on the bridge, an address and its published ports (attach); after it ends,
all of it gone again (detach); and `network connect`/`disconnect` for a
running one. Every failure leaves nothing behind."""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import _native
from ..errors import ConflictError, KetchError
from ..models.ids import short_id
from ..models.network import Network
from ..store import networks as rows
from ..store.layers import run_root
from . import DEFAULT, bridge, dns, firewall, ipam, ports
from .networks import ensure_default, get

if TYPE_CHECKING:
    from ..store import Store


class Attached(NamedTuple):
    netns: str
    ip: str
    held: list[socket.socket]
    # [::]:PORT listeners to serve with a userland proxy: (socket, container port)
    proxies: list[tuple[socket.socket, int]]


def _lease(store: Store, net: Network, cid: str, wanted: str | None = None) -> str:
    """An address on `net` for `cid`: `wanted` (--ip) if free, else the next one."""
    if wanted is not None:
        chosen = rows.lease(
            store, net, cid, lambda start, taken: ipam.requested_address(net.subnet, net.gateway, wanted, start, taken)
        )
        return str(chosen)
    ip = rows.lease(store, net, cid, lambda start, taken: ipam.next_address(net.subnet, net.gateway, start, taken))
    if ip is None:
        raise KetchError(f"no available IPv4 addresses on network {net.name}")
    return ip


def attach(store: Store, cid: str, name: str, publish: list[dict[str, Any]], wanted_ip: str | None = None) -> Attached:
    """Before the container starts: its namespace with eth0 on the bridge,
    an address (`wanted_ip`: --ip's), its published ports held and forwarded, its hosts file."""
    net = ensure_default(store) if name == DEFAULT else get(store, name)
    bridge.ensure(net)  # gone after a reboot
    netns_dir = run_root() / "netns"
    netns_dir.mkdir(parents=True, exist_ok=True)
    netns = netns_dir / cid
    held: list[socket.socket] = []
    proxies: list[tuple[socket.socket, int]] = []
    ip = _lease(store, net, cid, wanted_ip if name != DEFAULT else None)
    try:
        published, held, proxies = ports.hold(store, publish)
        rows.add_ports(store, cid, ip, published)
        if netns.exists():
            _native.netns_remove(netns)
        _native.netns_create(netns)
        host_if = "vk" + cid[:11]
        _native.link_delete(host_if)
        _native.veth(host_if, "eth0", netns, net.bridge)
        _native.net_configure(
            netns, "eth0", list(ipaddress.IPv4Address(ip).packed), net.subnet.prefixlen, list(net.gateway.packed)
        )
        if published:
            firewall.add_port_rules(cid, ip, published, net.bridge)
        dns.write_hosts(store, cid)
        dns.sync_hosts(store, net.name)
    except BaseException:
        for s in held + [x for x, _ in proxies]:
            s.close()
        detach(store, cid)
        raise
    _event(store, "connect", net, cid)
    return Attached(str(netns), ip, held, proxies)


def _event(store: Store, action: str, net: Network, cid: str) -> None:
    from ..store import events

    events.record(store, "network", action, net.id, {"container": cid, "name": net.name, "type": "bridge"})


def detach(store: Store, cid: str) -> None:
    """After the container: its rules, ports, address and namespace go (idempotent)."""
    pub = rows.published(store, cid)
    if pub:
        firewall.remove_port_rules(cid, *pub)
    nets = rows.networks_of(store, cid)
    rows.release(store, cid)
    for name in nets:
        if rows.exists(store, name):
            dns.sync_hosts(store, name)
            net = rows.by_name(store, name)
            if net is not None:
                _event(store, "disconnect", net, cid)
    # The namespace goes, and the veth pair with it: the kernel tears both
    # down in the background (deleting the veth here would wait ~20 ms for it).
    netns = run_root() / "netns" / cid
    if netns.exists():
        _native.netns_remove(netns)


def connect(store: Store, cid: str, name: str, wanted_ip: str | None = None) -> str:
    """`network connect`: a running bridged container gets one more
    interface (eth1, eth2, ...) on another network, at `wanted_ip` if
    given; returns its address."""
    net = get(store, name)
    bridge.ensure(net)
    netns = run_root() / "netns" / cid
    if not netns.exists():
        raise KetchError(
            "container has no network namespace of its own: "
            "only a running container on a bridge network can be connected"
        )
    if rows.is_member(store, cid, net.name):
        raise ConflictError(f"endpoint with name {short_id(cid)} already exists in network {net.name}")
    first = len(rows.networks_of(store, cid))
    ip = _lease(store, net, cid, wanted_ip)
    host_if = _extra_if(cid, net)
    try:
        _native.link_delete(host_if)  # a stopped run's, which the kernel may not have removed yet
        for n in range(first, first + 64):  # the first free ethN: after a disconnect, ethN may be taken
            try:
                _native.veth(host_if, f"eth{n}", netns, net.bridge)
                break
            except FileExistsError:
                _native.link_delete(host_if)
        else:
            raise KetchError(f"no free interface name in container {short_id(cid)}")
        _native.net_configure(
            netns, f"eth{n}", list(ipaddress.IPv4Address(ip).packed), net.subnet.prefixlen, [0, 0, 0, 0]
        )
    except BaseException:
        _native.link_delete(host_if)
        rows.release(store, cid, net.name)
        raise
    dns.sync_hosts(store, net.name)
    _event(store, "connect", net, cid)
    return ip


def disconnect(store: Store, cid: str, name: str) -> None:
    """`network disconnect`: the container leaves the network (its interface goes)."""
    net = get(store, name)
    if not rows.is_member(store, cid, net.name):
        raise KetchError(f"container {short_id(cid)} is not connected to network {net.name}")
    _native.link_delete(_extra_if(cid, net))
    rows.release(store, cid, net.name)
    dns.sync_hosts(store, net.name)
    dns.write_hosts(store, cid)
    _event(store, "disconnect", net, cid)


def _extra_if(cid: str, net: Network) -> str:
    """The host end of a container's interface on a second network (15 characters at most)."""
    import hashlib

    return "vx" + hashlib.sha256(f"{cid}:{net.id}".encode()).hexdigest()[:11]
