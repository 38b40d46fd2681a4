"""What every typed event of the library is (a pull's or a push's progress,
a build's steps, the pull policy's notes): a frozen record (records.py),
made so by deriving from `Event` rather than by a decorator on each. A face tells the
events apart by their class; `isinstance(e, Event)` says it is one."""

from __future__ import annotations

from ..records import record

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any, ClassVar, dataclass_transform
else:

    def dataclass_transform(**_: object) -> object:
        return lambda c: c


@dataclass_transform(frozen_default=True)
class Event:
    """Base of the events: each subclass is a frozen record of the fields
    it declares (and those of the events it derives from), compared by class
    and fields.

    Comparison, hash and repr are this class's, written once, as dataclass
    would write them for each event: generating them per class cost an
    import 0.25 ms per event."""

    _compared: ClassVar[tuple[str, ...]] = ()  # the fields compared and hashed
    _shown: ClassVar[tuple[str, ...]] = ()  # the fields in the repr

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        record(frozen=True, eq=False, repr=False)(cls)
        cls._compared = cls._shown = cls.__record_fields__  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return tuple(getattr(self, n) for n in self._compared) == tuple(getattr(other, n) for n in self._compared)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self._compared))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._shown)
        return f"{self.__class__.__qualname__}({shown})"
