"""Images the store may have to fetch first: the pull policy shared by
`run`, `create` and the builder's FROM and COPY --from. It reports through
events and never prints; each face words them its own way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import ImageNotFound, KetchError
from .models.events import Event

if TYPE_CHECKING:
    from .registry.progress import PullProgress
    from .registry.pull import PullResult
    from .store import Store

POLICIES = ("always", "missing", "never")


class NotFoundLocally(Event):
    """The image is not in the store: it is pulled. `ref`: its familiar name."""

    ref: str


class PullLine(Event):
    """One event of the pull's progress (registry/progress.py), passed on."""

    event: PullProgress


PullEvent = NotFoundLocally | PullLine


def ensure_image(
    store: Store, image: str, pull_policy: str, on_event: Callable[[PullEvent], None] | None = None
) -> PullResult | None:
    """Pulls `image` if the policy says so (`missing`: only if the store
    lacks it; `always`; `never`: ImageNotFound if it lacks it). Returns the
    pull's result, None when nothing was pulled. `on_event` may be called
    from the pull's worker threads."""
    from .store import images as imgs

    if pull_policy not in POLICIES:
        raise KetchError(f'invalid pull option: "{pull_policy}": must be one of "always", "missing" or "never"')
    try:
        imgs.lookup(store, image)
        have = True
    except ImageNotFound:
        have = False
    if have and pull_policy != "always":
        return None
    if not have and pull_policy == "never":
        from .reference import parse as parse_ref

        raise ImageNotFound(f"No such image: {parse_ref(image).familiar()}")
    from .reference import parse
    from .registry.pull import pull  # pydantic and the HTTP client: only when pulling

    emit = on_event or (lambda ev: None)
    ref = parse(image)
    if not have:
        emit(NotFoundLocally(ref.familiar()))
    return pull(store, ref, lambda e: emit(PullLine(e)))
