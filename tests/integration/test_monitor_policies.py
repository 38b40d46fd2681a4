"""What a detached container's monitor does besides running it (issue 12):
restart policies with docker's back-off and `ketch system boot` after a
reboot, healthchecks (the flags and the image's HEALTHCHECK) and the
json-file log's rotation; with hostile inputs: a probe that floods, one that
hangs, a container that exits at once forever, a garbage size."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from support.ketch import Ketch, requires_root
from support.wait import wait_for

pytestmark = requires_root


@pytest.fixture
def box(ketch: Ketch) -> str:
    return ketch.import_busybox("box")


def state(ketch: Ketch, name: str) -> dict[str, Any]:
    doc = json.loads(ketch("inspect", name).out)[0]
    return {**doc["State"], "RestartCount": doc["RestartCount"]}


def run_d(ketch: Ketch, *args: str) -> str:
    r = ketch("run", "-d", *args)
    assert r.rc == 0, r.err
    return r.out.strip()


def cdir(ketch: Ketch, cid: str) -> Path:
    return Path(ketch.root) / "containers" / cid


def status(ketch: Ketch, name: str) -> str:
    """ps's STATUS column of `name`."""
    lines = ketch("ps", "-a").out.splitlines()
    start = lines[0].index("STATUS")
    end = lines[0].index("PORTS")
    row = next(x for x in lines[1:] if x.rstrip().endswith(name))
    return row[start:end].strip()


# -- restart policies ------------------------------------------------------------


def test_on_failure_2_restarts_twice_then_stops(ketch: Ketch, box: str) -> None:
    run_d(ketch, "--name", "of", "--restart", "on-failure:2", box, "sh", "-c", "echo ran; exit 3")
    assert wait_for(lambda: state(ketch, "of")["Status"] == "exited", timeout=15)
    s = state(ketch, "of")
    assert (s["RestartCount"], s["ExitCode"], s["Restarting"]) == (2, 3, False)
    assert ketch("logs", "of").out == "ran\nran\nran\n"  # the first run and two restarts
    doc = json.loads(ketch("inspect", "of").out)[0]
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    time.sleep(0.5)
    assert state(ketch, "of")["RestartCount"] == 2  # and no more


def test_on_failure_leaves_a_clean_exit_be(ketch: Ketch, box: str) -> None:
    run_d(ketch, "--name", "ok", "--restart", "on-failure", box, "true")
    assert wait_for(lambda: state(ketch, "ok")["Status"] == "exited")
    time.sleep(0.4)
    s = state(ketch, "ok")
    assert (s["Status"], s["RestartCount"], s["ExitCode"]) == ("exited", 0, 0)


def test_always_restarts_after_an_exit_and_not_after_stop(ketch: Ketch, box: str) -> None:
    run_d(ketch, "--name", "al", "--restart", "always", box, "sh", "-c", "echo up; sleep 0.3")
    assert wait_for(lambda: state(ketch, "al")["RestartCount"] >= 2, timeout=15)
    assert ketch("logs", "al").out.count("up\n") >= 2
    r = ketch("stop", "-t", "2", "al")
    assert r.rc == 0, r.err
    s = state(ketch, "al")
    assert s["Status"] == "exited", s
    count = s["RestartCount"]
    time.sleep(1.5)  # longer than any back-off it had reached
    s = state(ketch, "al")
    assert (s["Status"], s["RestartCount"]) == ("exited", count)
    assert ketch("ps", "-q").out == ""


def test_stop_ends_a_container_waiting_to_restart(ketch: Ketch, box: str) -> None:
    run_d(ketch, "--name", "wt", "--restart", "always", box, "false")
    assert wait_for(lambda: status(ketch, "wt").startswith("Restarting ("), timeout=15)

    def restarting() -> bool:  # read again: its back-off may end between two commands
        s = state(ketch, "wt")
        return (s["Status"], s["Restarting"], s["Running"]) == ("restarting", True, True)

    assert wait_for(restarting, timeout=15)
    t0 = time.monotonic()
    assert ketch("stop", "wt").rc == 0
    assert time.monotonic() - t0 < 5
    assert wait_for(lambda: state(ketch, "wt")["Status"] == "exited")


