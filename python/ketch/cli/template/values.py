"""The template engine's values and bounds: what a face hands a template
(`Row`s of fields and `Method`s, `GoMap`s), Go's `<no value>`, the error
every part raises, and the limits that keep a hostile template bounded."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from ...errors import KetchError

TYPE_CHECKING = False  # typing is ~3 ms of `ps --format`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

    _RowBase = Mapping[str, Any]
    _MapBase = dict[str, Any]
else:
    _RowBase, _MapBase = Mapping, dict

MAX_OUTPUT = 16 << 20  # characters one render may write
MAX_VALUE = 1 << 20  # characters (or elements) of a value a function makes
MAX_STEPS = 2_000_000  # nodes one render may evaluate (a range of ranges ends here)
MAX_COLUMNS = 200  # a table's columns (tabwriter recurses once per column)
MAX_DEPTH = 64  # nesting of actions, parentheses and template calls


class TemplateError(KetchError):
    """A template that does not parse or fails to run: Go's message."""


# -- values -------------------------------------------------------------------


class _NoValue:
    """Go's invalid value: a missing map key, printed `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


class Method:
    """A computed field of a `Row`: called with the template's arguments
    (`{{.Label "k"}}`), with none when read as a field. `arity` is how many it takes."""

    __slots__ = ("fn", "arity")

    def __init__(self, fn: Callable[..., Any], arity: int = 0) -> None:
        self.fn = fn
        self.arity = arity


class Row(_RowBase):
    """One of docker's row contexts (`*formatter.ContainerContext`): named
    fields (values or `Method`s, computed when read). A field it lacks is an
    error, as on a Go struct; `{{json .}}` is every field taking no argument,
    keys sorted (docker marshals the context as a map)."""

    def __init__(
        self, type_name: str, fields: dict[str, Any], strict: bool = True, json_doc: Any | None = None
    ) -> None:
        self.type_name = type_name
        self._fields = fields
        self.strict = strict  # False: a missing field is `<no value>` (docker's header map)
        # a Go struct's own JSON (its json tags, its order: an event's `{{json .}}`), else the fields, sorted
        self.json_doc = json_doc

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def plain(self) -> dict[str, Any]:
        out = {}
        for k in sorted(self._fields):
            v = self._fields[k]
            if isinstance(v, Method):
                if v.arity:
                    continue
                v = v.fn()
            out[k] = v
        return out


class GoMap(_MapBase):
    """A dict that is a Go map in docker's types (labels, ports...): a
    missing key is `<no value>` even where a struct's would be an error."""


# keys whose values are Go maps in docker's inspect types (a missing key is `<no value>` there)
_MAP_KEYS = frozenset(
    {
        "Labels",
        "ExposedPorts",
        "Volumes",
        "Ports",
        "Networks",
        "PortBindings",
        "Sysctls",
        "Data",
        "Options",
        "DriverOpts",
    }
)


def go_maps(doc: Any, depth: int = 0) -> Any:
    """An inspect document with its Go maps marked (`GoMap`), as docker's typed
    documents have them: `{{.Config.Labels.nokey}}` is `<no value>`, `{{.Nokey}}` an error."""
    if depth > MAX_DEPTH:
        return doc
    if isinstance(doc, dict):
        return {k: GoMap(go_maps(v, depth + 1)) if k in _MAP_KEYS and isinstance(v, dict) else go_maps(v, depth + 1)
                for k, v in doc.items()}  # fmt: skip
    if isinstance(doc, list):
        return [go_maps(v, depth + 1) for v in doc]
    return doc
