"""`models.records.record`: what @dataclass would make, without importing dataclasses."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from ketch.records import FrozenError, Record, field, fields_of, record


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record(eq=False, repr=False)
class Row(Record):
    a: int
    b: str = "b"


@dataclasses.dataclass(frozen=True)
class DPoint:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


def test_a_record_behaves_as_the_dataclass_would() -> None:
    p, d = Point(1), DPoint(1)
    assert (p.x, p.y, p.tags) == (d.x, d.y, d.tags) == (1, 0, [])
    assert repr(p) == repr(d).replace("DPoint", "Point")
    assert Point(1) == Point(1, 0, []) and Point(1) != Point(2) and Point(1) != DPoint(1)
    assert hash(Point(1, 2, ())) == hash(Point(1, 2, ())) == hash(DPoint(1, 2, ()))  # type: ignore[arg-type]
    assert Point(1).tags is not Point(1).tags  # a default made afresh each time
    with pytest.raises(FrozenError):
        p.x = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    assert Point(x=5, tags=["t"]).tags == ["t"] and fields_of(Point) == ("x", "y", "tags") == fields_of(p)
    assert fields_of(DPoint) == ("x", "y", "tags")


def test_a_mutable_record_on_record_compares_and_prints_by_its_fields() -> None:
    r = Row(1)
    r.b = "c"
    assert r == Row(1, "c") and r != Row(2, "c") and repr(r) == "Row(a=1, b='c')"
    with pytest.raises(TypeError):
        hash(r)


def test_listing_paths_import_no_dataclasses() -> None:
    """What `ps` and `images` read (state, inspect, cgroups, images) is made of records."""
    code = (
        "import sys; import ketch.runtime.inspect, ketch.runtime.state, ketch.store.images, ketch.cli._lists; "
        "print(sorted(m for m in ('dataclasses', 'inspect', 'ast', 'dis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_inherited_fields_keep_their_place_and_own_methods_stay() -> None:
    @record()
    class A:
        x: int
        y: int = 1
        z: int = 2

    @record()
    class B(A):
        x: int = 5  # declared again: still the first field, as dataclass orders it

        def __repr__(self) -> str:
            return "mine"

    assert fields_of(B) == ("x", "y", "z") and (B().x, B(7).x) == (5, 7) and repr(B()) == "mine"


def test_arguments_bind_as_the_dataclass_would_and_no_init_is_compiled_per_class() -> None:
    assert Point(1, 2) == Point(y=2, x=1) == Point(1, y=2) and Point(1, 2, ["a"]).tags == ["a"]
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = [
        ((), {}), ((1, 2, [], 4), {}), ((1,), {"x": 2}), ((1,), {"z": 3}), ((), {"y": 1}),
    ]  # fmt: skip
    for args, kwargs in calls:
        for cls in (Point, DPoint):  # the dataclass refuses the same calls
            with pytest.raises(TypeError):
                cls(*args, **kwargs)  # type: ignore[arg-type]
    # one __init__ for every record (compiling one per class cost `run` 2 ms for a 46-field record)
    assert Point.__init__.__code__ is Row.__init__.__code__


def test_a_required_field_after_a_defaulted_one_is_refused_when_the_class_is_made() -> None:
    @record()
    class A:
        x: int = 5

    with pytest.raises(TypeError, match="non-default argument 'y' follows default argument"):

        @record()
        class B(A):
            y: int
