"""Published ports: docker's -p syntax, the host ports held for a
container's life (as docker-proxy holds them), and the `[::]` listeners a
userland proxy serves (DNAT cannot turn IPv6 into IPv4). The forwarding
rules are firewall.py's."""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, KetchError
from ..models.network import Port
from .settings import settings

if TYPE_CHECKING:
    from ..store import Store

PORT_RANGE = (32768, 61000)  # docker's ephemeral range for -p PORT

# [[IP:]HOST:]CTR[/PROTO]: an IP only with a host part (empty for an ephemeral
# port), as docker splits on ":" (`127.0.0.1:80` is a bad host port there).
_PORT = re.compile(
    r"^(?:(?:(?P<ip>\d+\.\d+\.\d+\.\d+):)?(?P<host>\d*(?:-\d+)?):)?(?P<ctr>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp))?$"
)


def parse_publish(spec: str) -> list[dict[str, Any]]:
    """docker's -p: `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `53:53/udp`, ranges."""
    m = _PORT.match(spec)
    if not m:
        raise KetchError(f'invalid argument "{spec}" for "-p, --publish" flag: invalid port specification')
    ip = m.group("ip") or "0.0.0.0"
    proto = m.group("proto") or "tcp"

    def rng(s: str) -> list[int]:
        a, _, b = s.partition("-")
        lo, hi = int(a), int(b or a)
        if not (0 < lo <= hi <= 65535):
            raise KetchError(f"invalid port range: {s}")
        return list(range(lo, hi + 1))

    ctr = rng(m.group("ctr"))
    host = rng(m.group("host")) if m.group("host") else [0] * len(ctr)
    if len(host) != len(ctr):
        raise KetchError(f"invalid ranges specified for container and host Ports: {spec}")
    return [{"host_ip": ip, "host_port": h, "proto": proto, "port": c} for h, c in zip(host, ctr, strict=True)]


def _hold(host_ip: str, port: int, proto: str) -> socket.socket:
    """A bound socket on the host port for the container's life: nothing else can take the port meanwhile."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        s.bind((host_ip, port))
    except OSError:
        s.close()
        raise
    return s


def host_has_ipv6() -> bool:
    """docker adds a `[::]` side to every 0.0.0.0 publication on such a host."""
    if settings().no_ipv6:
        return False
    try:
        return any(not line.startswith("00000000000000000000000000000001") for line in open("/proc/net/if_inet6"))
    except OSError:
        return False


def _listen6(port: int) -> socket.socket:
    """[::]:port, IPv6 only, listening: served by a userland proxy to the container's IPv4 address."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        s.listen(128)
    except OSError:
        s.close()
        raise
    return s


def _in_use(host_ip: str, port: int | str, e: OSError) -> ConflictError:
    return ConflictError(
        f"driver failed programming external connectivity on endpoint: Bind for "
        f"{host_ip}:{port} failed: port is already allocated ({e.strerror})"
    )


def _free_port(store: Store, host_ip: str, proto: str) -> tuple[socket.socket, int]:
    from ..store import networks as rows

    taken = rows.taken_ports(store, proto)
    both = host_ip == "0.0.0.0" and proto == "tcp" and host_has_ipv6()
    for hp in range(PORT_RANGE[0], PORT_RANGE[1] + 1):
        if hp in taken:
            continue
        if both:
            try:  # the [::] side must be free too
                socket.create_server(("::", hp), family=socket.AF_INET6, dualstack_ipv6=False).close()
            except OSError:
                continue
        try:
            return _hold(host_ip, hp, proto), hp
        except OSError as e:
            if e.errno != 98:  # EADDRINUSE: try the next; anything else is for the user
                raise KetchError(f"cannot publish on {host_ip}: {e.strerror}") from None
            continue
    raise KetchError("no free host port left in 32768-61000")


def hold(
    store: Store, publish: list[dict[str, Any]]
) -> tuple[list[Port], list[socket.socket], list[tuple[socket.socket, int]]]:
    """The host side of `publish` (parse_publish's): the ports (host port 0
    given one from the ephemeral range, a `[::]` side added for 0.0.0.0 TCP
    on an IPv6 host), the sockets holding them and the `[::]` listeners to
    proxy (socket, container port). On failure nothing stays open."""
    held: list[socket.socket] = []
    proxies: list[tuple[socket.socket, int]] = []
    ports: list[Port] = []
    try:
        for p in publish:
            if p["host_port"]:
                try:
                    held.append(_hold(p["host_ip"], p["host_port"], p["proto"]))
                except OSError as e:
                    raise _in_use(p["host_ip"], p["host_port"], e) from None
                ports.append(Port(p["host_ip"], p["host_port"], p["proto"], p["port"]))
            else:
                s, hp = _free_port(store, p["host_ip"], p["proto"])
                held.append(s)
                ports.append(Port(p["host_ip"], hp, p["proto"], p["port"]))
        if host_has_ipv6():
            v6: list[Port] = []
            for p4 in [p for p in ports if p.host_ip == "0.0.0.0" and p.proto == "tcp"]:
                try:
                    sock6 = _listen6(p4.host_port)
                except OSError as e:
                    raise _in_use("[::]", p4.host_port, e) from None
                proxies.append((sock6, p4.port))
                v6.append(Port("::", p4.host_port, "tcp", p4.port))
            ports += v6
    except BaseException:
        for s in held + [x for x, _ in proxies]:
            s.close()
        raise
    return ports, held, proxies
