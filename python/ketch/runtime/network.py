"""Bridge networking: the default `bridge` network (a Linux bridge with its
own subnet), a veth per container in a network namespace made beforehand,
addresses from a persistent IPAM, outbound NAT, and published ports.

The hot path (a container's namespace, veth, address and route) is Rust
(net.rs): pyroute2 costs 150-230 ms to import here, more than a whole
`ketch run`, so it is used only on the cold path (making and removing a
bridge). Firewall rules go through `iptables-restore --noflush` (the
iptables the host uses: nf_tables here) in ketch's own chains, reached by
one jump in each built-in chain; the FORWARD jump goes first, so ketch's
traffic passes where dockerd has set FORWARD's policy to DROP. Each rule a
container adds carries its id in a comment and is removed by that."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _native
from ..errors import ConflictError, KetchError
from ..store import Store
from ..store.layers import run_root

DEFAULT = "bridge"
PORT_RANGE = (32768, 61000)  # docker's ephemeral range for -p PORT


def bridge_name() -> str:
    """The first of ketch0, ketch1, ... not on the host (every network of
    every store has a bridge of its own). KETCH_BRIDGE_PREFIX changes
    `ketch` (the tests use their own)."""
    prefix = os.environ.get("KETCH_BRIDGE_PREFIX", "ketch")
    n = 0
    while Path(f"/sys/class/net/{prefix}{n}").exists():
        n += 1
    return f"{prefix}{n}"


def chain_prefix() -> str:
    return os.environ.get("KETCH_CHAIN_PREFIX", "KETCH")


@dataclass
class Network:
    name: str
    id: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    bridge: str


@dataclass
class Port:
    host_ip: str
    host_port: int
    proto: str
    port: int  # the container's


@dataclass
class Attached:
    netns: str
    ip: str
    held: list[socket.socket]
    # [::]:PORT listeners to serve with a userland proxy: (socket, container port)
    proxies: list[tuple[socket.socket, int]]


def _row(r: Any) -> Network:
    return Network(
        r["name"],
        r["id"],
        ipaddress.IPv4Network(r["subnet"]),
        ipaddress.IPv4Address(r["gateway"]),
        r["bridge"],
    )


def _host_networks() -> list[ipaddress.IPv4Network]:
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


PREDEFINED = ("bridge", "host", "none")
# "this network", loopback, link-local, multicast and the reserved block: never a bridge's subnet.
_RESERVED = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")


def create(store: Store, name: str, subnet: str | None = None, gateway: str | None = None) -> Network:
    """`network create`: a user-defined bridge network."""
    if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", name):
        raise KetchError(f"invalid network name {name!r}")
    if name in PREDEFINED or store.db.query("SELECT 1 FROM networks WHERE name=?", (name,)):
        raise ConflictError(f"network with name {name} already exists")
    try:
        net = ipaddress.IPv4Network(subnet) if subnet else _pick_subnet(store)
        gw = ipaddress.IPv4Address(gateway) if gateway else net[1]
    except ValueError as e:
        raise KetchError(f"invalid subnet or gateway: {e}") from None
    if any(net.overlaps(ipaddress.IPv4Network(r)) for r in _RESERVED):
        raise KetchError(f"invalid subnet {net}: it is in a reserved range (loopback, link-local, multicast)")
    if gw not in net or net.num_addresses < 4:
        raise KetchError(f"no matching subnet for gateway {gw}" if gw not in net else f"subnet {net} is too small")
    for other in [_row(r).subnet for r in store.db.query("SELECT * FROM networks")] + _host_networks():
        if net.overlaps(other):
            raise ConflictError(f"Pool overlaps with other one on this address space ({other})")
    with store.db.write() as db:
        db.execute(
            "INSERT INTO networks(name, id, subnet, gateway, bridge, next_ip, created) VALUES (?,?,?,?,?,?,?)",
            (name, os.urandom(32).hex(), str(net), str(gw), bridge_name(), 2, time.time()),
        )
    n = get(store, name)
    _ensure_bridge(n)
    return n


def list_networks(store: Store) -> list[Network]:
    return [_row(r) for r in store.db.query("SELECT * FROM networks ORDER BY created")]


def members(store: Store, net: Network) -> list[tuple[str, str]]:
    """(container id, address) of the containers on the network."""
    return [(r["container"], r["ip"]) for r in store.db.query("SELECT * FROM leases WHERE network=?", (net.name,))]


def _pick_subnet(store: Store) -> ipaddress.IPv4Network:
    taken = _host_networks() + [_row(r).subnet for r in store.db.query("SELECT * FROM networks")]
    candidates = [ipaddress.IPv4Network(f"172.{n}.0.0/16") for n in range(18, 32)]
    candidates += [ipaddress.IPv4Network(f"10.{n}.0.0/16") for n in range(100, 200)]
    for c in candidates:
        if not any(c.overlaps(t) for t in taken):
            return c
    raise KetchError("no free private subnet for a bridge network: remove one or give --subnet")


def get(store: Store, name: str) -> Network:
    rows = store.db.query("SELECT * FROM networks WHERE name=? OR id LIKE ?", (name, f"{name}%"))
    if not rows:
        if name == DEFAULT:
            return ensure_default(store)
        raise KetchError(f"network {name} not found")
    return _row(rows[0])


def ensure_default(store: Store) -> Network:
    rows = store.db.query("SELECT * FROM networks WHERE name=?", (DEFAULT,))
    if rows:
        net = _row(rows[0])
    else:
        subnet = _pick_subnet(store)
        with store.db.write() as db:
            if not db.execute("SELECT 1 FROM networks WHERE name=?", (DEFAULT,)).fetchone():
                db.execute(
                    "INSERT INTO networks(name, id, subnet, gateway, bridge, next_ip, created) VALUES (?,?,?,?,?,?,?)",
                    (DEFAULT, os.urandom(32).hex(), str(subnet), str(subnet[1]), bridge_name(), 2, time.time()),
                )
        net = _row(store.db.query("SELECT * FROM networks WHERE name=?", (DEFAULT,))[0])
    _ensure_bridge(net)
    return net


def _ensure_bridge(net: Network) -> None:
    """The Linux bridge and the base firewall rules (the cold path: pyroute2
    here), made once under a lock (concurrent first runs race for it)."""
    if Path(f"/sys/class/net/{net.bridge}").exists():
        return
    import fcntl

    locks = run_root() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / "network", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not Path(f"/sys/class/net/{net.bridge}").exists():
            _make_bridge(net)
    finally:
        os.close(fd)


def _make_bridge(net: Network) -> None:
    from pyroute2 import IPRoute  # 150-230 ms: only the first time a bridge is made

    with IPRoute() as ipr:
        ipr.link("add", ifname=net.bridge, kind="bridge")
        idx = ipr.link_lookup(ifname=net.bridge)[0]
        ipr.addr("add", index=idx, address=str(net.gateway), prefixlen=net.subnet.prefixlen)
        ipr.link("set", index=idx, state="up")
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
    # 127.0.0.1:PORT reaches a container through the DNAT below (docker's
    # userland-proxy=false way): loopback-sourced packets may be routed out.
    Path(f"/proc/sys/net/ipv4/conf/{net.bridge}/route_localnet").write_text("1")
    _base_rules(net)


def _iptables_restore(text: str) -> None:
    r = subprocess.run(["iptables-restore", "-w", "--noflush"], input=text, capture_output=True, text=True)
    if r.returncode != 0:
        raise KetchError(f"iptables-restore: {r.stderr.strip() or r.returncode}")


def _has_rule(table: str, spec: list[str]) -> bool:
    return subprocess.run(["iptables", "-w", "-t", table, "-C", *spec], capture_output=True).returncode == 0


def _chains() -> tuple[str, str, str]:
    p = chain_prefix()
    return f"{p}-FORWARD", f"{p}-DNAT", f"{p}-POSTROUTING"


def _base_rules(net: Network) -> None:
    fwd, dnat, post = _chains()
    lines_f = [f":{fwd} - [0:0]"] if not _has_chain("filter", fwd) else []
    lines_n = [f":{dnat} - [0:0]", f":{post} - [0:0]"] if not _has_chain("nat", dnat) else []
    if not _has_rule("filter", ["FORWARD", "-j", fwd]):
        lines_f.append(f"-I FORWARD 1 -j {fwd}")
    tag = f"ketch-net:{net.bridge}"
    others = re.sub(r"\d+$", "+", net.bridge)  # every bridge of ketch's: networks are isolated from each other
    lines_f += [
        f"-A {fwd} -o {net.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment {tag} -j ACCEPT",
        f"-A {fwd} -i {net.bridge} -o {net.bridge} -m comment --comment {tag} -j ACCEPT",
        f"-A {fwd} -i {net.bridge} -o {others} -m comment --comment {tag} -j DROP",
        f"-A {fwd} -i {net.bridge} -m comment --comment {tag} -j ACCEPT",
    ]
    if not _has_rule("nat", ["POSTROUTING", "-j", post]):
        lines_n.append(f"-A POSTROUTING -j {post}")
    if not _has_rule("nat", ["PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat]):
        lines_n.append(f"-A PREROUTING -m addrtype --dst-type LOCAL -j {dnat}")
    if not _has_rule("nat", ["OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat]):
        lines_n.append(f"-A OUTPUT -m addrtype --dst-type LOCAL -j {dnat}")
    lines_n += [
        f"-A {post} -s {net.subnet} ! -o {net.bridge} -m comment --comment {tag} -j MASQUERADE",
        f"-A {post} -s 127.0.0.0/8 -o {net.bridge} -m comment --comment {tag} -j MASQUERADE",
    ]
    # route_localnet lets the host's own 127.0.0.1 traffic reach the bridge;
    # nothing arriving FROM the bridge may reach the host's loopback (a
    # container's hand-made frame to 127.0.0.1 would find services bound
    # there only, and ports published on 127.0.0.1 only).
    raw = f"-A PREROUTING -i {net.bridge} -d 127.0.0.0/8 -m comment --comment {tag} -j DROP"
    _iptables_restore(
        "*filter\n" + "\n".join(lines_f) + "\nCOMMIT\n*nat\n" + "\n".join(lines_n) + "\nCOMMIT\n"
        f"*raw\n{raw}\nCOMMIT\n"
    )


def _chains_unused() -> bool:
    """ketch's chains hold no rule any more (other stores may still use them)."""
    fwd, dnat, post = _chains()
    for table, chain in (("filter", fwd), ("nat", dnat), ("nat", post)):
        r = subprocess.run(["iptables", "-w", "-t", table, "-S", chain], capture_output=True, text=True)
        if r.returncode != 0:
            return False
        if any(line.startswith("-A ") for line in r.stdout.splitlines()):
            return False
    return True


