"""`ketch run`, `ps`, `rm` on real containers: namespaces, an overlay root,
docker's defaults, from busybox images made offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.imagekit import Entry, build, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry

pytestmark = requires_root

DOCKER_CAPS = "00000000a80425fb"


@pytest.fixture(scope="module")
def run_image(registry: RunningRegistry) -> str:
    registry.client.push("lab/run", "latest", build([(tar_bytes(busybox_entries()), "gzip")], cmd=["echo", "from-cmd"]))
    return f"{registry.addr}/lab/run"


@pytest.fixture
def pulled(ketch: Ketch, run_image: str) -> str:
    ketch("pull", "-q", run_image, check=True)
    return run_image


def test_run_pulls_a_missing_image_then_runs(ketch: Ketch, run_image: str) -> None:
    r = ketch("run", "--rm", run_image, "echo", "hi")
    assert (r.rc, r.out) == (0, "hi\n")
    assert r.err.startswith(f"Unable to find image '{run_image}:latest' locally\nlatest: Pulling from lab/run\n")
    assert ketch("ps", "-a", "-q").out == ""  # --rm


def test_command_entrypoint_env_workdir_user(ketch: Ketch, pulled: str, tmp_path: Path) -> None:
    assert ketch("run", "--rm", pulled).out == "from-cmd\n"
    assert ketch("run", "--rm", "--entrypoint", "echo", pulled, "a", "b").out == "a b\n"
    envf = tmp_path / "env"
    envf.write_text("# comment\nFROM_FILE=1\n")
    r = ketch(
        "run",
        "--rm",
        "-e",
        "A=1",
        "-e=B=two",
        "--env-file",
        str(envf),
        pulled,
        "sh",
        "-c",
        "echo $A $B $FROM_FILE $PATH",
    )
    assert r.out == "1 two 1 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", r.err
    r = ketch("run", "--rm", "-w", "/made/here", "-u", "web", pulled, "sh", "-c", "pwd; id")
    assert r.out == "/made/here\nuid=1000(web) gid=1000(web) groups=1000(web)\n", r.err
    r = ketch("run", "--rm", "-u", "1234:5", pulled, "id", "-u")
    assert r.out == "1234\n"
    r = ketch("run", "--rm", "-u", "nobody", pulled, "true")
    assert r.rc == 125 and "unable to find user nobody" in r.err


def test_everything_after_the_image_is_the_command(ketch: Ketch, pulled: str) -> None:
    r = ketch("run", "--rm", pulled, "sh", "-c", "echo $0 $1", "-g", "daemon off;")
    assert r.out == "-g daemon off;\n", r.err
    r = ketch("run", "--rm", "-h", "box", pulled, "hostname")
    assert r.out == "box\n"


def test_exit_codes(ketch: Ketch, pulled: str) -> None:
    assert ketch("run", "--rm", pulled, "sh", "-c", "exit 3").rc == 3
    r = ketch("run", "--rm", pulled, "/nonexistent")
    assert r.rc == 127
    assert 'exec: "/nonexistent": stat /nonexistent: no such file or directory' in r.err
    r = ketch("run", "--rm", pulled, "/etc/passwd")
    assert r.rc == 126 and 'exec: "/etc/passwd": permission denied' in r.err
    r = ketch("run", "--rm", "--pull", "never", "nosuch/image")
    assert r.rc != 0 and "No such image" in r.err


def test_a_detached_start_fails_as_a_foreground_one(ketch: Ketch, pulled: str) -> None:
    """A failure inside `run -d` crosses the monitor's ready pipe: the same
    stage, errno, docker exit code and message as in the foreground, and the
    container is recorded as exited with that code."""
    for flags, cmd, code, text in (
        ((), "/nonexistent", 127, 'exec: "/nonexistent": stat /nonexistent: no such file or directory'),
        ((), "/etc/passwd", 126, 'exec: "/etc/passwd": permission denied'),
        (("-w", "/etc/passwd"), "true", 125, "enter the working directory: not a directory"),
    ):
        fg = ketch("run", "--rm", *flags, pulled, cmd)
        bg = ketch("run", "-d", "--name", "bg", *flags, pulled, cmd)
        assert (fg.rc, bg.rc) == (code, code) and fg.err == bg.err, (fg, bg)
        assert bg.err == f"ketch: failed to start container process: {text}\n" and bg.out == ""
        assert f"Exited ({code})" in ketch("ps", "-a", "--filter", "name=bg").out
        ketch("rm", "bg", check=True)


def test_docker_default_security(ketch: Ketch, pulled: str) -> None:
    r = ketch("run", "--rm", pulled, "sh", "-c", "grep -E 'Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status")
    caps = dict(line.split(":\t") for line in r.out.splitlines())
    assert caps == {
        "CapInh": "0" * 16,
        "CapPrm": DOCKER_CAPS,
        "CapEff": DOCKER_CAPS,
        "CapBnd": DOCKER_CAPS,
        "CapAmb": "0" * 16,
    }
    # a non-root user has no effective capabilities
    r = ketch("run", "--rm", "-u", "web", pulled, "grep", "CapEff", "/proc/self/status")
    assert r.out.split() == ["CapEff:", "0" * 16]
    # its own pid namespace: pid 1 is the command, no host process is visible
    r = ketch("run", "--rm", pulled, "sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$'")
    pids = [int(x) for x in r.out.split()]
    assert pids[0] == 1 and max(pids) < 10 and len(pids) <= 5
    # only 0, 1, 2 open (ls itself opens the directory it lists)
    r = ketch("run", "--rm", pulled, "ls", "/proc/self/fd")
    assert set(r.out.split()) <= {"0", "1", "2", "3"}
    # masked and read-only paths
    assert ketch("run", "--rm", pulled, "sh", "-c", "cat /proc/kcore | wc -c").out.strip() == "0"
    r = ketch("run", "--rm", pulled, "sh", "-c", "echo x > /proc/sys/kernel/hostname")
    assert r.rc != 0 and "Read-only file system" in r.err
    r = ketch("run", "--rm", pulled, "sh", "-c", "echo 1 > /sys/kernel/profiling")
    assert r.rc != 0
    # hostname changes stay inside; mounts are refused without CAP_SYS_ADMIN
    assert ketch("run", "--rm", pulled, "mount", "-t", "tmpfs", "t", "/tmp").rc != 0
    assert ketch("run", "--rm", pulled, "hostname", "pwned").rc != 0


def test_network_none_has_only_lo_and_host_shares(ketch: Ketch, pulled: str) -> None:
    r = ketch("run", "--rm", pulled, "ls", "/sys/class/net")
    assert r.out.split() == ["lo"]
    r = ketch("run", "--rm", pulled, "cat", "/sys/class/net/lo/operstate")
    assert r.out.strip() in ("unknown", "up")
    host = sorted(os.listdir("/sys/class/net"))
    r = ketch("run", "--rm", "--network", "host", pulled, "ls", "/sys/class/net")
    assert sorted(r.out.split()) == host


def test_names_ps_rm_and_image_in_use(ketch: Ketch, pulled: str) -> None:
    assert ketch("run", "--name", "dup", pulled, "true").rc == 0
    r = ketch("run", "--name", "dup", pulled, "true")
    assert r.rc == 125 and 'Conflict. The container name "/dup" is already in use by container' in r.err
    ketch("run", "--name", "three", pulled, "sh", "-c", "exit 3")
    lines = ketch("ps", "-a").out.splitlines()
    assert re.match(r"CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$", lines[0])
    assert re.search(r'"sh -c \'exit 3\'"\s+.* ago\s+Exited \(3\) .* ago\s+three$', lines[1]), lines[1]
    assert ketch("ps").out.splitlines()[1:] == []
    r = ketch("rmi", pulled)
    assert r.rc == 1 and "(must force) - container" in r.err
    full = ketch("ps", "-a", "-q", "--no-trunc").out.split()
    assert all(len(i) == 64 for i in full)
    assert ketch("rm", "dup", full[0][:8]).rc == 0
    assert ketch("ps", "-a", "-q").out == ""
    assert not (ketch.root / "containers").exists() or list((ketch.root / "containers").iterdir()) == []
    r = ketch("rm", "nosuch")
    assert r.rc == 1 and "No such container: nosuch" in r.err


def test_a_symlinked_etc_hosts_cannot_redirect_the_mount(ketch: Ketch, registry: RunningRegistry) -> None:
    victim = Path("/tmp/ketch-victim-hosts")
    victim.write_text("host file\n")
    try:
        entries = busybox_entries() + [Entry("etc/hosts", "symlink", link=str(victim))]
        registry.client.push("lab/evilhosts", "latest", build([(tar_bytes(entries), "gzip")]))
        name = f"{registry.addr}/lab/evilhosts"
        r = ketch("run", "--rm", name, "cat", "/etc/hosts")
        assert r.rc == 0, r.err
        assert "localhost" in r.out
        assert victim.read_text() == "host file\n"
        assert str(victim) not in Path("/proc/self/mountinfo").read_text()
    finally:
        victim.unlink()


def test_nothing_is_left_mounted_after_rm(ketch: Ketch, pulled: str) -> None:
    ketch("run", "--name", "gone", pulled, "true", check=True)
    cid = ketch("ps", "-a", "-q", "--no-trunc").out.strip()
    assert cid not in Path("/proc/self/mountinfo").read_text()
    ketch("rm", "gone", check=True)
    assert not (ketch.root / "containers" / cid).exists()
    out = subprocess.run(["grep", "-c", str(ketch.root), "/proc/self/mountinfo"], capture_output=True, text=True).stdout
    assert out.strip() == "0"


def _cgroup_dirs(ketch: Ketch) -> list[str]:
    """This test's container cgroups (and their parent) still on the host."""
    found = []
    for base in Path("/sys/fs/cgroup").iterdir():
        parent = base / ketch.cgroup_parent
        if parent.is_dir():
            found += [str(parent)] + [str(p) for p in parent.iterdir() if p.is_dir()]
    return found


