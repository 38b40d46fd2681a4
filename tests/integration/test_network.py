"""Bridge networking on real links and real iptables: addresses, routes,
published ports (from 127.0.0.1 and a host address), containers talking,
port conflicts, and clean-up after rm, stop, SIGKILL and a dead monitor.
Traffic goes only to loopback, the test's own containers and the bridge."""

from __future__ import annotations

import http.server
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.imagekit import Entry
from support.ketch import KETCH, Ketch, requires_root
from support.net import remove_networks
from support.static import static_binary
from support.wait import wait_for

pytestmark = requires_root

PREFIX = "KTEST"


@pytest.fixture
def net(ketch: Ketch, tmp_path: Path) -> Iterator[Ketch]:
    """A ketch whose containers go on a bridge of this test's own (own name,
    own chains), all of it removed afterwards."""
    prefix = BRIDGES
    ketch.env.update({"KETCH_DEFAULT_NETWORK": "bridge", "KETCH_BRIDGE_PREFIX": prefix, "KETCH_CHAIN_PREFIX": PREFIX})
    ketch.import_busybox("netbox")
    yield ketch
    remove_networks(ketch, prefix, PREFIX)


def ours(prefix: str = PREFIX) -> list[str]:
    """ketch's per-container rules now in the host's firewall."""
    dump = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return [line for line in dump.splitlines() if f"{prefix}-" in line and "ketch:" in line]


BRIDGES = f"kt{os.getpid() % 10000}n"  # this run's bridges: kt<pid>n0, kt<pid>n1, ...


def links() -> list[str]:
    """Container veths on this test's bridges (other ketch users' are not ours to count)."""
    out = []
    for p in Path("/sys/class/net").iterdir():
        master = p / "master"
        if p.name.startswith(("vk", "vx")) and master.exists() and master.resolve().name.startswith(BRIDGES):
            out.append(p.name)
    return sorted(out)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as r:  # a loaded CI machine: 5 s was seen to run out
        return r.read().decode()


def gateway(k: Ketch) -> str:
    row = k("run", "--rm", "netbox", "sh", "-c", "ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p'").out
    return row.strip()


def web(k: Ketch, tmp_path: Path, *flags: str, name: str = "web") -> str:
    www = tmp_path / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text(f"hello from {name}\n")
    r = k("run", "-d", "--name", name, "-v", f"{www}:/www", *flags, "netbox", "httpd", "-f", "-p", "80", "-h", "/www")
    assert r.rc == 0, r.err
    return r.out.strip()


def test_bridge_gives_an_address_a_route_and_a_hosts_line(net: Ketch) -> None:
    r = net("run", "--rm", "-h", "box", "netbox", "sh", "-c", "ip -4 addr show eth0; ip route; cat /etc/hosts")
    assert r.rc == 0, r.err
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", r.out)
    assert m, r.out
    addr = ipaddress.IPv4Interface(f"{m.group(1)}/{m.group(2)}")
    gw = re.search(r"default via (\S+) dev eth0", r.out)
    assert gw and ipaddress.IPv4Address(gw.group(1)) in addr.network
    assert f"{addr.ip}\tbox" in r.out
    # no collision with what the host routes already (docker0 is 172.17.0.0/16 here)
    assert not addr.network.overlaps(ipaddress.IPv4Network("172.17.0.0/16"))
    assert ours() == [] and wait_for(lambda: links() == [])  # nothing left after --rm
    r = net("run", "--rm", "--network", "none", "netbox", "sh", "-c", "ls /sys/class/net")
    assert r.out.split() == ["lo"]


