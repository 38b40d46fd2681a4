"""A bridge network, a published port and what `network inspect` shows:
typed data, no I/O (the rows are in store/networks.py, the links and
rules in network/). NamedTuples: a quarter of a dataclass's cost to
define, and every bridged `run` imports these."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple


class Network(NamedTuple):
    name: str
    id: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    bridge: str
    created: float = 0.0
    user_subnet: bool = False  # --subnet given at create: --ip is taken (docker's rule)
    labels: dict[str, str] | None = None  # --label (None: none)


class Port(NamedTuple):
    host_ip: str
    host_port: int
    proto: str
    port: int  # the container's


class Endpoint(NamedTuple):
    """A container on a network."""

    container: str  # id
    name: str
    ip: str


class NetworkSummary(NamedTuple):
    """One line of `network ls`."""

    id: str
    name: str
    driver: str
    labels: dict[str, str] | None = None


class NetworkInfo(NamedTuple):
    """What `network inspect` shows of one network."""

    network: Network
    endpoints: list[Endpoint]