def test_memory_limit_kills_with_137_and_cgroups_go_away(ketch: Ketch, pulled: str) -> None:
    r = ketch("run", "--rm", "-m", "16m", pulled, "sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done")
    assert r.rc == 137
    assert _cgroup_dirs(ketch) == []
    r = ketch("run", "--rm", "-m", "1k", pulled, "true")
    assert r.rc == 125 and "Minimum memory limit" in r.err


def test_pids_limit_stops_a_fork_bomb(ketch: Ketch, pulled: str) -> None:
    script = "i=0; while [ $i -lt 40 ]; do sleep 3 & i=$((i+1)); done; ps -o comm | grep -c sleep"
    r = ketch("run", "--rm", "--pids-limit", "10", pulled, "sh", "-c", script)
    assert int(r.out.strip() or 0) < 10, r.out
    assert "can't fork" in r.err
    assert _cgroup_dirs(ketch) == []


def test_cpus_and_memory_limits_are_in_the_container_cgroup(ketch: Ketch, pulled: str) -> None:
    import time

    p = ketch.popen("run", "--rm", "--cpus", "0.5", "-m", "64m", pulled, "sleep", "2")
    try:
        seen: dict[str, str] = {}
        deadline = time.time() + 10
        while time.time() < deadline and len(seen) < 2:
            for d in _cgroup_dirs(ketch):
                for f in ("cpu.cfs_quota_us", "cpu.max", "memory.limit_in_bytes", "memory.max"):
                    if (Path(d) / f).exists():
                        seen[f] = (Path(d) / f).read_text().strip()
            time.sleep(0.05)
        if "cpu.max" in seen:  # cgroup v2
            assert seen["cpu.max"] == "50000 100000" and seen["memory.max"] == str(64 << 20)
        else:
            assert seen["cpu.cfs_quota_us"] == "50000" and seen["memory.limit_in_bytes"] == str(64 << 20)
    finally:
        p.wait(timeout=30)
    assert _cgroup_dirs(ketch) == []