def test_a_bridged_run_makes_the_bridge_without_a_netlink_library(net: Ketch) -> None:
    """The first bridged `run` makes the bridge (netlink in Rust, net.rs):
    pyroute2, 100-190 ms to import, is never loaded; the bridge is as it
    was: the gateway's address (no broadcast), up, forwarding and
    route_localnet on, ketch's jumps and the bridge's rules in place."""
    import sys

    assert not [p for p in Path("/sys/class/net").iterdir() if p.name.startswith(BRIDGES)]
    p = subprocess.run(
        [sys.executable, "-X", "importtime", KETCH, "run", "--rm", "netbox", "true"],
        env=net.env,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in p.stderr.splitlines() if ln.startswith("import time:")}
    assert "ketch.network.endpoints" in imported  # the run went through the bridge's code
    assert not [m for m in imported if m.split(".")[0] == "pyroute2"]
    br = f"{BRIDGES}0"
    link = Path("/sys/class/net") / br
    assert (link / "bridge").is_dir()  # a Linux bridge
    assert int((link / "flags").read_text(), 16) & 1  # IFF_UP
    cfg = json.loads(net("network", "inspect", "bridge").out)[0]["IPAM"]["Config"][0]
    addrs = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", br], capture_output=True, text=True).stdout
    assert re.findall(r"inet \S+", addrs) == [f"inet {cfg['Gateway']}/{cfg['Subnet'].split('/')[1]}"], addrs
    assert " brd " not in addrs
    assert Path(f"/proc/sys/net/ipv4/conf/{br}/route_localnet").read_text().strip() == "1"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    dump = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    tag = f'-m comment --comment "ketch-net:{br}"'
    # nothing from the bridge reaches the host's loopback
    assert f"-A PREROUTING -d 127.0.0.0/8 -i {br} {tag} -j DROP" in dump
    assert f"-A FORWARD -j {PREFIX}-FORWARD" in dump
    assert f"-A {PREFIX}-FORWARD -i {br} -o {BRIDGES}+ {tag} -j DROP" in dump  # networks are isolated
    assert f"-A {PREFIX}-POSTROUTING -s {cfg['Subnet']} ! -o {br} {tag} -j MASQUERADE" in dump
    assert f"-A PREROUTING -m addrtype --dst-type LOCAL -j {PREFIX}-DNAT" in dump


def test_a_network_whose_rules_fail_leaves_nothing(net: Ketch) -> None:
    """A bridge whose firewall rules cannot be made (chain names too long) is removed, and its row."""
    r = net("network", "create", "--subnet", "10.213.12.0/24", "norules", env={"KETCH_CHAIN_PREFIX": "X" * 30})
    assert r.rc != 0 and "iptables-restore" in r.err and len(r.err.splitlines()) == 1, r.err
    assert not [p for p in Path("/sys/class/net").iterdir() if p.name.startswith(BRIDGES)]
    after = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert BRIDGES not in after and "X" * 30 not in after
    assert "norules" not in net("network", "ls").out


def test_the_hosts_file_keeps_every_entry_as_peers_come_and_go(net: Ketch) -> None:
    base = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    net("network", "create", "--subnet", "10.213.11.0/24", "hostsnet", check=True)
    flags = ("-d", "--network", "hostsnet", "netbox", "sleep", "60")
    net("run", "--name", "h1", "-h", "one", "--add-host", "db.local:10.1.2.3", *flags, check=True)
    net("run", "--name", "h2", *flags, check=True)

    def ip(name: str) -> str:
        return str(json.loads(net("inspect", name).out)[0]["NetworkSettings"]["IPAddress"])

    def hosts(name: str) -> list[str]:
        return net("exec", name, "cat", "/etc/hosts").out.splitlines()

    ip1, ip2 = ip("h1"), ip("h2")
    assert hosts("h1") == [*base, "10.1.2.3\tdb.local", f"{ip1}\tone", f"{ip2}\th2\t# ketch peer"]
    assert hosts("h2")[-1] == f"{ip1}\th1\t# ketch peer"
    net("rm", "-f", "h2", check=True)
    assert hosts("h1") == [*base, "10.1.2.3\tdb.local", f"{ip1}\tone"]
    net("stop", "-t", "0", "h1", check=True)
    net("start", "h1", check=True)
    assert hosts("h1") == [*base, "10.1.2.3\tdb.local", f"{ip('h1')}\tone"]  # its own line replaced, once
    net("rm", "-f", "h1", check=True)
    net("network", "rm", "hostsnet", check=True)


