"""ketch's firewall rules, through `iptables-restore --noflush` (the
iptables the host uses: nf_tables here) in ketch's own chains, reached by
one jump in each built-in chain; the FORWARD jump goes first, so ketch's
traffic passes where dockerd has set FORWARD's policy to DROP. Each rule
carries a comment tag (a bridge's, or a container's id) and is removed by it."""

from __future__ import annotations

import re
import subprocess

from ..errors import KetchError
from ..models.ids import short_id
from ..models.network import Network, Port
from .settings import settings


def restore(text: str) -> None:
    r = subprocess.run(["iptables-restore", "-w", "--noflush"], input=text, capture_output=True, text=True)
    if r.returncode != 0:  # its first line says what; the rest is usage help
        raise KetchError(f"iptables-restore: {(r.stderr.strip().splitlines() or [str(r.returncode)])[0]}")


def _has_rule(table: str, spec: list[str]) -> bool:
    return subprocess.run(["iptables", "-w", "-t", table, "-C", *spec], capture_output=True).returncode == 0


def _has_chain(table: str, chain: str) -> bool:
    return subprocess.run(["iptables", "-w", "-t", table, "-S", chain], capture_output=True).returncode == 0


def chains() -> tuple[str, str, str]:
    p = settings().chain_prefix
    return f"{p}-FORWARD", f"{p}-DNAT", f"{p}-POSTROUTING"


def bridge_tag(bridge: str) -> str:
    return f"ketch-net:{bridge}"


def container_tag(cid: str) -> str:
    return f"ketch:{short_id(cid)}"


def add_bridge_rules(net: Network) -> None:
    """A bridge's forwarding, isolation, NAT and loopback rules (and ketch's chains, the first time)."""
    fwd, dnat, post = chains()
    lines_f = [f":{fwd} - [0:0]"] if not _has_chain("filter", fwd) else []
    lines_n = [f":{dnat} - [0:0]", f":{post} - [0:0]"] if not _has_chain("nat", dnat) else []
    if not _has_rule("filter", ["FORWARD", "-j", fwd]):
        lines_f.append(f"-I FORWARD 1 -j {fwd}")
    tag = bridge_tag(net.bridge)
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
    restore(
        "*filter\n" + "\n".join(lines_f) + "\nCOMMIT\n*nat\n" + "\n".join(lines_n) + f"\nCOMMIT\n*raw\n{raw}\nCOMMIT\n"
    )


def _chains_unused() -> bool:
    """ketch's chains hold no rule any more (other stores may still use them)."""
    fwd, dnat, post = chains()
    for table, chain in (("filter", fwd), ("nat", dnat), ("nat", post)):
        r = subprocess.run(["iptables", "-w", "-t", table, "-S", chain], capture_output=True, text=True)
        if r.returncode != 0:
            return False
        if any(line.startswith("-A ") for line in r.stdout.splitlines()):
            return False
    return True


def delete_tagged(tag: str) -> None:
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
        restore("\n".join(out) + "\n")


def remove_bridge_rules(bridge: str) -> None:
    delete_tagged(bridge_tag(bridge))


def remove_unused_chains() -> None:
    """ketch's chains and their jumps, once no bridge has a rule in them."""
    if _chains_unused():
        fwd, dnat, post = chains()
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
        restore("\n".join(lines) + "\n")


def port_rules(cid: str, ip: str, ports: list[Port], bridge: str, op: str = "-A") -> str:
    """The rules that forward a container's published ports (`op` -A adds, -D deletes)."""
    fwd, dnat, _ = chains()
    tag = container_tag(cid)
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


def add_port_rules(cid: str, ip: str, ports: list[Port], bridge: str) -> None:
    restore(port_rules(cid, ip, ports, bridge))


def remove_port_rules(cid: str, ip: str, ports: list[Port], bridge: str) -> None:
    """The rules as they were added, deleted in one call; a search by tag if
    that fails. UDP flows through them are forgotten (conntrack would keep
    sending a client's datagrams to the old address)."""
    try:
        restore(port_rules(cid, ip, ports, bridge, "-D"))
    except KetchError:
        delete_tagged(container_tag(cid))
    from .. import _native

    for p in ports:
        if p.proto == "udp":
            try:
                _native.conntrack_delete_udp(p.host_port)  # ctnetlink (rust/src/conntrack.rs)
            except OSError:
                pass  # no conntrack netlink in this kernel: the entries time out
