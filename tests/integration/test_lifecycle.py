"""Container life cycle beyond run/stop: -d with -t and --rm, restart, top,
--init, kill of a paused container, named and anonymous volumes, --mount."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from support.imagekit import Entry, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.wait import wait_for

pytestmark = requires_root


@pytest.fixture
def life_image(ketch: Ketch, tmp_path: Path) -> str:
    extra = [Entry("srv/", "dir", mode=0o750, uid=1000), Entry("srv/seed", data=b"from-image\n")]
    tar = tmp_path / "img.tar"
    tar.write_bytes(tar_bytes([*busybox_entries(), *extra]))
    ketch("import", str(tar), "life", check=True)
    return "life"


def test_detached_with_a_tty_logs_what_the_pty_shows(ketch: Ketch, life_image: str) -> None:
    r = ketch("run", "-d", "-t", "--name", "dt", life_image, "sh", "-c", "tty; [ -t 1 ] && echo OUT-IS-TTY")
    assert r.rc == 0, r.err
    assert wait_for(lambda: "Exited (0)" in ketch("ps", "-a").out)
    assert ketch("logs", "dt").out.splitlines() == ["/dev/pts/0", "OUT-IS-TTY"]
    log = next((Path(ketch.root) / "containers").glob("*/*-json.log"))
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    # a terminal's line endings; all of it on stdout, as docker logs a -t container
    assert [(e["log"], e["stream"]) for e in entries] == [("/dev/pts/0\r\n", "stdout"), ("OUT-IS-TTY\r\n", "stdout")]
    ketch("rm", "dt", check=True)


def test_detached_rm_removes_the_container_and_its_anonymous_volume(ketch: Ketch, life_image: str) -> None:
    r = ketch("run", "-d", "--rm", "-v", "/scratch", life_image, "sh", "-c", "echo x > /scratch/f; sleep 2")
    assert r.rc == 0, r.err
    cid = r.out.strip()
    assert cid in ketch("ps", "-q", "--no-trunc").out
    assert wait_for(lambda: ketch("ps", "-a", "-q").out == "")
    assert ketch("volume", "ls", "-q").out == ""
    assert not (Path(ketch.root) / "containers" / cid).exists()


def test_restart_runs_the_same_container_again(ketch: Ketch, life_image: str) -> None:
    assert (
        ketch(
            "run",
            "-d",
            "--name",
            "rs",
            life_image,
            "sh",
            "-c",
            "echo run >> /runs; trap 'exit 0' TERM; sleep 30 & wait",
        ).rc
        == 0
    )
    assert wait_for(lambda: ketch("exec", "rs", "cat", "/runs").out == "run\n")
    pid1 = json.loads(ketch("inspect", "rs").out)[0]["State"]["Pid"]
    r = ketch("restart", "-t", "5", "rs")
    assert (r.rc, r.out) == (0, "rs\n"), r.err
    assert wait_for(lambda: ketch("exec", "rs", "cat", "/runs").out == "run\nrun\n")
    state = json.loads(ketch("inspect", "rs").out)[0]["State"]
    assert state["Running"] and state["Pid"] != pid1
    assert ketch("restart", "nosuch").rc == 1
    ketch("rm", "-f", "rs")


def test_top_lists_the_container_processes_only(ketch: Ketch, life_image: str) -> None:
    assert ketch("run", "-d", "--name", "tp", life_image, "sh", "-c", "sleep 41 & sleep 42").rc == 0
    try:
        assert wait_for(lambda: "sleep 41" in ketch("top", "tp").out)
        out = ketch("top", "tp").out.splitlines()
        assert out[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        cmds = sorted(line.split(None, 7)[7] for line in out[1:])
        assert cmds == ["sleep 41", "sleep 42"], out
        assert ketch("top", "tp", "-o", "pid,comm").out.splitlines()[0].split() == ["PID", "COMMAND"]
    finally:
        ketch("rm", "-f", "tp")
    ketch("create", "--name", "tp2", life_image, "true", check=True)
    r = ketch("top", "tp2")
    assert r.rc == 1 and "is not running" in r.err


def test_init_reaps_and_forwards_signals(ketch: Ketch, life_image: str) -> None:
    r = ketch("run", "--rm", "--init", life_image, "ps", "-o", "pid,args")
    assert r.rc == 0, r.err
    rows = [line.split(None, 1) for line in r.out.splitlines()[1:]]
    assert rows[0] == ["1", "/sbin/docker-init -- ps -o pid,args"]
    # pid 1 is the init: a SIGTERM reaches the shell, which has no handler and dies with it
    assert ketch("run", "-d", "--init", "--name", "in", life_image, "sh", "-c", "sleep 30").rc == 0
    t = time.time()
    ketch("stop", "in", check=True)
    assert time.time() - t < 5  # not the 10 s SIGKILL fallback
    assert "Exited (143)" in ketch("ps", "-a").out
    # the init binary is read-only inside, and not a change of the container
    r = ketch("run", "--name", "in2", "--init", life_image, "sh", "-c", "echo x > /sbin/docker-init")
    assert r.rc != 0 and "Read-only file system" in r.err
    assert "docker-init" not in ketch("diff", "in2").out
    ketch("rm", "in", "in2", check=True)


def test_init_is_ketch_monitor_and_does_tinis_job(ketch: Ketch, life_image: str) -> None:
    """--init's pid 1 is the installed ketch-monitor (rust/src/init.rs), no host package:
    orphans that end are reaped, signals reach the child, its code is the container's."""
    # three orphans end under pid 1 while the shell still runs: none stays a zombie
    script = "for i in 1 2 3; do (sleep 0.1 &); done; sleep 1; ps -o pid,stat,args"
    r = ketch("run", "--rm", "--init", life_image, "sh", "-c", script)
    assert r.rc == 0, r.err
    stats = [line.split()[1] for line in r.out.splitlines()[1:]]
    assert stats and not [s for s in stats if s.startswith("Z")], r.out
    # the child's code, and 128 + N when a signal ended it
    assert ketch("run", "--rm", "--init", life_image, "sh", "-c", "exit 7").rc == 7
    assert ketch("run", "--rm", "--init", life_image, "sh", "-c", "kill -KILL $$").rc == 137
    # a signal sent to the container is the child's (its trap runs), not the init's
    trap = "trap 'echo got USR1; exit 5' USR1; echo ready; while true; do sleep 0.1; done"
    assert ketch("run", "-d", "--init", "--name", "tr", life_image, "sh", "-c", trap).rc == 0
    assert wait_for(lambda: "ready" in ketch("logs", "tr").out)
    assert ketch("kill", "-s", "USR1", "tr").rc == 0
    assert ketch("wait", "tr").out.strip() == "5"
    assert "got USR1" in ketch("logs", "tr").out
    ketch("rm", "tr", check=True)
    # a command that is not there: docker-init's message and docker's 127
    r = ketch("run", "--rm", "--init", life_image, "no-such-command")
    assert r.rc == 127 and "exec no-such-command failed: No such file or directory" in r.err, r
    # the init is the program ketch starts containers through, not a host package's
    from ketch.runtime.process import helper_status

    r = ketch("run", "--rm", "--init", life_image, "wc", "-c", "/sbin/docker-init")
    assert r.out.split()[0] == str(Path(helper_status().path).stat().st_size), r