def test_unless_stopped_and_always_come_back_after_a_reboot(ketch: Ketch, box: str) -> None:
    ids = {
        n: run_d(ketch, "--name", n, "--restart", p, box, "sleep", "600")
        for n, p in [
            ("us", "unless-stopped"),
            ("us-stopped", "unless-stopped"),
            ("al-stopped", "always"),
            ("none", "no"),
        ]  # fmt: skip
    }
    for n in ("us-stopped", "al-stopped"):
        assert ketch("stop", "-t", "1", n).rc == 0
    # the reboot: every monitor and container process gone, nothing recorded
    for n in ("us", "none"):
        pid = state(ketch, n)["Pid"]
        monitor = int((cdir(ketch, ids[n]) / "monitor.pid").read_text().split()[0])
        os.kill(monitor, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: ketch("ps", "-q").out == "")
    r = ketch("system", "boot")
    assert r.rc == 0, r.err
    assert sorted(r.out.split()) == ["al-stopped", "us"]  # always: even stopped by hand, as dockerd does
    running = ketch("ps").out
    assert "us-stopped" not in running and " none" not in running
    assert state(ketch, "us")["Running"] and state(ketch, "al-stopped")["Running"]
    assert ketch("system", "boot").out == ""  # running ones are left be
    # and the restarted one still obeys stop
    assert ketch("stop", "-t", "1", "us").rc == 0
    assert state(ketch, "us")["Status"] == "exited"


def test_a_container_that_exits_at_once_backs_off(ketch: Ketch, box: str) -> None:
    cid = run_d(ketch, "--name", "loop", "--restart", "always", box, "true")
    monitor = int((cdir(ketch, cid) / "monitor.pid").read_text().split()[0])
    time.sleep(3.5)
    # 100 + 200 + 400 + 800 + 1600 ms: five or six restarts in 3.5 s, not hundreds
    count = state(ketch, "loop")["RestartCount"]
    assert 3 <= count <= 7, count
    fields = Path(f"/proc/{monitor}/stat").read_text().rpartition(")")[2].split()
    cpu_ticks = int(fields[11]) + int(fields[12])  # utime + stime of the monitor
    assert cpu_ticks < 0.3 * os.sysconf("SC_CLK_TCK") * 3.5, cpu_ticks  # well under a third of a core
    ketch("rm", "-f", "loop", check=True)
    assert wait_for(lambda: not Path(f"/proc/{monitor}").exists() or "Z" in Path(f"/proc/{monitor}/stat").read_text())


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--restart", "sometimes"], "invalid restart policy"),
        (["--restart", "always:3"], "maximum retry count can only be used with 'on-failure'"),
        (["--restart", "on-failure:x"], "maximum retry count must be an integer"),
        (["--rm", "--restart", "on-failure"], "Conflicting options: --restart and --rm"),
    ],
)
def test_bad_restart_policies_are_refused(ketch: Ketch, box: str, flags: list[str], message: str) -> None:
    r = ketch("run", *flags, box, "true")
    assert r.rc == 125 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert "Traceback" not in r.err
    assert ketch("ps", "-a", "-q").out == ""


# -- healthchecks ----------------------------------------------------------------


def health(ketch: Ketch, name: str) -> dict[str, Any]:
    return state(ketch, name)["Health"]


