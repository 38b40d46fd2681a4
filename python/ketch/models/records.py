"""`Record`: the base of the plain (mutable) dataclasses with many fields
whose comparison and repr are dataclass's, written once here rather than
generated per class (dataclass compiles an `__eq__` and a `__repr__` for
each: ~1 ms of start-up for a class of 40 fields). A subclass is declared
`@dataclass(eq=False, repr=False)` and compares, hashes (not: like any
mutable dataclass it is unhashable) and prints as dataclass would make it."""

from __future__ import annotations

from dataclasses import fields


class Record:
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            names = [f.name for f in fields(self) if f.compare]  # type: ignore[arg-type]
            return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # as a dataclass with eq and not frozen

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)  # type: ignore[arg-type]
        return f"{self.__class__.__qualname__}({shown})"
