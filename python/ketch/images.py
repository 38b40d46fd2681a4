"""Images the store may have to fetch first: the pull policy shared by
`run`, `create` and the builder's FROM and COPY --from. It reports through
events and never prints; each face words them its own way."""

from __future__ import annotations

from collections.abc import Callable

from .errors import ImageNotFound, KetchError
from .models.events import Event

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True

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
    if pull_policy not in POLICIES:
        raise KetchError(f'invalid pull option: "{pull_policy}": must be one of "always", "missing" or "never"')
    have = _stored(store, image) is not None
    if have and pull_policy != "always":
        return None
    if not have and pull_policy == "never":
        from .reference import parse as parse_ref

        raise ImageNotFound(f"No such image: {parse_ref(image).familiar()}")
    from .reference import parse
    from .registry.hosts import candidates
    from .registry.pull import pull  # pydantic and the HTTP client: only when pulling

    emit = on_event or (lambda ev: None)
    refs = candidates(image, store.settings)  # a short name that cannot be resolved fails here, before any line
    if not have:
        emit(NotFoundLocally(parse(image).familiar()))
    return pull(store, refs, lambda e: emit(PullLine(e)))


def _short_candidates(store: Store, image: str) -> list[str]:
    """A short name's search-registry candidates (registries.conf), none when
    `image` is qualified, an id, or no search registries are set."""
    from .errors import ReferenceError_
    from .reference import is_short_name

    if not is_short_name(image) or not _may_search(store):
        return []
    from .registry.hosts import candidates, search_registries

    if not search_registries(store.settings)[0]:
        return []
    try:
        return [str(r) for r in candidates(image, store.settings)]
    except ReferenceError_:
        return []
    except KetchError:  # enforcing mode, several candidates: the stored one may still be found
        from .reference import parse

        search = search_registries(store.settings)[0]
        return [str(parse(f"{reg}/{image}")) for reg in search]


def _may_search(store: Store) -> bool:
    """Whether registries.conf may name search registries: the file is
    parsed (and ssl and tomllib imported, ~20 ms) only when a line sets the
    key, so that `run` of an image the store has pays nothing on a host
    whose file is the distribution's, all comments."""
    import re

    try:
        with open(store.settings.registries_conf, "rb") as f:
            text = f.read(1 << 20)
    except OSError:
        return False
    return re.search(rb'^[ \t]*["\']?unqualified-search-registries["\']?[ \t]*=', text, re.M) is not None


def _stored(store: Store, image: str) -> str | None:
    """The name the store knows `image` by: itself, or, for a short name
    with search registries set, the first candidate it holds (a pull from
    the second search registry stores `HOST/busybox:latest`, which `run
    busybox` then finds). None when it has neither."""
    from .store import images as imgs

    for name in _short_candidates(store, image):
        try:
            imgs.lookup(store, name)
            return name
        except ImageNotFound:
            pass
    try:
        imgs.lookup(store, image)
    except ImageNotFound:
        return None
    return image


def local_name(store: Store, image: str) -> str:
    """What to look `image` up by once ensure_image has run: the candidate
    of a short name the store holds, else `image` unchanged."""
    return _stored(store, image) or image