def test_detached_ps_logs_stop(ketch: Ketch, pulled: str) -> None:
    import time

    script = "echo hello; echo oops >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"
    r = ketch("run", "-d", "--name", "web", pulled, "sh", "-c", script)
    assert r.rc == 0, r.err
    cid = r.out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    rows = ketch("ps").out.splitlines()
    assert (
        len(rows) == 2
        and rows[1].startswith(cid[:12])
        and re.search(r"\bUp (Less than a second|\d+ seconds?)\b", rows[1])
    )
    time.sleep(0.6)
    logs = ketch("logs", "web")
    assert logs.out.startswith("hello\ntick 0\n") and logs.err == "oops\n"
    stamped = ketch("logs", "-t", "--tail", "1", "web").out
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+\n", stamped), stamped
    raw = (ketch.root / "containers" / cid / f"{cid}-json.log").read_text().splitlines()[0]
    assert re.fullmatch(r'\{"log":"hello\\n","stream":"stdout","time":"[^"]+Z"\}', raw)
    # sh as pid 1 ignores SIGTERM: stop waits -t seconds, then SIGKILL
    t = time.monotonic()
    assert ketch("stop", "-t", "1", "web").out == "web\n"
    took = time.monotonic() - t
    assert 0.9 < took < 5
    rows = ketch("ps", "-a").out.splitlines()
    assert "Exited (137)" in rows[1]
    assert _cgroup_dirs(ketch) == []
    assert ketch("rm", "web").rc == 0


