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


def prune_switch(req: Request, key: str, on: tuple[str, ...], what: str) -> bool:
    """A prune's one accepted filter (`key`), on when it has one of `on`; any other filter is a 400."""
    f = filter_list(req)
    if [x for x in f if not x.startswith(key + "=")]:
        raise HTTPError(400, f"{what} takes the {key} filter only, for now")
    return any(x in tuple(f"{key}={v}" for v in on) for x in f)


def refused(e: Exception) -> HTTPError:
    """A library error raised by what a request asked for: dockerd's 404 or
    409 where status_of finds one, else a 400 (the request's values, not the engine, were wrong)."""
    from .router import status_of

    err = status_of(e)
    return HTTPError(400, str(e)) if err.status == 500 and not isinstance(e, HTTPError) else err
