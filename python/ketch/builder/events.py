"""What a build tells its caller, step by step: typed events, in the order
docker's legacy builder prints its lines. The builder never prints; the
CLI turns these into docker's text (cli/app.py), the Engine API will turn
them into its JSON stream. A FROM that pulls also passes on the pull
policy's events (ketch.images.NotFoundLocally, PullLine)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepStarted:
    """`Step n/total : <instruction as written>`."""

    n: int
    total: int
    instruction: str


@dataclass(frozen=True)
class TriggersRunning:
    """The base image's ONBUILD triggers run before the next step."""

    count: int


@dataclass(frozen=True)
class CacheHit:
    """The step's image was found in the build cache (a StepDone follows)."""

    image_id: str


@dataclass(frozen=True)
class ContainerStarted:
    """A RUN step's container was created: its output follows."""

    container_id: str


@dataclass(frozen=True)
class StepOutput:
    """Bytes a RUN step's process wrote, as it wrote them (not split into
    lines: a partial line shows at once). `stream`: 1 stdout, 2 stderr."""

    data: bytes
    stream: int


@dataclass(frozen=True)
class ContainerRemoved:
    """A RUN step's container is gone, its changes made a layer."""

    container_id: str


@dataclass(frozen=True)
class StepDone:
    """The step's result: the stage's image now, None while a stage built
    FROM scratch has none yet (an ARG there)."""

    image_id: str | None


@dataclass(frozen=True)
class Built:
    """The build's final image."""

    image_id: str


@dataclass(frozen=True)
class Tagged:
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
