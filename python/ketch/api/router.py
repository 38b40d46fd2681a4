"""Which handler answers a request: dockerd's routes with and without the
`/v1.NN` prefix, and the library's errors as dockerd's status codes.

Each area of the API is a module of this package with a `ROUTES` table of
(method, path pattern, handler); a handler takes the `Call` and answers
through `call.req` (or returns a document, answered as JSON 200)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .http import MAX_API_VERSION, MIN_API_VERSION, HTTPError, Request

# the modules whose ROUTES are served, in the order they are matched
AREAS = ("system", "images", "containers", "streams", "build", "networks", "volumes", "unsupported")

_PREFIX = re.compile(r"/v([0-9]+)\.([0-9]+)(/.*)")
_PARAM = re.compile(r"\{(\w+)(?::([^}]+))?\}")


@dataclass
class Call:
    """One request being served: the request, the service (its store and
    its state shared across connections) and the path's parameters."""

    req: Request
    service: Any  # server.Service
    params: dict[str, str]

    @property
    def store(self) -> Any:
        return self.service.store


Handler = Callable[[Call], Any]


def _compile(pattern: str) -> re.Pattern[str]:
    """`/containers/{id}/json` -> a regex; `{name:.+}` takes slashes (image names)."""
    out, at = [], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[at : m.start()]))
        out.append(f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})")
        at = m.end()
    out.append(re.escape(pattern[at:]))
    return re.compile("".join(out))


class Router:
    def __init__(self, areas: tuple[str, ...] = AREAS) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for area in areas:
            mod = importlib.import_module(f"{__package__}.{area}")
            for method, pattern, handler in mod.ROUTES:
                self.routes.append((method, _compile(pattern), handler))

    def find(self, req: Request) -> tuple[Handler, dict[str, str]]:
        path = req.path
        m = _PREFIX.fullmatch(path)
        if m:
            version = (int(m.group(1)), int(m.group(2)))
            low = tuple(int(x) for x in MIN_API_VERSION.split("."))
            if version < low:
                raise HTTPError(
                    400,
                    f"client version {m.group(1)}.{m.group(2)} is too old. Minimum supported API version is "
                    f"{MIN_API_VERSION}, please upgrade your client to a newer version",
                )
            if version > MAX_API_VERSION:
                raise HTTPError(
                    400,
                    f"client version {m.group(1)}.{m.group(2)} is too new. Maximum supported API version is "
                    f"{MAX_API_VERSION[0]}.{MAX_API_VERSION[1]}",
                )
            req.api_version = version
            path = m.group(3)
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        allowed = False
        for method, rx, handler in self.routes:
            pm = rx.fullmatch(path)
            if pm is None:
                continue
            if method == req.method or (method == "GET" and req.method == "HEAD"):
                return handler, pm.groupdict()
            allowed = True
        if allowed:
            raise HTTPError(405, "Method Not Allowed")
        raise HTTPError(404, f"page not found: {req.method} {req.path}")


def status_of(e: Exception) -> HTTPError:
    """A library error as dockerd answers it: 404 for what is missing (its
    text is what docker-py picks its exception class by), 409 for conflicts,
    400 for what the request got wrong, 500 for the rest."""
    from .. import errors

    if isinstance(e, HTTPError):
        return e
    msg = str(e) or type(e).__name__
    if isinstance(e, (errors.ImageNotFound, errors.ContainerNotFound, errors.ObjectNotFound, errors.ManifestUnknown)):
        return HTTPError(404, msg)
    if isinstance(e, errors.ConflictError):
        return HTTPError(409, msg)
    if isinstance(e, (errors.UsageError, errors.ReferenceError_)):
        return HTTPError(400, msg)
    if isinstance(e, errors.AuthError):
        return HTTPError(401, msg)
    if isinstance(e, errors.KetchError):
        low = msg.lower()
        if "no such" in low or "not found" in low:
            return HTTPError(404, msg)
        if "conflict" in low or "already in use" in low or "is running" in low or "in use by" in low:
            return HTTPError(409, msg)
        return HTTPError(500, msg)
    return HTTPError(500, f"{type(e).__name__}: {e}")
