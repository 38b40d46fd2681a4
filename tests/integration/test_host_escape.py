"""What a container could reach of the host through ketch's own process:
the caller's terminal and files, the interpreter behind /proc/self/exe, a
descriptor leaked into ketch, a working directory through /proc, a
read-only bind's submounts, a FIFO at a file ketch mounts. Each attack is
a real image or a real leaked descriptor; each test checks the host."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.imagekit import Entry, busybox_entries, tar_bytes
from support.ketch import KETCH, Ketch, requires_root
from support.static import static_binary
from support.wait import wait_for

pytestmark = requires_root

# ioctl(0, TIOCSTI, "echo PWNED\n") one byte at a time: prints 0 if it typed, else -errno.
_TIOCSTI_C = r"""
#include <errno.h>
#include <stdio.h>
#include <sys/ioctl.h>
int main(void) {
    const char *s = "echo PWNED\n";
    long r = 0;
    for (const char *c = s; *c; c++)
        if (ioctl(0, TIOCSTI, c) < 0) { r = -errno; break; }
    printf("%ld\n", r);
    return 0;
}
"""


@pytest.fixture(scope="module")
def tiocsti(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return static_binary(tmp_path_factory, _TIOCSTI_C, "TIOCSTI helper")


def test_without_t_the_container_gets_pipes_not_the_callers_files(ketch: Ketch, tmp_path: Path) -> None:
    ketch.import_busybox("bb")
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    out.write_text("SECRET-OUT\n")
    err.write_text("SECRET-ERR\n")
    script = "for i in 0 1 2; do ls -l /proc/self/fd/$i | sed 's/.*-> //'; done; : > /proc/self/fd/2; echo done"
    ketch("run", "-d", "--name", "cc", "bb", "sleep", "60", check=True)
    # A new container, and a process exec'd into a running one.
    for argv in (["run", "--rm", "-i", "bb"], ["exec", "-i", "cc"]):
        out.write_text("SECRET-OUT\n")
        with open(out, "a") as o, open(err, "a") as e:
            p = subprocess.run(
                [KETCH, *argv, "sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=o, stderr=e, env=ketch.env, timeout=120,
            )  # fmt: skip
        assert p.returncode == 0, argv
        lines = out.read_text().splitlines()
        # The user's files are untouched: the container wrote into pipes that ketch copied.
        assert lines[0] == "SECRET-OUT" and lines[4] == "done", (argv, lines)
        assert err.read_text().startswith("SECRET-ERR\n")
        assert all(link.startswith("pipe:[") for link in lines[1:4]), (argv, lines)
        assert str(tmp_path) not in out.read_text()
    ketch("rm", "-f", "cc", check=True)


def test_without_t_the_callers_terminal_is_out_of_reach(ketch: Ketch, tiocsti: bytes) -> None:
    ketch.import_busybox("bb", [Entry("bin/tiocsti", data=tiocsti, mode=0o755)])
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(
            [KETCH, "run", "--rm", "-i", "bb", "sh", "-c", "[ -t 0 ] && echo tty0; [ -t 1 ] && echo tty1; tiocsti"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=ketch.env,
            start_new_session=True,
        )
        got = b""
        deadline = time.monotonic() + 120
        while p.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                got += os.read(master, 4096)
        assert p.wait(5) == 0
        while select.select([master], [], [], 0.2)[0]:
            got += os.read(master, 4096)
        text = got.decode(errors="replace")
        assert "tty0" not in text and "tty1" not in text, text
        # TIOCSTI fails (ENOTTY on a pipe) and nothing waits in the terminal's input queue.
        assert "-25" in text.split(), text
        os.set_blocking(slave, False)
        with pytest.raises(BlockingIOError):
            os.read(slave, 100)
    finally:
        os.close(master)
        os.close(slave)


def _host_python_libraries() -> list[Entry]:
    """The loader and libraries the host's interpreter needs, at their host
    paths: an image can ship them, so that a host binary run inside the
    container would start."""
    out = subprocess.run(["ldd", os.path.realpath(sys.executable)], capture_output=True, text=True).stdout
    paths = {tok for tok in out.split() if tok.startswith("/")}
    return [Entry(p.lstrip("/"), data=Path(p).read_bytes(), mode=0o755) for p in sorted(paths)]


def test_proc_self_exe_never_runs_the_host_interpreter(ketch: Ketch) -> None:
    """A script whose interpreter is /proc/self/exe runs what the container's
    process was before its exec: a sealed copy of ketch's static helper, not
    the host's python (nor any host file the container could reopen), even
    when the image ships the loader and libraries python needs."""
    script = b"#!/proc/self/exe\nimport sys; print('PYTHON-RAN', sys.version)\n"
    ketch.import_busybox("bb", [Entry("bin/x", data=script, mode=0o755), *_host_python_libraries()])
    r = ketch("run", "--rm", "bb", "/bin/x")
    assert "python" not in (r.out + r.err).lower(), r.out + r.err
    assert r.rc != 0
    ketch("run", "-d", "--name", "cc", "bb", "sleep", "60", check=True)
    r = ketch("exec", "cc", "/bin/x")
    assert "python" not in (r.out + r.err).lower(), r.out + r.err
    assert r.rc != 0
    ketch("rm", "-f", "cc", check=True)


def test_a_leaked_descriptor_does_not_reach_the_container(ketch: Ketch, tmp_path: Path) -> None:
    """CVE-2024-21626: a directory descriptor of the host left open in ketch
    must be closed before the working directory is looked up, and the
    working directory resolves inside the root."""
    ketch.import_busybox("bb")
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "HOSTMARKER").write_text("x")
    fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY)  # inheritable once passed
    try:
        for flags in (["-w", f"/proc/self/fd/{fd}"], []):
            p = subprocess.run(
                [KETCH, "run", "--rm", *flags, "bb", "sh", "-c", f"ls /proc/self/fd/; ls /proc/self/fd/{fd}/ .; pwd"],
                capture_output=True,
                text=True,
                env=ketch.env,
                pass_fds=(fd,),
                timeout=120,
            )
            assert "HOSTMARKER" not in p.stdout + p.stderr
            if flags:
                assert p.returncode != 0  # no such directory inside the container
            else:
                # Only the container's own stdio (and ls's directory) are open in there.
                assert p.stdout.split()[:5] == ["0", "1", "2", "3", ".:"], p.stdout
        ketch("run", "-d", "--name", "cc", "bb", "sleep", "60", check=True)
        p = subprocess.run(
            [KETCH, "exec", "-w", f"/proc/self/fd/{fd}", "cc", "ls"],
            capture_output=True,
            text=True,
            env=ketch.env,
            pass_fds=(fd,),
            timeout=120,
        )
        assert "HOSTMARKER" not in p.stdout + p.stderr and p.returncode != 0
        ketch("rm", "-f", "cc", check=True)
    finally:
        os.close(fd)
    assert sorted(os.listdir(host)) == ["HOSTMARKER"]


def test_build_workdir_through_proc_stays_inside(ketch: Ketch, tmp_path: Path) -> None:
    ketch.import_busybox("bb")
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "HOSTMARKER").write_text("x")
    fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM bb\nWORKDIR /proc/self/fd/{fd}\nRUN ls; touch escaped\n")
    try:
        p = subprocess.run(
            [KETCH, "build", "-t", "w", str(ctx)],
            capture_output=True,
            text=True,
            env=ketch.env,
            pass_fds=(fd,),
            timeout=300,
        )
    finally:
        os.close(fd)
    assert "HOSTMARKER" not in p.stdout + p.stderr
    assert p.returncode != 0
    assert sorted(os.listdir(host)) == ["HOSTMARKER"]


def test_read_only_bind_is_read_only_below_too(ketch: Ketch, tmp_path: Path) -> None:
    ketch.import_busybox("bb")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(src / "sub")], check=True)
    try:
        r = ketch("run", "--rm", "-v", f"{src}:/data:ro", "bb", "sh", "-c", "touch /data/sub/x; touch /data/y; echo $?")
        assert os.listdir(src / "sub") == []
        assert sorted(os.listdir(src)) == ["sub"]
        assert "Read-only file system" in r.err, r.err
    finally:
        subprocess.run(["umount", str(src / "sub")], check=True)


def test_fifo_where_ketch_mounts_a_file_does_not_hang(ketch: Ketch) -> None:
    """An image whose /etc (a link to /conf) holds a FIFO named hostname:
    ketch mounts its file over the FIFO without opening it."""
    fifo = [
        Entry("conf/", "dir"),
        Entry("conf/hostname", kind="fifo"),
        Entry("conf/passwd", data=b"root:x:0:0::/:/bin/sh\n"),
    ]
    entries = [e for e in busybox_entries() if not e.name.startswith("etc/")] + [
        Entry("etc", "symlink", link="conf"),
        *fifo,
    ]
    tar = ketch.root.parent / "fifo.tar"
    tar.write_bytes(tar_bytes(entries))
    ketch("import", str(tar), "bb", check=True)
    p = subprocess.run(
        [KETCH, "run", "--rm", "-h", "fifohost", "bb", "cat", "/etc/hostname"],
        capture_output=True,
        text=True,
        env=ketch.env,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "fifohost"


@pytest.fixture(scope="module")
def racer(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return static_binary(tmp_path_factory, Path(__file__).with_name("racer.c"), "/proc racer")


def test_exec_never_shows_the_container_a_stronger_process(ketch: Ketch, racer: bytes) -> None:
    """While `ketch exec` sets a process up, nothing in the container's pid
    namespace holds more capabilities than the container or runs without
    its seccomp filter: with CAP_SYS_PTRACE a container process could
    attach to it and run as the host's root."""
    ketch.import_busybox("bb", [Entry("bin/racer", data=racer, mode=0o755)])
    ketch("run", "-d", "--name", "cc", "--cap-add", "SYS_PTRACE", "bb", "sh", "-c", "racer 20000 > /tmp/r; sleep 60")
    try:
        for _ in range(20):
            assert ketch("exec", "cc", "true").rc == 0
        assert wait_for(lambda: "done" in ketch("exec", "cc", "cat", "/tmp/r").out, timeout=40)
        found = ketch("exec", "cc", "cat", "/tmp/r").out
        assert "STRONGER" not in found, found
    finally:
        ketch("rm", "-f", "cc")


