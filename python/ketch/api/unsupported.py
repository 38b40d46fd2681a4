"""Areas ketch does not serve, answered as clients expect: swarm's routes
503 ("This node is not a swarm manager"), BuildKit's session, gRPC,
plugins and distribution a JSON 404 the CLI steps past."""

from __future__ import annotations

from .http import HTTPError
from .router import Call

_SWARM = ("swarm", "services", "tasks", "secrets", "configs", "nodes")


def swarm(call: Call) -> None:
    raise HTTPError(
        503,
        'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node '
        "to swarm and try again.",
    )


def missing(call: Call) -> None:
    raise HTTPError(404, f"page not found: {call.req.path}")


ROUTES = [(method, f"/{area}{{rest:(/.*)?}}", swarm) for area in _SWARM for method in ("GET", "POST", "DELETE")] + [
    (method, f"/{area}{{rest:(/.*)?}}", missing)
    for area in ("session", "grpc", "plugins", "distribution")
    for method in ("GET", "POST", "DELETE")
]
