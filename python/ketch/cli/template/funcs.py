"""Go's text/template functions and docker's (json, split, join, title,
lower, upper, pad, truncate), and values printed as Go's fmt prints them."""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable, Mapping

from .._format import go_quote
from .values import MAX_OUTPUT, NO_VALUE, GoMap, Method, Row

TYPE_CHECKING = False  # typing is ~3 ms of `ps --format`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

# -- printing, as Go's fmt does ----------------------------------------------------


def go_float(f: float) -> str:
    """fmt's %v of a float64 (strconv 'g', shortest)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    r = repr(f)
    mant, _, exp_s = r.partition("e")
    sign = "-" if mant.startswith("-") else ""
    mant = mant.lstrip("-")
    digits = mant.replace(".", "").lstrip("0")
    point = mant.index(".") if "." in mant else len(mant)
    lead = len(mant.replace(".", "")) - len(mant.replace(".", "").lstrip("0"))
    exp = (point - lead - 1) + (int(exp_s) if exp_s else 0)
    digits = digits.rstrip("0") or "0"
    if f == 0:
        return sign + "0"
    if exp < -4 or exp >= 6:  # strconv's 'g' at its shortest
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= len(digits) - 1:
        return sign + digits + "0" * (exp - len(digits) + 1)
    if exp >= 0:
        return sign + digits[: exp + 1] + "." + digits[exp + 1 :]
    return sign + "0." + "0" * (-exp - 1) + digits


def to_text(v: Any) -> str:
    """A value printed as Go's fmt.Sprint prints it."""
    if isinstance(v, str):
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "<nil>"
    if v is NO_VALUE:
        return "<no value>"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, Row):
        return "{" + " ".join(to_text(x) for x in v.plain().values()) + "}"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{to_text(k)}:{to_text(v[k])}" for k in sorted(v, key=str)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(to_text(x) for x in v) + "]"
    if isinstance(v, Method):
        return to_text(v.fn()) if not v.arity else "<method>"
    return "<?>"


def _jsonable(v: Any) -> Any:
    if isinstance(v, Row) and v.json_doc is not None:
        return _jsonable(v.json_doc)
    if isinstance(v, Row):
        return {k: _jsonable(x) for k, x in v.plain().items()}
    if isinstance(v, GoMap):
        return {k: _jsonable(v[k]) for k in sorted(v)}
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, Method):
        return _jsonable(v.fn()) if not v.arity else None
    if v is NO_VALUE:
        return None
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return None


def go_json(v: Any) -> str:
    """docker's `json` function: encoding/json, no HTML escaping, no newline;
    but a row context (`{{json .}}` in ps, images...) marshals itself with
    json.Marshal, which escapes <, > and & as Go does."""
    s = _json.dumps(_jsonable(v), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    s = s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(v, Row) and v.json_doc is None:
        s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return s


# -- the functions -----------------------------------------------------------------


class Fail(Exception):
    """A function's error, reported as Go's `error calling NAME: ...`."""


def truth(v: Any) -> bool:
    if isinstance(v, Method):
        v = v.fn() if not v.arity else v
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, Row):
        return True
    if isinstance(v, bool | int | float | str | list | tuple | Mapping):
        return bool(v)
    return True


def _len(v: Any) -> int:
    if isinstance(v, Row):
        raise Fail(f"len of type {v.type_name}")
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, list | tuple | Mapping):
        return len(v)
    raise Fail(f"len of type {go_type(v)}")


