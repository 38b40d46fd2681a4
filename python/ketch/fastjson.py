"""`loads`: json.loads without importing the json package, for the paths
typed all day (`ps`, `images`). json.decoder compiles regular expressions
when it is imported, which brings `re` and with it `enum`, `functools` and
`collections`: a fifth of `ketch ps`. Here the document goes to the same C
scanner json.loads uses (CPython's `_json`), with json.loads's defaults, so
what it returns is what json.loads returns; a document the scanner does not
take whole, or an interpreter without `_json`, goes to json.loads itself,
for its result or its JSONDecodeError."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"  # json.decoder's WHITESPACE


class _Defaults:
    """What json.JSONDecoder() passes its scanner: strict strings, no hooks,
    float and int, the three constants JavaScript has and JSON does not."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


try:
    from _json import make_scanner as _make_scanner

    _scan: Any = _make_scanner(_Defaults())  # type: ignore[arg-type]  # its stub names json.JSONDecoder; any object with these attributes does
except ImportError:  # not CPython: json.loads for everything
    _scan = None


def _slow(doc: str | bytes | bytearray) -> Any:
    import json

    return json.loads(doc)


def loads(doc: str | bytes | bytearray) -> Any:
    """The value of the JSON document `doc` (text, or UTF-8 bytes), as json.loads gives it."""
    if _scan is None:
        return _slow(doc)
    if isinstance(doc, str):
        text = doc
    else:
        try:
            text = bytes(doc).decode("utf-8")
        except UnicodeDecodeError:  # UTF-16 or -32 (json.loads detects them), or not text
            return _slow(doc)
        if text.startswith("\ufeff"):  # json.loads takes a UTF-8 BOM in bytes, refuses it in text
            return _slow(doc)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except (StopIteration, ValueError):
        return _slow(doc)
    if end != len(text) and text[end:].strip(_WHITESPACE):
        return _slow(doc)  # json.loads's "Extra data"
    return value