def test_logs_follow_ends_with_the_container(ketch: Ketch, pulled: str) -> None:
    ketch("run", "-d", "--name", "short", pulled, "sh", "-c", "echo one; sleep 0.5; echo two", check=True)
    r = ketch("logs", "-f", "short")
    assert r.out == "one\ntwo\n"
    assert "Exited (0)" in ketch("ps", "-a").out
    ketch("rm", "short", check=True)


def test_a_dead_monitor_takes_its_container_and_ps_tells_the_truth(ketch: Ketch, pulled: str) -> None:
    import signal
    import time

    cid = ketch("run", "-d", "--name", "orphan", pulled, "sleep", "100").out.strip()
    from ketch.store import Store

    store = Store(ketch.root)
    row = store.db.query("SELECT pid FROM containers WHERE id=?", (cid,))[0]
    store.close()
    pid = row["pid"]
    monitor = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    os.kill(monitor, signal.SIGKILL)
    deadline = time.time() + 5
    while time.time() < deadline and "Exited" not in ketch("ps", "-a").out:
        time.sleep(0.05)
    assert "Exited (137)" in ketch("ps", "-a").out
    assert ketch("ps", "-q").out == ""
    assert ketch("rm", "orphan").rc == 0
    assert _cgroup_dirs(ketch) == []


def test_exec_joins_the_running_container(ketch: Ketch, pulled: str) -> None:
    ketch("run", "-d", "--name", "target", pulled, "sh", "-c", "echo data > /tmp/inside; exec sleep 100", check=True)
    try:
        import time

        time.sleep(0.3)
        assert ketch("exec", "target", "cat", "/tmp/inside").out == "data\n"
        r = ketch("exec", "target", "sh", "-c", "ps -o pid,comm | grep sleep; grep CapEff /proc/self/status; exit 4")
        assert r.rc == 4
        assert r.out.split()[:2] == ["1", "sleep"]  # the container's pid namespace
        assert r.out.split()[-1] == DOCKER_CAPS
        assert (
            ketch("exec", "-u", "web", "-w", "/tmp", "-e", "X=1", "target", "sh", "-c", "id -u; pwd; echo $X").out
            == "1000\n/tmp\n1\n"
        )
        r = ketch("exec", "target", "/nope")
        assert r.rc == 126 and 'exec: "/nope"' in r.err  # docker exec's 126 for any exec failure
        # the exec'd process is in the container's cgroups
        host_cg = Path("/proc/self/cgroup").read_text()
        inside = ketch("exec", "target", "cat", "/proc/self/cgroup").out
        assert inside != host_cg and all(line.endswith(":/") for line in inside.splitlines())
    finally:
        ketch("rm", "-f", "target")
    r = ketch("exec", "target", "true")
    assert r.rc == 1 and "No such container: target" in r.err


