"""network/ipam.py beyond test_network_policy.py: the host's routes as read
from /proc/net/route, the subnet picked for a new network, and the checks
on a given one."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from ketch.errors import ConflictError, KetchError
from ketch.network import ipam
from support.hostfiles import fake_host_file

N = ipaddress.IPv4Network

ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"  # the default route: not a subnet
    "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  # 192.0.2.0/24
    "ketch0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"  # 172.18.0.0/16
    "short\t0000000A\n"  # a line too short to read: skipped
)


@pytest.fixture
def routes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fake_host_file(monkeypatch, ipam, "/proc/net/route", tmp_path / "route")


def test_host_networks_from_the_route_table(routes: Path) -> None:
    routes.write_text(ROUTE)
    assert ipam.host_networks() == [N("192.0.2.0/24"), N("172.18.0.0/16")]


def test_no_route_table_is_no_host_networks(routes: Path) -> None:
    assert ipam.host_networks() == []


def test_the_first_free_private_16_is_picked(routes: Path) -> None:
    routes.write_text(ROUTE)  # the host has 172.18/16
    assert ipam.pick_subnet([]) == N("172.19.0.0/16")
    assert ipam.pick_subnet([N("172.19.0.0/16"), N("172.20.5.0/24")]) == N("172.21.0.0/16")
    # past 172.31 come 10.100-10.199
    assert ipam.pick_subnet([N("172.16.0.0/12")]) == N("10.100.0.0/16")
    with pytest.raises(KetchError) as e:
        ipam.pick_subnet([N("172.16.0.0/12"), N("10.0.0.0/8")])
    assert str(e.value) == "no free private subnet for a bridge network: remove one or give --subnet"


def test_a_picked_subnet_gets_its_first_address_as_gateway(routes: Path) -> None:
    routes.write_text(ROUTE)
    net, gw = ipam.choose_subnet(None, None, [N("172.19.0.0/16")])
    assert (net, gw) == (N("172.20.0.0/16"), ipaddress.IPv4Address("172.20.0.1"))


@pytest.mark.parametrize(
    ("subnet", "gateway", "message"),
    [
        ("10.0.0.0/33", None, "invalid subnet or gateway: '33' is not a valid netmask"),
        ("10.0.0.1/24", None, "invalid subnet or gateway: 10.0.0.1/24 has host bits set"),
        ("nope", None, "invalid subnet or gateway: Expected 4 octets in 'nope'"),
        ("10.0.0.0/24", "x", "invalid subnet or gateway: Expected 4 octets in 'x'"),
        ("10.0.0.0/31", None, "subnet 10.0.0.0/31 is too small"),
        ("10.0.0.0/24", "10.0.1.1", "no matching subnet for gateway 10.0.1.1"),
        ("169.254.0.0/16", None,
         "invalid subnet 169.254.0.0/16: it is in a reserved range (loopback, link-local, multicast)"),
    ],
)  # fmt: skip
def test_a_given_subnet_is_checked(routes: Path, subnet: str, gateway: str | None, message: str) -> None:
    with pytest.raises(KetchError) as e:
        ipam.choose_subnet(subnet, gateway, [])
    assert str(e.value) == message


def test_a_given_subnet_and_gateway(routes: Path) -> None:
    routes.write_text(ROUTE)
    assert ipam.choose_subnet("10.0.0.0/30", None, []) == (N("10.0.0.0/30"), ipaddress.IPv4Address("10.0.0.1"))
    assert ipam.choose_subnet("10.9.0.0/24", "10.9.0.254", []) == (
        N("10.9.0.0/24"),
        ipaddress.IPv4Address("10.9.0.254"),
    )


def test_overlapping_the_hosts_routes_is_a_conflict(routes: Path) -> None:
    routes.write_text(ROUTE)
    with pytest.raises(ConflictError) as e:
        ipam.choose_subnet("172.18.5.0/24", None, [])
    assert str(e.value) == "Pool overlaps with other one on this address space (172.18.0.0/16)"


def test_a_30_has_one_address_besides_the_gateway() -> None:
    net = N("10.0.0.0/30")
    gw = net[1]
    assert ipam.next_address(net, gw, 2, set()) == ("10.0.0.2", 3)
    assert ipam.next_address(net, gw, 3, set()) == ("10.0.0.2", 3)
    assert ipam.next_address(net, gw, 2, {"10.0.0.2"}) is None