def _has_chain(table: str, chain: str) -> bool:
    return subprocess.run(["iptables", "-w", "-t", table, "-S", chain], capture_output=True).returncode == 0


def _delete_tagged(tag: str) -> None:
    """Removes every rule whose comment is `tag`, in every table."""
    dump = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    out: list[str] = []
    table = None
    found = False
    for line in dump.splitlines():
        if line.startswith("*"):
            table = line
            out.append(line)
        elif line == "COMMIT":
            out.append(line)
        elif line.startswith("-A ") and (f"--comment {tag} " in line + " " or f'--comment "{tag}"' in line):
            out.append("-D " + line[3:])
            found = True
    if found and table is not None:
        _iptables_restore("\n".join(out) + "\n")


def teardown(store: Store, name: str = DEFAULT) -> None:
    """Removes a network's bridge, its rules and, once no network is left, ketch's chains."""
    rows = store.db.query("SELECT * FROM networks WHERE name=?", (name,))
    if not rows:
        return
    net = _row(rows[0])
    if store.db.query("SELECT 1 FROM leases WHERE network=?", (net.name,)):
        raise ConflictError(f"error while removing network: network {name} id {net.id} has active endpoints")
    _delete_tagged(f"ketch-net:{net.bridge}")
    _native.link_delete(net.bridge)
    with store.db.write() as db:
        db.execute("DELETE FROM networks WHERE name=?", (name,))
    if _chains_unused():
        fwd, dnat, post = _chains()
        lines = [
            "*filter",
            f"-D FORWARD -j {fwd}",
            f"-X {fwd}",
            "COMMIT",
            "*nat",
            f"-D POSTROUTING -j {post}",
            f"-D PREROUTING -m addrtype --dst-type LOCAL -j {dnat}",
            f"-D OUTPUT -m addrtype --dst-type LOCAL -j {dnat}",
            f"-X {dnat}",
            f"-X {post}",
            "COMMIT",
        ]
        _iptables_restore("\n".join(lines) + "\n")


