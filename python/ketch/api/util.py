"""What several areas of the API read the same way: `filters`."""

from __future__ import annotations

from .http import HTTPError, Request


def filter_list(req: Request) -> list[str]:
    """The `filters` query (JSON: {"key": {"value": true}}, or the older
    {"key": ["value"]}) as the library's KEY=VALUE list."""
    doc = req.json_arg("filters")
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise HTTPError(400, "invalid filters: not a JSON object")
    out: list[str] = []
    for key, values in doc.items():
        if isinstance(values, dict):
            chosen = [v for v, on in values.items() if on]
        elif isinstance(values, list):
            chosen = values
        else:
            raise HTTPError(400, f"invalid filter {key!r}: its values must be an object or a list")
        for v in chosen:
            if not isinstance(v, str):
                raise HTTPError(400, f"invalid filter {key!r}: a value is not a string")
            out.append(f"{key}={v}")
    return out


def prune_switch(req: Request, key: str, on: tuple[str, ...], what: str) -> bool:
    """A prune's one accepted filter (`key`), on when it has one of `on`; any other filter is a 400."""
    f = filter_list(req)
    if [x for x in f if not x.startswith(key + "=")]:
        raise HTTPError(400, f"{what} takes the {key} filter only, for now")
    return any(x in tuple(f"{key}={v}" for v in on) for x in f)
