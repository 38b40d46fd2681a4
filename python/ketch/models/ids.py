"""The small shared forms of names and times: docker's short ids, its
RFC 3339 timestamps and its architecture names. Plain functions, no
imports beyond the standard library, so that any part may use them."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # datetime is imported where a time is written or parsed whole: `ps` and `images` do without
if TYPE_CHECKING:
    import datetime as _dt

# uname's machine names as docker (Go's GOARCH) spells them.
_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "armv8l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


def short_id(ident: str) -> str:
    """The 12 hex digits docker shows for an id or a digest ("sha256:..." or bare)."""
    return ident.rpartition(":")[2][:12]


def host_arch() -> str:
    """This machine's architecture in docker's spelling (amd64, arm64 ...)."""
    machine = os.uname().machine
    return _GOARCH.get(machine, machine)


def rfc3339(when: float | None = None, *, fraction: bool = True) -> str:
    """A UTC time as docker writes it in image configs and inspect output:
    2006-01-02T15:04:05.999999Z (now when no time is given)."""
    import datetime as _dt

    t = _dt.datetime.now(_dt.UTC) if when is None else _dt.datetime.fromtimestamp(when, _dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s: str | None) -> _dt.datetime | None:
    """An RFC 3339 time as images and documents carry it (nanoseconds
    allowed; no zone is UTC), or None if it is none."""
    if not s:
        return None
    import datetime as _dt

    s = s.strip().replace("Z", "+00:00")
    if "." in s:
        head, _, frac = s.partition(".")
        digits = frac[: len(frac) - len(frac.lstrip("0123456789"))]  # the leading digits: the zone follows
        tz = frac[len(digits) :]
        s = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    try:
        t = _dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def rfc3339_epoch(s: str | None) -> float | None:
    """`parse_rfc3339(s)` as a Unix time, without datetime for the form docker
    and ketch write (2006-01-02T15:04:05[.999999999](Z|+07:00)); any other
    form as parse_rfc3339 reads it."""
    if not s:
        return None
    t = s.strip()
    if (
        len(t) >= 20
        and t[4] == t[7] == "-"
        and t[10] == "T"
        and t[13] == t[16] == ":"
        and all(t[i : i + 2].isdigit() for i in (2, 5, 8, 11, 14, 17))  # ASCII digits: int() alone takes "_", "+"
        and t[:2].isdigit()
        and t[:19].isascii()
    ):
        y, mo, d = int(t[0:4]), int(t[5:7]), int(t[8:10])
        h, mi, sec = int(t[11:13]), int(t[14:16]), int(t[17:19])
        rest, frac, offset = t[19:], 0.0, None
        if rest.startswith("."):
            n = len(rest) - len(rest[1:].lstrip("0123456789"))
            digits = rest[1:n]
            if digits:
                frac = int(digits[:6].ljust(6, "0")) / 1e6  # as parse_rfc3339: microseconds, cut
                rest = rest[n:]
        if rest in ("Z", ""):  # no zone is UTC, as parse_rfc3339 has it
            offset = 0
        elif (
            len(rest) == 6
            and rest[0] in "+-"
            and rest[3] == ":"
            and rest[1:3].isascii()
            and rest[1:3].isdigit()
            and rest[4:].isascii()
            and rest[4:].isdigit()
            and int(rest[1:3]) < 24
            and int(rest[4:]) < 60
        ):
            offset = (int(rest[1:3]) * 3600 + int(rest[4:]) * 60) * (1 if rest[0] == "+" else -1)
        if (
            offset is not None
            and y >= 1
            and 1 <= mo <= 12
            and 1 <= d <= _days_in(y, mo)
            and h < 24
            and mi < 60
            and sec < 60
        ):
            return _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset + frac
    dt = parse_rfc3339(s)
    return dt.timestamp() if dt is not None else None


def _days_in(y: int, m: int) -> int:
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration_ns(text: str) -> int:
    """A Go duration (`30s`, `1m30s`, `500ms`, `0`) in nanoseconds, as docker
    parses HEALTHCHECK's and --health-*'s; ValueError if it is not one (or
    does not fit docker's int64)."""
    import re

    sign, body = (text[0], text[1:]) if text[:1] in ("+", "-") else ("", text)
    if body == "0":
        return 0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"invalid duration {text[:40]!r}")
    total = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if not total < 2**63:
        raise ValueError(f"invalid duration {text[:40]!r}: out of range")
    return -int(total) if sign == "-" else int(total)


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
