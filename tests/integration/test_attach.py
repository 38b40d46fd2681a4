"""The monitor's attach socket (rust/src/monitor/attach.rs) and what goes
through it: `attach` with stdin and the detach keys, re-attaching, -t,
exit codes, `start -a -i`, a foreground `run` with a restart policy or a
healthcheck under the monitor; hostile: a client that never reads while
the container writes megabytes, a user who is not root, a symlink planted
where the socket goes."""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from support.ketch import KETCH, Ketch, requires_root
from support.wait import wait_for

pytestmark = requires_root


@pytest.fixture
def bb(ketch: Ketch) -> str:
    return ketch.import_busybox("bb")


def inspect(ketch: Ketch, name: str) -> dict[str, Any]:
    """`name`'s inspect document ({} while there is none)."""
    docs = json.loads(ketch("inspect", name).out or "[]")
    return docs[0] if docs else {}


def cdir(ketch: Ketch, name: str) -> Path:
    return Path(ketch.root) / "containers" / inspect(ketch, name)["Id"]


def read_until(f: Any, wanted: bytes, timeout: float = 15.0) -> bytes:
    """What the pipe `f` gives until `wanted` is in it."""
    got = b""
    end = time.time() + timeout
    while wanted not in got and time.time() < end:
        ready, _, _ = select.select([f], [], [], max(0.0, end - time.time()))
        if ready:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                break
            got += chunk
    return got