def test_health_goes_starting_healthy_unhealthy_and_ps_shows_it(ketch: Ketch, box: str) -> None:
    # failing probes in the start period do not count: it stays `starting`
    # however slow this machine is, until a probe succeeds
    run_d(ketch, "--name", "hc", "--health-cmd", "cat /tmp/ok", "--health-interval", "1s", "--health-retries", "2",
          "--health-start-period", "600s", box, "sleep", "600")  # fmt: skip
    assert health(ketch, "hc")["Status"] == "starting"
    assert status(ketch, "hc").endswith("(health: starting)")
    assert wait_for(lambda: len(health(ketch, "hc")["Log"]) >= 1, timeout=15)
    assert health(ketch, "hc")["Status"] == "starting"
    ketch("exec", "hc", "sh", "-c", "echo fine > /tmp/ok", check=True)
    assert wait_for(lambda: health(ketch, "hc")["Status"] == "healthy", timeout=15)
    assert status(ketch, "hc").endswith("(healthy)")
    h = health(ketch, "hc")
    assert h["FailingStreak"] == 0
    last = h["Log"][-1]
    assert (last["ExitCode"], last["Output"]) == (0, "fine\n") and last["Start"] <= last["End"]
    ketch("exec", "hc", "rm", "/tmp/ok", check=True)
    assert wait_for(lambda: health(ketch, "hc")["Status"] == "unhealthy", timeout=15)
    assert status(ketch, "hc").endswith("(unhealthy)")
    h = health(ketch, "hc")
    assert h["FailingStreak"] >= 2 and h["Log"][-1]["ExitCode"] == 1
    assert "No such file" in h["Log"][-1]["Output"]
    assert wait_for(lambda: len(health(ketch, "hc")["Log"]) == 5, timeout=15)  # docker keeps the last five
    time.sleep(1.2)
    assert len(health(ketch, "hc")["Log"]) == 5
    doc = json.loads(ketch("inspect", "hc").out)[0]
    assert doc["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "cat /tmp/ok"]
    ketch("rm", "-f", "hc", check=True)


def test_health_status_events_at_each_change(ketch: Ketch, box: str) -> None:
    since = f"{time.time():.3f}"
    cid = run_d(ketch, "--name", "hev", "--label", "team=a", "--health-cmd", "cat /tmp/ok", "--health-interval",
                "1s", "--health-retries", "1", box, "sh", "-c", "touch /tmp/ok; sleep 600")  # fmt: skip
    assert wait_for(lambda: health(ketch, "hev")["Status"] == "healthy", timeout=15)
    time.sleep(2.2)  # more healthy probes: no more events
    ketch("exec", "hev", "rm", "/tmp/ok", check=True)
    assert wait_for(lambda: health(ketch, "hev")["Status"] == "unhealthy", timeout=15)
    assert ketch("ps", "-q", "--no-trunc", "--filter", "health=unhealthy").out == f"{cid}\n"
    assert ketch("ps", "-q", "--filter", "health=healthy").out == ""
    ketch("exec", "hev", "touch", "/tmp/ok", check=True)
    assert wait_for(lambda: health(ketch, "hev")["Status"] == "healthy", timeout=15)
    fmt = "{{.Type}}|{{.Action}}|{{.Actor.ID}}|{{json .Actor.Attributes}}"
    r = ketch("events", "--since", since, "--until", "0s", "--filter", "event=health_status", "--format", fmt)
    assert r.rc == 0, r.err
    attrs = json.dumps({"image": "box", "name": "hev", "team": "a"}, separators=(",", ":"), sort_keys=True)
    assert r.out.splitlines() == [
        f"container|health_status: healthy|{cid}|{attrs}",
        f"container|health_status: unhealthy|{cid}|{attrs}",
        f"container|health_status: healthy|{cid}|{attrs}",
    ], r.out
    # docker's line format carries the action whole, and --until before them shows none
    line = ketch("events", "--since", since, "--until", "0s", "--filter", "event=health_status").out.splitlines()[0]
    assert f" container health_status: healthy {cid} (image=box, name=hev, team=a)" in line, line
    assert ketch("events", "--since", since, "--until", since, "-f", "event=health_status").out == ""
    ketch("rm", "-f", "hev", check=True)


def test_the_images_healthcheck_runs_and_no_healthcheck_turns_it_off(ketch: Ketch, box: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f'FROM {box}\nHEALTHCHECK --interval=1s --retries=1 CMD ["true"]\n')
    assert ketch("build", "--network", "none", "-q", "-t", "hcimg", str(ctx)).rc == 0
    run_d(ketch, "--name", "img", "hcimg", "sleep", "600")
    run_d(ketch, "--name", "off", "--no-healthcheck", "hcimg", "sleep", "600")
    assert wait_for(lambda: health(ketch, "img")["Status"] == "healthy", timeout=15)
    time.sleep(1.5)
    assert "Health" not in state(ketch, "off")
    assert "(health" not in status(ketch, "off") and status(ketch, "off").startswith("Up")
    assert (
        not (cdir(ketch, json.loads(ketch("inspect", "off").out)[0]["Id"]) / "state.json").read_text().count("Status")
    )
    r = ketch("run", "--no-healthcheck", "--health-cmd", "true", "hcimg", "true")
    assert r.rc == 125 and "--no-healthcheck conflicts with --health-* options" in r.err
    # a flag over the image's check, field by field: only the interval changes
    run_d(ketch, "--name", "slow", "--health-interval", "1h", "hcimg", "sleep", "600")
    hc = json.loads(ketch("inspect", "slow").out)[0]["Config"]["Healthcheck"]
    assert (hc["Test"], hc["Interval"], hc["Retries"]) == (["CMD", "true"], 3600 * 10**9, 1)
    for n in ("img", "off", "slow"):
        ketch("rm", "-f", n, check=True)


def test_a_probe_that_floods_keeps_4k(ketch: Ketch, box: str) -> None:
    cid = run_d(ketch, "--name", "fl", "--health-cmd", "yes flood | head -c 50000000", "--health-interval", "1s",
                box, "sleep", "600")  # fmt: skip
    assert wait_for(lambda: health(ketch, "fl")["Status"] == "healthy", timeout=20)
    out = health(ketch, "fl")["Log"][-1]["Output"]
    assert len(out.encode()) == 4096 and out.startswith("flood\nflood\n")
    monitor = int((cdir(ketch, cid) / "monitor.pid").read_text().split()[0])
    rss_kib = int(next(x for x in Path(f"/proc/{monitor}/status").read_text().splitlines()
                       if x.startswith("VmRSS")).split()[1])  # fmt: skip
    assert rss_kib < 8 * 1024, rss_kib  # the 50 MB never held
    ketch("rm", "-f", "fl", check=True)


def test_a_probe_that_hangs_is_killed_at_its_timeout(ketch: Ketch, box: str) -> None:
    run_d(ketch, "--name", "hang", "--health-cmd", "sleep 77", "--health-timeout", "300ms", "--health-interval", "1s",
          "--health-retries", "1", box, "sleep", "600")  # fmt: skip
    assert wait_for(lambda: health(ketch, "hang")["Status"] == "unhealthy", timeout=15)
    last = health(ketch, "hang")["Log"][-1]
    assert (last["ExitCode"], last["Output"]) == (-1, "Health check exceeded timeout (300ms)")
    time.sleep(2.5)
    # each probe killed: never more than the one under way
    assert ketch("top", "hang").out.count("sleep 77") <= 1
    ketch("rm", "-f", "hang", check=True)


def test_a_probe_that_leaves_a_child_holding_its_output_still_ends(ketch: Ketch, box: str) -> None:
    # the probe exits at once; a child it left keeps the output pipe open:
    # its result is the probe's exit, not the end of the pipe
    run_d(ketch, "--name", "bg", "--health-cmd", "sleep 55 & echo left", "--health-interval", "1s",
          "--health-timeout", "20s", box, "sleep", "600")  # fmt: skip
    assert wait_for(lambda: health(ketch, "bg")["Status"] == "healthy", timeout=10)
    last = health(ketch, "bg")["Log"][-1]
    assert (last["ExitCode"], last["Output"]) == (0, "left\n")
    ketch("rm", "-f", "bg", check=True)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--health-interval", "soon"], 'invalid argument "soon" for "--health-interval" flag'),
        (["--health-timeout", "-1s"], "--health-timeout cannot be negative"),
        (["--health-retries", "-1"], "--health-retries cannot be negative"),
        (["--health-interval", "10us"], "--health-interval cannot be less than 1ms"),
    ],
)
def test_bad_health_flags_are_refused(ketch: Ketch, box: str, flags: list[str], message: str) -> None:
    r = ketch("run", "--health-cmd", "true", *flags, box, "true")
    assert r.rc == 125 and message in r.err and "Traceback" not in r.err, r.err
    assert ketch("ps", "-a", "-q").out == ""


