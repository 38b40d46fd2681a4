"""Seccomp (docker's default profile, unconfined, a profile file),
no-new-privileges, and exec's share of them, in real containers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.imagekit import Entry, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root

pytestmark = requires_root

# Calls each syscall number given with six zero arguments; prints the result, or -errno.
_SYS_C = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        long r = syscall(atol(argv[i]), 0, 0, 0, 0, 0, 0);
        printf("%ld\n", r < 0 ? -(long)errno : r);
    }
    return 0;
}
"""
CLONE3, ADD_KEY, GETCWD, GETEUID = 435, 248, 79, 107
ENOSYS, EPERM = 38, 1


@pytest.fixture(scope="module")
def sys_helper(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the static syscall helper (scripts/setup.sh installs it)")
    d = tmp_path_factory.mktemp("helper")
    (d / "sys.c").write_text(_SYS_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "sys"), str(d / "sys.c")], check=True)
    return (d / "sys").read_bytes()


@pytest.fixture
def sec_image(ketch: Ketch, tmp_path: Path, sys_helper: bytes) -> str:
    tar = tmp_path / "img.tar"
    helpers = [Entry("bin/sys", data=sys_helper, mode=0o755), Entry("bin/sys-suid", data=sys_helper, mode=0o4755)]
    tar.write_bytes(tar_bytes([*busybox_entries(), *helpers]))
    ketch("import", str(tar), "sec", check=True)
    return "sec"


def calls(ketch: Ketch, *flags: str, image: str = "sec") -> list[int]:
    r = ketch("run", "--rm", *flags, image, "sys", str(CLONE3), str(ADD_KEY), str(GETCWD))
    assert r.rc == 0, r.err
    return [int(x) for x in r.out.split()]


def status(ketch: Ketch, *flags: str) -> dict[str, str]:
    r = ketch("run", "--rm", *flags, "sec", "cat", "/proc/self/status")
    assert r.rc == 0, r.err
    return dict(line.split(":\t", 1) for line in r.out.splitlines() if ":\t" in line)


def test_default_profile_blocks_and_answers_enosys_for_clone3(ketch: Ketch, sec_image: str) -> None:
    clone3, add_key, getcwd = calls(ketch)
    assert clone3 == -ENOSYS  # so that libc falls back to clone
    assert add_key == -EPERM  # not in docker's allowlist
    assert getcwd not in (-EPERM, -ENOSYS)  # allowed: the kernel's own answer to a NULL buffer
    st = status(ketch)
    assert (st["Seccomp"], st["Seccomp_filters"], st["NoNewPrivs"]) == ("2", "1", "0")
    # Forks, pipes and sockets work under the filter (busybox's shell and applets use them).
    r = ketch("run", "--rm", sec_image, "sh", "-c", "echo a | cat; (sleep 0; echo b) & wait")
    assert r.out == "a\nb\n", r.err


def test_unconfined_and_privileged_have_no_filter(ketch: Ketch, sec_image: str) -> None:
    clone3, add_key, _ = calls(ketch, "--security-opt", "seccomp=unconfined")
    assert clone3 not in (-ENOSYS, -EPERM) and add_key != -EPERM
    assert status(ketch, "--security-opt", "seccomp:unconfined")["Seccomp"] == "0"
    assert status(ketch, "--privileged")["Seccomp"] == "0"


def test_cap_sys_admin_opens_what_docker_opens_with_it(ketch: Ketch, sec_image: str) -> None:
    clone3, add_key, _ = calls(ketch, "--cap-add", "SYS_ADMIN")
    assert clone3 not in (-ENOSYS, -EPERM)  # clone3 allowed with CAP_SYS_ADMIN
    assert add_key == -EPERM  # still filtered


def test_profile_file_in_docker_format(ketch: Ketch, sec_image: str, tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77},
                    {
                        "names": ["add_key"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}],
                    },
                ],
            }
        )
    )
    clone3, add_key, getcwd = calls(ketch, "--security-opt", f"seccomp={profile}")
    assert getcwd == -77
    assert add_key == -EPERM  # errnoRet defaults to EPERM
    assert clone3 not in (-ENOSYS, -EPERM)  # default action: allow


def test_no_new_privileges(ketch: Ketch, sec_image: str) -> None:
    st = status(ketch, "--security-opt", "no-new-privileges")
    assert (st["NoNewPrivs"], st["Seccomp"]) == ("1", "2")
    assert status(ketch, "--security-opt", "no-new-privileges=false")["NoNewPrivs"] == "0"
    # A setuid-root binary run by a user: euid 0 without the option, the user's own with it.
    r = ketch("run", "--rm", "-u", "web", sec_image, "sys-suid", str(GETEUID))
    assert r.out == "0\n", r.err
    r = ketch(
        "run", "--rm", "--security-opt", "no-new-privileges:true", "-u", "web", sec_image, "sys-suid", str(GETEUID)
    )
    assert r.out == "1000\n", r.err