def _host_null() -> str:
    st = os.stat("/dev/null")
    return f"{st.st_dev} {st.st_ino}"


def test_the_hosts_dev_null_never_reaches_a_container(ketch: Ketch) -> None:
    """A container's /dev/null on its stdio is its own: a chmod through
    /proc/self/fd must not reach the host's node."""
    ketch.import_busybox("bb")
    before = os.stat("/dev/null")
    ketch("run", "-d", "--name", "cc", "bb", "sleep", "60", check=True)
    try:
        r = ketch("exec", "cc", "sh", "-c", 'stat -L -c "%d %i" /proc/1/fd/0; chmod 600 /proc/1/fd/0')
        assert r.rc == 0 and r.out.strip() != _host_null(), r.out
        assert ketch("exec", "-d", "cc", "sh", "-c", 'stat -L -c "%d %i" /proc/self/fd/1 > /tmp/o').rc == 0
        assert wait_for(lambda: ketch("exec", "cc", "cat", "/tmp/o").out.strip() != "")
        assert ketch("exec", "cc", "cat", "/tmp/o").out.strip() != _host_null()
    finally:
        ketch("rm", "-f", "cc")
    after = os.stat("/dev/null")
    assert (after.st_mode, after.st_ctime_ns) == (before.st_mode, before.st_ctime_ns)


