"""Subnets for bridge networks and addresses on them. Pure policy: the
rows are store/networks.py's."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from ..errors import ConflictError, KetchError

# "this network", loopback, link-local, multicast and the reserved block: never a bridge's subnet.
RESERVED = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")


def host_networks() -> list[ipaddress.IPv4Network]:
    """What the host routes already (/proc/net/route: every address's subnet too)."""
    out: list[ipaddress.IPv4Network] = []
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        f = line.split()
        if len(f) < 8:
            continue
        dest = socket.inet_ntoa(int(f[1], 16).to_bytes(4, "little"))
        mask = socket.inet_ntoa(int(f[7], 16).to_bytes(4, "little"))
        if dest == "0.0.0.0":
            continue
        out.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    return out


def pick_subnet(taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first private /16 that overlaps neither the host's routes nor `taken` (other networks')."""
    taken = host_networks() + taken
    candidates = [ipaddress.IPv4Network(f"172.{n}.0.0/16") for n in range(18, 32)]
    candidates += [ipaddress.IPv4Network(f"10.{n}.0.0/16") for n in range(100, 200)]
    for c in candidates:
        if not any(c.overlaps(t) for t in taken):
            return c
    raise KetchError("no free private subnet for a bridge network: remove one or give --subnet")


def choose_subnet(
    subnet: str | None, gateway: str | None, taken: list[ipaddress.IPv4Network]
) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]:
    """`network create`'s subnet and gateway: as given (checked) or picked."""
    try:
        net = ipaddress.IPv4Network(subnet) if subnet else pick_subnet(taken)
        gw = ipaddress.IPv4Address(gateway) if gateway else net[1]
    except ValueError as e:
        raise KetchError(f"invalid subnet or gateway: {e}") from None
    if any(net.overlaps(ipaddress.IPv4Network(r)) for r in RESERVED):
        raise KetchError(f"invalid subnet {net}: it is in a reserved range (loopback, link-local, multicast)")
    if gw not in net or net.num_addresses < 4:
        raise KetchError(f"no matching subnet for gateway {gw}" if gw not in net else f"subnet {net} is too small")
    for other in taken + host_networks():
        if net.overlaps(other):
            raise ConflictError(f"Pool overlaps with other one on this address space ({other})")
    return net, gw


def next_address(
    subnet: ipaddress.IPv4Network, gateway: ipaddress.IPv4Address, start: int, taken: set[str]
) -> tuple[str, int] | None:
    """The next free address from host number `start` on (a released address
    waits until the range comes round again), and where the next search starts."""
    hosts = subnet.num_addresses - 2
    for k in range(hosts):
        n = 2 + (start - 2 + k) % (hosts - 1)
        ip = str(subnet[n])
        if ip not in taken and ip != str(gateway):
            return ip, n + 1
    return None


def requested_address(
    subnet: ipaddress.IPv4Network, gateway: ipaddress.IPv4Address, ip: str, start: int, taken: set[str]
) -> tuple[str, int]:
    """--ip: the address asked for, if it is a free host address of the
    subnet (not its gateway); the next search starts where it did."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        raise KetchError(f"invalid IPv4 address: {ip[:60]}") from None
    if addr not in subnet or addr in (subnet.network_address, subnet.broadcast_address):
        raise KetchError(f"no configured subnet contains IP address {addr}")
    if str(addr) in taken or addr == gateway:
        raise ConflictError(f"Address already in use: {addr}")
    return str(addr), start
