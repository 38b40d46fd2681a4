"""The verbs on networks: create, get (the default made on first use),
list, inspect, remove and prune. They return data; the CLI prints it."""

from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, KetchError
from ..models.network import Network, NetworkInfo, NetworkSummary
from ..store import networks as rows
from . import DEFAULT, PREDEFINED, bridge, firewall, ipam

if TYPE_CHECKING:
    from ..store import Store


def new_id() -> str:
    return os.urandom(32).hex()


def predefined_id(name: str) -> str:
    """The fixed id of `host` and `none` (networks without a row)."""
    import hashlib  # 3 ms: `network ls` only

    return hashlib.sha256(f"ketch-{name}".encode()).hexdigest()


def create(
    store: Store,
    name: str,
    subnet: str | None = None,
    gateway: str | None = None,
    driver: str = "bridge",
    labels: dict[str, str] | None = None,
) -> Network:
    """`network create`: a user-defined bridge network (the one driver ketch has), with `labels`."""
    if driver != "bridge":
        raise KetchError(f'plugin "{driver}" not found: ketch has the bridge driver only')
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):  # fullmatch: `$` would take a trailing newline
        raise KetchError(f"invalid network name {name!r}")
    if name in PREDEFINED or rows.exists(store, name):
        raise ConflictError(f"network with name {name} already exists")
    net, gw = ipam.choose_subnet(subnet, gateway, [n.subnet for n in rows.all_networks(store)])
    given = dict(labels or {}) or None
    rows.insert(store, Network(name, new_id(), net, gw, bridge.bridge_name(), time.time(), subnet is not None, given))
    n = get(store, name)
    try:
        bridge.ensure(n)
    except BaseException:
        rows.delete(store, name)  # a network without its bridge and rules is no network
        raise
    from ..store import events

    events.record(store, "network", "create", n.id, {"name": n.name, "type": "bridge"})
    return n


def get(store: Store, ref: str) -> Network:
    """A network by name or id prefix (`bridge` is made on first use)."""
    net = rows.find(store, ref)
    if net is None:
        if ref == DEFAULT:
            return ensure_default(store)
        raise KetchError(f"network {ref} not found")
    return net


def ensure_default(store: Store) -> Network:
    """The default `bridge` network, its row and its bridge made if missing."""
    net = rows.by_name(store, DEFAULT)
    if net is None:
        subnet = ipam.pick_subnet([n.subnet for n in rows.all_networks(store)])
        rows.insert_missing(store, Network(DEFAULT, new_id(), subnet, subnet[1], bridge.bridge_name(), time.time()))
        net = rows.by_name(store, DEFAULT)
        assert net is not None
    bridge.ensure(net)
    return net


def list_networks(store: Store) -> list[Network]:
    return rows.all_networks(store)


_LS_FILTERS = ("driver", "id", "label", "name", "scope", "type", "dangling")


def summaries(store: Store, filters: list[str] | None = None) -> list[NetworkSummary]:
    """`network ls [-f ...]`: every network, `host` and `none` too, by name.
    Filters as docker's daemon reads them: name= and id= match anywhere in
    the name or id, driver= and scope= exactly, type=builtin|custom, label=
    (KEY or KEY=VALUE, ANDed), dangling=true|false (unused by any container)."""
    from ..models.filters import match_labels, parse

    f = parse(filters or [], _LS_FILTERS)
    for t in f.get("type", []):
        if t not in ("builtin", "custom"):
            raise KetchError(f"invalid filter: 'type'='{t}'")
    ensure_default(store)
    out = [NetworkSummary(n.id, n.name, "bridge", n.labels) for n in rows.all_networks(store)]
    out += [NetworkSummary(predefined_id(n), n, d) for n, d in (("host", "host"), ("none", "null"))]

    def keep(n: NetworkSummary) -> bool:
        builtin = n.name in ("bridge", "host", "none")
        checks = [
            ("name", lambda v: v in n.name),
            ("id", lambda v: v in n.id),
            ("driver", lambda v: v == n.driver),
            ("scope", lambda v: v == "local"),
            ("type", lambda v: (v == "builtin") == builtin),
            ("dangling", lambda v: v.lower() in ("true", "1") and not builtin and not rows.members(store, n.name)
             or v.lower() in ("false", "0") and (builtin or bool(rows.members(store, n.name)))),
        ]  # fmt: skip
        if any(k in f and not any(test(v) for v in f[k]) for k, test in checks):
            return False
        return "label" not in f or match_labels(f["label"], n.labels or {})

    return sorted((n for n in out if keep(n)), key=lambda s: s.name)