def test_published_ports_reach_the_container(net: Ketch, tmp_path: Path) -> None:
    ipv6 = Path("/proc/net/if_inet6").exists() and any(
        not ln.startswith("0" * 31 + "1") for ln in Path("/proc/net/if_inet6").read_text().splitlines()
    )
    web(net, tmp_path, "-p", "80", "-p", "127.0.0.1::80")
    lines = net("port", "web").out.splitlines()
    v4 = [ln for ln in lines if "[::]" not in ln]
    assert len(v4) == 2 and all(re.fullmatch(r"80/tcp -> (0\.0\.0\.0|127\.0\.0\.1):\d+", ln) for ln in v4), lines
    any_port = int(next(ln for ln in lines if "0.0.0.0" in ln).rsplit(":", 1)[1])
    v6 = [ln for ln in lines if "[::]" in ln]
    if ipv6:  # as docker: the 0.0.0.0 publication gets a [::] side, served by a proxy
        assert v6 == [f"80/tcp -> [::]:{any_port}"]
        assert wait_for(lambda: _ok(f"http://[::1]:{any_port}/"))
    else:
        assert v6 == []
    assert 32768 <= any_port <= 61000
    assert net("port", "web", "80").out.splitlines()[0].startswith(("0.0.0.0:", "127.0.0.1:"))
    assert f"0.0.0.0:{any_port}->80/tcp" in net("ps").out
    assert wait_for(lambda: _ok(f"http://127.0.0.1:{any_port}/"))
    assert get(f"http://127.0.0.1:{any_port}/") == "hello from web\n"
    assert get(f"http://{gateway(net)}:{any_port}/") == "hello from web\n"  # a host address, not loopback
    # the port is held: a host process cannot take it
    s = socket.socket()
    with pytest.raises(OSError):
        s.bind(("0.0.0.0", any_port))
    s.close()
    r = net("port", "web", "81")
    assert r.rc == 1 and "No public port '81/tcp' published for web" in r.err
    net("stop", "-t", "1", "web", check=True)
    assert ours() == [] and wait_for(lambda: links() == [])

    def free() -> bool:
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", any_port))
                return True
            except OSError:
                return False

    assert wait_for(free)  # free again
    info = json.loads(net("inspect", "web").out)[0]
    assert info["NetworkSettings"]["Ports"] == {}


def _ok(url: str) -> bool:
    try:
        get(url)
        return True
    except OSError:
        return False