def go_type(v: Any) -> str:
    if isinstance(v, Row):
        return v.type_name
    return {
        str: "string",
        bool: "bool",
        int: "int",
        float: "float64",
        list: "[]interface {}",
        tuple: "[]interface {}",
        GoMap: "map[string]string",
    }.get(type(v), "map[string]interface {}" if isinstance(v, Mapping) else "interface {}")


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if v is None or v is NO_VALUE:
            if isinstance(k, str):
                v = ""  # a nil map of docker's types: the zero value
                continue
            raise Fail("index of untyped nil")
        if isinstance(v, Mapping) and not isinstance(v, Row):
            if not isinstance(k, str):
                raise Fail(f"value has type {go_type(k)}; should be string")
            v = v[k] if k in v else ""
        elif isinstance(v, list | tuple | str):
            if not isinstance(k, int) or isinstance(k, bool):
                raise Fail(f"cannot index slice/array with type {go_type(k)}")
            if not 0 <= k < len(v):
                raise Fail(f"index out of range: {k}")
            v = v[k] if not isinstance(v, str) else v.encode()[k]
        else:
            raise Fail(f"can't index item of type {go_type(v)}")
    return v


def _slice(v: Any, *idx: Any) -> Any:
    if not isinstance(v, str | list | tuple):
        raise Fail(f"can't slice item of type {go_type(v)}")
    if len(idx) > 2:
        raise Fail("too many slice indexes: 3")
    for i in idx:
        if not isinstance(i, int) or isinstance(i, bool):
            raise Fail(f"cannot index slice/array with type {go_type(i)}")
    lo, hi = (list(idx) + [0, len(v)][len(idx) :])[:2]
    if not 0 <= lo <= hi <= len(v):
        raise Fail(f"index out of range: {hi if hi > len(v) else lo}")
    return v[lo:hi]


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None or v is NO_VALUE:
        return "nil"
    raise Fail("invalid type for comparison")


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise Fail("missing argument for comparison")
    ka = _kind(a)
    for b in others:
        kb = _kind(b)
        if ka == "nil" or kb == "nil":
            if ka == kb:
                return True
            continue
        if ka != kb:
            raise Fail("incompatible types for comparison")
        if a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka not in ("number", "string"):
        raise Fail("incompatible types for comparison" if ka != kb else "invalid type for comparison")
    return bool(a < b)


def _sprint(args: tuple[Any, ...]) -> str:
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(to_text(a))
    return "".join(out)


_VERB = re.compile(r"%([-+# 0]*)(\*|[0-9]+)?(?:\.(\*|[0-9]+)?)?([a-zA-Z%])")


def _printf(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise Fail(f"wrong type for value; expected string; got {go_type(fmt)}")
    out, ai, i = [], 0, 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[i : m.start()])
        i = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        w = int(width) if width and width != "*" else 0
        p = int(prec) if prec and prec != "*" else (0 if prec == "" else None)
        if w > 10000 or (p or 0) > 10000:
            out.append("%!(BADWIDTH)")
            ai += 1
            continue
        a = args[ai]
        ai += 1
        if verb in "vs":
            s = to_text(a)
            if verb == "s" and p is not None:
                s = s[:p]
        elif verb == "q":
            s = go_quote(to_text(a)) if not isinstance(a, int) or isinstance(a, bool) else go_quote(chr(a))
        elif verb == "t" and isinstance(a, bool):
            s = to_text(a)
        elif verb in "dxXobc" and isinstance(a, int) and not isinstance(a, bool):
            s = chr(a) if verb == "c" else format(a, {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb])
            if "+" in flags and a >= 0 and verb == "d":
                s = "+" + s
        elif verb in "xX" and isinstance(a, str):
            s = a.encode().hex()
            s = s.upper() if verb == "X" else s
        elif verb in "feEgG" and isinstance(a, int | float) and not isinstance(a, bool):
            s = format(float(a), f".{6 if p is None else p}{verb}") if verb in "feE" else go_float(float(a))
        else:
            s = f"%!{verb}({go_type(a)}={to_text(a)})"
        pad = w - len(s)
        if pad > 0:
            if "-" in flags:
                s = s + " " * pad
            elif "0" in flags and verb not in "sqv":
                neg = s.startswith(("-", "+"))
                s = (s[0] if neg else "") + "0" * pad + (s[1:] if neg else s)
            else:
                s = " " * pad + s
        out.append(s)
    out.append(fmt[i:])
    if ai < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={to_text(a)}" for a in args[ai:]) + ")")
    return "".join(out)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise Fail(f"wrong type for value; expected string; got {go_type(v)}")
    return v


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise Fail(f"wrong type for value; expected int; got {go_type(v)}")
    return v


