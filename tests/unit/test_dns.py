"""network/dns.py without a container: the resolv.conf a container gets from
the host's and --dns/--dns-search, and its hosts file."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ketch.network import dns
from support.hostfiles import fake_host_file

BASE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


@pytest.fixture
def host_resolv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where resolv_conf reads "the host's /etc/resolv.conf" from in these tests."""
    return fake_host_file(monkeypatch, dns, "/etc/resolv.conf", tmp_path / "host-resolv.conf")


def test_the_hosts_loopback_servers_are_dropped_and_the_rest_kept(host_resolv: Path) -> None:
    host_resolv.write_text("nameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0\nsearch lan\n")
    assert dns.resolv_conf() == "nameserver 10.0.0.2\noptions edns0\nsearch lan\n"


def test_with_only_loopback_servers_googles_are_used(host_resolv: Path) -> None:
    host_resolv.write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
    assert dns.resolv_conf() == "options edns0 trust-ad\nsearch lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_no_host_file_gives_googles_servers(host_resolv: Path) -> None:
    assert not host_resolv.exists()
    assert dns.resolv_conf() == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_dns_replaces_every_host_server(host_resolv: Path) -> None:
    host_resolv.write_text("nameserver 10.0.0.2\nsearch lan\nnameserver 10.0.0.3\n")
    assert dns.resolv_conf(["1.1.1.1", "9.9.9.9"]) == "search lan\nnameserver 1.1.1.1\nnameserver 9.9.9.9\n"


def test_a_loopback_dns_server_given_with_dns_is_kept(host_resolv: Path) -> None:
    # docker filters the host's loopback servers only: one named with --dns
    # (a resolver in the container's own namespace) stays, and no default is added
    host_resolv.write_text("nameserver 10.0.0.2\n")
    assert dns.resolv_conf(["127.0.0.1"]) == "nameserver 127.0.0.1\n"


def test_dns_search_replaces_search_and_domain(host_resolv: Path) -> None:
    host_resolv.write_text("domain corp\nsearch lan home\nnameserver 10.0.0.2\n")
    assert dns.resolv_conf(None, ["a.test", "b.test"]) == "nameserver 10.0.0.2\nsearch a.test b.test\n"
    both = dns.resolv_conf(["10.9.9.9"], ["example.test"])
    assert both == "nameserver 10.9.9.9\nsearch example.test\n"


def _store(tmp_path: Path, cid: str) -> Any:
    (tmp_path / "containers" / cid).mkdir(parents=True)
    return SimpleNamespace(root=tmp_path)


CID = "0123456789ab" + "c" * 52


def test_hosts_of_a_container_without_a_network(tmp_path: Path) -> None:
    store = _store(tmp_path, CID)
    cfg = {"hostname": "web", "network": "none", "extra_hosts": [["db.local", "10.1.2.3"], ["gw", "10.1.2.1"]]}
    dns.write_hosts(store, CID, cfg, create=True)
    assert (tmp_path / "containers" / CID / "hosts").read_text() == BASE + "10.1.2.3\tdb.local\n10.1.2.1\tgw\n"


def test_hosts_is_rewritten_in_place_and_made_only_when_asked(tmp_path: Path) -> None:
    store = _store(tmp_path, CID)
    hosts = tmp_path / "containers" / CID / "hosts"
    dns.write_hosts(store, CID, {"network": "none", "extra_hosts": []})
    assert not hosts.exists()  # the container is gone: nothing to do
    dns.write_hosts(store, CID, {"network": "none", "extra_hosts": [["a", "10.0.0.9"]]}, create=True)
    inode = os.stat(hosts).st_ino
    dns.write_hosts(store, CID, {"network": "none", "extra_hosts": []})
    # bind-mounted into the container: the same file, shorter, no stale tail
    assert os.stat(hosts).st_ino == inode and hosts.read_text() == BASE


def test_hosts_made_before_extra_hosts_were_kept_keeps_the_files_own_entries(tmp_path: Path) -> None:
    store = _store(tmp_path, CID)
    hosts = tmp_path / "containers" / CID / "hosts"
    old = BASE + "10.1.2.3\tdb.local\n172.18.0.2\tweb\n172.18.0.3\tpeer\t# ketch peer\n"
    hosts.write_text(old)
    dns.write_hosts(store, CID, {"hostname": "web", "network": "none"})
    # the --add-host entry stays; its own address and its peers are made afresh (none here)
    assert hosts.read_text() == BASE + "10.1.2.3\tdb.local\n"


def test_with_systemd_resolveds_stub_its_upstream_file_is_used(tmp_path: Path) -> None:
    # docker's rule: /etc/resolv.conf naming only 127.0.0.53 means systemd-resolved;
    # the servers it forwards to are in /run/systemd/resolve/resolv.conf
    etc, run = tmp_path / "etc-resolv.conf", tmp_path / "run-resolv.conf"
    etc.write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
    run.write_text("nameserver 192.0.2.10\nnameserver 192.0.2.11\nsearch corp.example\n")
    assert (
        dns.resolv_conf(path=etc, resolved=run) == "nameserver 192.0.2.10\nnameserver 192.0.2.11\nsearch corp.example\n"
    )
    # --dns still replaces the servers of the file picked
    assert dns.resolv_conf(["1.1.1.1"], path=etc, resolved=run) == "search corp.example\nnameserver 1.1.1.1\n"
    # resolved's file missing: the stub is dropped as before, Google's are the fallback
    missing = tmp_path / "absent"
    assert dns.resolv_conf(path=etc, resolved=missing).endswith("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
    # a host file with another (non-stub) server is used as it is: not resolved's
    etc.write_text("nameserver 127.0.0.53\nnameserver 10.0.0.2\n")
    assert dns.resolv_conf(path=etc, resolved=run) == "nameserver 10.0.0.2\n"
    # and the stub's upstream file is filtered too (a loopback server in it is unreachable as well)
    etc.write_text("nameserver 127.0.0.53\n")
    run.write_text("nameserver 127.0.0.1\nnameserver 192.0.2.10\n")
    assert dns.resolv_conf(path=etc, resolved=run) == "nameserver 192.0.2.10\n"