def test_fixed_port_conflicts_and_publish_all(net: Ketch, tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    taken = holder.getsockname()[1]
    try:
        before = ours()
        r = net("run", "-d", "-p", f"{taken}:80", "netbox", "sleep", "30")
        assert r.rc != 0 and f"Bind for 0.0.0.0:{taken} failed: port is already allocated" in r.err
        assert ours() == before and wait_for(lambda: links() == [])
    finally:
        holder.close()
    web(net, tmp_path, "-p", f"{taken}:80", name="fixed")  # once the host's process let go, the port is ours
    assert net("port", "fixed", "80").out.splitlines()[0] == f"0.0.0.0:{taken}"
    assert wait_for(lambda: _ok(f"http://127.0.0.1:{taken}/"))
    net("rm", "-f", "fixed", check=True)
    net("run", "--name", "exp", "netbox", "true", check=True)
    net("commit", "-c", "EXPOSE 80 8080/tcp", "exp", "exposing", check=True)
    web(net, tmp_path, "-P", name="pub")
    mapped = sorted(ln.split(" -> ")[0] for ln in net("port", "pub").out.splitlines())
    assert mapped == []  # the imported image exposes nothing
    r = net("run", "-d", "-P", "--name", "pub2", "exposing", "sleep", "30")
    assert r.rc == 0, r.err
    assert sorted({ln.split(" -> ")[0] for ln in net("port", "pub2").out.splitlines()}) == ["80/tcp", "8080/tcp"]
    r = net("run", "--rm", "--network", "host", "-p", "80", "netbox", "true")
    assert r.rc == 125 and "conflicting options" in r.err


def test_containers_talk_and_reach_the_host(net: Ketch, tmp_path: Path) -> None:
    web(net, tmp_path)
    ip = json.loads(net("inspect", "web").out)[0]["NetworkSettings"]["IPAddress"]
    assert ip
    r = net(
        "run", "--rm", "netbox", "sh", "-c", f"for i in 1 2 3 4 5; do wget -qO- http://{ip}/ && break; sleep 0.2; done"
    )
    assert r.out == "hello from web\n", r.err

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"from the host\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    gw = gateway(net)
    srv = http.server.ThreadingHTTPServer((gw, 0), Hello)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = net("run", "--rm", "netbox", "wget", "-qO-", f"http://{gw}:{srv.server_port}/")
        assert r.out == "from the host\n", r.err
    finally:
        srv.shutdown()
        srv.server_close()
    # outbound NAT: the masquerade rule for the bridge's subnet is in place
    dump = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert re.search(rf"-A {PREFIX}-POSTROUTING -s [0-9./]+ ! -o kt\d+n\d+ .*-j MASQUERADE", dump)


def test_clean_up_after_sigkill_and_a_dead_monitor(net: Ketch, tmp_path: Path) -> None:
    web(net, tmp_path, "-p", "80", name="k1")
    pid = json.loads(net("inspect", "k1").out)[0]["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)  # the container dies: its monitor cleans up
    assert wait_for(lambda: ours() == [] and links() == [])
    web(net, tmp_path, "-p", "80", name="k2")
    pid = json.loads(net("inspect", "k2").out)[0]["State"]["Pid"]
    monitor = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    os.kill(monitor, signal.SIGKILL)  # the monitor dies, and the container with it
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists())
    assert wait_for(lambda: "Exited" in net("ps", "-a").out)  # the next command reconciles
    assert ours() == [] and wait_for(lambda: links() == [])
    net("rm", "k1", "k2", check=True)


def test_concurrent_runs_get_distinct_addresses_and_cycles_leave_nothing(net: Ketch) -> None:
    procs = [net.popen("run", "-d", "netbox", "sleep", "30") for _ in range(6)]
    for p in procs:
        assert p.wait(timeout=60) == 0, p.stderr.read() if p.stderr else ""
    ips = [json.loads(net("inspect", c).out)[0]["NetworkSettings"]["IPAddress"] for c in net("ps", "-q").out.split()]
    assert len(ips) == 6 and len(set(ips)) == 6, ips
    for c in net("ps", "-q").out.split():
        net("rm", "-f", c, check=True)
    before = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    strip = lambda t: [ln for ln in t.splitlines() if not ln.startswith(("#", ":"))]  # noqa: E731
    for _ in range(20):
        assert net("run", "--rm", "-p", "80", "netbox", "true").rc == 0
    after = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert strip(after) == strip(before)
    assert wait_for(lambda: links() == []) and list((Path(net.root).parent / "run" / "netns").iterdir()) == []


def test_user_defined_network_names_isolation_and_dns_flags(net: Ketch, tmp_path: Path) -> None:
    r = net("network", "create", "--subnet", "10.213.7.0/24", "appnet")
    assert r.rc == 0 and re.fullmatch(r"[0-9a-f]{64}\n", r.out), r.err
    assert net("network", "create", "appnet").rc != 0  # names are unique
    r = net("network", "create", "--subnet", "10.213.7.128/25", "overlapping")
    assert r.rc != 0 and "overlaps" in r.err
    ls = net("network", "ls").out.splitlines()
    assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert {ln.split()[1] for ln in ls[1:]} >= {"appnet", "bridge", "host", "none"}
    web(net, tmp_path, "--network", "appnet", name="api")
    r = net("run", "--rm", "--network", "appnet", "--name", "client", "netbox", "sh", "-c",
            "for i in 1 2 3 4 5; do wget -qO- http://api/ && break; sleep 0.2; done; ip -4 addr show eth0")  # fmt: skip
    assert r.out.startswith("hello from api\n") and "inet 10.213.7." in r.out, r.out + r.err
    info = json.loads(net("network", "inspect", "appnet").out)[0]
    assert info["IPAM"]["Config"] == [{"Subnet": "10.213.7.0/24", "Gateway": "10.213.7.1"}]
    assert [c["Name"] for c in info["Containers"].values()] == ["api"]
    api_ip = info["Containers"][next(iter(info["Containers"]))]["IPv4Address"].split("/")[0]
    # the default bridge cannot reach another network's containers
    r = net("run", "--rm", "netbox", "sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {api_ip} 80")
    assert "hello" not in r.out and "HTTP" not in r.out
    r = net("network", "rm", "appnet")
    assert r.rc == 1 and "has active endpoints" in r.err
    r = net("network", "rm", "bridge")
    assert "pre-defined network and cannot be removed" in r.err
    net("rm", "-f", "api", check=True)
    assert net("network", "rm", "appnet").out == "appnet\n"
    # --dns, --dns-search, --add-host
    r = net("run", "--rm", "--dns", "10.9.9.9", "--dns-search", "example.test", "--add-host", "db.local:10.1.2.3",
            "netbox", "sh", "-c", "cat /etc/resolv.conf /etc/hosts")  # fmt: skip
    assert "nameserver 10.9.9.9" in r.out and "search example.test" in r.out and "10.1.2.3\tdb.local" in r.out
    assert "nameserver 127." not in r.out


_UDP_ECHO = r"""
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(atoi(argv[1]));
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) return 1;
    for (;;) {
        char buf[2048];
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n > 0) sendto(s, buf, n, 0, (struct sockaddr *)&from, len);
    }
}
"""


def test_udp_published_port_echoes(net: Ketch, tmp_path: Path) -> None:

    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed for the static UDP echo helper (scripts/setup.sh installs it)")
    (tmp_path / "echo.c").write_text(_UDP_ECHO)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(tmp_path / "udpecho"), str(tmp_path / "echo.c")], check=True)
    r = net(
        "run",
        "-d",
        "--name",
        "echo",
        "-v",
        f"{tmp_path}:/h:ro",
        "-p",
        "127.0.0.1::5353/udp",
        "netbox",
        "/h/udpecho",
        "5353",
    )
    assert r.rc == 0, r.err
    host = net("port", "echo", "5353/udp").out.strip()
    ip, port = host.rsplit(":", 1)
    assert ip == "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for _ in range(20):
            s.sendto(b"ping", (ip, int(port)))
            try:
                data, _ = s.recvfrom(100)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("no UDP echo through the published port")
    assert data == b"ping"
    net("rm", "-f", "echo", check=True)
    assert ours() == []