def _title(s: Any) -> str:
    s, out, prev = _str(s), [], " "
    for ch in s:
        sep = not (ch.isalnum() or ch == "_") if ord(ch) < 0x80 else ch.isspace()
        psep = not (prev.isalnum() or prev == "_") if ord(prev) < 0x80 else prev.isspace()
        out.append(ch.upper() if psep and not sep else ch)
        prev = ch
    return "".join(out)


def _join(v: Any, sep: Any) -> str:
    sep = _str(sep)
    if v is None or v is NO_VALUE:
        return ""
    if isinstance(v, list | tuple):
        return sep.join(to_text(x) for x in v)
    if isinstance(v, Mapping) and not isinstance(v, Row):
        return sep.join(sorted(to_text(x) for x in v.values()))
    raise Fail(f"expected slice, got {go_type(v)}")


def _split(s: Any, sep: Any) -> list[str]:
    s, sep = _str(s), _str(sep)
    if sep == "":
        return list(s)
    return s.split(sep)


def _html(*args: Any) -> str:
    s = _sprint(args)
    for a, b in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("\0", "\ufffd")):
        s = s.replace(a, b)
    return s


def _js(*args: Any) -> str:
    out = []
    for ch in _sprint(args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_sprint(args), safe="-_.~")


def _pad(s: Any, prefix: Any, suffix: Any) -> str:
    s, a, b = _str(s), _int(prefix), _int(suffix)
    if a > MAX_OUTPUT or b > MAX_OUTPUT:
        raise Fail("padding too large")
    return "" if s == "" else " " * a + s + " " * b


def _truncate(s: Any, n: Any) -> str:
    s, n = _str(s), _int(n)
    return s if len(s) < n else s[: max(n, 0)]


def _not_fn(v: Any) -> bool:
    return not truth(v)


# name -> (function, fixed arity or None for variadic); and/or are evaluated lazily
FUNCS: dict[str, tuple[Callable[..., Any], int | None]] = {
    "and": (lambda *a: a, None),
    "or": (lambda *a: a, None),
    "not": (_not_fn, 1),
    "len": (_len, 1),
    "index": (_index, None),
    "slice": (_slice, None),
    "print": (lambda *a: _sprint(a), None),
    "println": (lambda *a: " ".join(to_text(x) for x in a) + "\n", None),
    "printf": (_printf, None),
    "eq": (_eq, None),
    "ne": (lambda a, b: not _eq(a, b), 2),
    "lt": (_lt, 2),
    "le": (lambda a, b: _lt(a, b) or _eq(a, b), 2),
    "gt": (lambda a, b: not (_lt(a, b) or _eq(a, b)), 2),
    "ge": (lambda a, b: not _lt(a, b), 2),
    "html": (_html, None),
    "js": (_js, None),
    "urlquery": (_urlquery, None),
    "json": (go_json, 1),
    "split": (_split, 2),
    "join": (_join, 2),
    "title": (_title, 1),
    "lower": (lambda s: _str(s).lower(), 1),
    "upper": (lambda s: _str(s).upper(), 1),
    "pad": (_pad, 3),
    "truncate": (_truncate, 2),
}
MIN_ARGS = {"index": 1, "slice": 1, "printf": 1, "eq": 1, "and": 1, "or": 1}

# docker's header functions: the column names stay as they are
HEADER_FUNCS: dict[str, tuple[Callable[..., Any], int | None]] = {
    **FUNCS,
    "json": (lambda v: v, 1),
    "split": (lambda v, _s: v, 2),
    "join": (lambda v, _s: v, 2),
    "title": (lambda v: v, 1),
    "lower": (lambda v: v, 1),
    "upper": (lambda v: v, 1),
    "truncate": (lambda v, _n: v, 2),
}