# -- log rotation ----------------------------------------------------------------


def test_log_rotation_keeps_max_file_files_and_logs_reads_across_them(ketch: Ketch, box: str) -> None:
    script = "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"
    cid = run_d(ketch, "--name", "rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", box, "sh", "-c", script)
    assert wait_for(lambda: state(ketch, "rot")["Status"] == "exited")
    files = sorted(p.name for p in cdir(ketch, cid).glob(f"{cid}-json.log*"))
    assert files == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    for f in files[1:]:
        size = (cdir(ketch, cid) / f).stat().st_size
        assert 1000 <= size < 1100, (f, size)  # rotated once past max-size, by one entry at most
    current = len((cdir(ketch, cid) / files[0]).read_text().splitlines())
    lines = ketch("logs", "rot").out.splitlines()
    n = len(lines)
    assert n > current + 20  # across the rotated files too
    assert lines == [f"line-{i}" for i in range(400 - n, 400)]  # in order, the newest last, none lost between
    assert ketch("logs", "--tail", str(current + 3), "rot").out.splitlines() == lines[-(current + 3) :]
    doc = json.loads(ketch("inspect", "rot").out)[0]
    assert doc["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1000", "max-file": "3"}}


def test_logs_follow_crosses_a_rotation(ketch: Ketch, box: str) -> None:
    # a line each 20 ms: a file of 1k fills in ~250 ms, while the follower polls every 50
    script = "sleep 1; i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); sleep 0.02; done"
    run_d(ketch, "--name", "fol", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", box, "sh", "-c", script)
    p = ketch.popen("logs", "-f", "fol")
    out, _ = p.communicate(timeout=30)
    assert out.splitlines() == [f"line-{i}" for i in range(100)]


@pytest.mark.parametrize(
    ("opt", "message"),
    [
        ("max-size=garbage", "invalid size: 'garbage'"),
        ("max-size=-1k", "invalid size: '-1k'"),
        ("max-file=0", "max-file cannot be less than 1"),
        ("max-file=3", "max-file can only be used with max-size"),
        ("colour=red", "unknown log opt 'colour' for json-file log driver"),
    ],
)
def test_bad_log_opts_are_refused(ketch: Ketch, box: str, opt: str, message: str) -> None:
    r = ketch("run", "--log-opt", opt, box, "true")
    assert r.rc == 125, r
    assert r.err.strip().splitlines() == [f"ketch: {message}"] or message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert ketch("ps", "-a", "-q").out == ""
