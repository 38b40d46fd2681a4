"""Networking's policy without links or rules: the settings it reads,
subnet choice and address allocation."""

from __future__ import annotations

import ipaddress

import pytest


def test_settings_are_read_when_used_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    from ketch.network import bridge, firewall, ports
    from ketch.network.settings import settings

    monkeypatch.setenv("KETCH_BRIDGE_PREFIX", "kunit")
    monkeypatch.setenv("KETCH_CHAIN_PREFIX", "KUNIT")
    monkeypatch.setenv("KETCH_NO_IPV6", "1")
    assert settings().bridge_prefix == "kunit" and bridge.bridge_name().startswith("kunit")
    assert firewall.chains() == ("KUNIT-FORWARD", "KUNIT-DNAT", "KUNIT-POSTROUTING")
    assert ports.host_has_ipv6() is False
    monkeypatch.delenv("KETCH_BRIDGE_PREFIX")
    monkeypatch.delenv("KETCH_CHAIN_PREFIX")
    monkeypatch.delenv("KETCH_NO_IPV6")
    s = settings()
    assert (s.bridge_prefix, s.chain_prefix, s.no_ipv6) == ("ketch", "KETCH", False)


def test_reserved_ranges_are_refused_and_gateways_checked() -> None:
    from ketch.errors import KetchError
    from ketch.network.ipam import choose_subnet

    for subnet in ("127.0.0.0/24", "169.254.10.0/24", "224.1.0.0/24", "240.0.0.0/24", "0.0.0.0/24"):
        with pytest.raises(KetchError, match="reserved"):
            choose_subnet(subnet, None, [])
    with pytest.raises(KetchError, match="no matching subnet for gateway"):
        choose_subnet("10.213.60.0/24", "10.213.61.1", [])
    with pytest.raises(KetchError, match="overlaps"):
        choose_subnet("10.213.60.128/25", None, [ipaddress.IPv4Network("10.213.60.0/24")])
    net, gw = choose_subnet("10.213.60.0/24", None, [])
    assert (str(net), str(gw)) == ("10.213.60.0/24", "10.213.60.1")


def test_addresses_go_round_skipping_the_gateway_and_the_taken() -> None:
    from ketch.network.ipam import next_address

    net = ipaddress.IPv4Network("10.0.0.0/29")  # hosts .1-.6, .1 the gateway
    gw = net[1]
    assert next_address(net, gw, 2, set()) == ("10.0.0.2", 3)
    assert next_address(net, gw, 3, {"10.0.0.3"}) == ("10.0.0.4", 5)
    # a released address waits until the range comes round again
    assert next_address(net, gw, 6, {"10.0.0.6"}) == ("10.0.0.2", 3)
    assert next_address(net, gw, 2, {f"10.0.0.{n}" for n in range(2, 7)}) is None
