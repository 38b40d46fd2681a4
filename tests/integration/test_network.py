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
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Ketch, requires_root, wait_for
from imagekit import busybox_entries, tar_bytes

pytestmark = requires_root

PREFIX = "KTEST"


@pytest.fixture
def net(ketch: Ketch, tmp_path: Path) -> Iterator[Ketch]:
    """A ketch whose containers go on a bridge of this test's own (own name,
    own chains), all of it removed afterwards."""
    prefix = f"kt{os.getpid() % 10000}n"
    ketch.env.update({"KETCH_DEFAULT_NETWORK": "bridge", "KETCH_BRIDGE_PREFIX": prefix, "KETCH_CHAIN_PREFIX": PREFIX})
    tar = tmp_path / "bb.tar"
    tar.write_bytes(tar_bytes(busybox_entries()))
    ketch("import", str(tar), "netbox", check=True)
    yield ketch
    for cid in ketch("ps", "-a", "-q").out.split():
        ketch("rm", "-f", cid)
    code = (
        "from ketch.store import Store\nfrom ketch.runtime import network as n\n"
        f"s = Store({str(ketch.root)!r})\n"
        "for net in sorted(n.list_networks(s), key=lambda x: x.name == n.DEFAULT):\n"
        "    n.teardown(s, net.name)\n"
    )
    import sys

    subprocess.run([sys.executable, "-c", code], env=ketch.env, check=True)
    assert not [p for p in Path("/sys/class/net").iterdir() if p.name.startswith(prefix)]
    assert PREFIX not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout


def ours(prefix: str = PREFIX) -> list[str]:
    """ketch's per-container rules now in the host's firewall."""
    dump = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return [line for line in dump.splitlines() if f"{prefix}-" in line and "ketch:" in line]


def links() -> list[str]:
    return sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith("vk"))


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
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


def test_published_ports_reach_the_container(net: Ketch, tmp_path: Path) -> None:
    web(net, tmp_path, "-p", "80", "-p", "127.0.0.1::80")
    lines = net("port", "web").out.splitlines()
    assert len(lines) == 2 and all(re.fullmatch(r"80/tcp -> (0\.0\.0\.0|127\.0\.0\.1):\d+", ln) for ln in lines), lines
    any_port = int(next(ln for ln in lines if "0.0.0.0" in ln).rsplit(":", 1)[1])
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
    net("run", "--name", "exp", "netbox", "true", check=True)
    net("commit", "-c", "EXPOSE 80 8080/tcp", "exp", "exposing", check=True)
    web(net, tmp_path, "-P", name="pub")
    mapped = sorted(ln.split(" -> ")[0] for ln in net("port", "pub").out.splitlines())
    assert mapped == []  # the imported image exposes nothing
    r = net("run", "-d", "-P", "--name", "pub2", "exposing", "sleep", "30")
    assert r.rc == 0, r.err
    assert sorted(ln.split(" -> ")[0] for ln in net("port", "pub2").out.splitlines()) == ["80/tcp", "8080/tcp"]
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
    r = net("run", "--rm", "netbox", "wget", "-T", "2", "-qO-", f"http://{api_ip}/")
    assert r.rc != 0 and "hello" not in r.out
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
