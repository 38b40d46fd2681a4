"""Plain data classes without the `dataclasses` module, for what start-up
reads (`ps`, `images`, `run`): `dataclasses` imports `inspect`, and with it
`ast`, `dis` and `tokenize`, ~4 ms of every command (and `reference`,
below `models`, may import this module, as `errors`). `@record(...)` makes a
class's `__init__` (its annotated fields in order, defaults and
`field(default_factory=...)`), `__eq__`, `__repr__` and, `frozen`, an
immutable instance with a hash, as `@dataclass(...)` would; type checkers
read it as a dataclass (`dataclass_transform`). `fields_of` names a
record's fields, `replace` copies one with changes.

`Record`: the base of the plain (mutable) classes with many fields whose
comparison and repr are written once here rather than generated per class
(~1 ms of start-up for a class of 40 fields): a subclass is declared
`@record(eq=False, repr=False)` (or `@dataclass(eq=False, repr=False)`) and
compares and prints as a dataclass would; like any mutable dataclass it is
unhashable."""

from __future__ import annotations

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> object:
        return lambda f: f


class FrozenError(AttributeError):
    """An assignment to a field of a frozen record (dataclasses' FrozenInstanceError)."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made afresh for each instance."""
    return _Factory(default_factory)  # type: ignore[return-value]


_MISSING = object()


def fields_of(cls_or_obj: Any) -> tuple[str, ...]:
    """The names of a record's (or a dataclass's) fields, in order."""
    names = getattr(cls_or_obj, "__record_fields__", None)
    if names is not None:
        return names  # type: ignore[no-any-return]
    from dataclasses import fields

    return tuple(f.name for f in fields(cls_or_obj))


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record `obj` with `changes` (dataclasses.replace)."""
    return obj.__class__(**{**{n: getattr(obj, n) for n in fields_of(obj)}, **changes})


def _init(
    qualname: str,
    names: tuple[str, ...],
    defaults: dict[str, Any],
    factories: dict[str, Callable[[], Any]],
    frozen: bool,
) -> Callable[..., None]:
    """The `__init__` of a record with these fields: one function for every
    record, not one compiled per class (compiling a 46-field __init__ took
    2 ms of `ketch run`). All the fields given by position (a row read back)
    take the short way; anything else is bound as Python binds arguments,
    with its TypeErrors."""
    count = len(names)
    known = frozenset(names)
    put = object.__setattr__ if frozen else setattr

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        if len(args) > count:
            raise TypeError(
                f"{qualname}.__init__() takes {count + 1} positional arguments but {len(args) + 1} were given"
            )
        given = dict(zip(names, args, strict=False))  # fewer given than there are fields
        for k, v in kwargs.items():
            if k not in known:
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument {k!r}")
            if k in given:
                raise TypeError(f"{qualname}.__init__() got multiple values for argument {k!r}")
            given[k] = v
        missing = [n for n in names if n not in given and n not in defaults and n not in factories]
        if missing:
            raise TypeError(
                f"{qualname}.__init__() missing {len(missing)} required argument(s): {', '.join(map(repr, missing))}"
            )
        return tuple(given[n] if n in given else defaults[n] if n in defaults else factories[n]() for n in names)

    # the fields from `least` on all have a default: given by position up to there, the rest defaults
    least = count
    while least > 0 and (names[least - 1] in defaults or names[least - 1] in factories):
        least -= 1
    later = [(n, defaults.get(n, _MISSING), factories.get(n)) for n in names]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs or not least <= len(args) <= count:
            args = bind(args, kwargs)
        for n, v in zip(names, args, strict=False):
            put(self, n, v)
        for n, default, factory in later[len(args) :]:
            put(self, n, factory() if factory is not None else default)

    __init__.__qualname__ = f"{qualname}.__init__"
    return __init__


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenError(f"cannot delete field {name!r}")


@dataclass_transform(field_specifiers=(field,))
def record(
    *, frozen: bool = False, eq: bool = True, repr: bool = True, slots: bool = False
) -> Callable[[type[T]], type[T]]:
    def make(cls: type[T]) -> type[T]:
        # the fields of the records it derives from first, in their order, then its own (as dataclass orders them)
        specs: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            specs.update(base.__dict__.get("__record_specs__", {}))
        annotations = cls.__dict__.get("__annotations__", {})
        for n, t in annotations.items():
            if str(t).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(n, _MISSING)
            if isinstance(value, _Factory):
                delattr(cls, n)
            specs[n] = value  # a field declared again keeps its place, as dataclass keeps it
        names = tuple(specs)
        if slots:  # a new class whose instances have no __dict__ (dataclass's slots=True)
            body_ns = {k: v for k, v in cls.__dict__.items() if k not in (*names, "__dict__", "__weakref__")}
            body_ns["__slots__"] = names
            meta: Any = type(cls)
            made_cls: Any = meta(cls.__name__, cls.__bases__, body_ns)
            made_cls.__qualname__ = cls.__qualname__
            cls = made_cls
        defaults: dict[str, Any] = {}
        factories: dict[str, Callable[[], Any]] = {}
        for n, value in specs.items():
            if isinstance(value, _Factory):
                factories[n] = value.make
            elif value is not _MISSING:
                defaults[n] = value
            elif defaults or factories:  # as dataclass refuses it, when the class is made
                raise TypeError(f"non-default argument {n!r} follows default argument")
        init = _init(cls.__qualname__, names, defaults, factories, frozen)
        made: dict[str, Any] = {"__init__": init, "__record_fields__": names, "__record_specs__": specs}
        if eq:

            def __eq__(self: Any, other: object) -> bool:
                if other.__class__ is self.__class__:
                    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)
                return NotImplemented

            made["__eq__"] = __eq__
            made["__hash__"] = (lambda self: hash(tuple(getattr(self, n) for n in names))) if frozen else None
        if repr:

            def __repr__(self: Any) -> str:
                shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
                return f"{self.__class__.__qualname__}({shown})"

            made["__repr__"] = __repr__
        if frozen:
            made["__setattr__"], made["__delattr__"] = _frozen_setattr, _frozen_delattr
        for name, value in made.items():
            if name.startswith("__record") or name not in cls.__dict__:  # what the class wrote itself stays
                setattr(cls, name, value)
        return cls

    return make


class Record:
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            names = _compared(self)
            return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # as a dataclass with eq and not frozen

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _shown(self))
        return f"{self.__class__.__qualname__}({shown})"


def _compared(obj: Any) -> tuple[str, ...]:
    if "__record_fields__" in type(obj).__dict__:  # a dataclass derived from a record: its own fields
        return obj.__record_fields__  # type: ignore[no-any-return]
    from dataclasses import fields

    return tuple(f.name for f in fields(obj) if f.compare)


def _shown(obj: Any) -> tuple[str, ...]:
    if "__record_fields__" in type(obj).__dict__:
        return obj.__record_fields__  # type: ignore[no-any-return]
    from dataclasses import fields

    return tuple(f.name for f in fields(obj) if f.repr)