def test_kill_wait_rename_inspect(ketch: Ketch, pulled: str) -> None:
    ketch("run", "-d", "--name", "k1", pulled, "sleep", "100", check=True)
    info = json.loads(ketch("inspect", "k1").out)[0]
    assert info["Name"] == "/k1" and info["State"]["Running"] is True and info["State"]["Pid"] > 0
    assert info["Config"]["Cmd"] == ["sleep", "100"]
    assert ketch("rename", "k1", "k2").rc == 0
    assert ketch("inspect", "k1").rc == 1
    assert ketch("rename", "k2", "bad name!").rc != 0
    assert ketch("kill", "-s", "TERM", "k2").out == "k2\n"  # pid 1 without a handler ignores it
    assert ketch("kill", "k2").out == "k2\n"
    assert ketch("wait", "k2").out == "137\n"
    info = json.loads(ketch("inspect", "k2").out)[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137
    r = ketch("kill", "k2")
    assert r.rc == 1 and "is not running" in r.err
    # an image name falls through to the image
    assert json.loads(ketch("inspect", pulled).out)[0]["Id"].startswith("sha256:")
    ketch("rm", "k2", check=True)


class Terminal:
    """A ketch command driven through a real pty, as by a person at a terminal."""

    def __init__(self, ketch: Ketch, *args: str, rows: int = 24, cols: int = 80) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            ["ketch", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=ketch.env,
            start_new_session=True,
            executable=str(Path(sys.executable).parent / "ketch"),
        )
        os.close(slave)
        self.out = b""

    def read_until(self, marker: bytes, timeout: float = 10) -> bool:
        import select
        import time

        end = time.time() + timeout
        while marker not in self.out and time.time() < end:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    break
        return marker in self.out

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def test_tty_through_a_real_pty(ketch: Ketch, pulled: str) -> None:
    """-t -i driven through a pty, as a person at a terminal: the container's
    stdin is a terminal of the caller's size, keys reach it, Ctrl-C stops its
    foreground job, and the exit code comes back."""
    import time

    t = Terminal(ketch, "run", "-t", "-i", "--rm", pulled, "sh", rows=33, cols=101)
    try:
        t.read_until(b"# ")
        t.type(b"[ -t 0 ] && echo IS-A-TTY; stty size; ls -l /proc/self/fd/0; echo $((6*7))\r")
        t.read_until(b"42")
        assert b"IS-A-TTY" in t.out and b"33 101" in t.out
        # the pty comes from the container's own devpts
        assert b"-> /dev/pts/0" in t.out
        # a resize of the caller's terminal reaches the container's
        import fcntl
        import signal
        import struct
        import termios

        fcntl.ioctl(t.master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(t.proc.pid, signal.SIGWINCH)
        time.sleep(0.3)
        t.type(b"stty size\r")
        assert t.read_until(b"40 120")
        t.type(b"sleep 30\r")
        time.sleep(0.5)
        t.type(b"\x03")  # Ctrl-C
        t.type(b"echo AFTER-INT\r")
        assert t.read_until(b"AFTER-INT\r\n")
        t.type(b"exit 5\r")
        assert t.proc.wait(timeout=10) == 5
    finally:
        t.close()


def test_exec_with_a_tty_and_detached(ketch: Ketch, pulled: str) -> None:
    assert ketch("run", "-d", "--name", "ex", pulled, "sleep", "60").rc == 0
    t = Terminal(ketch, "exec", "-it", "ex", "sh", rows=20, cols=70)
    try:
        assert t.read_until(b"# ")
        t.type(b"[ -t 0 ] && echo IS-A-TTY; stty size; ls -l /proc/self/fd/0; exit 4\r")
        assert t.proc.wait(timeout=10) == 4
        t.read_until(b"/dev/pts/", timeout=2)
        assert b"IS-A-TTY" in t.out and b"20 70" in t.out and b"-> /dev/pts/" in t.out
        # -d: the command runs on after exec returns, with nothing of the caller's
        r = ketch("exec", "-d", "ex", "sh", "-c", "sleep 0.3; ls -l /proc/$$/fd/ > /exec-d.txt; true")
        assert (r.rc, r.out) == (0, "")
        for _ in range(50):
            r = ketch("exec", "ex", "cat", "/exec-d.txt")
            if r.rc == 0 and "/dev/null" in r.out:
                break
            import time

            time.sleep(0.1)
        assert r.out.count("-> /dev/null") == 3, r.out
    finally:
        t.close()
        ketch("rm", "-f", "ex")


def test_create_then_start_and_restart_an_exited_container(ketch: Ketch, pulled: str) -> None:
    r = ketch("create", "--name", "c1", pulled, "sh", "-c", "echo run >> /count; cat /count")
    assert r.rc == 0 and re.fullmatch(r"[0-9a-f]{64}\n", r.out)
    assert "Created" in ketch("ps", "-a").out
    r = ketch("start", "-a", "c1")
    assert (r.rc, r.out) == (0, "run\n")
    # started again, detached: same container, same files
    assert ketch("start", "c1").out == "c1\n"
    assert ketch("wait", "c1").out == "0\n"
    assert ketch("logs", "c1").out == "run\nrun\nrun\n"  # docker's: start -a's output is logged too
    ketch("rm", "c1", check=True)


def test_volumes_tmpfs_and_read_only_root(ketch: Ketch, pulled: str, tmp_path: Path) -> None:
    src = tmp_path / "vol"
    src.mkdir()
    (src / "f").write_text("host-data\n")
    script = (
        "cat /data/f /etc/f; echo w > /data/new && echo wrote-bind; echo x > /etc/f || echo ro-file; "
        "touch /root/x || echo ro-root; echo t > /scratch/t && echo tmpfs-ok"
    )
    r = ketch(
        "run",
        "--rm",
        "-v",
        f"{src}:/data",
        "-v",
        f"{src / 'f'}:/etc/f:ro",
        "--tmpfs",
        "/scratch",
        "--read-only",
        pulled,
        "sh",
        "-c",
        script,
    )
    assert r.out.split() == ["host-data", "host-data", "wrote-bind", "ro-file", "ro-root", "tmpfs-ok"], r.err
    assert (src / "new").read_text() == "w\n"
    assert str(src) not in Path("/proc/self/mountinfo").read_text()
    # a missing host directory is created, as docker does
    made = tmp_path / "made" / "here"
    assert ketch("run", "--rm", "-v", f"{made}:/m", pulled, "sh", "-c", "echo hi > /m/x").rc == 0
    assert (made / "x").read_text() == "hi\n"
    for bad in ("./relative:/x", "name:relative", f"{src}:relative", f"{src}:/x:rx", f"{src}:/a/../b"):
        r = ketch("run", "--rm", "-v", bad, pulled, "true")
        assert r.rc == 125 and len(r.err.strip().splitlines()) == 1, (bad, r.err)


def test_a_symlink_in_the_image_cannot_send_a_volume_onto_the_host(
    ketch: Ketch, registry: RunningRegistry, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("keep\n")
    entries = busybox_entries() + [Entry("data", "symlink", link=str(victim))]
    registry.client.push("lab/evilvol", "latest", build([(tar_bytes(entries), "gzip")]))
    src = tmp_path / "src"
    src.mkdir()
    (src / "s").write_text("s\n")
    r = ketch("run", "--rm", "-v", f"{src}:/data", f"{registry.addr}/lab/evilvol", "ls", "/data")
    # resolved inside the container: either mounted there or refused, never onto the host path
    assert r.rc in (0, 125) and "Traceback" not in r.err
    assert sorted(os.listdir(victim)) == ["keep"]
    assert str(victim) not in Path("/proc/self/mountinfo").read_text()


def test_cap_add_cap_drop_privileged(ketch: Ketch, pulled: str) -> None:
    def eff(*flags: str) -> str:
        r = ketch("run", "--rm", *flags, pulled, "grep", "CapEff", "/proc/self/status")
        assert r.rc == 0, r.err
        return r.out.split()[1]

    assert eff("--cap-drop", "NET_RAW") == "00000000a80405fb"
    assert eff("--cap-drop", "ALL", "--cap-add", "CAP_CHOWN") == "0000000000000001"
    host = next(
        line.split()[1] for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("CapPrm")
    )
    assert eff("--privileged") == host
    assert ketch("run", "--rm", "--cap-add", "sys_admin", pulled, "mount", "-t", "tmpfs", "t", "/tmp").rc == 0
    r = ketch("run", "--rm", "--privileged", pulled, "sh", "-c", "mount | grep ' /sys '")
    assert "(rw," in r.out
    r = ketch("run", "--rm", "--cap-add", "NOPE", pulled, "true")
    assert r.rc == 125 and "invalid capability: NOPE" in r.err


def test_ps_filters_pause_unpause(ketch: Ketch, pulled: str) -> None:
    import time

    ketch(
        "run",
        "-d",
        "--name",
        "p1",
        pulled,
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done",
        check=True,
    )
    ketch("run", "--name", "done1", pulled, "true", check=True)
    names = lambda *f: [r.split()[-1] for r in ketch("ps", *f).out.splitlines()[1:]]  # noqa: E731
    assert names("-f", "status=exited") == ["done1"]
    assert names("-f", "name=p") == ["p1"]
    assert set(names("-a", "-f", f"ancestor={pulled}")) == {"done1", "p1"}
    assert ketch("ps", "-f", "bogus=1").rc != 0
    assert ketch("pause", "p1").out == "p1\n"
    assert "(Paused)" in ketch("ps").out and names("-f", "status=paused") == ["p1"]
    r = ketch("exec", "p1", "true")
    assert r.rc != 0 and "is paused" in r.err
    # frozen: the counter stops moving
    cid = json.loads(ketch("inspect", "p1").out)[0]["Id"]
    upper = ketch.root / "containers" / cid / "upper" / "tmp" / "n"
    first = upper.read_text()
    time.sleep(0.4)
    assert upper.read_text() == first
    assert ketch("unpause", "p1").out == "p1\n"
    time.sleep(0.4)
    assert upper.read_text() != first
    ketch("pause", "p1", check=True)
    assert ketch("rm", "-f", "p1").rc == 0  # a paused container can still be removed
    ketch("rm", "done1", check=True)


def test_an_image_of_many_layers_runs(ketch: Ketch, registry: RunningRegistry) -> None:
    """Past mount(2)'s one-page option string: 120 layers of long store paths
    (the overlay is built with one `lowerdir+` per layer)."""
    layers = [(tar_bytes(busybox_entries()), "gzip")]
    layers += [
        (tar_bytes([Entry("layers/", "dir"), Entry(f"layers/{i:03d}", data=f"{i}\n".encode())]), "gzip")
        for i in range(119)
    ]
    layers.append((tar_bytes([Entry("layers/", "dir"), Entry("layers/000", "whiteout")]), "gzip"))
    registry.client.push("lab/many", "latest", build(layers))
    run_image = f"{registry.addr}/lab/many"
    r = ketch("run", "--rm", run_image, "sh", "-c", "ls /layers | wc -l; cat /layers/001 /layers/118")
    assert r.out.split() == ["118", "1", "118"], r.err
    assert len(json.loads(ketch("image", "inspect", run_image).out)[0]["RootFS"]["Layers"]) == 121
    # Long enough that the old single option string could not hold them.
    assert len(":".join(str(p) for p in (Path(ketch.root) / "layers").glob("*/diff"))) > 4096
