"""What a pull or a push tells its caller: typed events, in the order docker
prints its lines. The library never words them; each face does (the CLI in
cli/_progress.py, the Engine API with its JSON stream).

`layer` is always a full digest: for a pull, the layer's blob digest; for a
push, its diff id (docker shows the first 12 hex digits of each). A callback
receives one event at a time (pull and push serialise them), possibly from
their worker threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

E = TypeVar("E")

# -- pull ----------------------------------------------------------------------


@dataclass(frozen=True)
class PullingFrom:
    """The pull starts: `ident` (tag or digest) from repository `repo`."""

    ident: str
    repo: str


@dataclass(frozen=True)
class LayerExists:
    """The store already has this layer, unpacked."""

    layer: str


@dataclass(frozen=True)
class LayerStarted:
    """This layer is to be fetched (or unpacked from a blob the store has)."""

    layer: str


@dataclass(frozen=True)
class LayerProgress:
    """`current` of `total` bytes of the layer's blob received."""

    layer: str
    current: int
    total: int


@dataclass(frozen=True)
class LayerVerifying:
    """The whole blob is received; its digest and size are being checked."""

    layer: str


@dataclass(frozen=True)
class LayerDownloaded:
    """The blob is stored and verified (it was unpacked as it arrived)."""

    layer: str


@dataclass(frozen=True)
class LayerExtracting:
    """The layer is being unpacked from a blob the store already had."""

    layer: str


@dataclass(frozen=True)
class LayerExtracted:
    """The layer is unpacked and recorded: this layer's pull is done."""

    layer: str


@dataclass(frozen=True)
class Digest:
    """The digest of the document the reference names (manifest or index)."""

    digest: str


@dataclass(frozen=True)
class Pulled:
    """The end: `name` (familiar form) is in the store; `downloaded` is
    False when it was already up to date."""

    name: str
    downloaded: bool


PullProgress = (
    PullingFrom
    | LayerExists
    | LayerStarted
    | LayerProgress
    | LayerVerifying
    | LayerDownloaded
    | LayerExtracting
    | LayerExtracted
    | Digest
    | Pulled
)

# -- push ----------------------------------------------------------------------


@dataclass(frozen=True)
class PushingTo:
    """The push starts, to repository `name` (as docker names it)."""

    name: str


@dataclass(frozen=True)
class LayerPreparing:
    """This layer is to be pushed."""

    layer: str


@dataclass(frozen=True)
class LayerPushed:
    """The layer's blob was uploaded."""

    layer: str


@dataclass(frozen=True)
class LayerMounted:
    """The registry took the blob from repository `source` of its own."""

    layer: str
    source: str


@dataclass(frozen=True)
class LayerAlreadyPushed:
    """The repository already had the layer's blob: nothing sent."""

    layer: str


@dataclass(frozen=True)
class ManifestPushed:
    """The end: the manifest is up as `tag`, with its digest and size."""

    tag: str
    digest: str
    size: int


PushProgress = PushingTo | LayerPreparing | LayerPushed | LayerMounted | LayerAlreadyPushed | ManifestPushed

OnPull = Callable[[PullProgress], None]
OnPush = Callable[[PushProgress], None]


def serialised(on_event: Callable[[E], None] | None) -> Callable[[E], None]:
    """`on_event`, called one event at a time: layers report from threads,
    and a face then needs no lock of its own. None: events go nowhere."""
    if on_event is None:
        return lambda ev: None
    lock = threading.Lock()
    call = on_event

    def emit(ev: E) -> None:
        with lock:
            call(ev)

    return emit