def test_exec_keeps_the_filter_and_no_new_privs(ketch: Ketch, sec_image: str) -> None:
    name = "sec-exec"
    r = ketch("run", "-d", "--name", name, "--security-opt", "no-new-privileges", sec_image, "sleep", "30")
    assert r.rc == 0, r.err
    try:
        r = ketch("exec", name, "cat", "/proc/self/status")
        st = dict(line.split(":\t", 1) for line in r.out.splitlines() if ":\t" in line)
        assert (st["Seccomp"], st["NoNewPrivs"]) == ("2", "1")
        r = ketch("exec", name, "sys", str(CLONE3), str(ADD_KEY))
        assert r.out.split() == [str(-ENOSYS), str(-EPERM)], r.err
    finally:
        ketch("rm", "-f", name)


@pytest.mark.parametrize(
    ("opt", "message"),
    [
        ("foo", 'invalid --security-opt: "foo"'),
        ("seccomp=/nonexistent.json", "opening seccomp profile (/nonexistent.json) failed"),
        ("no-new-privileges=maybe", 'invalid --security-opt: "no-new-privileges=maybe"'),
    ],
)
def test_bad_security_opts(ketch: Ketch, sec_image: str, opt: str, message: str) -> None:
    r = ketch("run", "--rm", "--security-opt", opt, sec_image, "true")
    assert r.rc == 125
    assert message in r.err and r.err.count("\n") == 1 and "Traceback" not in r.err
    assert ketch("ps", "-a", "-q").out == ""  # nothing half-made


def test_bad_profile_file_is_refused_before_anything_is_made(ketch: Ketch, sec_image: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]}')
    r = ketch("run", "--rm", "--security-opt", f"seccomp={bad}", sec_image, "true")
    assert r.rc == 125 and "unsupported action 'SCMP_ACT_NOPE'" in r.err
    bad.write_text("{not json")
    r = ketch("run", "--rm", "--security-opt", f"seccomp={bad}", sec_image, "true")
    assert r.rc == 125 and "decoding seccomp profile failed" in r.err
    assert ketch("ps", "-a", "-q").out == ""


def test_the_host_executable_stays_busy_while_a_container_lives(ketch: Ketch, sec_image: str) -> None:
    """The class of CVE-2019-5736: a container process that gets hold of the
    host executable behind its parent must not be able to write it. ketch's
    answer: the container's parent (the monitor with -d, the CLI in the
    foreground) runs that executable for the container's whole life, and the
    kernel refuses to open a running executable for writing."""
    name = "sec-busy"
    assert ketch("run", "-d", "--name", name, sec_image, "sleep", "30").rc == 0
    try:
        pid = json.loads(ketch("inspect", name).out)[0]["State"]["Pid"]
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        exe = os.path.realpath(f"/proc/{ppid}/exe")
        from ketch import _native

        native_dir = os.path.dirname(os.path.realpath(_native.__file__))
        assert exe in (os.path.realpath(sys.executable), os.path.join(native_dir, "ketch-monitor")), exe
        with pytest.raises(OSError) as e:
            os.close(os.open(exe, os.O_WRONLY))
        assert e.value.errno == 26  # ETXTBSY
    finally:
        ketch("rm", "-f", name)


def test_spawn_without_clone3_falls_back_to_clone(ketch: Ketch, sec_image: str) -> None:
    """clone3 is tried first; where it answers ENOSYS (an old kernel, or ketch
    itself under docker's seccomp profile) clone(2) does the same job.
    KETCH_NO_CLONE3 takes the fallback path on purpose."""
    for env in ({}, {"KETCH_NO_CLONE3": "1"}):
        r = ketch(
            "run", "--rm", sec_image, "sh", "-c", "echo $$; grep -c . /proc/self/status >/dev/null && hostname", env=env
        )
        assert r.rc == 0 and r.out.split()[0] == "1", (env, r.err)
        r = ketch("run", "-d", "--name", "c3", sec_image, "sleep", "5", env=env)
        assert r.rc == 0, r.err
        assert ketch("exec", "c3", "sh", "-c", "echo $PPID").out.strip() == "0"
        ketch("rm", "-f", "c3")


def test_device_nodes_made_in_the_container_cannot_be_opened(ketch: Ketch, sec_image: str, tmp_path: Path) -> None:
    """docker's devices cgroup, by mount flags: CAP_MKNOD makes a node of the
    host's console (5:1) in every writable place, and none of them opens;
    the container's own /dev/null, /dev/urandom and ptys still work."""
    vol = tmp_path / "vol"
    vol.mkdir()
    script = (
        "for d in / /dev/ /v/ /t/ /tmp/; do mknod ${d}console c 5 1 || exit 9; "
        "echo x 2>/dev/null > ${d}console && echo OPENED-$d; done; "
        "echo ok > /dev/null && head -c 4 /dev/urandom | wc -c"
    )
    r = ketch("run", "--rm", "-v", f"{vol}:/v", "--tmpfs", "/t", sec_image, "sh", "-c", script)
    assert r.rc == 0 and r.out == "4\n", (r.out, r.err)
    r = ketch("run", "--rm", "--read-only", "-v", f"{vol}:/v:ro", sec_image, "sh", "-c", "echo x > /v/console")
    assert r.rc != 0
    # --privileged: the host's devices, and nodes that open
    r = ketch("run", "--rm", "--privileged", sec_image, "sh", "-c", "mknod /n c 1 3 && echo x > /n && ls /dev/kmsg")
    assert r.rc == 0 and r.out == "/dev/kmsg\n", r.err
