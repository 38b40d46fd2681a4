"""The data behind the everyday verbs, without root: the event log (append,
bound, follow), docker's --since/--until and --filter, the minimal
--format, and the parsers stats reads the kernel's counters with."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ketch.errors import KetchError
from ketch.store import Store, events


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "root")


def test_an_event_is_one_appended_line_read_back_in_order(store: Store) -> None:
    events.record(store, "container", "create", "c" * 64, {"name": "a", "image": "bb"}, when=100.5)
    events.record(store, "image", "pull", "busybox:latest", {"name": "busybox"}, when=101)
    lines = events.path(store).read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["Action"] == "create"
    got = events.past(store)
    assert [(e.type, e.action, e.time_nano) for e in got] == [
        ("container", "create", 100_500_000_000),
        ("image", "pull", 101_000_000_000),
    ]
    doc = got[0].document()
    assert doc["status"] == "create" and doc["from"] == "bb" and doc["scope"] == "local" and doc["time"] == 100
    assert doc["Actor"] == {"ID": "c" * 64, "Attributes": {"name": "a", "image": "bb"}}


def test_a_cut_line_is_skipped_and_the_log_is_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with events.path(store).open("ab") as f:
        f.write(b'{"Type": "container", "Act')  # a crash mid-write
        f.write(b"\n")
    events.record(store, "volume", "create", "v1", {"driver": "local"})
    assert [e.id for e in events.past(store)] == ["v1"]
    monkeypatch.setattr(events, "MAX_BYTES", 400)
    for n in range(20):
        events.record(store, "volume", "create", f"v{n:03}", {"driver": "local"})
    assert events.path(store).stat().st_size <= 400 + 200
    old = events.path(store).with_name("events.jsonl.1")
    assert old.exists() and old.stat().st_size <= 400 + 200
    kept = [e.id for e in events.past(store)]
    assert kept == sorted(kept) and kept[-1] == "v019"  # the newest kept, in order, across the rotation
    assert not list(Path(store.root).glob("events.jsonl.2"))


def test_follow_sees_only_new_events_and_across_a_rotation(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    events.record(store, "volume", "create", "before")
    f = events.follow(store, interval=0)
    assert next(f) is None
    line = events.path(store).stat().st_size
    monkeypatch.setattr(events, "MAX_BYTES", int(line * 2.5))
    events.record(store, "volume", "create", "after1")
    events.record(store, "volume", "create", "after2")  # this one rotates the file
    assert events.path(store).with_name("events.jsonl.1").exists()
    events.record(store, "volume", "create", "after3")
    seen = []
    for _ in range(10):
        e = next(f)
        if e is not None:
            seen.append(e.id)
        if len(seen) == 3:
            break
    assert seen == ["after1", "after2", "after3"]


def test_since_and_until_as_docker_reads_them() -> None:
    now = 1_800_000_000.0
    assert events.parse_time("1700000000", now) == 1_700_000_000
    assert events.parse_time("1700000000.25", now) == 1_700_000_000.25
    assert events.parse_time("10m", now) == now - 600
    assert events.parse_time("1h30m", now) == now - 5400
    assert events.parse_time("500ms", now) == pytest.approx(now - 0.5)
    assert events.parse_time("0s", now) == now
    t = dt.datetime(2026, 12, 2, 13, 0, tzinfo=dt.UTC).timestamp()
    assert events.parse_time("2026-12-02T13:00:00Z", now) == t
    assert events.parse_time("2026-12-02T13:00:00.123456789Z", now) == pytest.approx(t + 0.123456)
    assert events.parse_time("2026-12-02T14:00:00+01:00", now) == t
    assert events.parse_time("2026-12-02T13:00:00", now) == t  # no zone: UTC
    assert events.parse_time("2026-12-02", now) == t - 13 * 3600
    for bad in ("yesterday", "10x", "", "1e9"):
        with pytest.raises(KetchError, match="failed to parse time"):
            events.parse_time(bad, now, "until")


def test_filters_each_key_all_and_each_value_any() -> None:
    die = events.Event("container", "die", "abc123" + "0" * 58, {"name": "web", "image": "nginx", "exitCode": "1"})
    pull = events.Event("image", "pull", "busybox:latest", {"name": "busybox"})
    conn = events.Event("network", "connect", "n" * 64, {"name": "front", "container": "abc123" + "0" * 58})

    def m(e: events.Event, *f: str) -> bool:
        return events.matches(e, events.parse_filters(list(f)))

    assert m(die) and m(die, "type=container") and not m(pull, "type=container")
    assert m(die, "event=die") and m(die, "event=start", "event=die") and not m(die, "event=start")
    assert m(die, "container=web") and m(die, "container=abc123") and not m(die, "container=db")
    assert m(conn, "container=abc") and m(conn, "network=front") and not m(die, "network=front")
    assert m(die, "image=nginx") and m(pull, "image=busybox") and not m(pull, "image=alpine")
    assert m(die, "type=container", "event=die") and not m(die, "type=container", "event=start")
    assert not m(die, "container=")  # an empty value matches nothing
    labelled = events.Event("container", "start", "x", {"name": "a", "image": "b", "tier": "db"})
    assert m(labelled, "label=tier") and m(labelled, "label=tier=db") and not m(labelled, "label=tier=web")
    with pytest.raises(KetchError, match="invalid filter 'colour'"):
        events.parse_filters(["colour=red"])
    with pytest.raises(KetchError, match="bad format"):
        events.parse_filters(["type"])


def test_the_minimal_format() -> None:
    from ketch.cli.system import render

    doc = {"Type": "container", "Actor": {"ID": "x", "Attributes": {"name": "a"}}, "n": 3, "ok": True, "none": None}
    assert render("{{json .}}", doc) == json.dumps(doc, separators=(",", ":"))
    assert render("{{.Type}} {{.Actor.Attributes.name}}\\t{{ .n }}", doc) == "container a\t3"
    assert render("{{json .Actor}}", doc) == '{"ID":"x","Attributes":{"name":"a"}}'
    assert render("{{.Actor.Attributes.missing}} {{.ok}} {{.none}}", doc) == "<no value> true <no value>"
    with pytest.raises(KetchError):
        render("{{.Type.Deeper}}", doc)
    with pytest.raises(KetchError, match="unsupported"):
        render("{{range .}}{{end}}", doc)


def test_stats_parsers() -> None:
    from ketch.runtime import stats

    net = (
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls\n"
        "    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0\n"
        "  eth0:    1500      10    0    0    0     0          0         0      700       5    0    0    0     0\n"
        "  eth1:     500       1    0    0    0     0          0         0       300       1    0    0    0     0\n"
    )
    assert stats.parse_net_dev(net) == (2000, 1000)
    blk = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n8:16 Read 4\nTotal 12292\n"
    assert stats.parse_blkio_v1(blk) == (4100, 8192)
    io2 = "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=5 wbytes=0\n"
    assert stats.parse_io_v2(io2) == (1005, 2000)
    assert stats.parse_net_dev("") == (0, 0) and stats.parse_blkio_v1("") == (0, 0)


def test_cpu_percent_over_the_time_between_samples() -> None:
    from ketch.runtime.state import Container
    from ketch.runtime.stats import Sample, compute

    c = Container("c" * 64, "n", "i", "img", {}, 0.0, "running", 1, 1, None, None, None)
    a = Sample(cpu_ns=1_000_000_000, mem_usage=10, mem_limit=100, at=10.0)
    b = Sample(cpu_ns=1_500_000_000, mem_usage=25, mem_limit=100, pids=3, at=11.0)
    r = compute(c, a, b)
    assert r.cpu_percent == pytest.approx(50.0) and r.mem_percent == 25.0 and r.pids == 3
    gone = compute(c, a, Sample(at=11.0))  # the container ended between the reads
    assert (gone.cpu_percent, gone.mem_usage, gone.mem_percent) == (0.0, 0, 0.0)


def test_tables_have_dockers_minimum_width() -> None:
    from ketch.cli._format import table

    assert table([["A", "B"], ["x", "y"]], minwidth=10).splitlines() == ["A         B", "x         y"]
    assert table([["A", "B"], ["x", "y"]]).splitlines() == ["A   B", "x   y"]


def test_sizes_as_docker_writes_them() -> None:
    from ketch.cli.system import _bytes_binary

    assert [_bytes_binary(n) for n in (0, 1023, 1024, 1_294_336, 64 << 20, 25_275_990_016)] == [
        "0B", "1023B", "1KiB", "1.234MiB", "64MiB", "23.54GiB",
    ]  # fmt: skip
