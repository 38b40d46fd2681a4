"""The network rows: networks, their address leases and the ports
published to containers (tables `networks`, `leases`, `ports` in db.py).
The policy (which subnet, which address, which rules) is network/'s."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..models.network import Endpoint, Network, Port

if TYPE_CHECKING:
    from . import Store


def _network(r: Any) -> Network:
    return Network(
        r["name"],
        r["id"],
        ipaddress.IPv4Network(r["subnet"]),
        ipaddress.IPv4Address(r["gateway"]),
        r["bridge"],
        r["created"],
        bool(r["user_subnet"]),
        json.loads(r["labels"]) or None,
    )


def _insert(db: Any, net: Network) -> None:
    db.execute(
        "INSERT INTO networks(name, id, subnet, gateway, bridge, next_ip, created, user_subnet, labels) "
        "VALUES (?,?,?,?,?,?,?,?,?)",
        (
            net.name,
            net.id,
            str(net.subnet),
            str(net.gateway),
            net.bridge,
            2,
            net.created or time.time(),
            int(net.user_subnet),
            json.dumps(net.labels or {}),
        ),  # fmt: skip
    )


def insert(store: Store, net: Network) -> None:
    with store.db.write() as db:
        _insert(db, net)


def insert_missing(store: Store, net: Network) -> None:
    """Adds `net` unless a network of its name is there already (concurrent first runs race for the default)."""
    with store.db.write() as db:
        if not db.execute("SELECT 1 FROM networks WHERE name=?", (net.name,)).fetchone():
            _insert(db, net)


def exists(store: Store, name: str) -> bool:
    return bool(store.db.query("SELECT 1 FROM networks WHERE name=?", (name,)))


def by_name(store: Store, name: str) -> Network | None:
    rows = store.db.query("SELECT * FROM networks WHERE name=?", (name,))
    return _network(rows[0]) if rows else None


def find(store: Store, ref: str) -> Network | None:
    """A network by name or by a prefix of its id."""
    rows = store.db.query("SELECT * FROM networks WHERE name=? OR id LIKE ?", (ref, f"{ref}%"))
    return _network(rows[0]) if rows else None


def all_networks(store: Store) -> list[Network]:
    return [_network(r) for r in store.db.query("SELECT * FROM networks ORDER BY created")]


def delete(store: Store, name: str) -> None:
    with store.db.write() as db:
        db.execute("DELETE FROM networks WHERE name=?", (name,))


# -- leases ------------------------------------------------------------------


def members(store: Store, network: str) -> list[tuple[str, str]]:
    """(container id, address) of the containers on the network."""
    return [(r["container"], r["ip"]) for r in store.db.query("SELECT * FROM leases WHERE network=?", (network,))]


def endpoints(store: Store, network: str) -> list[Endpoint]:
    """The containers on the network with their names ("" for a lease whose container is gone)."""
    rows = store.db.query(
        "SELECT l.container, l.ip, COALESCE(c.name, '') AS name FROM leases l "
        "LEFT JOIN containers c ON c.id = l.container WHERE l.network=?",
        (network,),
    )
    return [Endpoint(r["container"], r["name"], r["ip"]) for r in rows]


def networks_of(store: Store, cid: str) -> list[str]:
    return [r["network"] for r in store.db.query("SELECT network FROM leases WHERE container=?", (cid,))]


def is_member(store: Store, cid: str, network: str) -> bool:
    return bool(store.db.query("SELECT 1 FROM leases WHERE container=? AND network=?", (cid, network)))


def lease(
    store: Store, net: Network, cid: str, choose: Callable[[int, set[str]], tuple[str, int] | None]
) -> str | None:
    """Gives `cid` the address `choose(next_ip, taken)` picks (with the next
    `next_ip`), in one write transaction; None if it finds none."""
    with store.db.write() as db:
        # what containers removed behind ketch's back left (a store copied, a crash)
        db.execute("DELETE FROM leases WHERE container NOT IN (SELECT id FROM containers)")
        db.execute("DELETE FROM ports WHERE container NOT IN (SELECT id FROM containers)")
        row = db.execute("SELECT next_ip FROM networks WHERE name=?", (net.name,)).fetchone()
        taken = {r[0] for r in db.execute("SELECT ip FROM leases WHERE network=?", (net.name,))}
        picked = choose(int(row[0]), taken)
        if picked is None:
            return None
        ip, next_ip = picked
        db.execute("INSERT INTO leases(network, ip, container) VALUES (?,?,?)", (net.name, ip, cid))
        db.execute("UPDATE networks SET next_ip=? WHERE name=?", (next_ip, net.name))
        return ip


def release(store: Store, cid: str, network: str | None = None) -> None:
    """`cid`'s lease on `network`, or every lease and port of it."""
    with store.db.write() as db:
        if network is None:
            db.execute("DELETE FROM ports WHERE container=?", (cid,))
            db.execute("DELETE FROM leases WHERE container=?", (cid,))
        else:
            db.execute("DELETE FROM leases WHERE container=? AND network=?", (cid, network))