def attach(ketch: Ketch, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [KETCH, "attach", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ketch.env
    )


def finish(p: subprocess.Popen[bytes], timeout: float = 20) -> tuple[int, bytes, bytes]:
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        p.kill()
        p.wait()
    return p.returncode, out, err


def test_attach_sends_stdin_detaches_and_attaches_again(ketch: Ketch, bb: str) -> None:
    ketch("run", "-d", "-i", "--name", "cat", bb, "cat", check=True)
    assert inspect(ketch, "cat")["Config"]["OpenStdin"] is True
    for line in (b"hello\n", b"again\n"):
        p = attach(ketch, "cat")
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(line)
        p.stdin.flush()
        assert read_until(p.stdout, line) == line
        p.stdin.write(b"\x10\x11")  # ctrl-p ctrl-q
        p.stdin.flush()
        rc, out, err = finish(p)
        assert (rc, out, err) == (1, b"", b"read escape sequence\n")  # docker's words and code
        assert inspect(ketch, "cat")["State"]["Status"] == "running"
    assert ketch("logs", "cat").out == "hello\nagain\n"
    # the events: two attaches and two detaches
    events = ketch("events", "--since", "0", "--until", str(int(time.time()) + 1), "--filter", "container=cat")
    actions = [line.split()[2] for line in events.out.splitlines()]
    assert actions.count("attach") == 2 and actions.count("detach") == 2, events.out
    # other detach keys; a bad one is docker's error
    p = attach(ketch, "--detach-keys", "ctrl-x,y", "cat")
    assert p.stdin is not None
    p.stdin.write(b"\x18y")
    p.stdin.flush()
    assert finish(p)[0] == 1
    bad = ketch("attach", "--detach-keys", "ctrl-1", "cat")
    assert bad.rc != 0 and "Unknown character" in bad.err and "Traceback" not in bad.err
    ketch("rm", "-f", "cat", check=True)


def test_attach_to_a_tty_container(ketch: Ketch, bb: str) -> None:
    ketch("run", "-d", "-i", "-t", "--name", "tt", bb, "sh", check=True)
    p = attach(ketch, "tt")
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(b"echo tty-$((40+2))\n")
    p.stdin.flush()
    assert b"tty-42" in read_until(p.stdout, b"tty-42")
    p.stdin.write(b"\x10\x11")
    p.stdin.flush()
    assert finish(p)[0] == 1
    assert inspect(ketch, "tt")["State"]["Status"] == "running"
    # attached again, the shell's exit is attach's exit code
    p = attach(ketch, "tt")
    assert p.stdin is not None
    p.stdin.write(b"exit 6\n")
    p.stdin.flush()
    assert finish(p)[0] == 6
    ketch("rm", "-f", "tt", check=True)


def test_the_exit_code_comes_through_and_no_stdin_sends_none(ketch: Ketch, bb: str) -> None:
    ketch("run", "-d", "-i", "--name", "ex", bb, "sh", "-c", "read x; echo got-$x >&2; exit $x", check=True)
    p = attach(ketch, "--no-stdin", "ex")
    assert p.stdin is not None
    p.stdin.write(b"9\n")  # not sent: the container still waits
    p.stdin.close()
    time.sleep(1)
    assert p.poll() is None and inspect(ketch, "ex")["State"]["Status"] == "running"
    p.kill()
    p.wait()
    p = attach(ketch, "ex")
    assert p.stdin is not None
    p.stdin.write(b"7\n")
    p.stdin.flush()
    rc, out, err = finish(p)
    assert (rc, out, err) == (7, b"", b"got-7\n")  # stderr apart from stdout


def test_start_a_i_sends_stdin_and_its_end(ketch: Ketch, bb: str) -> None:
    ketch("create", "-i", "--name", "st", bb, "sh", "-c", "cat; echo done; exit 4", check=True)
    r = ketch("start", "-a", "-i", "st", input="one\ntwo\n")
    assert (r.rc, r.out) == (4, "one\ntwo\ndone\n")
    ketch("rm", "st", check=True)


def test_a_client_that_never_reads_does_not_stop_the_container(ketch: Ketch, bb: str) -> None:
    """Hostile: a client connects and reads nothing while the container
    writes megabytes: the container ends, the log has every line."""
    ketch("run", "-d", "--name", "big", bb, "sh", "-c", "sleep 1; seq 1 400000; seq 1 100000 >&2", check=True)
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    dfd = os.open(cdir(ketch, "big"), os.O_PATH | os.O_DIRECTORY)
    try:
        stuck.connect(f"/proc/self/fd/{dfd}/attach.sock")
    finally:
        os.close(dfd)
    stuck.sendall(b"KA\x01\x06")
    try:
        r = subprocess.run([KETCH, "wait", "big"], capture_output=True, text=True, env=ketch.env, timeout=60)
        assert r.stdout.strip() == "0"
    finally:
        stuck.close()
    logs = subprocess.run([KETCH, "logs", "big"], capture_output=True, text=True, env=ketch.env, timeout=60)
    out = logs.stdout.splitlines()
    assert len(out) == 400000 and out[-1] == "400000"
    assert len(logs.stderr.splitlines()) == 100000
    ketch("rm", "big", check=True)


def test_a_user_who_is_not_root_cannot_attach(ketch: Ketch, bb: str) -> None:
    """Hostile: `nobody` cannot reach the socket (0600, root's); and even if
    its mode let them, the monitor's SO_PEERCRED check sends them nothing."""
    ketch("run", "-d", "-i", "--name", "tick", bb, "sh", "-c", "while :; do echo tick; sleep 0.1; done", check=True)
    sock = cdir(ketch, "tick") / "attach.sock"
    st = sock.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)

    def as_nobody() -> tuple[str, bytes]:
        """In a child as uid/gid 65534: connect (through a directory fd opened
        before the drop), send a hello with stdin, read what comes."""
        r, w = os.pipe()
        dfd = os.open(sock.parent, os.O_PATH | os.O_DIRECTORY)
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                try:
                    s.connect(f"/proc/self/fd/{dfd}/attach.sock")
                    s.sendall(b"KA\x01\x07" + struct.pack(">B3xI", 0, 5) + b"evil\n")
                    data = s.recv(100)
                    os.write(w, b"connected:" + data)
                except OSError as e:
                    os.write(w, f"refused:{e.errno}".encode())
            finally:
                os._exit(0)
        os.close(w)
        os.close(dfd)
        os.waitpid(pid, 0)
        with os.fdopen(r, "rb") as f:
            got = f.read()
        kind, _, rest = got.partition(b":")
        return kind.decode(), rest

    assert as_nobody() == ("refused", str(errno.EACCES).encode())
    os.chmod(sock, 0o666)  # as if its mode were wrong: the peer check still holds
    try:
        # accepted and closed at once: nothing read, or the hello finds it closed
        assert as_nobody() in {("connected", b""), ("refused", str(errno.EPIPE).encode()),
                               ("refused", str(errno.ECONNRESET).encode())}  # fmt: skip
    finally:
        os.chmod(sock, 0o600)
    assert "evil" not in ketch("logs", "tick").out
    ketch("rm", "-f", "tick", check=True)