def inspect(store: Store, ref: str) -> NetworkInfo:
    n = get(store, ref)
    return NetworkInfo(n, rows.endpoints(store, n.name))


def inspect_document(store: Store, ref: str) -> dict[str, Any]:
    """`docker network inspect NETWORK`: its document, as the Engine API has it."""
    from ..models.ids import rfc3339

    if ref in ("host", "none") or (len(ref) >= 12 and any(predefined_id(x).startswith(ref) for x in ("host", "none"))):
        return _predefined_document(store, ref if ref in ("host", "none") else _predefined_name(ref))
    info = inspect(store, ref)
    n = info.network
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": rfc3339(n.created),
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": str(n.subnet), "Gateway": str(n.gateway)}]},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {
            e.container: {"Name": e.name, "IPv4Address": f"{e.ip}/{n.subnet.prefixlen}", "IPv6Address": ""}
            for e in info.endpoints
        },
        "Options": {"com.docker.network.bridge.name": n.bridge},
        "Labels": dict(n.labels or {}),
    }


def _predefined_name(ref: str) -> str:
    return next(x for x in ("host", "none") if predefined_id(x).startswith(ref))


def _predefined_document(store: Store, name: str) -> dict[str, Any]:
    """docker's document of `host` or `none`: no addresses; the running containers on it."""
    from ..store import containers

    on = [r for r in containers.every(store) if r["state"] in ("running", "paused")]
    members = {}
    for r in on:
        if json.loads(r["config"]).get("network") == name:
            members[r["id"]] = {"Name": r["name"], "EndpointID": "", "MacAddress": "", "IPv4Address": "",
                                "IPv6Address": ""}  # fmt: skip
    return {
        "Name": name,
        "Id": predefined_id(name),
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": "host" if name == "host" else "null",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": members,
        "Options": {},
        "Labels": {},
    }


def teardown(store: Store, name: str = DEFAULT) -> None:
    """Removes a network's bridge, its rules and, once no network is left, ketch's chains."""
    net = rows.by_name(store, name)
    if net is None:
        return
    if rows.members(store, net.name):
        raise ConflictError(f"error while removing network: network {name} id {net.id} has active endpoints")
    firewall.remove_bridge_rules(net.bridge)
    bridge.delete(net.bridge)
    rows.delete(store, name)
    firewall.remove_unused_chains()
    from ..store import events

    events.record(store, "network", "destroy", net.id, {"name": net.name, "type": "bridge"})


def remove(store: Store, ref: str) -> None:
    """`network rm`: a user-defined network with no container on it."""
    if ref in PREDEFINED:
        raise KetchError(f"{ref} is a pre-defined network and cannot be removed")
    teardown(store, get(store, ref).name)


def prune(store: Store, filters: list[str] | None = None) -> list[str]:
    """`network prune [--filter until=|label=|label!=]`: every user-defined
    network with no container on it (that the filters take); the names removed."""
    from ..models.filters import PruneFilter

    f = PruneFilter(filters)
    gone = []
    for n in rows.all_networks(store):
        if n.name != DEFAULT and not rows.members(store, n.name) and f.takes(n.created, n.labels):
            teardown(store, n.name)
            gone.append(n.name)
    return gone
