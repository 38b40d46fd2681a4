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