def test_kill_of_a_paused_container(ketch: Ketch, life_image: str) -> None:
    assert ketch("run", "-d", "--name", "pk", life_image, "sleep", "30").rc == 0
    ketch("pause", "pk", check=True)
    assert ketch("kill", "pk").rc == 0
    assert wait_for(lambda: "Exited (137)" in ketch("ps", "-a").out)
    ketch("rm", "pk", check=True)


def test_named_volumes(ketch: Ketch, life_image: str) -> None:
    # a new volume gets the image's content at its mount point (owner and mode too)
    r = ketch(
        "run",
        "--rm",
        "-v",
        "data:/srv",
        life_image,
        "sh",
        "-c",
        "cat /srv/seed; stat -c '%u %a' /srv; echo mine > /srv/f",
    )
    assert r.out == "from-image\n1000 750\n", r.err
    r = ketch(
        "run",
        "--rm",
        "--mount",
        "type=volume,source=data,target=/other,readonly",
        life_image,
        "sh",
        "-c",
        "cat /other/f; touch /other/g",
    )
    assert r.out == "mine\n" and "Read-only file system" in r.err
    # docker's table: columns at least 10 wide (ketch's had no minimum: "DRIVER   VOLUME NAME")
    assert ketch("volume", "ls").out.splitlines() == ["DRIVER    VOLUME NAME", "local     data"]
    info = json.loads(ketch("volume", "inspect", "data").out)[0]
    assert (
        info["Name"] == "data" and info["Driver"] == "local" and Path(info["Mountpoint"], "f").read_text() == "mine\n"
    )
    ketch("create", "--name", "user", "-v", "data:/srv", life_image, "true", check=True)
    r = ketch("volume", "rm", "data")
    assert r.rc == 1 and "volume is in use" in r.err
    ketch("rm", "user", check=True)
    assert ketch("volume", "rm", "data").out == "data\n"
    assert ketch("volume", "ls", "-q").out == ""


