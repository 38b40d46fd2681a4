"""Network routes: list, inspect, create (IPAM config, labels), connect,
disconnect, delete, prune."""

from __future__ import annotations

from typing import Any

from .http import HTTPError
from .router import Call
from .util import filter_list


def list_(call: Call) -> list[dict[str, Any]]:
    from ..network.networks import inspect_document, summaries

    return [inspect_document(call.store, n.id if n.name not in ("host", "none") else n.name)
            for n in summaries(call.store, filter_list(call.req))]  # fmt: skip


def inspect(call: Call) -> dict[str, Any]:
    from ..errors import KetchError
    from ..network.networks import inspect_document

    try:
        return inspect_document(call.store, call.params["id"])
    except KetchError as e:
        if "not found" in str(e):
            raise HTTPError(404, f"network {call.params['id']} not found") from None
        raise


def _labels(doc: dict[str, Any]) -> dict[str, str] | None:
    labels = doc.get("Labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise HTTPError(400, "Labels must be an object of strings")
    return labels or None


def create(call: Call) -> None:
    """POST /networks/create: 201 {Id, Warning}; 409 when the name is taken
    (unless CheckDuplicate is false and it is the same network: docker's
    older clients send it)."""
    from ..network.networks import create as do_create

    doc = call.req.json()
    if not isinstance(doc, dict) or not isinstance(doc.get("Name"), str) or not doc["Name"]:
        raise HTTPError(400, "a network needs a Name")
    ipam = doc.get("IPAM") or {}
    configs = ipam.get("Config") or [] if isinstance(ipam, dict) else []
    if not isinstance(configs, list) or len(configs) > 1:
        raise HTTPError(400, "ketch's bridge networks take one IPAM Config (an IPv4 subnet)")
    subnet = gateway = None
    if configs:
        if not isinstance(configs[0], dict):
            raise HTTPError(400, "IPAM Config must be an object")
        subnet, gateway = configs[0].get("Subnet") or None, configs[0].get("Gateway") or None
    if doc.get("EnableIPv6"):
        raise HTTPError(400, "IPv6 networks are not supported")
    if doc.get("Internal"):
        raise HTTPError(400, "internal networks are not supported yet")
    driver = doc.get("Driver") or "bridge"
    n = do_create(call.store, doc["Name"], subnet, gateway, str(driver), _labels(doc))
    call.req.json_answer({"Id": n.id, "Warning": ""}, 201)


def connect(call: Call) -> None:
    from ..runtime.launch import connect as do_connect

    doc = call.req.json()
    if not isinstance(doc, dict) or not isinstance(doc.get("Container"), str):
        raise HTTPError(400, "a container to connect is required")
    cfg = doc.get("EndpointConfig") or {}
    if not isinstance(cfg, dict):
        raise HTTPError(400, "EndpointConfig must be an object")
    aliases = cfg.get("Aliases") or []
    ipam = cfg.get("IPAMConfig") or {}
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases) or not isinstance(ipam, dict):
        raise HTTPError(400, "EndpointConfig.Aliases must be a list of strings, IPAMConfig an object")
    ip = ipam.get("IPv4Address") or None
    if ip is not None and not isinstance(ip, str):
        raise HTTPError(400, "IPAMConfig.IPv4Address must be a string")
    from ..errors import KetchError
    from .util import refused

    try:
        do_connect(call.store, call.params["id"], doc["Container"], aliases, ip)
    except KetchError as e:  # an alias or address the request got wrong: dockerd's 400
        raise refused(e) from None
    call.req.send(200, b"", "application/json")


def disconnect(call: Call) -> None:
    from ..runtime.launch import disconnect as do_disconnect

    doc = call.req.json()
    if not isinstance(doc, dict) or not isinstance(doc.get("Container"), str):
        raise HTTPError(400, "a container to disconnect is required")
    do_disconnect(call.store, call.params["id"], doc["Container"])
    call.req.send(200, b"", "application/json")


def delete(call: Call) -> None:
    from ..network.networks import remove

    remove(call.store, call.params["id"])
    call.req.no_content()


def prune(call: Call) -> dict[str, Any]:
    from ..errors import KetchError
    from ..network.networks import prune as do_prune
    from .util import refused

    try:
        return {"NetworksDeleted": do_prune(call.store, filter_list(call.req)) or None}
    except KetchError as e:
        raise refused(e) from None


ROUTES = [
    ("GET", "/networks", list_),
    ("POST", "/networks/create", create),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{id}", inspect),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
    ("DELETE", "/networks/{id}", delete),
]
