"""What every typed event of the library is (a pull's or a push's progress,
a build's steps, the pull policy's notes): a frozen dataclass, made so by
deriving from `Event` rather than by a decorator on each. A face tells the
events apart by their class; `isinstance(e, Event)` says it is one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, dataclass_transform


@dataclass_transform(frozen_default=True)
class Event:
    """Base of the events: each subclass is a frozen dataclass of the fields
    it declares (and those of the events it derives from), compared by class
    and fields."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)