def test_anonymous_volumes_go_with_rm_v(ketch: Ketch, life_image: str) -> None:
    ketch("run", "--name", "an", "-v", "/scratch", life_image, "true", check=True)
    assert len(ketch("volume", "ls", "-q").out.split()) == 1
    ketch("rm", "-v", "an", check=True)
    assert ketch("volume", "ls", "-q").out == ""
    ketch("run", "--name", "an2", "-v", "/scratch", life_image, "true", check=True)
    ketch("rm", "an2", check=True)  # without -v the volume stays, as docker keeps it
    assert len(ketch("volume", "ls", "-q").out.split()) == 1
    assert len(ketch("volume", "prune", "-f").out.splitlines()) >= 2
    assert ketch("volume", "ls", "-q").out == ""


def test_mount_flag_bind_and_tmpfs(ketch: Ketch, life_image: str, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from-host\n")
    r = ketch(
        "run", "--rm",
        "--mount", f"type=bind,source={host},target=/h",
        "--mount", "type=tmpfs,destination=/t",
        life_image, "sh", "-c", "cat /h/in; echo out > /h/out; grep -c ' /t tmpfs' /proc/mounts",
    )  # fmt: skip
    assert r.out == "from-host\n1\n", r.err
    assert (host / "out").read_text() == "out\n"
    for bad, msg in [
        ("type=bind,target=/h", "source is required"),
        (f"type=bind,source={tmp_path}/missing,target=/h", "bind source path does not exist"),
        ("type=nfs,target=/h", 'unsupported mount type "nfs"'),
        ("type=volume,src=v", "target is required"),
        ("type=volume,target=/x,bogus=1", 'unknown option "bogus"'),
    ]:
        r = ketch("run", "--rm", "--mount", bad, life_image, "true")
        assert r.rc == 125 and msg in r.err, (bad, r.err)
    assert ketch("ps", "-a", "-q").out == "" and ketch("volume", "ls", "-q").out == ""


def test_a_restart_policy_conflicts_with_rm(ketch: Ketch, life_image: str) -> None:
    assert ketch("run", "--rm", "--restart", "no", life_image, "true").rc == 0
    r = ketch("run", "--rm", "--restart", "always", life_image, "true")
    assert r.rc == 125 and 'restart policy "always"' in r.err


def test_stdin_only_with_i(ketch: Ketch, life_image: str) -> None:
    assert ketch("run", "--rm", life_image, "cat", input="ignored\n").out == ""  # /dev/null, as docker gives
    r = ketch(
        "run", "--rm", "-i", life_image, "sh", "-c", "wc -l; cat /dev/console 2>&1 | head -c 0", input="a\nb\nc\n"
    )
    assert r.out == "3\n", r.err


def test_console_is_the_pty_with_t(ketch: Ketch, life_image: str) -> None:
    r = ketch(
        "run",
        "-d",
        "-t",
        "--name",
        "con",
        life_image,
        "sh",
        "-c",
        "stat -c '%t %F' /dev/console; echo via > /dev/console",
    )
    assert r.rc == 0, r.err
    assert wait_for(lambda: "Exited" in ketch("ps", "-a").out)
    # 0x88 = 136, the first Unix98 pty major: the container's own pty
    assert ketch("logs", "con").out.splitlines() == ["88 character special file", "via"]
    ketch("rm", "con", check=True)
    assert ketch("run", "--rm", life_image, "ls", "/dev/console").rc != 0  # no console without -t


def test_ctrl_c_without_a_tty_reaches_the_container(ketch: Ketch, life_image: str) -> None:
    import signal

    p = ketch.popen("run", "--rm", "--init", life_image, "sleep", "30")
    try:
        assert wait_for(lambda: "sleep" in ketch("ps").out)
        t = time.time()
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 130  # tini passed SIGINT on; sleep died of it
        assert time.time() - t < 5
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert wait_for(lambda: ketch("ps", "-a", "-q").out == "")


def test_low_rlimits_are_inherited_not_raised(ketch: Ketch, life_image: str) -> None:
    """Where limits cannot be raised (runc and crun fail on this machine's
    RLIMIT_NOFILE/NPROC), ketch sets none: the container gets the caller's."""
    import shutil
    import subprocess

    prlimit = shutil.which("prlimit")
    if prlimit is None:
        pytest.skip("prlimit (util-linux) is not installed")
    ketch_bin = str(Path(sys.executable).parent / "ketch")
    r = subprocess.run(
        [
            prlimit,
            "--nofile=256:256",
            "--nproc=512:512",
            ketch_bin,
            "run",
            "--rm",
            life_image,
            "sh",
            "-c",
            "ulimit -n; ulimit -u",
        ],
        capture_output=True,
        text=True,
        env=ketch.env,
    )
    assert (r.returncode, r.stdout) == (0, "256\n512\n"), r.stderr
