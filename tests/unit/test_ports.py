"""network/ports.py: docker's -p forms and what it says about bad ones, and
the host ports held for a container (on 127.0.0.1, no root, no rules)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from ketch.errors import ConflictError, KetchError
from ketch.models.network import Port
from ketch.network.ports import hold, parse_publish
from support.net import free_port


def one(spec: str) -> list[tuple[str, int, str, int]]:
    return [(p["host_ip"], p["host_port"], p["proto"], p["port"]) for p in parse_publish(spec)]


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("80/tcp", [("0.0.0.0", 0, "tcp", 80)]),
        ("53/udp", [("0.0.0.0", 0, "udp", 53)]),
        (":80", [("0.0.0.0", 0, "tcp", 80)]),  # an empty host port: an ephemeral one
        ("65535:1", [("0.0.0.0", 65535, "tcp", 1)]),
        ("127.0.0.1:8080:80/udp", [("127.0.0.1", 8080, "udp", 80)]),
        ("127.0.0.1::53/udp", [("127.0.0.1", 0, "udp", 53)]),
        ("10.1.2.3:9000-9001:90-91/udp", [("10.1.2.3", 9000, "udp", 90), ("10.1.2.3", 9001, "udp", 91)]),
        ("5000-5000:6000", [("0.0.0.0", 5000, "tcp", 6000)]),
    ],
)
def test_publish_forms(spec: str, want: list[tuple[str, int, str, int]]) -> None:
    assert one(spec) == want


BAD_SPEC = 'invalid argument "{}" for "-p, --publish" flag: invalid port specification'


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("abc", BAD_SPEC.format("abc")),
        ("", BAD_SPEC.format("")),
        ("80/sctpx", BAD_SPEC.format("80/sctpx")),
        ("80/TCP", BAD_SPEC.format("80/TCP")),
        ("8080:80:", BAD_SPEC.format("8080:80:")),
        ("::80", BAD_SPEC.format("::80")),
        ("1.2.3:80", BAD_SPEC.format("1.2.3:80")),
        # docker splits on ":": with two parts the first is the host port, and an address is not one
        ("127.0.0.1:80", BAD_SPEC.format("127.0.0.1:80")),
        ("0", "invalid port range: 0"),
        ("70000", "invalid port range: 70000"),
        ("8080:65536", "invalid port range: 65536"),
        ("81-80", "invalid port range: 81-80"),
        ("8000-8002:80-81", "invalid ranges specified for container and host Ports: 8000-8002:80-81"),
    ],
)
def test_bad_publish_specs(spec: str, message: str) -> None:
    with pytest.raises(KetchError) as e:
        parse_publish(spec)
    assert str(e.value) == message


def _loopback(port: int, proto: str = "tcp") -> dict[str, Any]:
    return {"host_ip": "127.0.0.1", "host_port": port, "proto": proto, "port": 80}


def test_a_host_port_is_held_until_released() -> None:
    p = free_port()
    ports, held, proxies = hold(None, [_loopback(p)])  # type: ignore[arg-type]  # no store needed for fixed ports
    try:
        assert ports == [Port("127.0.0.1", p, "tcp", 80)] and proxies == []
        with pytest.raises(OSError), socket.socket() as s:
            s.bind(("127.0.0.1", p))
    finally:
        for s in held:
            s.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", p))


def test_a_taken_port_is_dockers_conflict_and_nothing_stays_open() -> None:
    first, taken = free_port(), socket.socket()
    taken.bind(("127.0.0.1", 0))
    busy = taken.getsockname()[1]
    try:
        with pytest.raises(ConflictError) as e:
            hold(None, [_loopback(first), _loopback(busy)])  # type: ignore[arg-type]
        assert str(e.value) == (
            "driver failed programming external connectivity on endpoint: Bind for "
            f"127.0.0.1:{busy} failed: port is already allocated (Address already in use)"
        )
    finally:
        taken.close()
    with socket.socket() as s:  # the first port was let go again
        s.bind(("127.0.0.1", first))


def test_tcp_and_udp_on_one_port_are_two_holds() -> None:
    p = free_port()
    ports, held, _ = hold(None, [_loopback(p, "tcp"), _loopback(p, "udp")])  # type: ignore[arg-type]
    try:
        assert [x.proto for x in ports] == ["tcp", "udp"]
        assert [s.type for s in held] == [socket.SOCK_STREAM, socket.SOCK_DGRAM]
    finally:
        for s in held:
            s.close()
