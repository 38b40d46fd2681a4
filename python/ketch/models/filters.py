"""docker's `-f/--filter KEY=VALUE` arguments, as its daemon reads them:
values by key (a key's values are ORed, keys ANDed), and labels matched
as its MatchKVList does (every label value must hold)."""

from __future__ import annotations

from ..errors import KetchError, UsageError

TYPE_CHECKING = False  # `ps` and `images` parse their filters here: re is imported by the times alone
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


def parse(filters: Iterable[str], accepted: Iterable[str]) -> dict[str, list[str]]:
    """The values of each key; UsageError for an argument without `=`
    (docker's CLI), KetchError for a key not `accepted` (its daemon)."""
    ok = set(accepted)
    values: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise UsageError(
                f'invalid argument "{f}" for "-f, --filter" flag: bad format of filter (expected name=value)'
            )
        key = key.strip().lower()
        if key not in ok:
            raise KetchError(f"invalid filter '{key}'")
        values.setdefault(key, []).append(value)
    return values


def match_labels(wanted: Iterable[str], labels: Mapping[str, str]) -> bool:
    """Every `KEY` present and every `KEY=VALUE` equal."""
    for want in wanted:
        key, sep, value = want.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


_DURATION = r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)"
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_time(value: str, now: float) -> float:
    """A time as docker's filters take one (`until=`, `since=` of events):
    a Go duration before `now` (`10m`, `1h30m`), an RFC 3339 date or time
    (local when it has no zone), or Unix seconds (`1700000000.5`)."""
    import datetime as dt
    import re

    v = value.strip()
    body = v.lstrip("+-")
    if re.fullmatch(r"[+-]?(?:[0-9]*\.?[0-9]+(?:ns|us|µs|ms|s|m|h))+", v):
        secs = sum(float(n) * _UNITS[u] for n, u in re.findall(_DURATION, body))
        return now + secs if v.startswith("-") else now - secs
    try:
        t = dt.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        if "-" not in v and re.fullmatch(r"[0-9]+(\.[0-9]*)?", v):
            return float(v)
        raise KetchError(f'failed to parse value as time or duration: "{value}"') from None
    return (t if t.tzinfo else t.astimezone()).timestamp()


class PruneFilter:
    """docker's prune filters, as its daemon reads them: `until=TIME`
    (created at or before it; once at most), `label=KEY[=VALUE]` (every one
    holds), `label!=KEY[=VALUE]` (spared when every one holds). `accepted`:
    the keys the prune takes (a volume has no `until`); unknown keys are
    refused in docker's words."""

    def __init__(self, filters: Iterable[str] | None, accepted: Iterable[str] = ("until", "label", "label!")) -> None:
        f = parse(filters or [], accepted)
        untils = list(dict.fromkeys(f.get("until", [])))  # docker's filters are sets: a repeat is one
        if len(untils) > 1:
            raise KetchError("more than one until filter specified")
        import time

        self.until = parse_time(untils[0], time.time()) if untils else None
        self.labels = f.get("label", [])
        self.spared = f.get("label!", [])

    def takes(self, created: float | None, labels: Mapping[str, str] | None) -> bool:
        """Whether an unused object created at `created` (Unix seconds) with `labels` is pruned."""
        if self.until is not None and (created is None or created > self.until):
            return False
        if self.labels and not match_labels(self.labels, labels or {}):
            return False
        return not (self.spared and match_labels(self.spared, labels or {}))
