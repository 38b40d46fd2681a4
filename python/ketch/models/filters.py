"""docker's `-f/--filter KEY=VALUE` arguments, as its daemon reads them:
values by key (a key's values are ORed, keys ANDed), and labels matched
as its MatchKVList does (every label value must hold)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import KetchError, UsageError


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
