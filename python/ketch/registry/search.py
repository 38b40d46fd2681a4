"""`docker search`: a registry's /v1/search answer,
kept by docker's filters (stars=N, is-official=, is-automated=), as data."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import KetchError, UsageError

if TYPE_CHECKING:
    from ..config import Settings


@dataclass(frozen=True)
class SearchFilter:
    """`-f stars=N`, `-f is-official=true|false` (`is-automated` is accepted and
    ignored, as docker does since automated builds went away)."""

    min_stars: int = 0
    official: bool | None = None

    def keeps(self, r: SearchResult) -> bool:
        return r.star_count >= self.min_stars and (self.official is None or r.is_official == self.official)


@dataclass(frozen=True)
class SearchResult:
    name: str
    description: str
    star_count: int
    is_official: bool
    is_automated: bool

    @classmethod
    def from_json(cls, r: dict[str, Any]) -> SearchResult:
        return cls(
            str(r.get("name", "")),
            str(r.get("description") or ""),
            int(r.get("star_count") or 0),
            bool(r.get("is_official")),
            bool(r.get("is_automated")),
        )


def parse_filters(filters: list[str]) -> SearchFilter:
    """docker's `--filter` values; UsageError "invalid filter" for any other."""
    min_stars, official = 0, None
    for f in filters:
        key, _, value = f.partition("=")
        if key == "stars" and value.isdigit():
            min_stars = int(value)
        elif key in ("is-official", "is-automated") and value in ("true", "false"):
            official = value == "true" if key == "is-official" else official
        else:
            raise UsageError(f"invalid filter '{f}'")
    return SearchFilter(min_stars, official)


def search(
    term: str, limit: int = 25, filters: list[str] | None = None, settings: Settings | None = None
) -> list[SearchResult]:
    """The repositories the registry finds for `term` (Docker Hub's, or the
    registry named before a slash), at most `limit`, those the filters keep."""
    keep = parse_filters(list(filters or []))
    return [r for r in map(SearchResult.from_json, _ask(term, limit, settings)) if keep.keeps(r)]


def _ask(term: str, limit: int = 25, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Docker Hub's /v1/search, or that of the registry named before a
    slash (`127.0.0.1:5000/busybox`), as the docker CLI reads a term."""
    first, sep, rest = term.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, query = first, rest
    else:
        domain, query = "index.docker.io", term
    from .client import RegistryClient

    client = RegistryClient(domain if domain != "index.docker.io" else "docker.io", settings)
    if domain == "index.docker.io":
        client.host = "index.docker.io"
    q = urllib.parse.urlencode({"q": query, "n": str(limit)})
    r = client.request("GET", f"/v1/search?{q}", "")
    if r.status != 200:
        raise KetchError(f"Error response from daemon: Unexpected status code {r.status}")
    try:
        results = json.loads(r.body).get("results") or []
    except ValueError:
        raise KetchError("search: the registry answered something that is not JSON") from None
    return results[:limit]