# -- publishing --------------------------------------------------------------

_PORT = re.compile(
    r"^(?:(?P<ip>\d+\.\d+\.\d+\.\d+):)?(?:(?P<host>\d*(?:-\d+)?):)?(?P<ctr>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp))?$"
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
    """A bound socket on the host port for the container's life, as
    docker-proxy holds it: nothing else can take the port meanwhile."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        s.bind((host_ip, port))
    except OSError:
        s.close()
        raise
    return s


def host_has_ipv6() -> bool:
    """docker adds a `[::]` side to every 0.0.0.0 publication on such a host."""
    if os.environ.get("KETCH_NO_IPV6"):
        return False
    try:
        return any(not line.startswith("00000000000000000000000000000001") for line in open("/proc/net/if_inet6"))
    except OSError:
        return False


def _listen6(port: int) -> socket.socket:
    """[::]:port, IPv6 only, listening: served by a userland proxy to the
    container's IPv4 address (DNAT cannot turn IPv6 into IPv4)."""
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


def attach(store: Store, cid: str, name: str, hostname: str, publish: list[dict[str, Any]]) -> Attached:
    """Before the container starts: its namespace with eth0 on the bridge,
    an address, its published ports held and forwarded."""
    net = ensure_default(store) if name == DEFAULT else get(store, name)
    _ensure_bridge(net)  # gone after a reboot
    netns_dir = run_root() / "netns"
    netns_dir.mkdir(parents=True, exist_ok=True)
    netns = netns_dir / cid
    held: list[socket.socket] = []
    ports: list[Port] = []
    proxies: list[tuple[socket.socket, int]] = []
    v6_ports: list[Port] = []
    v6 = host_has_ipv6()
    ip = _lease(store, net, cid)
    try:
        for p in publish:
            if p["host_port"]:
                try:
                    held.append(_hold(p["host_ip"], p["host_port"], p["proto"]))
                except OSError as e:
                    raise ConflictError(
                        f"driver failed programming external connectivity on endpoint: Bind for "
                        f"{p['host_ip']}:{p['host_port']} failed: port is already allocated ({e.strerror})"
                    ) from None
                ports.append(Port(p["host_ip"], p["host_port"], p["proto"], p["port"]))
            else:
                s, hp = _free_port(store, p["host_ip"], p["proto"])
                held.append(s)
                ports.append(Port(p["host_ip"], hp, p["proto"], p["port"]))
        if v6:
            for p3 in [p for p in ports if p.host_ip == "0.0.0.0" and p.proto == "tcp"]:
                try:
                    sock6 = _listen6(p3.host_port)
                except OSError as e:
                    raise ConflictError(
                        f"driver failed programming external connectivity on endpoint: Bind for "
                        f"[::]:{p3.host_port} failed: port is already allocated ({e.strerror})"
                    ) from None
                proxies.append((sock6, p3.port))
                v6_ports.append(Port("::", p3.host_port, "tcp", p3.port))
        ports += v6_ports
        with store.db.write() as db:
            for p2 in ports:
                db.execute(
                    "INSERT INTO ports(host_ip, host_port, proto, container, ip, port) VALUES (?,?,?,?,?,?)",
                    (p2.host_ip, p2.host_port, p2.proto, cid, ip, p2.port),
                )
        if netns.exists():
            _native.netns_remove(netns)
        _native.netns_create(netns)
        host_if = "vk" + cid[:11]
        _native.link_delete(host_if)
        _native.veth(host_if, "eth0", netns, net.bridge)
        _native.net_configure(
            netns, "eth0", list(ipaddress.IPv4Address(ip).packed), net.subnet.prefixlen, list(net.gateway.packed)
        )
        if ports:
            _iptables_restore(_port_rules(cid, ip, ports, net.bridge))
        _sync_hosts(store, net)
    except BaseException:
        for s in held + [x for x, _ in proxies]:
            s.close()
        detach(store, cid)
        raise
    return Attached(str(netns), ip, held, proxies)


def _free_port(store: Store, host_ip: str, proto: str) -> tuple[socket.socket, int]:
    taken = {r["host_port"] for r in store.db.query("SELECT host_port FROM ports WHERE proto=?", (proto,))}
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


def _lease(store: Store, net: Network, cid: str) -> str:
    """The next free address after the last one given (a released address
    waits until the range comes round again), in one write transaction."""
    hosts = net.subnet.num_addresses - 2
    with store.db.write() as db:
        # what containers removed behind ketch's back left (a store copied, a crash)
        db.execute("DELETE FROM leases WHERE container NOT IN (SELECT id FROM containers)")
        db.execute("DELETE FROM ports WHERE container NOT IN (SELECT id FROM containers)")
        row = db.execute("SELECT next_ip FROM networks WHERE name=?", (net.name,)).fetchone()
        start = int(row[0])
        taken = {r[0] for r in db.execute("SELECT ip FROM leases WHERE network=?", (net.name,))}
        for k in range(hosts):
            n = 2 + (start - 2 + k) % (hosts - 1)
            ip = str(net.subnet[n])
            if ip not in taken and ip != str(net.gateway):
                db.execute("INSERT INTO leases(network, ip, container) VALUES (?,?,?)", (net.name, ip, cid))
                db.execute("UPDATE networks SET next_ip=? WHERE name=?", (n + 1, net.name))
                return ip
    raise KetchError(f"no available IPv4 addresses on network {net.name}")


def _port_rules(cid: str, ip: str, ports: list[Port], bridge: str, op: str = "-A") -> str:
    """The rules that forward a container's published ports (`op` -A adds, -D deletes)."""
    fwd, dnat, _ = _chains()
    tag = f"ketch:{cid[:12]}"
    f_lines, n_lines = [], []
    for p in ports:
        if ":" in p.host_ip:
            continue  # [::]: the userland proxy's
        dst = "" if p.host_ip == "0.0.0.0" else f"-d {p.host_ip}/32 "
        n_lines.append(
            f"{op} {dnat} {dst}-p {p.proto} -m {p.proto} --dport {p.host_port} -m comment --comment {tag} "
            f"-j DNAT --to-destination {ip}:{p.port}"
        )
        f_lines.append(
            f"{op} {fwd} -d {ip}/32 -o {bridge} -p {p.proto} -m {p.proto} --dport {p.port} "
            f"-m comment --comment {tag} -j ACCEPT"
        )
    return "*filter\n" + "\n".join(f_lines) + "\nCOMMIT\n*nat\n" + "\n".join(n_lines) + "\nCOMMIT\n"


def detach(store: Store, cid: str) -> None:
    """After the container: its rules, ports, address and namespace go (idempotent)."""
    rows = store.db.query(
        "SELECT p.*, n.bridge FROM ports p JOIN leases l ON l.container = p.container "
        "JOIN networks n ON n.name = l.network WHERE p.container=?",
        (cid,),
    )
    if rows:
        # the rules as they were added, deleted in one call; a search by tag if that fails
        ports = [Port(r["host_ip"], r["host_port"], r["proto"], r["port"]) for r in rows]
        try:
            _iptables_restore(_port_rules(cid, rows[0]["ip"], ports, rows[0]["bridge"], "-D"))
        except KetchError:
            _delete_tagged(f"ketch:{cid[:12]}")
        for r in rows:
            if r["proto"] == "udp":
                try:
                    subprocess.run(
                        ["conntrack", "-D", "-p", "udp", "--dport", str(r["host_port"])], capture_output=True
                    )
                except FileNotFoundError:
                    pass  # no conntrack tool: the entries time out
    nets = [r["network"] for r in store.db.query("SELECT network FROM leases WHERE container=?", (cid,))]
    with store.db.write() as db:
        db.execute("DELETE FROM ports WHERE container=?", (cid,))
        db.execute("DELETE FROM leases WHERE container=?", (cid,))
    for name in nets:
        rows = store.db.query("SELECT * FROM networks WHERE name=?", (name,))
        if rows:
            _sync_hosts(store, _row(rows[0]))
    # The namespace goes, and the veth pair with it: the kernel tears both
    # down in the background (deleting the veth here would wait ~20 ms for it).
    netns = run_root() / "netns" / cid
    if netns.exists():
        _native.netns_remove(netns)


def connect(store: Store, cid: str, name: str) -> str:
    """`network connect`: a running bridged container gets one more
    interface (eth1, eth2, ...) on another network; returns its address."""
    net = get(store, name)
    _ensure_bridge(net)
    netns = run_root() / "netns" / cid
    if not netns.exists():
        raise KetchError(
            "container has no network namespace of its own: "
            "only a running container on a bridge network can be connected"
        )
    if store.db.query("SELECT 1 FROM leases WHERE container=? AND network=?", (cid, net.name)):
        raise ConflictError(f"endpoint with name {cid[:12]} already exists in network {net.name}")
    n = len(store.db.query("SELECT 1 FROM leases WHERE container=?", (cid,)))
    ip = _lease(store, net, cid)
    host_if = _extra_if(cid, net)
    try:
        _native.veth(host_if, f"eth{n}", netns, net.bridge)
        _native.net_configure(
            netns, f"eth{n}", list(ipaddress.IPv4Address(ip).packed), net.subnet.prefixlen, [0, 0, 0, 0]
        )
    except BaseException:
        _native.link_delete(host_if)
        with store.db.write() as db:
            db.execute("DELETE FROM leases WHERE container=? AND network=?", (cid, net.name))
        raise
    _sync_hosts(store, net)
    return ip


def disconnect(store: Store, cid: str, name: str) -> None:
    """`network disconnect`: the container leaves the network (its interface goes)."""
    net = get(store, name)
    if not store.db.query("SELECT 1 FROM leases WHERE container=? AND network=?", (cid, net.name)):
        raise KetchError(f"container {cid[:12]} is not connected to network {net.name}")
    _native.link_delete(_extra_if(cid, net))
    with store.db.write() as db:
        db.execute("DELETE FROM leases WHERE container=? AND network=?", (cid, net.name))
    _sync_hosts(store, net)
    _write_peers(store, cid)


def _extra_if(cid: str, net: Network) -> str:
    """The host end of a container's interface on a second network (15 characters at most)."""
    import hashlib

    return "vx" + hashlib.sha256(f"{cid}:{net.id}".encode()).hexdigest()[:11]


PEER = "# ketch peer"


def _sync_hosts(store: Store, net: Network) -> None:
    """On user-defined networks the containers find each other by name:
    each one's /etc/hosts lists its peers (rewritten in place, so running
    containers see the change), as docker's embedded DNS answers them."""
    if net.name == DEFAULT:
        return
    for cid, _ in members(store, net):
        _write_peers(store, cid)


def _write_peers(store: Store, cid: str) -> None:
    """`cid`'s hosts file: its own lines, then every peer on every user-defined network it is on."""
    rows = store.db.query(
        "SELECT l2.container, l2.ip FROM leases l1 JOIN leases l2 ON l1.network = l2.network "
        "WHERE l1.container=? AND l2.container != ? AND l1.network != ?",
        (cid, cid, DEFAULT),
    )
    names = {r["id"]: r["name"] for r in store.db.query("SELECT id, name FROM containers")}
    path = store.root / "containers" / cid / "hosts"
    try:
        lines = [ln for ln in path.read_text().splitlines() if not ln.endswith(PEER)]
    except OSError:
        return
    peers = [f"{r['ip']}\t{names[r['container']]}\t{PEER}" for r in rows if r["container"] in names]
    with open(path, "r+") as f:
        f.write("\n".join(lines + peers) + "\n")
        f.truncate()


def ports_of(store: Store, cid: str) -> list[Port]:
    return [
        Port(r["host_ip"], r["host_port"], r["proto"], r["port"])
        for r in store.db.query("SELECT * FROM ports WHERE container=? ORDER BY port, proto, host_ip", (cid,))
    ]


def address_of(store: Store, cid: str) -> str | None:
    rows = store.db.query("SELECT ip FROM leases WHERE container=?", (cid,))
    return rows[0]["ip"] if rows else None
