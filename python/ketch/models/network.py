"""A bridge network, a published port and what `network inspect` shows:
typed data, no I/O (the rows are in store/networks.py, the links and
rules in network/)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass
class Network:
    name: str
    id: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    bridge: str
    created: float = 0.0


@dataclass
class Port:
    host_ip: str
    host_port: int
    proto: str
    port: int  # the container's


@dataclass
class Endpoint:
    """A container on a network."""

    container: str  # id
    name: str
    ip: str


@dataclass
class NetworkSummary:
    """One line of `network ls`."""

    id: str
    name: str
    driver: str


@dataclass
class NetworkInfo:
    """What `network inspect` shows of one network."""

    network: Network
    endpoints: list[Endpoint] = field(default_factory=list)
