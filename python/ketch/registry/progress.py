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
from typing import TypeVar

from ..models.events import Event

E = TypeVar("E")


class LayerEvent(Event):
    """A step of one layer's pull or push (each Layer* class below is one):
    `layer`, its full digest as said above."""

    layer: str


# -- pull ----------------------------------------------------------------------


class PullingFrom(Event):
    """The pull starts: `ident` (tag or digest) from repository `repo`."""

    ident: str
    repo: str


class LayerExists(LayerEvent):
    """The store already has this layer, unpacked."""


class LayerStarted(LayerEvent):
    """This layer is to be fetched (or unpacked from a blob the store has)."""


class LayerProgress(LayerEvent):
    """`current` of `total` bytes of the layer's blob received."""

    current: int
    total: int


class LayerVerifying(LayerEvent):
    """The whole blob is received; its digest and size are being checked."""


class LayerDownloaded(LayerEvent):
    """The blob is stored and verified (it was unpacked as it arrived)."""


class LayerExtracting(LayerEvent):
    """The layer is being unpacked from a blob the store already had."""


class LayerExtracted(LayerEvent):
    """The layer is unpacked and recorded: this layer's pull is done."""


class Digest(Event):
    """The digest of the document the reference names (manifest or index)."""

    digest: str


class Pulled(Event):
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


class PushingTo(Event):
    """The push starts, to repository `name` (as docker names it)."""

    name: str


class LayerPreparing(LayerEvent):
    """This layer is to be pushed."""


class LayerPushed(LayerEvent):
    """The layer's blob was uploaded."""


class LayerMounted(LayerEvent):
    """The registry took the blob from repository `source` of its own."""

    source: str


class LayerAlreadyPushed(LayerEvent):
    """The repository already had the layer's blob: nothing sent."""


class ManifestPushed(Event):
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
