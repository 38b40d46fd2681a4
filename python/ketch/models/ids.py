"""The small shared forms of names and times: docker's short ids, its
RFC 3339 timestamps and its architecture names. Plain functions, no
imports beyond the standard library, so that any part may use them."""

from __future__ import annotations

import datetime as _dt
import os

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
    t = _dt.datetime.now(_dt.UTC) if when is None else _dt.datetime.fromtimestamp(when, _dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s: str | None) -> _dt.datetime | None:
    """An RFC 3339 time as images and documents carry it (nanoseconds
    allowed; no zone is UTC), or None if it is none."""
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