def test_outbound_traffic_is_masqueraded(net: Ketch) -> None:
    """A server in a network namespace of the test's own, reached over a veth
    from the host: the container's request arrives from the host's address."""
    ns = f"ktout{os.getpid() % 10000}"
    host_if, ns_if = f"kto{os.getpid() % 10000}", "eth0"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns], check=True)
        subprocess.run(["ip", "addr", "add", "10.214.0.1/30", "dev", host_if], check=True)
        subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
        for cmd in (["ip", "addr", "add", "10.214.0.2/30", "dev", ns_if], ["ip", "link", "set", ns_if, "up"],
                    ["ip", "link", "set", "lo", "up"]):  # fmt: skip
            subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)
        server = (
            "import http.server\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        b = self.client_address[0].encode()\n"
            "        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers()\n"
            "        self.wfile.write(b)\n"
            "    def log_message(self, *a): pass\n"
            "http.server.HTTPServer(('10.214.0.2', 8099), H).serve_forever()\n"
        )
        import sys

        srv = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", server])
        try:
            loop = "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://10.214.0.2:8099/ && break; sleep 0.3; done"
            r = net("run", "--rm", "netbox", "sh", "-c", loop)
            assert r.out == "10.214.0.1", (r.out, r.err)  # the host's address: masqueraded
        finally:
            srv.kill()
            srv.wait()
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_connect_and_disconnect_a_running_container(net: Ketch, tmp_path: Path) -> None:
    net("network", "create", "--subnet", "10.213.9.0/24", "second", check=True)
    web(net, tmp_path, "--network", "second", name="svc")
    assert net("run", "-d", "--name", "roamer", "netbox", "sleep", "30").rc == 0
    r = net("exec", "roamer", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 svc 80")
    assert "hello" not in r.out  # not on that network yet: no name, no route
    net("network", "connect", "second", "roamer", check=True)
    r = net("exec", "roamer", "sh", "-c", "ip -4 -o addr show eth1; wget -qO- http://svc/")
    assert "inet 10.213.9." in r.out and r.out.endswith("hello from svc\n"), r.out + r.err
    r = net("exec", "roamer", "sh", "-c", "ip route")
    assert r.out.count("default") == 1  # the first network keeps the default route
    assert net("network", "connect", "second", "roamer").rc != 0  # once only
    net("network", "disconnect", "second", "roamer", check=True)
    r = net("exec", "roamer", "sh", "-c", "ls /sys/class/net; grep -c svc /etc/hosts")
    assert "eth1" not in r.out.split() and r.out.split()[-1] == "0", r.out
    assert net("network", "disconnect", "second", "roamer").rc != 0
    net("rm", "-f", "svc", "roamer", check=True)
    assert net("network", "rm", "second").rc == 0
    assert wait_for(
        lambda: links() == [] and not [p for p in Path("/sys/class/net").iterdir() if p.name.startswith("vx")]
    )


def test_a_created_container_connected_with_an_alias_joins_at_every_start(net: Ketch, tmp_path: Path) -> None:
    """docker's daemon keeps `network connect` in the container: one not
    running yet joins at its start, and again after a stop; its peers on
    that network know it by its --alias; a hostile alias is refused and
    writes nothing; a network removed meanwhile fails the start cleanly."""
    import json

    net("network", "create", "--subnet", "10.213.10.0/24", "third", check=True)
    web(net, tmp_path, "--network", "third", name="svc2")
    assert net("create", "--name", "late", "netbox", "sleep", "30").rc == 0
    bad = net("network", "connect", "--alias", "x\n10.9.9.9 evil", "third", "late")
    assert bad.rc != 0 and bad.err.count("\n") == 1 and "alias" in bad.err, bad.err
    net("network", "connect", "--alias", "backend", "--ip", "10.213.10.77", "third", "late", check=True)
    again = net("network", "connect", "third", "late")
    assert again.rc != 0 and "already exists in network third" in again.err, again.err
    doc = json.loads(net("inspect", "late", check=True).out)[0]["NetworkSettings"]["Networks"]
    assert doc["third"]["Aliases"] == ["backend"] and doc["third"]["IPAMConfig"] == {"IPv4Address": "10.213.10.77"}
    for verb in ("start", "restart"):  # its first start, and a stop with a start at once
        net(verb, *(["-t", "0"] if verb == "restart" else []), "late", check=True)
        r = net("exec", "late", "sh", "-c", "ip -4 -o addr show eth1; wget -qO- http://svc2/")
        assert "inet 10.213.10.77/24" in r.out and r.out.endswith("hello from svc2\n"), r.out + r.err
        hosts = net("exec", "svc2", "cat", "/etc/hosts", check=True).out
        assert re.search(r"^10\.213\.10\.77\tlate backend\t", hosts, re.M) and "evil" not in hosts, hosts
    # a running one: after leaving the first of two extra networks, a connect finds a free interface name
    net("network", "create", "--subnet", "10.213.11.0/24", "fourth", check=True)
    net("network", "connect", "fourth", "late", check=True)
    net("network", "disconnect", "third", "late", check=True)
    net("network", "connect", "third", "late", check=True)
    r = net("exec", "late", "sh", "-c", "ip -4 -o addr", check=True)
    assert "10.213.10." in r.out and "10.213.11." in r.out, r.out
    net("network", "disconnect", "fourth", "late", check=True)
    net("network", "rm", "fourth", check=True)
    net("stop", "-t", "0", "late", check=True)
    r = net("network", "connect", "--ip", "10.213.9.9", "bridge", "late")
    assert r.rc != 0 and "user defined networks" in r.err, r.err
    net("network", "disconnect", "third", "late", check=True)  # stopped: forgotten, not joined again
    net("start", "late", check=True)
    assert "eth1" not in net("exec", "late", "ls", "/sys/class/net", check=True).out.split()
    net("stop", "-t", "0", "late", check=True)
    net("network", "connect", "third", "late", check=True)
    net("rm", "-f", "svc2", check=True)
    net("network", "rm", "third", check=True)  # no active endpoint: docker lets it go too
    r = net("start", "late")
    assert r.rc != 0 and "network third not found" in r.err and "Traceback" not in r.err, r.err
    assert json.loads(net("inspect", "late", check=True).out)[0]["State"]["Status"] != "running"
    assert ours() == [] and wait_for(lambda: links() == [])  # the failed start left no veth or rule
    net("network", "disconnect", "third", "late", check=True)  # a removed network is only forgotten
    net("start", "late", check=True)
    net("rm", "-f", "late", check=True)
    assert wait_for(lambda: links() == [])


def test_network_prune_takes_until_and_labels(net: Ketch) -> None:
    net("network", "create", "--label", "team=x", "--subnet", "10.213.12.0/24", "pr-x", check=True)
    net("network", "create", "--subnet", "10.213.13.0/24", "pr-plain", check=True)
    mine = lambda: sorted(n for n in net("network", "ls", "--format", "{{.Name}}").out.split() if n.startswith("pr-"))  # noqa: E731
    r = net("network", "prune", "-f", "--filter", "until=2001-01-01")
    assert r.rc == 0 and mine() == ["pr-plain", "pr-x"], r.out + r.err
    r = net("network", "prune", "-f", "--filter", "label=team=x")
    assert r.rc == 0 and r.out == "Deleted Networks:\npr-x\n\n" and mine() == ["pr-plain"], r.out + r.err
    r = net("network", "prune", "-f", "--filter", "nope=1")
    assert r.rc != 0 and "invalid filter 'nope'" in r.err and mine() == ["pr-plain"]
    assert net("network", "prune", "-f", "--filter", "label!=team").rc == 0 and mine() == []


# -- what a container must not reach -------------------------------------------


@pytest.fixture(scope="module")
def spoof(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return static_binary(tmp_path_factory, Path(__file__).with_name("spoof.c"), "frame helper")


def test_a_container_cannot_reach_the_hosts_loopback(net: Ketch, spoof: bytes) -> None:
    """A frame made by hand (CAP_NET_RAW is a default capability) to the
    gateway's MAC, addressed to 127.0.0.1: a service bound only to the
    host's loopback must not receive it."""
    net.import_busybox("spoofbox", [Entry("bin/spoof", data=spoof, mode=0o755)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.settimeout(2)
        port = srv.getsockname()[1]
        r = net("run", "--rm", "--network", "bridge", "spoofbox", "spoof", str(port))
        assert r.rc == 0 and int(r.out.split()[-1]) > 0, (r.out, r.err)  # the frame left the container
        with pytest.raises(TimeoutError):
            srv.recvfrom(100)


def test_user_networks_refuse_reserved_ranges(net: Ketch) -> None:
    for subnet in ("127.0.0.0/24", "169.254.10.0/24", "224.1.0.0/24", "240.0.0.0/24", "0.0.0.0/24"):
        r = net("network", "create", "--subnet", subnet, "bad")
        assert r.rc != 0 and "reserved" in r.err, (subnet, r.err)
        assert "Traceback" not in r.err
    assert "bad" not in net("network", "ls").out


def test_build_run_is_on_the_default_bridge(net: Ketch, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM netbox\nRUN cat /proc/net/route > /routes; ls /sys/class/net > /links\n")
    net.env.pop("KETCH_DEFAULT_NETWORK")  # what a user gets: no --network
    net("build", "-t", "routes", str(ctx), check=True)
    r = net("run", "--rm", "--network", "none", "routes", "cat", "/links")
    assert r.out.split() == ["eth0", "lo"], r.out  # the bridge's eth0, not the host's links
    host_links = sorted(p.name for p in Path("/sys/class/net").iterdir())
    assert r.out.split() != host_links
