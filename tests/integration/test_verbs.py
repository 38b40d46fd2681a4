"""The everyday verbs docker users type: version, info, events, stats,
attach, export, update, the prunes, system df and the `container ...` group,
against real containers (no network), with docker's columns and exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.ketch import KETCH, Ketch, requires_root
from support.net import remove_networks
from support.wait import wait_for

pytestmark = requires_root

EVENT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (\w+) (\w+) (\S+) \((.*)\)$")


@pytest.fixture
def bb(ketch: Ketch) -> str:
    return ketch.import_busybox("bb")


def _cgroup_file(ketch: Ketch, cid: str, controller: str, name: str) -> Path:
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    base = Path("/sys/fs/cgroup") if v2 else Path("/sys/fs/cgroup") / controller
    return base / ketch.cgroup_parent / cid / name


def test_version_has_a_client_and_an_engine(ketch: Ketch) -> None:
    r = ketch("version")
    assert r.rc == 0, r.err
    assert r.out.startswith("Client:\n Version:")
    assert "\nServer: ketch (daemonless)\n Engine:\n  Version:" in r.out
    assert "ketch-monitor" in r.out
    doc = json.loads(ketch("version", "--format", "{{json .}}").out)
    assert doc["Client"]["Version"] == doc["Server"]["Version"]
    assert ketch("version", "--format", "{{.Server.Os}}/{{.Client.Arch}}").out.strip().startswith("linux/")


def test_info_counts_containers_and_images_and_names_the_monitor(ketch: Ketch, bb: str) -> None:
    ketch("create", "--name", "stopped", bb, "true", check=True)
    ketch("run", "-d", "--name", "up", bb, "sleep", "30", check=True)
    try:
        r = ketch("info")
        assert r.rc == 0, r.err
        for line in (
            " Containers: 2",
            "  Running: 1",
            "  Paused: 0",
            "  Stopped: 1",
            " Images: 1",
            " Storage Driver: overlay2",
            " Cgroup Driver: cgroupfs",
            f" Docker Root Dir: {ketch.root}",
        ):
            assert line in r.out.splitlines(), (line, r.out)
        version = "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"
        assert f" Cgroup Version: {version}" in r.out.splitlines()
        monitor = next(x for x in r.out.splitlines() if x.startswith(" Monitor: "))
        assert monitor.endswith("/ketch-monitor") and Path(monitor.split(": ", 1)[1]).is_file()
        assert ketch("system", "info", "--format", "{{.Images}}").out.strip() == "1"
    finally:
        ketch("rm", "-f", "up", "stopped")


def test_events_of_a_run_in_dockers_line_format(ketch: Ketch, bb: str) -> None:
    ketch("run", "--rm", "--name", "ev", bb, "sh", "-c", "exit 3")
    r = ketch("events", "--since", "1m", "--until", "0s")
    assert r.rc == 0, r.err
    parsed = [EVENT_LINE.match(x) for x in r.out.splitlines()]
    assert all(parsed), r.out
    container = [(m[1], m[2], m[4]) for m in parsed if m and m[1] == "container"]
    assert [a for _, a, _ in container] == ["create", "attach", "start", "die", "destroy"]  # docker's, attach too
    assert container[3][2] == "exitCode=3, image=bb, name=ev"
    # filters: the type and the action; --format
    only = ketch("system", "events", "--since", "1m", "--until", "0s", "--filter", "event=die")
    assert [EVENT_LINE.match(x)[2] for x in only.out.splitlines()] == ["die"]  # type: ignore[index]
    fmt = ketch("events", "--since", "1m", "--until", "0s", "-f", "type=container", "--format", "{{json .}}")
    docs = [json.loads(x) for x in fmt.out.splitlines()]
    assert docs[3]["Actor"]["Attributes"]["exitCode"] == "3" and docs[3]["status"] == "die"
    assert all(d["Type"] == "container" and d["scope"] == "local" for d in docs)
    assert ketch("events", "--since", "1m", "--until", "0s", "--filter", "image=nope").out == ""
    bad = ketch("events", "--since", "yesterday-ish", "--until", "0s")
    assert bad.rc != 0 and "Traceback" not in bad.err and len(bad.err.strip().splitlines()) == 1
    assert ketch("events", "--filter", "colour=red", "--until", "0s").rc != 0


def test_events_follow_until_and_a_detached_containers_die(ketch: Ketch, bb: str) -> None:
    # --since now: nothing from before (with --until alone docker shows what it kept, as ketch does)
    since, until = f"{time.time():.3f}", f"{time.time() + 6:.3f}"
    p = subprocess.Popen(
        [KETCH, "events", "--since", since, "--until", until, "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}"],
        stdout=subprocess.PIPE,
        text=True,
        env=ketch.env,
    )
    try:
        time.sleep(1.0)
        ketch("run", "-d", "--name", "dd", bb, "sh", "-c", "exit 7", check=True)
        assert wait_for(lambda: "Exited (7)" in ketch("ps", "-a").out)
        out, _ = p.communicate(timeout=20)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0
    lines = out.splitlines()
    assert lines[:3] == ["create <no value>", "start <no value>", "die 7"], out
    ketch("rm", "dd")
    assert "container destroy" in ketch("events", "--since", "30s", "--until", "0s").out


def test_stats_no_stream_columns_and_limits(ketch: Ketch, bb: str) -> None:
    cid = ketch("run", "-d", "--name", "st", "-m", "64m", bb, "sh", "-c", "sleep 30").out.strip()
    try:
        r = ketch("stats", "--no-stream")
        assert r.rc == 0, r.err
        head, row = r.out.splitlines()
        assert re.split(r"\s{2,}", head) == [
            "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS",
        ]  # fmt: skip
        cells = re.split(r"\s{2,}", row)
        assert cells[0] == cid[:12] and cells[1] == "st"
        assert re.fullmatch(r"\d+\.\d\d%", cells[2])
        assert re.fullmatch(r"[\d.]+(B|KiB|MiB) / 64MiB", cells[3]), cells[3]
        assert cells[5] == "0B / 0B"  # --network none: lo only, which docker does not count
        assert int(cells[7]) >= 1
        assert head.index("NAME") == 15  # docker's tabwriter: 3 spaces of padding, 10 at least
        doc = json.loads(ketch("stats", "--no-stream", "--format", "{{json .}}", "st").out)
        assert doc["Name"] == "st" and doc["ID"] == cid[:12] and doc["MemUsage"].endswith("/ 64MiB")
    finally:
        ketch("rm", "-f", "st")
    ketch("create", "--name", "idle", bb, "true", check=True)
    r = ketch("stats", "--no-stream", "-a")
    assert re.split(r"\s{2,}", r.out.splitlines()[1])[1:] == [
        "idle", "0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0",
    ]  # fmt: skip
    busy = ketch("run", "-d", "--name", "busy", bb, "sh", "-c", "while :; do :; done").out.strip()
    try:
        cpu = ketch("stats", "--no-stream", "--format", "{{.CPUPerc}} {{.PIDs}}", busy).out.split()
        assert float(cpu[0].rstrip("%")) > 20 and cpu[1] == "1", cpu  # a CPU's worth is 100%
    finally:
        ketch("rm", "-f", "busy")
    missing = ketch("stats", "--no-stream", "nope")
    assert missing.rc == 1 and missing.err.strip() == "Error response from daemon: No such container: nope"


def test_stats_of_a_container_that_exits_mid_read(ketch: Ketch, bb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first sample taken, the container gone (cgroups removed) before
    the second: zeros, no error (the library, where the two reads are)."""
    from ketch import config
    from ketch.runtime import stats as st
    from ketch.runtime.state import lookup
    from ketch.store import Store

    ketch("run", "-d", "--name", "brief", bb, "sleep", "1", check=True)
    monkeypatch.setenv("KETCH_CGROUP_PARENT", ketch.cgroup_parent)
    monkeypatch.setattr(config, "_process", None)
    s = Store(ketch.root)
    try:
        c = lookup(s, "brief")
        first = st.sample(c)
        assert first.pids >= 1
        assert wait_for(lambda: ketch("ps", "-q").out == "")
        rows, _ = st.collect([c], {c.id: first})  # c still says running: its cgroup files are gone
        assert rows[0].pids == 0 and rows[0].mem_usage == 0 and rows[0].cpu_percent == 0.0
    finally:
        s.close()
    r = ketch("stats", "--no-stream", "-a", "brief")
    assert r.rc == 0 and "brief" in r.out


