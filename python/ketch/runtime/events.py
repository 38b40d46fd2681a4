"""A container's events, with the attributes docker gives them (its image,
its name, its labels, and what the action adds: exitCode, signal, oldName).
Recorded through the store's event log (store/events.py)."""

from __future__ import annotations

from ..store import events

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True

if TYPE_CHECKING:
    from ..store import Store
    from .state import Container


def attributes(c: Container, **extra: str) -> dict[str, str]:
    """A container event's attributes: its labels, image and name, and `extra`."""
    labels = c.config.get("labels") or {}
    attrs = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    attrs.update({"image": c.image, "name": c.name, **extra})
    return attrs


def container(store: Store, c: Container, action: str, when: float | None = None, **extra: str) -> None:
    events.record(store, "container", action, c.id, attributes(c, **extra), when)
