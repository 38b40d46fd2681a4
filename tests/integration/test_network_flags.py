"""--ip and --network-alias on a user-defined network: one bridge of this
test's own (its own bridge and chain prefixes, as test_network.py makes
them, so the two never see each other's), all of it removed afterwards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from support.ketch import Ketch, requires_root
from support.net import remove_networks

pytestmark = requires_root

CHAINS = "KTFLG"
BRIDGES = f"khf{os.getpid() % 10000}n"
SUBNET = "10.213.31"


@pytest.fixture
def net(ketch: Ketch) -> Iterator[Ketch]:
    ketch.env.update({"KETCH_DEFAULT_NETWORK": "none", "KETCH_BRIDGE_PREFIX": BRIDGES, "KETCH_CHAIN_PREFIX": CHAINS})
    ketch.import_busybox("netbox")
    yield ketch
    remove_networks(ketch, BRIDGES, CHAINS)


def test_ip_and_aliases_on_a_user_defined_network(net: Ketch) -> None:
    net("network", "create", "--subnet", f"{SUBNET}.0/24", "flagsnet", check=True)
    flags = ("--network", "flagsnet", "netbox", "sleep", "60")
    a = net("run", "-d", "--name", "na", "-h", "ahost", "--ip", f"{SUBNET}.50", "--network-alias", "db",
            "--network-alias", "cache", *flags, check=True).out.strip()  # fmt: skip
    net("run", "-d", "--name", "nb", *flags, check=True)
    doc = json.loads(net("inspect", a, check=True).out)[0]
    assert doc["NetworkSettings"]["IPAddress"] == f"{SUBNET}.50"
    assert net("exec", "na", "cat", "/etc/hosts").out.splitlines()[-2] == f"{SUBNET}.50\tahost db cache"
    assert f"{SUBNET}.50\tna db cache\t# ketch peer" in net("exec", "nb", "cat", "/etc/hosts").out.splitlines()
    # the address is taken: the second container does not start, and leaves nothing behind
    r = net("run", "-d", "--name", "nc", "--ip", f"{SUBNET}.50", *flags)
    assert r.rc != 0 and f"Address already in use: {SUBNET}.50" in r.err and "Traceback" not in r.err
    r = net("run", "-d", "--name", "nd", "--ip", "10.99.0.5", *flags)
    assert r.rc != 0 and "no configured subnet contains IP address 10.99.0.5" in r.err
    leases = [ln for ln in net("network", "inspect", "flagsnet", check=True).out.splitlines() if SUBNET in ln]
    assert sum(f"{SUBNET}.50" in ln for ln in leases) == 1, leases
    net("rm", "-f", "na", "nb", "nc", "nd")
    net("network", "rm", "flagsnet", check=True)


def test_ip_needs_a_subnet_the_user_set_and_inspect_has_the_aliases(net: Ketch) -> None:
    net("network", "create", "autonet", check=True)  # ketch picks its subnet
    before = net("ps", "-aq").out
    r = net("run", "-d", "--name", "ipauto", "--ip", "10.99.0.5", "--network", "autonet", "netbox", "sleep", "60")
    err = r.err.strip()
    assert r.rc == 125 and err.count("\n") == 0 and "Traceback" not in err, r.err
    assert err.endswith(
        "user specified IP address is supported only when connecting to networks with user configured subnets"
    )
    assert net("ps", "-aq").out == before  # nothing made
    r = net("run", "-d", "--name", "ipbridge", "--ip", "10.99.0.5", "netbox", "true")
    assert r.rc == 125 and "user specified IP address is supported on user defined networks only" in r.err
    # the aliases in inspect: docker 28's Aliases and DNSNames
    cid = net("run", "-d", "--name", "al", "-h", "alhost", "--network", "autonet", "--network-alias", "db",
              "--network-alias", "cache", "netbox", "sleep", "60", check=True).out.strip()  # fmt: skip
    plain = net("run", "-d", "--name", "noal", "--network", "autonet", "netbox", "sleep", "60", check=True).out.strip()
    doc = json.loads(net("inspect", "al", check=True).out)[0]
    ep = doc["NetworkSettings"]["Networks"]["autonet"]
    assert ep["Aliases"] == ["db", "cache"]
    assert ep["DNSNames"] == ["al", "db", "cache", cid[:12], "alhost"]
    assert ep["IPAddress"] == doc["NetworkSettings"]["IPAddress"] != "" and ep["IPPrefixLen"] > 0
    network_id = json.loads(net("network", "inspect", "autonet", check=True).out)[0]["Id"]
    assert ep["NetworkID"] == network_id and ep["IPAMConfig"] is None
    assert net("inspect", "--format", "{{json .NetworkSettings.Networks.autonet.Aliases}}", "noal").out == "null\n"
    assert net("inspect", "--format", "{{range .NetworkSettings.Networks.autonet.Aliases}}{{.}} {{end}}", "al").out == (
        "db cache \n"
    )
    net("rm", "-f", cid, plain)
    net("network", "rm", "autonet", check=True)