def address_of(store: Store, cid: str, network: str | None = None) -> str | None:
    """`cid`'s address (on `network`, or its first)."""
    if network is None:
        rows = store.db.query("SELECT ip FROM leases WHERE container=?", (cid,))
    else:
        rows = store.db.query("SELECT ip FROM leases WHERE container=? AND network=?", (cid, network))
    return rows[0]["ip"] if rows else None


def peers(store: Store, cid: str, skip: str) -> list[tuple[str, str, list[str]]]:
    """(address, name, --network-alias names) of every other container on
    each network `cid` is on, but `skip`."""
    import json

    rows = store.db.query(
        "SELECT l2.ip, l2.network, c.name, c.config FROM leases l1 JOIN leases l2 ON l1.network = l2.network "
        "JOIN containers c ON c.id = l2.container "
        "WHERE l1.container=? AND l2.container != ? AND l1.network != ?",
        (cid, cid, skip),
    )
    return [(r["ip"], r["name"], aliases_on(json.loads(r["config"]), r["network"])) for r in rows]


def aliases_on(config: dict[str, Any], network: str) -> list[str]:
    """A container's alias names on `network`: --network-alias's on its own
    network, `network connect --alias`'s on one it was connected to."""
    if network == config.get("network"):
        return list(config.get("network_aliases") or [])
    return list(((config.get("connected") or {}).get(network) or {}).get("aliases") or [])


# -- published ports -----------------------------------------------------------


def add_ports(store: Store, cid: str, ip: str, ports: list[Port]) -> None:
    with store.db.write() as db:
        for p in ports:
            db.execute(
                "INSERT INTO ports(host_ip, host_port, proto, container, ip, port) VALUES (?,?,?,?,?,?)",
                (p.host_ip, p.host_port, p.proto, cid, ip, p.port),
            )


def ports_of(store: Store, cid: str) -> list[Port]:
    return [
        Port(r["host_ip"], r["host_port"], r["proto"], r["port"])
        for r in store.db.query("SELECT * FROM ports WHERE container=? ORDER BY port, proto, host_ip", (cid,))
    ]


def published(store: Store, cid: str) -> tuple[str, list[Port], str] | None:
    """(container address, ports, bridge) of what `cid` publishes, for removing its rules."""
    rows = store.db.query(
        "SELECT p.*, n.bridge FROM ports p JOIN leases l ON l.container = p.container AND l.ip = p.ip "
        "JOIN networks n ON n.name = l.network WHERE p.container=?",
        (cid,),
    )
    if not rows:
        return None
    return rows[0]["ip"], [Port(r["host_ip"], r["host_port"], r["proto"], r["port"]) for r in rows], rows[0]["bridge"]


def taken_ports(store: Store, proto: str) -> set[int]:
    return {r["host_port"] for r in store.db.query("SELECT host_port FROM ports WHERE proto=?", (proto,))}


def container_config(store: Store, cid: str) -> dict[str, Any] | None:
    """A container's config (its hostname, network and --add-host entries make its hosts file)."""
    import json

    rows = store.db.query("SELECT config FROM containers WHERE id=?", (cid,))
    return json.loads(rows[0]["config"]) if rows else None