def test_signals_start_at_their_defaults(ketch: Ketch) -> None:
    """The caller ignores SIGPIPE (Python, Rust): the container must not."""
    ketch.import_busybox("bb")
    r = ketch("run", "--rm", "bb", "sh", "-c", "grep SigIgn /proc/self/status; yes | head -1")
    assert r.out.split() == ["SigIgn:", "0000000000000000", "y"], r.out
    assert "Broken pipe" not in r.err
    ketch("run", "-d", "--name", "cc", "bb", "sleep", "60", check=True)
    try:
        assert "0000000000000000" in ketch("exec", "cc", "grep", "SigIgn", "/proc/1/status").out
        assert "0000000000000000" in ketch("exec", "cc", "grep", "SigIgn", "/proc/self/status").out
        # Ctrl-C on `ketch exec` reaches the process, which may handle it.
        p = subprocess.Popen(
            [KETCH, "exec", "cc", "sh", "-c", 'trap "echo got INT; exit 3" INT; echo ready; while :; do sleep 1; done'],
            stdout=subprocess.PIPE, text=True, env=ketch.env,
        )  # fmt: skip
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 3
        assert p.stdout.read() == "got INT\n"
    finally:
        ketch("rm", "-f", "cc")


def test_closed_or_non_blocking_stdout_loses_nothing(ketch: Ketch) -> None:
    ketch.import_busybox("bb")
    p = subprocess.run(
        [KETCH, "run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2; exit 4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ketch.env, timeout=60,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert p.returncode == 4 and p.stderr == b"err\n", p.stderr
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        proc = subprocess.Popen(
            [KETCH, "run", "--rm", "bb", "sh", "-c", "dd if=/dev/zero bs=1024 count=512 2>/dev/null"],
            stdout=w, env=ketch.env,
        )  # fmt: skip
        os.close(w)
        got = 0
        while chunk := os.read(r, 65536):
            got += len(chunk)
            time.sleep(0.001)
        assert proc.wait(60) == 0 and got == 512 * 1024
    finally:
        os.close(r)