def test_update_writes_the_limits_of_a_running_container(ketch: Ketch, bb: str) -> None:
    cid = ketch("run", "-d", "--name", "up", bb, "sleep", "30").out.strip()
    try:
        r = ketch("update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "up")
        assert (r.rc, r.out) == (0, "up\n"), r.err
        if Path("/sys/fs/cgroup/cgroup.controllers").exists():
            assert _cgroup_file(ketch, cid, "", "memory.max").read_text().strip() == str(64 << 20)
            assert _cgroup_file(ketch, cid, "", "cpu.max").read_text().split() == ["50000", "100000"]
        else:
            assert _cgroup_file(ketch, cid, "memory", "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
            assert _cgroup_file(ketch, cid, "cpu", "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert _cgroup_file(ketch, cid, "pids", "pids.max").read_text().strip() == "50"
        # and the container sees it: a fork bomb beyond 50 fails
        assert ketch("stats", "--no-stream", "--format", "{{.MemUsage}}", "up").out.strip().endswith("/ 64MiB")
        bad = ketch("update", "--memory", "lots", "up")
        assert bad.rc != 0 and "invalid size" in bad.err and "Traceback" not in bad.err
        none = ketch("update", "up")
        assert (none.rc, none.err.strip()) == (125, "you must provide one or more flags when using this command")
        missing = ketch("update", "--pids-limit", "9", "nope")
        assert missing.rc == 1 and "No such container: nope" in missing.err
    finally:
        ketch("rm", "-f", "up")


def test_attach_streams_the_output_and_returns_the_exit_code(ketch: Ketch, bb: str) -> None:
    ketch(
        "run", "-d", "--name", "at", bb, "sh", "-c", "sleep 1.5; echo out-line; echo err-line >&2; exit 5", check=True
    )
    p = subprocess.run([KETCH, "attach", "at"], capture_output=True, text=True, env=ketch.env, timeout=30)
    assert p.returncode == 5, p.stderr
    assert p.stdout == "out-line\n" and p.stderr == "err-line\n"
    r = ketch("attach", "at")
    assert (r.rc, r.err.strip()) == (1, "You cannot attach to a stopped container, start it first")
    ketch("rm", "at")


def test_attach_proxies_sigint_to_the_container(ketch: Ketch, bb: str) -> None:
    ketch("run", "-d", "--name", "sig", bb, "sh", "-c", "trap 'echo got-int; exit 9' INT; while :; do sleep 0.1; done",
          check=True)  # fmt: skip
    p = subprocess.Popen([KETCH, "attach", "sig"], stdout=subprocess.PIPE, text=True, env=ketch.env)
    try:
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=20)
    finally:
        p.kill()
        p.wait()
    assert (p.returncode, out) == (9, "got-int\n")
    ketch("rm", "-f", "sig")


def test_export_is_the_merged_rootfs_and_keeps_a_symlink_out_a_link(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    """Hostile: the container links /evil to the host's /etc/shadow; the
    archive holds the link, never the host file's bytes."""
    ketch("run", "--name", "ex", bb, "sh", "-c",
          "ln -s /etc/shadow /evil; ln -s ../../../../../etc/shadow /evil2; echo data > /newfile; rm /bin/ls",
          check=True)  # fmt: skip
    r = subprocess.run([KETCH, "export", "ex"], capture_output=True, env=ketch.env, timeout=60)
    assert r.returncode == 0, r.stderr
    shadow = Path("/etc/shadow").read_bytes()
    assert shadow[:40] not in r.stdout or not shadow
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        members = {m.name.lstrip("./"): m for m in tf.getmembers()}
        assert members["evil"].issym() and members["evil"].linkname == "/etc/shadow"
        assert members["evil2"].issym() and members["evil2"].size == 0
        newfile = tf.extractfile(members["newfile"])
        assert newfile is not None and newfile.read() == b"data\n"
        assert "bin/ls" not in members and "bin/busybox" in members
        assert not any(n.startswith(".wh.") or "/.wh." in n for n in members)
    out = tmp_path / "ex.tar"
    assert ketch("export", "-o", str(out), "ex").rc == 0
    assert out.read_bytes() == r.stdout
    assert list(tmp_path.glob("ex.tar.ketch-tmp-*")) == []
    missing = ketch("export", "-o", str(tmp_path / "n.tar"), "nope")
    assert missing.rc == 1 and not (tmp_path / "n.tar").exists()
    ketch("rm", "ex")


def test_container_prune_keeps_running_ones(ketch: Ketch, bb: str) -> None:
    gone = ketch("create", "--name", "old", bb, "true").out.strip()
    ketch("run", "--name", "done", bb, "sh", "-c", "head -c 1000 /dev/zero > /f", check=True)
    keep = ketch("run", "-d", "--name", "live", bb, "sleep", "30").out.strip()
    try:
        r = ketch("container", "prune", "-f")
        assert r.rc == 0, r.err
        lines = r.out.splitlines()
        assert lines[0] == "Deleted Containers:" and gone in lines and keep not in lines and len(lines) == 5
        assert lines[-2:] == ["", "Total reclaimed space: 1kB"]
        assert ketch("ps", "-a", "-q", "--no-trunc").out.split() == [keep]
        # without -f: docker's question, and "n" removes nothing
        ketch("create", "--name", "again", bb, "true", check=True)
        r = ketch("container", "prune", input="n\n")
        assert r.out.startswith(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
        )
        assert "again" in ketch("ps", "-a").out
    finally:
        ketch("rm", "-f", "live", "again")


def test_prunes_take_dockers_filters(ketch: Ketch, bb: str) -> None:
    """until=, label= and label!= as docker's daemon reads them, for
    containers, images and volumes (networks: test_network); a bad filter
    is one line and removes nothing."""
    for name, label in (("c-a", "tier=a"), ("c-b", "tier=b")):
        ketch("create", "--name", name, "--label", label, bb, "true", check=True)
    ketch("create", "--name", "c-none", bb, "true", check=True)
    names = lambda: sorted(ketch("ps", "-a", "--format", "{{.Names}}").out.split())  # noqa: E731
    for bad, says in ((["bogus=1"], "invalid filter 'bogus'"), (["until=1h", "until=2h"], "more than one until"),
                      (["until=soon"], "failed to parse value as time")):  # fmt: skip
        r = ketch("container", "prune", "-f", *(x for f in bad for x in ("--filter", f)))
        assert r.rc != 0 and says in r.err and r.err.count("\n") == 1, r.err
    assert names() == ["c-a", "c-b", "c-none"]
    assert "Deleted Containers:" not in ketch("container", "prune", "-f", "--filter", "until=2001-01-01").out
    r = ketch("container", "prune", "-f", "--filter", "label=tier=a")
    assert r.rc == 0 and names() == ["c-b", "c-none"], r.out + r.err
    assert ketch("container", "prune", "-f", "--filter", "label!=tier").rc == 0
    assert names() == ["c-b"]
    assert ketch("container", "prune", "-f", "--filter", "until=0s").rc == 0 and names() == []
    # images: by their config's labels and Created
    ketch("create", "--name", "src", bb, "true", check=True)
    ketch("commit", "-c", "LABEL stage=tmp", "src", "lab:1", check=True)
    ketch("commit", "src", "plain:1", check=True)
    ketch("rm", "src", check=True)
    tags = lambda: sorted(ketch("images", "--format", "{{.Repository}}:{{.Tag}}").out.split())  # noqa: E731
    before = tags()
    assert ketch("image", "prune", "-a", "-f", "--filter", "until=2001-01-01T00:00:00Z").rc == 0 and tags() == before
    r = ketch("image", "prune", "-a", "-f", "--filter", "label=stage=tmp")
    assert r.rc == 0 and "untagged: lab:1" in r.out and tags() == [t for t in before if t != "lab:1"], r.out
    # volumes: labels only (a volume has no until)
    ketch("volume", "create", "--label", "keep=1", "v-keep", check=True)
    ketch("volume", "create", "v-go", check=True)
    r = ketch("volume", "prune", "-a", "-f", "--filter", "until=1h")
    assert r.rc != 0 and "invalid filter 'until'" in r.err
    r = ketch("system", "prune", "-f", "--volumes", "--filter", "until=24h")  # docker's CLI refuses it too
    assert r.rc != 0 and 'The "until" filter is not supported with "--volumes"' in r.err, r.err
    assert sorted(ketch("volume", "ls", "-q").out.split()) == ["v-go", "v-keep"]
    r = ketch("volume", "prune", "-a", "-f", "--filter", "label!=keep")
    assert r.rc == 0 and ketch("volume", "ls", "-q").out.split() == ["v-keep"], r.out + r.err
    ketch("volume", "rm", "v-keep", check=True)


def test_image_prune_never_removes_an_image_a_container_uses(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    """Hostile for a prune: an untagged image a (stopped) container was made from stays."""
    from support.imagekit import Entry, busybox_entries, tar_bytes

    ids = []
    for n in range(2):
        tar = tmp_path / f"u{n}.tar"
        tar.write_bytes(tar_bytes([*busybox_entries(), Entry(f"marker{n}", data=b"x" * (n + 1))]))
        ids.append(ketch("import", str(tar)).out.strip())
    used, unused = ids
    ketch("create", "--name", "user", used, "true", check=True)
    r = ketch("image", "prune", "-f")
    assert r.rc == 0, r.err
    assert r.out.startswith("Deleted Images:\ndeleted: " + unused + "\n")
    assert r.out.endswith("\nTotal reclaimed space: " + r.out.rsplit(": ", 1)[1])
    left = ketch("images", "-q", "--no-trunc").out.split()
    assert used in left and unused not in left and any(x for x in left if x != used)  # bb stays: tagged
    # -a: every image no container uses; bb goes, the used one stays
    r = ketch("image", "prune", "-a", "-f")
    assert "untagged: bb:latest" in r.out.splitlines()
    assert ketch("images", "-q", "--no-trunc").out.split() == [used]
    ketch("rm", "user")
    assert ketch("image", "prune", "-f").out.startswith("Deleted Images:\ndeleted: " + used)


def test_system_df_and_prune(ketch: Ketch, bb: str) -> None:
    ketch("create", "--name", "c1", bb, "true", check=True)
    r = ketch("system", "df")
    assert r.rc == 0, r.err
    rows = [re.split(r"\s{2,}", x) for x in r.out.splitlines()]
    assert rows[0] == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [x[0] for x in rows[1:]] == ["Images", "Containers", "Local Volumes", "Build Cache"]
    assert rows[1][1:3] == ["1", "1"] and rows[1][4].endswith("B (0%)")
    assert rows[2][1:3] == ["1", "0"]
    ketch("volume", "create", "named", check=True)
    r = ketch("system", "prune", "-f", "--volumes")
    assert r.rc == 0, r.err
    assert r.out.startswith("Deleted Containers:\n")
    assert r.out.endswith("Total reclaimed space: 0B\n")
    assert ketch("ps", "-aq").out == ""
    assert ketch("images", "-q").out.strip() != ""  # tagged: not dangling
    assert "named" in ketch("volume", "ls", "-q").out  # named volumes stay (docker 23+)
    r = ketch("system", "prune", "-a", "-f")
    assert "untagged: bb:latest" in r.out
    assert ketch("images", "-q").out == ""
    q = ketch("system", "prune", input="\n")
    assert q.out.startswith("WARNING! This will remove:\n  - all stopped containers\n")
    ketch("volume", "rm", "named")


def test_builder_prune_forgets_the_step_cache(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM bb\nRUN echo hi > /x\nLABEL a=b\n")
    assert ketch("build", "--network", "none", "-t", "b1", str(ctx)).rc == 0
    assert "Using cache" in ketch("build", "--network", "none", "-t", "b1", str(ctx)).out
    # without -a only the dangling cache goes (docker's): b1's steps are kept by b1
    r = ketch("builder", "prune", "-f")
    assert r.rc == 0 and r.out == "Total reclaimed space: 0B\n", r.err
    assert "Using cache" in ketch("build", "--network", "none", "-t", "b1", str(ctx)).out
    r = ketch("builder", "prune", "-a", "-f")
    assert r.rc == 0, r.err
    assert r.out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert "Using cache" not in ketch("build", "--network", "none", "-t", "b1", str(ctx)).out


def test_builder_prune_frees_the_dangling_cache_and_with_a_all_of_it(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM bb\nRUN head -c 300000 /dev/urandom > /blob\nLABEL v=1\n")
    first = ketch("build", "-q", "--network", "none", "-t", "bp", str(ctx)).out.strip()
    (ctx / "Dockerfile").write_text("FROM bb\nRUN head -c 200000 /dev/urandom > /blob\nLABEL v=2\n")
    second = ketch("build", "-q", "--network", "none", "-t", "bp", str(ctx)).out.strip()
    assert first != second  # the first build's images are dangling now: bp names the second
    r = ketch("builder", "prune", "-f")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "Deleted build cache objects:" and first in lines, r.out
    assert second not in lines
    size = lines[-1].removeprefix("Total reclaimed space: ")
    assert size.endswith("kB") and 300 <= float(size[:-2]) < 400, r.out  # the 300 kB layer of the first RUN
    assert ketch("image", "inspect", first).rc != 0 and ketch("image", "inspect", "bp").rc == 0
    # -a: the rest of the cache (the second build's steps) forgotten; bp and its layers stay
    r = ketch("builder", "prune", "-a", "-f")
    assert r.rc == 0 and r.out.startswith("Deleted build cache objects:\n") and second in r.out, r.out
    assert r.out.endswith("Total reclaimed space: 0B\n")
    assert ketch("run", "--rm", "bp", "wc", "-c", "/blob").out.split()[0] == "200000"
    assert ketch("builder", "prune", "-a", "-f").out == "Total reclaimed space: 0B\n"


def test_volume_prune_reports_the_space_it_freed(ketch: Ketch, bb: str) -> None:
    ketch("run", "--name", "vp", "-v", "/data", bb, "sh", "-c", "head -c 500000 /dev/zero > /data/f", check=True)
    ketch("rm", "vp", check=True)  # the anonymous volume stays, unused
    ketch("volume", "create", "keepme", check=True)
    r = ketch("volume", "prune", "-f")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "Deleted Volumes:" and len(lines) == 4 and "keepme" not in r.out, r.out
    assert lines[-1] == "Total reclaimed space: 500kB", r.out
    assert ketch("volume", "ls", "-q").out == "keepme\n"
    assert ketch("volume", "prune", "-f").out == "Total reclaimed space: 0B\n"
    assert ketch("volume", "prune", "-a", "-f").out == "Deleted Volumes:\nkeepme\n\nTotal reclaimed space: 0B\n"


def test_volume_prune_of_a_link_out_removes_the_link_only(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    host = tmp_path / "host-data"
    host.mkdir()
    (host / "precious").write_bytes(b"x" * 300_000)
    # the container makes links out of its volume: to a host directory and to a host file
    script = f"ln -s {host} /data/out && ln -s {host}/precious /data/file && head -c 1000 /dev/zero > /data/f"
    ketch("run", "--name", "vl", "-v", "/data", bb, "sh", "-c", script, check=True)
    ketch("rm", "vl", check=True)
    r = ketch("volume", "prune", "-f")
    assert r.rc == 0, r.err
    size = r.out.splitlines()[-1].removeprefix("Total reclaimed space: ")
    assert size.endswith("kB") and float(size[:-2]) < 2, r.out  # the links by their own size, never followed
    assert (host / "precious").read_bytes() == b"x" * 300_000  # the host's files are untouched
    assert ketch("volume", "ls", "-q").out == ""


def test_the_container_group_has_the_container_verbs(ketch: Ketch, bb: str) -> None:
    r = ketch("container", "run", "--name", "gg", bb, "echo", "hi")
    assert (r.rc, r.out) == (0, "hi\n"), r.err
    assert ketch("container", "ls", "-a", "-q").out == ketch("ps", "-a", "-q").out
    head = re.split(r"\s{2,}", ketch("container", "ls", "-a").out.splitlines()[0])
    assert head == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert ketch("container", "ps", "-aq").out == ketch("container", "list", "-aq").out != ""
    doc = json.loads(ketch("container", "inspect", "gg").out)
    assert doc[0]["Name"] == "/gg"
    missing = ketch("container", "inspect", "bb")  # an image is not a container
    assert missing.rc == 1 and "No such container: bb" in missing.err
    assert ketch("container", "rm", "gg").out == "gg\n"
    ketch("container", "run", "-d", "--name", "dl", bb, "echo", "logged", check=True)
    assert wait_for(lambda: ketch("container", "logs", "dl").out == "logged\n")
    assert ketch("container", "wait", "dl").out == "0\n"
    assert ketch("container", "rm", "dl").out == "dl\n"
    helptext = ketch("container", "--help").out
    for verb in ("attach", "export", "prune", "stats", "update", "ls", "run", "exec"):
        assert re.search(rf"^\s+{verb}\s", helptext, re.M), verb


def test_image_and_volume_events(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    image_id = json.loads(ketch("image", "inspect", "bb").out)[0]["Id"]
    ketch("tag", "bb", "other:v1", check=True)
    ketch("save", "-o", str(tmp_path / "s.tar"), "other:v1", check=True)
    ketch("rmi", "other:v1", check=True)
    ketch("load", "-i", str(tmp_path / "s.tar"), check=True)
    ketch("volume", "create", "vv", check=True)
    ketch("volume", "rm", "vv", check=True)
    r = ketch(
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}",
    )
    lines = r.out.splitlines()
    assert lines == [
        f'image import {image_id} {{"name":"{image_id}"}}',
        f'image tag {image_id} {{"name":"other:v1"}}',
        f'image save {image_id} {{"name":"other:v1"}}',
        f'image untag {image_id} {{"name":"{image_id}"}}',
        f'image tag {image_id} {{"name":"other:v1"}}',  # the loaded image's name, then the load, as docker's
        f'image load {image_id} {{"name":"{image_id}"}}',
        'volume create vv {"driver":"local"}',
        'volume destroy vv {"driver":"local"}',
    ], r.out
    assert (
        ketch("events", "--since", "1m", "--until", "0s", "--filter", "type=volume", "--filter", "volume=vv").out.count(
            "volume"
        )
        == 2
    )


def test_exec_events_carry_the_command_the_exec_id_and_its_exit_code(ketch: Ketch, bb: str) -> None:
    cid = ketch("run", "-d", "--name", "ex", bb, "sleep", "60").out.strip()
    try:
        since = f"{time.time():.3f}"
        assert ketch("exec", "ex", "sh", "-c", "exit 3").rc == 3
        assert ketch("exec", "ex", "true").rc == 0
        assert ketch("exec", "ex", "/no/such/program").rc != 0
        until = f"{time.time():.3f}"
        fmt = "{{.Action}}|{{.Actor.ID}}|{{.Actor.Attributes.execID}}|{{.Actor.Attributes.exitCode}}"
        r = ketch("events", "--since", since, "--until", until, "--format", fmt, "-f", "type=container")
        assert r.rc == 0, r.err
        rows = [x.split("|") for x in r.out.splitlines()]
        assert [a for a, *_ in rows] == [
            "exec_create: sh -c exit 3", "exec_start: sh -c exit 3", "exec_die",
            "exec_create: true ", "exec_start: true ", "exec_die",  # docker's: the entrypoint, a space, the args
            "exec_create: /no/such/program ",  # it never started: no exec_start, no exec_die
        ], r.out  # fmt: skip
        assert all(i == cid for _, i, _, _ in rows)
        ids = [x for _, _, x, _ in rows]
        assert re.fullmatch(r"[0-9a-f]{64}", ids[0]) and ids[0] == ids[1] == ids[2] != ids[3] == ids[4] == ids[5]
        assert [code for a, _, _, code in rows if a == "exec_die"] == ["3", "0"]
        assert [code for a, _, _, code in rows if a != "exec_die"] == ["<no value>"] * 5
        # --filter event=exec_die matches the action's name, --until before them shows none
        only = ketch("events", "--since", since, "--until", until, "-f", "event=exec_die", "--format", "{{.Action}}")
        assert only.out.splitlines() == ["exec_die", "exec_die"]
        assert ketch("events", "--since", since, "--until", since, "-f", "event=exec_die").out == ""
    finally:
        ketch("rm", "-f", "ex")


def test_commit_events_are_dockers(ketch: Ketch, bb: str) -> None:
    cid = ketch("run", "-d", "--name", "cm", "--label", "team=a", bb, "sleep", "60").out.strip()
    try:
        since = f"{time.time():.3f}"
        tagged = ketch("commit", "-m", "first", "cm", "snap:v1").out.strip()
        untagged = ketch("commit", "--pause=false", "cm").out.strip()
        r = ketch("events", "--since", since, "--until", "0s", "--format",
                  "{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}")  # fmt: skip
        assert r.rc == 0, r.err
        lines = r.out.splitlines()
        attrs = {"image": "bb", "name": "cm", "team": "a"}
        assert [x.split(" ", 3)[:3] for x in lines] == [
            ["container", "pause", cid], ["container", "unpause", cid],
            ["image", "tag", tagged], ["container", "commit", cid],
            ["container", "commit", cid],  # --pause=false: not paused
        ], r.out  # fmt: skip
        assert json.loads(lines[2].split(" ", 3)[3]) == {"name": "snap:v1"}
        first = json.loads(lines[3].split(" ", 3)[3])
        assert first == {**attrs, "comment": "first", "imageID": tagged, "imageRef": "snap:v1"}
        second = json.loads(lines[4].split(" ", 3)[3])
        assert second == {**attrs, "comment": "", "imageID": untagged, "imageRef": ""}
    finally:
        ketch("rm", "-f", "cm")


def test_a_build_tags_its_image_as_dockers_legacy_builder_does(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM bb\nRUN echo hi > /x\n")
    since = f"{time.time():.3f}"
    r = ketch("build", "-q", "--network", "none", "-t", "built:v1", "-t", "built:v2", str(tmp_path))
    assert r.rc == 0, r.err
    image_id = r.out.strip()
    r = ketch("events", "--since", since, "--until", "0s", "-f", "type=image", "--format",
              "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}")  # fmt: skip
    assert r.out.splitlines() == [f"tag {image_id} built:v1", f"tag {image_id} built:v2"], r.out


BRIDGES_V = f"khv{os.getpid() % 1000}n"  # this run's bridges (test_network.py's fixture, our own names)
CHAINS_V = "KHVTEST"


@pytest.fixture
def bridged(ketch: Ketch, bb: str) -> Iterator[Ketch]:
    """A ketch whose networks are bridges and chains of this test's own, all removed afterwards."""
    ketch.env.update({"KETCH_BRIDGE_PREFIX": BRIDGES_V, "KETCH_CHAIN_PREFIX": CHAINS_V})
    yield ketch
    remove_networks(ketch, BRIDGES_V, CHAINS_V)


def test_network_prune_keeps_a_network_in_use_and_its_events(bridged: Ketch, bb: str) -> None:
    ketch = bridged
    free_id = ketch("network", "create", "--subnet", "10.231.1.0/24", "free").out.strip()
    used_id = ketch("network", "create", "--subnet", "10.231.2.0/24", "used").out.strip()
    cid = ketch("run", "-d", "--network", "used", "--name", "on", bb, "sleep", "30").out.strip()
    assert cid, ketch("ps", "-a").out
    r = ketch("network", "prune", "-f")
    assert (r.rc, r.out) == (0, "Deleted Networks:\nfree\n\n"), r.err
    assert [x.split()[1] for x in ketch("network", "ls").out.splitlines()[1:]].count("used") == 1
    ketch("rm", "-f", "on", check=True)
    r = ketch("events", "--since", "1m", "--until", "0s", "--filter", "type=network", "--format",
              "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}")  # fmt: skip
    assert r.out.splitlines() == [
        f"create {free_id} free <no value>",
        f"create {used_id} used <no value>",
        f"connect {used_id} used {cid}",
        f"destroy {free_id} free <no value>",
        f"disconnect {used_id} used {cid}",
    ], r.out
