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


def test_one_document_s_format_is_go_s_template() -> None:
    """version/info/df/events --format: the Go-template engine (cli/template) on the document."""
    from ketch.cli.system import render

    doc = {"Type": "container", "Actor": {"ID": "x", "Attributes": {"name": "a"}}, "n": 3, "ok": True, "none": None}
    assert render("{{json .}}", doc) == json.dumps(doc, separators=(",", ":"))
    assert render("{{.Type}} {{.Actor.Attributes.name}}\t{{ .n }}", doc) == "container a\t3"
    assert render("{{json .Actor}}", doc) == '{"ID":"x","Attributes":{"name":"a"}}'
    # a missing key prints <no value>; a key that is there with null, <nil> (Go's)
    assert render("{{.Actor.Attributes.missing}} {{.ok}} {{.none}}", doc) == "<no value> true <nil>"
    assert render("{{range $k, $v := .Actor.Attributes}}{{$k}}={{$v}}{{end}}", doc) == "name=a"
    with pytest.raises(KetchError):
        render("{{.Type.Deeper}}", doc)
    with pytest.raises(KetchError):
        render("{{range .}}", doc)  # not closed


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


@pytest.fixture
def fake_cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cgroup tree of files in a temporary directory (KETCH_CGROUP_ROOT): what the kernel would show."""
    from ketch import config

    root = tmp_path / "cgroup"
    root.mkdir()
    monkeypatch.setenv("KETCH_CGROUP_ROOT", str(root))
    monkeypatch.setenv("KETCH_CGROUP_PARENT", "ketch")
    monkeypatch.setattr(config, "_process", None)
    return root


def _running(cid: str) -> object:
    from ketch.runtime.state import Container

    return Container(cid, "n", "i", "img", {"network": "none"}, 0.0, "running", None, None, None, None, None)


def test_stats_and_update_on_cgroup_v2(fake_cgroups: Path) -> None:
    from ketch.runtime import cgroups, stats

    (fake_cgroups / "cgroup.controllers").write_text("cpu io memory pids\n")
    d = fake_cgroups / "ketch" / ("a" * 64)
    d.mkdir(parents=True)
    files = {
        "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\n",
        "memory.current": "10485760\n",
        "memory.stat": "anon 1000\ninactive_file 2097152\n",
        "memory.max": "67108864\n",
        "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n",
        "pids.current": "3\n",
        "pids.max": "max\n",
        "cpu.max": "max 100000\n",
        "memory.swap.max": "max\n",
    }
    for name, text in files.items():
        (d / name).write_text(text)
    s = stats.sample(_running("a" * 64))  # type: ignore[arg-type]
    assert (s.cpu_ns, s.mem_usage, s.mem_limit, s.blk_read, s.blk_write, s.pids) == (
        2_500_000_000, 8 << 20, 64 << 20, 4096, 8192, 3,
    )  # fmt: skip
    (d / "memory.max").write_text("max\n")
    assert stats.sample(_running("a" * 64)).mem_limit == stats.host_memory()  # type: ignore[arg-type]
    cgroups.update("a" * 64, cgroups.Limits(memory=32 << 20, cpus=1.5, pids=20))
    assert (d / "memory.max").read_text() == str(32 << 20)
    assert (d / "cpu.max").read_text() == "150000 100000"
    assert (d / "pids.max").read_text() == "20"
    assert (d / "memory.swap.max").read_text() == "0"


def test_stats_and_update_on_cgroup_v1(fake_cgroups: Path) -> None:
    from ketch.runtime import cgroups, stats

    cid = "b" * 64
    dirs = {c: fake_cgroups / c / "ketch" / cid for c in ("memory", "pids", "cpu", "cpuacct", "blkio")}
    for x in dirs.values():
        x.mkdir(parents=True)
    (dirs["cpuacct"] / "cpuacct.usage").write_text("123456789\n")
    (dirs["memory"] / "memory.usage_in_bytes").write_text("5000000\n")
    (dirs["memory"] / "memory.stat").write_text("cache 10\ntotal_inactive_file 1000000\n")
    (dirs["memory"] / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # unlimited
    (dirs["memory"] / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
    (dirs["blkio"] / "blkio.throttle.io_service_bytes_recursive").write_text("8:0 Read 10\n8:0 Write 20\nTotal 30\n")
    (dirs["pids"] / "pids.current").write_text("2\n")
    s = stats.sample(_running(cid))  # type: ignore[arg-type]
    assert (s.cpu_ns, s.mem_usage, s.mem_limit, s.blk_read, s.blk_write, s.pids) == (
        123456789, 4_000_000, stats.host_memory(), 10, 20, 2,
    )  # fmt: skip
    cgroups.update(cid, cgroups.Limits(memory=64 << 20, cpus=0.5, pids=7))
    assert (dirs["memory"] / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (dirs["memory"] / "memory.memsw.limit_in_bytes").read_text() == str(64 << 20)
    assert (dirs["cpu"] / "cpu.cfs_quota_us").read_text() == "50000"
    assert (dirs["pids"] / "pids.max").read_text() == "7"
    # the container gone (its directories removed): zeros, no error
    import shutil

    for x in dirs.values():
        shutil.rmtree(x)
    gone = stats.sample(_running(cid))  # type: ignore[arg-type]
    assert (gone.cpu_ns, gone.mem_usage, gone.pids) == (0, 0, 0)


def test_a_processes_own_counters_for_v1_without_cpuacct_or_blkio() -> None:
    import os
    import time

    from ketch.runtime import stats

    before = stats.proc_cpu_ns(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert stats.proc_cpu_ns(os.getpid()) > before
    assert stats.proc_cpu_ns(2**22 + 12345) == 0  # no such process
    io_text = (
        "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"
    )
    assert stats.parse_proc_io(io_text) == (4096, 8192)
    assert stats.parse_proc_io("") == (0, 0)


def test_info_says_when_the_monitor_is_missing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from ketch.runtime import process, system

    i = system.info(store, "9.9")
    assert i.monitor is not None and i.monitor.endswith("ketch-monitor") and i.monitor_problem == ""
    assert (i.version, i.containers, i.images, i.storage_driver, i.root) == ("9.9", 0, 0, "overlay2", str(store.root))

    def missing() -> str:
        raise KetchError("/x/ketch-monitor is missing: ketch starts container processes only through it")

    monkeypatch.setattr(process, "helper_program", missing)
    i = system.info(store)
    assert i.monitor is None and "ketch-monitor is missing" in i.monitor_problem


def test_a_new_store_has_no_events(store: Store) -> None:
    assert events.past(store) == []
    f = events.follow(store, interval=0)
    assert next(f) is None
    events.record(store, "volume", "create", "first")  # the log made after the follower started
    got = [e for e in (next(f) for _ in range(5)) if e is not None]
    assert [e.id for e in got] == ["first"]
