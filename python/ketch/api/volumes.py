"""Volume routes: list, create (labels), inspect, delete, prune."""

from __future__ import annotations

from typing import Any

from .http import HTTPError
from .router import Call
from .util import filter_list, prune_filters


def list_(call: Call) -> dict[str, Any]:
    """GET /volumes?filters=: {"Volumes": [...], "Warnings": []} (name=, label=, dangling=)."""
    from ..models.filters import match_labels, parse
    from ..runtime.volumes import list_all, users

    f = parse(filter_list(call.req), ("name", "label", "dangling", "driver"))
    out = []
    for v in list_all(call.store):
        doc = v.inspect()
        if "name" in f and not any(x in v.name for x in f["name"]):
            continue
        if "driver" in f and "local" not in f["driver"]:
            continue
        if "label" in f and not match_labels(f["label"], doc["Labels"] or {}):
            continue
        if "dangling" in f:
            unused = not users(call.store, v.name)
            if not any((x.lower() in ("true", "1")) == unused for x in f["dangling"]):
                continue
        out.append(doc)
    return {"Volumes": out, "Warnings": []}


def create(call: Call) -> None:
    """POST /volumes/create {Name, Labels, Driver}: 201 and the volume (an existing one as it is)."""
    from ..runtime.volumes import create as do_create

    doc = call.req.json()
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise HTTPError(400, "the body must be a JSON object")
    driver = doc.get("Driver") or "local"
    if driver != "local":
        raise HTTPError(400, f"volume driver {str(driver)[:40]!r} is not supported: ketch has local")
    if doc.get("DriverOpts"):
        raise HTTPError(400, "volume driver options are not supported yet")
    labels = doc.get("Labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise HTTPError(400, "Labels must be an object of strings")
    name = doc.get("Name") or None
    if name is not None and not isinstance(name, str):
        raise HTTPError(400, "Name must be a string")
    v, _ = do_create(call.store, name, labels=labels or None)
    call.req.json_answer(v.inspect(), 201)


def inspect(call: Call) -> dict[str, Any]:
    from ..runtime.volumes import get

    return get(call.store, call.params["name"]).inspect()


def delete(call: Call) -> None:
    from ..runtime.volumes import remove

    remove(call.store, call.params["name"], call.req.flag("force"))
    call.req.no_content()


def prune(call: Call) -> dict[str, Any]:
    from ..errors import KetchError
    from ..runtime.volumes import prune as do_prune
    from .util import refused

    all_, rest = prune_filters(call.req, "all", ("true", "1"))
    try:
        r = do_prune(call.store, all_, rest)
    except KetchError as e:
        raise refused(e) from None
    return {"VolumesDeleted": list(r.deleted) or None, "SpaceReclaimed": r.reclaimed}


ROUTES = [
    ("GET", "/volumes", list_),
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", delete),
]
