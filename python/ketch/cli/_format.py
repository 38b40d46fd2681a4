"""Docker's output formats: human sizes and durations, tables."""

from __future__ import annotations

import datetime as _dt

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, `%.3g`."""
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{_UNITS[i]}"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600 / 24 / 365)} years"


def parse_time(s: str | None) -> _dt.datetime | None:
    """An RFC 3339 time as images carry it (nanoseconds allowed)."""
    if not s:
        return None
    s = s.strip().replace("Z", "+00:00")
    if "." in s:
        head, _, frac = s.partition(".")
        digits = "".join(c for c in frac if c.isdigit())
        tz = frac[len(digits) :]
        s = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    try:
        t = _dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def ago(created: str | None) -> str:
    t = parse_time(created)
    if t is None:
        return "N/A"
    delta = (_dt.datetime.now(_dt.UTC) - t).total_seconds()
    return human_duration(max(delta, 0)) + " ago"


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
