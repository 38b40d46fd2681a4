"""What a build tells its caller, step by step: typed events, in the order
docker's legacy builder prints its lines. The builder never prints; the
CLI turns these into docker's text (cli/app.py), the Engine API will turn
them into its JSON stream. A FROM that pulls also passes on the pull
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