def test_a_symlink_where_the_socket_goes_is_not_followed(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    """Hostile: a link planted at attach.sock before the start: it is
    removed, never followed; its target is untouched."""
    ketch("create", "-i", "--name", "ln", bb, "cat", check=True)
    target = tmp_path / "outside"
    target.write_text("host file\n")
    link = cdir(ketch, "ln") / "attach.sock"
    link.symlink_to(target)
    ketch("start", "ln", check=True)
    assert target.read_text() == "host file\n"
    assert wait_for(lambda: link.exists() and not link.is_symlink() and link.is_socket())
    ketch("rm", "-f", "ln", check=True)


def test_a_foreground_run_with_a_restart_policy_goes_through_the_monitor(ketch: Ketch, bb: str) -> None:
    r = ketch("run", "--name", "fl", "--restart", "on-failure:2", bb, "sh", "-c", "echo ran; false")
    assert (r.rc, r.out) == (1, "ran\n")
    assert wait_for(lambda: inspect(ketch, "fl")["RestartCount"] == 2 and
                    inspect(ketch, "fl")["State"]["Status"] == "exited", timeout=20)  # fmt: skip
    assert ketch("logs", "fl").out == "ran\nran\nran\n"
    ketch("rm", "fl", check=True)
    bad = ketch("run", "--rm", "--restart", "always", bb, "true")
    assert bad.rc == 125 and "Conflicting options: --restart and --rm" in bad.err
    assert ketch("ps", "-a", "-q").out == ""


def test_a_foreground_run_with_a_healthcheck_shows_its_health(ketch: Ketch, bb: str) -> None:
    p = subprocess.Popen(
        [KETCH, "run", "-i", "--name", "hc", "--health-cmd", "true", "--health-interval", "200ms", bb,
         "sh", "-c", "read x; echo got-$x; exit 3"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ketch.env,
    )  # fmt: skip
    try:
        assert wait_for(lambda: inspect(ketch, "hc").get("State", {}).get("Health", {}).get("Status") == "healthy", 20)
        assert p.poll() is None
        rc, out, err = finish_with(p, b"x\n")
    finally:
        p.kill()
        p.wait()
    assert (rc, out) == (3, b"got-x\n"), (err, ketch("logs", "hc").out)
    ketch("rm", "hc", check=True)
    # with --rm: its code, and the monitor's removal waited for
    r = ketch("run", "--rm", "--health-cmd", "true", bb, "sh", "-c", "echo hi; exit 2")
    assert (r.rc, r.out, r.err) == (2, "hi\n", "")
    assert ketch("ps", "-a", "-q").out == ""


def finish_with(p: subprocess.Popen[bytes], data: bytes) -> tuple[int, bytes, bytes]:
    out, err = p.communicate(data, timeout=20)
    return p.returncode, out, err


def test_a_foreground_run_without_either_keeps_no_monitor(ketch: Ketch, bb: str) -> None:
    r = ketch("run", "--name", "fast", bb, "sh", "-c", "echo hi")
    assert (r.rc, r.out) == (0, "hi\n")
    assert not (cdir(ketch, "fast") / "monitor.json").exists()
    ketch("rm", "fast", check=True)


def test_garbage_and_oversized_frames_drop_that_client_only(ketch: Ketch, bb: str) -> None:
    """Hostile: a client that speaks something else, and one that announces
    a 4 GiB stdin frame: each is disconnected; the container runs on and a
    proper client still gets its stdin through."""
    ketch("run", "-d", "-i", "--name", "gb", bb, "cat", check=True)
    dfd = os.open(cdir(ketch, "gb"), os.O_PATH | os.O_DIRECTORY)
    try:
        for hello in (b"GET / HTTP/1.1\r\n\r\n", b"KA\x01\x07" + struct.pack(">B3xI", 0, 0xFFFFFFFF) + b"x" * 100):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(f"/proc/self/fd/{dfd}/attach.sock")
            s.sendall(hello)
            try:
                assert s.recv(100) == b""  # closed by the monitor
            except ConnectionResetError:
                pass
            s.close()
    finally:
        os.close(dfd)
    assert inspect(ketch, "gb")["State"]["Status"] == "running"
    p = attach(ketch, "gb")
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(b"still here\n")
    p.stdin.flush()
    assert read_until(p.stdout, b"still here\n") == b"still here\n"
    p.kill()
    p.wait()
    assert inspect(ketch, "gb")["State"]["Status"] == "running"  # a client killed: a detach
    ketch("rm", "-f", "gb", check=True)


def test_a_foreground_tty_run_under_the_monitor_detaches_and_restarts(ketch: Ketch, bb: str) -> None:
    """`run -it --restart` under a pty (script): typed commands reach the
    shell, `exit 5` is run's code and the monitor restarts it; a detach by
    the keys is docker's (nothing said, 0) and leaves it running."""

    def typed(keys: list[bytes], name: str) -> subprocess.CompletedProcess[bytes]:
        feed = b"".join(b"sleep 1; printf '%s'; " % k for k in keys) + b"sleep 2"
        cmd = f"{KETCH} run -it --restart on-failure:1 --name {name} {bb} sh; echo RC=$?"
        return subprocess.run(["sh", "-c", f"({feed.decode()}) | script -qc '{cmd}' /dev/null"],
                              capture_output=True, env=ketch.env, timeout=60)  # fmt: skip

    r = typed([b"echo in-$((6*7))\\r", b"exit 5\\r"], "ti")
    assert b"in-42" in r.stdout and b"RC=5" in r.stdout, r.stdout
    assert wait_for(lambda: inspect(ketch, "ti")["RestartCount"] == 1)
    r = typed([b"\\020\\021"], "td")  # ctrl-p ctrl-q as printf's octal escapes
    assert b"RC=0" in r.stdout and b"escape" not in r.stdout, r.stdout
    assert inspect(ketch, "td")["State"]["Status"] == "running"
    ketch("rm", "-f", "ti", "td", check=True)


def test_resize_sets_the_pty_size_and_stdin_reaches_several_clients_output(ketch: Ketch, bb: str) -> None:
    """`runtime.attach.resize` (the Engine API's) through the socket; two
    clients attached at once both see the output."""
    from ketch.runtime.attach import resize
    from ketch.store import Store

    ketch("run", "-d", "-i", "-t", "--name", "rs", bb, "sh", check=True)
    resize(Store(ketch.root), "rs", 33, 99)
    a, b = attach(ketch, "rs"), attach(ketch, "rs")
    assert a.stdin is not None and a.stdout is not None and b.stdout is not None
    time.sleep(1)  # both connected
    a.stdin.write(b"stty size\n")
    a.stdin.flush()
    assert b"33 99" in read_until(a.stdout, b"33 99")
    assert b"33 99" in read_until(b.stdout, b"33 99")
    for p in (a, b):
        p.kill()
        p.wait()
    ketch("rm", "-f", "rs", check=True)
