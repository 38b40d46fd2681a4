"""What several areas of the API read the same way: `filters`, and the
library's refusal of a request's values."""

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


def prune_filters(req: Request, key: str = "", on: tuple[str, ...] = ()) -> tuple[bool, list[str]]:
    """A prune's `filters`: whether its switch `key` (images' dangling,
    volumes' all) has one of the values `on`, and the others (until,
    label, label!) for the library, which refuses what it does not take."""
    f = filter_list(req)
    switch = [x for x in f if key and x.partition("=")[0].strip().lower() == key]
    for x in switch:
        if x.partition("=")[2].lower() not in ("true", "false", "1", "0"):
            raise HTTPError(400, f"invalid filter '{key}={x.partition('=')[2][:40]}'")
    return any(x.partition("=")[2].lower() in on for x in switch), [x for x in f if x not in switch]


def refused(e: Exception) -> HTTPError:
    """A library error raised by what a request asked for: dockerd's 404 or
    409 where status_of finds one, else a 400 (the request's values, not the engine, were wrong)."""
    from .router import status_of

    err = status_of(e)
    return HTTPError(400, str(e)) if err.status == 500 and not isinstance(e, HTTPError) else err
