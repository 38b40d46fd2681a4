"""An image config's shape (the OCI image config, docker's fields among it),
checked where a config enters the store (pull, load, record) and where one is
read back: a field of the wrong JSON type is one line naming it, never a
crash later in `run` or `inspect`. Light on purpose: no pydantic here."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import ManifestInvalid

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

Check = Callable[[object], bool]


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _obj(v: Any) -> bool:
    return isinstance(v, dict)


def _str_map(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def _set(v: Any) -> bool:
    """docker's set of names (ExposedPorts, Volumes): an object whose values are objects (or null)."""
    return isinstance(v, dict) and all(x is None or isinstance(x, dict) for x in v.values())


_EXPECTED: dict[Check, str] = {
    _str: "a string",
    _int: "an integer",
    _bool: "a boolean",
    _strs: "a list of strings",
    _obj: "an object",
    _str_map: "an object of strings",
    _set: "an object of objects",
}

# JSON null is accepted everywhere, as docker's decoder accepts it.
TOP: dict[str, Check] = {
    "architecture": _str,
    "os": _str,
    "os.version": _str,
    "variant": _str,
    "created": _str,
    "author": _str,
    "config": _obj,
    "container_config": _obj,
    "rootfs": _obj,
    "history": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
}
CONFIG: dict[str, Check] = {
    "User": _str,
    "WorkingDir": _str,
    "StopSignal": _str,
    "Hostname": _str,
    "Domainname": _str,
    "Env": _strs,
    "Cmd": _strs,
    "Entrypoint": _strs,
    "Shell": _strs,
    "OnBuild": _strs,
    "ExposedPorts": _set,
    "Volumes": _set,
    "Labels": _str_map,
    "Healthcheck": _obj,
    "ArgsEscaped": _bool,
    "StopTimeout": _int,
}
HEALTHCHECK: dict[str, Check] = {
    "Test": _strs,
    "Interval": _int,
    "Timeout": _int,
    "StartPeriod": _int,
    "StartInterval": _int,
    "Retries": _int,
}
HISTORY: dict[str, Check] = {
    "created": _str,
    "created_by": _str,
    "author": _str,
    "comment": _str,
    "empty_layer": _bool,
}


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


_ITEM: dict[Check, tuple[type, Check]] = {  # containers: (their type, the check of each item)
    _strs: (list, _str),
    _str_map: (dict, _str),
    _set: (dict, lambda x: x is None or isinstance(x, dict)),
}


def _fields(doc: dict[str, Any], checks: dict[str, Check], where: str, what: str) -> None:
    for key, ok in checks.items():
        v = doc.get(key)
        if v is None or ok(v):
            continue
        name, expected = f"{where}{key}", _EXPECTED.get(ok, "a list of objects")
        kind, item_ok = _ITEM.get(ok, (type(None), ok))
        if type(v) is kind:  # the container is right, an item is not: name that one
            seq: Any = v  # its kind was just checked
            items = enumerate(seq) if kind is list else seq.items()
            i, bad = next((i, x) for i, x in items if not item_ok(x))
            name = f"{name}[{i}]" if kind is list else f"{name}.{str(i)[:40]}"
            expected = "an object" if ok is _set else "a string"
            v = bad
        raise ManifestInvalid(f"image config {what} is not valid: {name} must be {expected}, not {_json_type(v)}")


def check_config(config: Any, what: str) -> dict[str, Any]:
    """`config` (parsed JSON) if it has an image config's shape; `what` names it in the error."""
    if not isinstance(config, dict):
        raise ManifestInvalid(f"image config {what} is not valid: it is {_json_type(config)}, not an object")
    _fields(config, TOP, "", what)
    for section in ("config", "container_config"):
        inner = config.get(section) or {}
        _fields(inner, CONFIG, f"{section}.", what)
        _fields(inner.get("Healthcheck") or {}, HEALTHCHECK, f"{section}.Healthcheck.", what)
    for i, h in enumerate(config.get("history") or []):
        _fields(h, HISTORY, f"history[{i}].", what)
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list):
        raise ManifestInvalid(f"image config {what} is not valid: rootfs.diff_ids must be a list of digests")
    for d in diff_ids:
        if not (isinstance(d, str) and _DIGEST.fullmatch(d)):
            raise ManifestInvalid(
                f"image config {what} is not valid: rootfs.diff_ids holds {str(d)[:80]!r}, not a sha256 digest"
            )
    return config
