"""Docker's output formats: human sizes and durations, tables."""

from __future__ import annotations

from ..models.ids import human_duration, rfc3339_epoch

TYPE_CHECKING = False  # datetime where a time is written whole (go_time): `ps` and `images` do without
if TYPE_CHECKING:
    import datetime as _dt

__all__ = ["human_duration"]  # docker's durations live in models/ids (the Engine API's Status strings use them too)

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, `%.3g`."""
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{_UNITS[i]}"


def parse_time(s: str | None) -> _dt.datetime | None:
    """An RFC 3339 time as images carry it (nanoseconds allowed)."""
    from ..models.ids import parse_rfc3339

    return parse_rfc3339(s)


def ago(created: str | None) -> str:
    import time

    t = rfc3339_epoch(created)
    if t is None:
        return "N/A"
    return human_duration(max(time.time() - t, 0)) + " ago"


def ellipsis(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def table(rows: list[list[str]], minwidth: int = 0) -> str:
    """text/tabwriter as docker uses it: each column as wide as its widest
    cell plus 3 (at least `minwidth`: docker's formatter tables have 10)."""
    if not rows:
        return ""
    widths = [max(max(len(r[i]) for r in rows), minwidth - 3) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.ljust(widths[i] + 3) for i, c in enumerate(r[:-1])] + [r[-1]]
        lines.append("".join(cells))
    return "\n".join(lines)


def go_time(t: float) -> str:
    """Go's time.Time.String() of a Unix time, in local time: `2006-01-02 15:04:05 -0700 MST`."""
    import datetime as _dt

    return _dt.datetime.fromtimestamp(int(t)).astimezone().strftime("%Y-%m-%d %H:%M:%S %z %Z")


def timestamp(s: str | None) -> float | None:
    return rfc3339_epoch(s)


def go_quote(s: str) -> str:
    """strconv.Quote: printable characters kept, the rest escaped."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def config_format(key: str) -> str | None:
    """The default format the user set for a listing in docker's CLI config
    ($DOCKER_CONFIG/config.json, else ~/.docker/config.json: the file
    registry/auth.py reads credentials from): `psFormat`, `imagesFormat`,
    `networksFormat`, `volumesFormat`. docker uses it when no --format (nor
    -q) is given; a file that is missing, unreadable or not JSON sets none."""
    import os

    from ..fastjson import loads
    from . import _common

    env = _common.settings.env
    base = env("DOCKER_CONFIG")
    home = env("HOME") or os.path.expanduser("~")
    path = os.path.join(base, "config.json") if base else os.path.join(home, ".docker", "config.json")
    try:
        with open(path, "rb") as f:
            cfg = loads(f.read(1 << 20))
    except (OSError, ValueError, RecursionError):  # (a document nested past the interpreter's stack)
        return None
    value = cfg.get(key) if isinstance(cfg, dict) else None
    return value if isinstance(value, str) and value else None
