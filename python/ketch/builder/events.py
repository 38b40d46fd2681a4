"""What a build tells its caller, step by step: typed events, in the order
docker's legacy builder prints its lines. The builder never prints; both
faces send docker's words for them (`legacy_line`, the text dockerd's
legacy builder itself streams): the CLI as lines, the Engine API as its
JSON stream. A FROM that pulls also passes on the pull
policy's events (ketch.images.NotFoundLocally, PullLine)."""

from __future__ import annotations

from ..models.events import Event as _Event  # this module's own `Event` is the union below


class StepStarted(_Event):
    """`Step n/total : <instruction as written>`."""

    n: int
    total: int
    instruction: str


class TriggersRunning(_Event):
    """The base image's ONBUILD triggers run before the next step."""

    count: int


class CacheHit(_Event):
    """The step's image was found in the build cache (a StepDone follows)."""

    image_id: str


class ContainerStarted(_Event):
    """A RUN step's container was created: its output follows."""

    container_id: str


class StepOutput(_Event):
    """Bytes a RUN step's process wrote, as it wrote them (not split into
    lines: a partial line shows at once). `stream`: 1 stdout, 2 stderr."""

    data: bytes
    stream: int


class ContainerRemoved(_Event):
    """A RUN step's container is gone, its changes made a layer."""

    container_id: str


class StepDone(_Event):
    """The step's result: the stage's image now, None while a stage built
    FROM scratch has none yet (an ARG there)."""

    image_id: str | None


class Built(_Event):
    """The build's final image."""

    image_id: str


class Tagged(_Event):
    """One of the build's tags was set. `ref`: its familiar name."""

    ref: str


Event = (
    StepStarted
    | TriggersRunning
    | CacheHit
    | ContainerStarted
    | StepOutput
    | ContainerRemoved
    | StepDone
    | Built
    | Tagged
)


def legacy_line(e: object) -> str | None:
    """The line docker's legacy builder prints for a build event (None: none)."""
    from ..models.ids import short_id

    if isinstance(e, StepStarted):
        return f"Step {e.n}/{e.total} : {e.instruction}"
    if isinstance(e, StepDone):
        return f" ---> {short_id(e.image_id)}" if e.image_id else " ---> Running in scratch"
    if isinstance(e, CacheHit):
        return " ---> Using cache"
    if isinstance(e, ContainerStarted):
        return f" ---> Running in {short_id(e.container_id)}"
    if isinstance(e, ContainerRemoved):
        return f"Removing intermediate container {short_id(e.container_id)}"
    if isinstance(e, TriggersRunning):
        return f"# Executing {e.count} build trigger{'s' if e.count > 1 else ''}"
    if isinstance(e, Built):
        return f"Successfully built {short_id(e.image_id)}"
    if isinstance(e, Tagged):
        return f"Successfully tagged {e.ref}"
    return None
