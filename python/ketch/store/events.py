"""The store's event log, what `ketch events` reads: one JSON line per
event appended to `<root>/events.jsonl`, as docker's daemon keeps them in
memory. Recording is one append (O_APPEND: concurrent writers' lines never
interleave) and must stay that cheap: it is on every container's start.
The log is bounded: past MAX_BYTES it is renamed to `events.jsonl.1` (the
one older file kept, the one before it dropped) and a new one is begun.

A line: {"Type": "container", "Action": "start", "ID": "...",
"Attributes": {...}, "time": unix seconds, "timeNano": nanoseconds}."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .. import records as _records

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True

if TYPE_CHECKING:
    from . import Store

MAX_BYTES = 1 << 20
NAME = "events.jsonl"


@_records.record(frozen=True)
class Event:
    """One event, as docker's events API carries it."""

    type: str  # container, image, network, volume, builder
    action: str  # start, die, pull, tag, create, ...
    id: str  # the object's id (an image's name for pull/push/tag, as docker)
    attributes: dict[str, str] = _records.field(default_factory=dict)
    time_nano: int = 0

    @property
    def time(self) -> float:
        return self.time_nano / 1e9

    def document(self) -> dict[str, object]:
        """docker's JSON message (what `--format '{{json .}}'` prints)."""
        doc: dict[str, object] = {}
        if self.type == "container" or (self.type == "image" and self.action not in ("untag", "delete")):
            doc["status"] = self.action
            doc["id"] = self.id
            if "image" in self.attributes:
                doc["from"] = self.attributes["image"]
        doc.update(
            {
                "Type": self.type,
                "Action": self.action,
                "Actor": {"ID": self.id, "Attributes": dict(self.attributes)},
                "scope": "local",
                "time": self.time_nano // 1_000_000_000,
                "timeNano": self.time_nano,
            }
        )
        return doc


def path(store: Store) -> Path:
    return store.root / NAME


def record(
    store: Store,
    type_: str,
    action: str,
    ident: str,
    attributes: dict[str, str] | None = None,
    when: float | None = None,
) -> None:
    """Appends one event; a failure to record (a full disk) never fails the verb that emitted it."""
    nano = time.time_ns() if when is None else int(when * 1e9)
    line = json.dumps(
        {"Type": type_, "Action": action, "ID": ident, "Attributes": attributes or {}, "timeNano": nano},
        separators=(",", ":"),
    )
    p = path(store)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > MAX_BYTES:
            os.replace(p, p.with_name(NAME + ".1"))
    except OSError:
        pass


def _parse(line: bytes) -> Event | None:
    try:
        d = json.loads(line)
        return Event(
            d["Type"], d["Action"], d["ID"], {str(k): str(v) for k, v in d["Attributes"].items()}, d["timeNano"]
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a line cut by a crash, or not ours


def past(store: Store) -> list[Event]:
    """Every event kept, the oldest first."""
    out: list[Event] = []
    p = path(store)
    for f in (p.with_name(NAME + ".1"), p):
        try:
            data = f.read_bytes()
        except OSError:
            continue
        out += [e for line in data.splitlines() if (e := _parse(line)) is not None]
    return out


def follow(store: Store, interval: float = 0.1) -> Iterator[Event | None]:
    """The events recorded from now on, as they come (polled every
    `interval` s); None after each poll that found none, so that a reader
    can stop (its --until) without waiting for another event."""
    p = path(store)
    ino: int | None = None
    offset = 0
    try:
        first = p.stat()
        ino, offset = first.st_ino, first.st_size
    except OSError:
        pass
    pending = b""
    while True:
        st: os.stat_result | None
        try:
            st = p.stat()
        except OSError:
            st = None
        if st is not None and st.st_ino != ino:
            # rotated (or made): what the old file got after our last read is in events.jsonl.1
            if ino is not None:
                try:
                    old = p.with_name(NAME + ".1")
                    if old.stat().st_ino == ino:
                        with old.open("rb") as f:
                            f.seek(offset)
                            pending += f.read()
                except OSError:
                    pass
            ino, offset = st.st_ino, 0
        if st is not None and st.st_size > offset:
            with p.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            pending += chunk
        *lines, pending = pending.split(b"\n")
        found = [e for line in lines if (e := _parse(line)) is not None]
        yield from found
        if not found:
            yield None
            time.sleep(interval)


_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_time(value: str, now: float, flag: str = "since") -> float:
    """docker's --since/--until: a unix time (`1700000000`, `1700000000.5`),
    a Go duration before now (`10m`, `1h30m`, `500ms`), or an RFC 3339 time
    or date (`2026-12-02T13:00:00Z`, `2026-12-02T13:00:00.5+01:00`,
    `2026-12-02`; without a zone: UTC)."""
    import datetime as dt
    import re

    from ..errors import KetchError

    v = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", v):
        return float(v)
    if re.fullmatch(r"((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+", v):
        return now - sum(float(n) * _UNIT[u] for n, _, u in re.findall(r"(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", v))
    s = v.replace("Z", "+00:00").replace("z", "+00:00")
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)", s)
    if m:
        s = f"{m.group(1)}.{m.group(2)[:6].ljust(6, '0')}{m.group(3)}"
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        raise KetchError(f'invalid value for "--{flag}": failed to parse time "{value}"') from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


FILTERS = ("container", "event", "image", "label", "network", "type", "volume", "daemon", "scope")


def parse_filters(filters: list[str]) -> dict[str, set[str]]:
    """`key=value` pairs; a key given twice matches either value."""
    from ..errors import KetchError

    out: dict[str, set[str]] = {}
    for f in filters:
        key, sep, val = f.partition("=")
        if not sep:
            raise KetchError(f"bad format of filter (expected name=value): {f}")
        if key not in FILTERS:
            raise KetchError(f"invalid filter '{key}'")
        out.setdefault(key, set()).add(val)
    return out


def matches(e: Event, wanted: dict[str, set[str]]) -> bool:
    """Whether the event passes every filter key (each key: any of its values)."""
    a = e.attributes
    for key, vals in wanted.items():
        if key == "type":
            ok = e.type in vals
        elif key == "event":
            ok = e.action in vals or e.action.split(":")[0] in vals
        elif key == "label":
            ok = any((a.get(v.partition("=")[0]) == v.partition("=")[2]) if "=" in v else v in a for v in vals)
        elif key == "container":
            ok = (e.type == "container" and any(v and (e.id.startswith(v) or a.get("name") == v) for v in vals)) or (
                e.type == "network" and any(v and a.get("container", "").startswith(v) for v in vals)
            )
        elif key in ("network", "volume"):
            ok = e.type == key and any(v and (e.id.startswith(v) or a.get("name") == v) for v in vals)
        elif key == "image":
            names = {a.get("image", ""), a.get("name", "")} | ({e.id} if e.type == "image" else set())
            ok = any(v in names or (":" not in v and f"{v}:latest" in names) for v in vals)
        else:  # daemon, scope: there is one, local
            ok = key != "scope" or "local" in vals
        if not ok:
            return False
    return True
