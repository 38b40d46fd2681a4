"""Issue 12's run/create flags in real containers (as root, --network none,
busybox): labels, the stop signal and timeout, ulimits, sysctls, /dev/shm's
size, devices, extra groups, HOME, the container's own /sys/fs/cgroup, and
the root mount's source; each with the hostile input that must not reach
the host (a device flag on a regular file, a host-wide sysctl, a write to
the cgroup mount, a ulimit no process can have, a huge label file)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from support.imagekit import Entry
from support.ketch import Ketch, requires_root

pytestmark = requires_root


@pytest.fixture
def bb(ketch: Ketch) -> str:
    return ketch.import_busybox("bb", [Entry("etc/group", data=b"root:x:0:\nweb:x:1000:\naudio:x:29:\n")])


def run(ketch: Ketch, *args: str) -> tuple[int, str, str]:
    r = ketch("run", "--rm", "--network", "none", *args)
    return r.rc, r.out, r.err


def test_labels_merge_the_image_s_under_the_flags(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    f = tmp_path / "labels"
    f.write_text("# a comment\n\nfrom.file=1\nshared=file\n")
    r = ketch(
        "create",
        "--network",
        "none",
        "-l",
        "a=b",
        "--label",
        "shared=flag",
        "-l",
        "bare",
        "--label-file",
        str(f),
        bb,
        "true",
    )
    assert r.rc == 0, r.err
    cid = r.out.strip()
    doc = json.loads(ketch("inspect", cid, check=True).out)[0]
    assert doc["Config"]["Labels"] == {"a": "b", "shared": "flag", "bare": "", "from.file": "1"}
    ketch("rm", cid, check=True)


def test_a_huge_label_file_line_is_one_clear_error(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    f = tmp_path / "labels"
    f.write_bytes(b"k=" + b"x" * (1 << 17) + b"\n")
    r = ketch("create", "--network", "none", "--label-file", str(f), bb, "true")
    assert r.rc == 125 and "token too long" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert ketch("ps", "-aq", check=True).out == ""  # nothing half-made
    big = tmp_path / "big"
    big.write_bytes(b"k=v\n" * (1 << 19))  # 2 MiB
    r = ketch("create", "--network", "none", "--label-file", str(big), bb, "true")
    assert r.rc == 125 and "1 MiB at most" in r.err
    r = ketch("create", "--network", "none", "--label-file", "/dev/zero", bb, "true")
    assert r.rc == 125 and "not a regular file" in r.err


def test_stop_signal_and_stop_timeout_are_what_stop_uses(ketch: Ketch, bb: str) -> None:
    # the shell ignores TERM: with --stop-signal USR1 (its trap), stop is quick;
    # with --stop-timeout 1 and TERM ignored, stop kills it after about a second
    script = "trap 'exit 7' USR1; trap '' TERM; while :; do sleep 0.1; done"
    cid = ketch(
        "run", "-d", "--network", "none", "--stop-signal", "USR1", bb, "sh", "-c", script, check=True
    ).out.strip()
    time.sleep(0.3)
    ketch("stop", cid, check=True)
    doc = json.loads(ketch("inspect", cid, check=True).out)[0]
    assert doc["State"]["ExitCode"] == 7 and doc["Config"]["StopSignal"] == "USR1"
    ketch("rm", cid, check=True)
    cid = ketch("run", "-d", "--network", "none", "--stop-timeout", "1", bb, "sh", "-c", script, check=True).out.strip()
    time.sleep(0.3)
    t = time.monotonic()
    ketch("stop", cid, check=True)
    took = time.monotonic() - t
    doc = json.loads(ketch("inspect", cid, check=True).out)[0]
    assert doc["State"]["ExitCode"] == 137 and 0.8 < took < 5, took
    assert doc["Config"]["StopTimeout"] == 1
    ketch("rm", cid, check=True)
    r = ketch("create", "--network", "none", "--stop-signal", "NOPE", bb, "true")
    assert r.rc == 125 and "invalid signal: NOPE" in r.err


def test_ulimits_are_the_process_s_and_exec_s(ketch: Ketch, bb: str) -> None:
    rc, out, err = run(
        ketch, "--ulimit", "nofile=1000:2000", "--ulimit", "core=-1", bb, "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"
    )
    assert rc == 0, err
    assert out.split() == ["1000", "2000", "unlimited"]
    r = ketch("create", "--network", "none", "--ulimit", "nofile=10:5", bb, "true")
    assert r.rc == 125 and "ulimit soft limit must be less than or equal to hard limit: 10 > 5" in r.err
    r = ketch("create", "--network", "none", "--ulimit", "bogus=1", bb, "true")
    assert r.rc == 125 and "invalid ulimit type: bogus" in r.err


def test_a_ulimit_above_what_the_host_allows_is_a_clear_error(ketch: Ketch, bb: str) -> None:
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    before = Path("/proc/sys/fs/nr_open").read_text()
    r = ketch("run", "--rm", "--network", "none", "--ulimit", f"nofile={nr_open + 1}", bb, "true")
    assert r.rc == 125 and "fs.nr_open" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert Path("/proc/sys/fs/nr_open").read_text() == before
    # as a user the container cannot raise its hard limit back
    rc, out, err = run(
        ketch,
        "-u",
        "1000",
        "--ulimit",
        "nofile=100:200",
        bb,
        "sh",
        "-c",
        "ulimit -Hn 300 && echo raised || echo refused",
    )
    assert rc == 0 and "refused" in out, (out, err)


def test_namespaced_sysctls_only(ketch: Ketch, bb: str) -> None:
    rc, out, err = run(
        ketch, "--sysctl", "net.ipv4.ip_unprivileged_port_start=99", "--sysctl", "kernel.shmmni=1234", bb,
        "sh", "-c", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni",
    )  # fmt: skip
    assert rc == 0, err
    assert out.split() == ["99", "1234"]
    assert Path("/proc/sys/kernel/shmmni").read_text().strip() != "1234"
    for key in ("vm.swappiness=1", "kernel.hostname=evil", "kernel.core_pattern=|/tmp/x", "net/../vm/swappiness=1",
                "fs.file-max=10", "kernel.domainname=x", "net.ipv4..x=1", "net.ipv4.ip_forward"):  # fmt: skip
        host = {"vm": "/proc/sys/vm/swappiness", "kernel": "/proc/sys/kernel/hostname"}
        before = {k: Path(v).read_text() for k, v in host.items()}
        r = ketch("run", "--rm", "--network", "none", "--sysctl", key, bb, "true")
        assert r.rc == 125 and "is not allowed" in r.err and "Traceback" not in r.err, (key, r.err)
        assert {k: Path(v).read_text() for k, v in host.items()} == before
    r = ketch("create", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", bb, "true")
    assert r.rc == 125 and "not allowed in host network namespace" in r.err


def test_shm_size(ketch: Ketch, bb: str) -> None:
    rc, out, err = run(ketch, bb, "sh", "-c", "grep ' /dev/shm ' /proc/mounts")
    assert rc == 0 and "size=65536k" in out, (out, err)
    rc, out, err = run(ketch, "--shm-size", "128m", bb, "sh", "-c", "grep ' /dev/shm ' /proc/mounts")
    assert rc == 0 and "size=131072k" in out, (out, err)
    r = ketch("create", "--network", "none", "--shm-size", "lots", bb, "true")
    assert r.rc == 125 and "invalid size" in r.err


def test_a_device_is_mapped_with_its_permissions(ketch: Ketch, bb: str) -> None:
    rc, out, err = run(
        ketch,
        "--device",
        "/dev/null:/dev/mynull",
        bb,
        "sh",
        "-c",
        "stat -c '%t:%T %F' /dev/mynull; echo x > /dev/mynull && echo wrote",
    )
    assert rc == 0, err
    assert out.split("\n")[:2] == ["1:3 character special file", "wrote"]
    if Path("/sys/fs/cgroup/devices").is_dir():  # v1: the devices cgroup enforces r, w and m
        # /dev/loop-control (10:237) is not in docker's default allow list; opened only, never used
        script = (
            "dd if=/dev/k of=/dev/null count=0 2>/dev/null && echo read; "
            "sh -c ': > /dev/k' 2>/dev/null && echo wrote; true"
        )
        for perms, can in (("r", ["read"]), ("rw", ["read", "wrote"]), ("m", []), ("rwm", ["read", "wrote"])):
            rc, out, err = run(ketch, "--device", f"/dev/loop-control:/dev/k:{perms}", bb, "sh", "-c", script)
            assert rc == 0 and out.split() == can, (perms, out, err)


def test_a_device_flag_on_anything_but_a_device_is_refused(ketch: Ketch, bb: str, tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("secret")
    link = tmp_path / "link"
    link.symlink_to(f)
    for host in (str(f), str(link), str(tmp_path), "/nonexistent"):
        r = ketch("run", "--rm", "--network", "none", "--device", f"{host}:/dev/x", bb, "cat", "/dev/x")
        assert r.rc == 125 and "error gathering device information" in r.err, (host, r.err)
        assert "secret" not in r.out
    r = ketch("run", "--rm", "--network", "none", "--device", "/dev/null:/etc/passwd", bb, "true")
    assert r.rc == 125 and "under /dev only" in r.err
    r = ketch("run", "--rm", "--network", "none", "--device", "/dev/null:/dev/../etc/x", bb, "true")
    assert r.rc == 125
    assert f.read_text() == "secret" and ketch("ps", "-aq", check=True).out == ""


def test_group_add(ketch: Ketch, bb: str) -> None:
    rc, out, err = run(ketch, "--group-add", "audio", "--group-add", "4242", bb, "id", "-G")
    assert rc == 0, err
    assert out.split() == ["0", "29", "4242"]
    r = ketch("create", "--network", "none", "--group-add", "nosuch", bb, "true")
    assert r.rc == 125 and "Unable to find group nosuch" in r.err


def test_home_from_passwd_unless_given(ketch: Ketch, bb: str) -> None:
    assert run(ketch, bb, "sh", "-c", "echo $HOME")[1] == "/root\n"
    assert run(ketch, "-u", "web", bb, "sh", "-c", "echo $HOME")[1] == "/home/web\n"
    assert run(ketch, "-u", "4321", bb, "sh", "-c", "echo $HOME")[1] == "/\n"
    assert run(ketch, "-e", "HOME=/x", bb, "sh", "-c", "echo $HOME")[1] == "/x\n"


def test_the_container_s_own_cgroup_read_only(ketch: Ketch, bb: str) -> None:
    v1 = Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    limit = "/sys/fs/cgroup/memory/memory.limit_in_bytes" if v1 else "/sys/fs/cgroup/memory.max"
    rc, out, err = run(ketch, "-m", "64m", bb, "cat", limit)
    assert rc == 0, err
    assert out.strip() == str(64 << 20)
    pids = "/sys/fs/cgroup/pids/pids.max" if v1 else "/sys/fs/cgroup/pids.max"
    host_file = (
        Path(f"/sys/fs/cgroup/pids/{ketch.cgroup_parent}") if v1 else Path(f"/sys/fs/cgroup/{ketch.cgroup_parent}")
    )
    cid = ketch("run", "-d", "--network", "none", "--pids-limit", "50", bb, "sleep", "30", check=True).out.strip()
    try:
        procs = pids.rsplit("/", 1)[0] + "/cgroup.procs"
        script = (
            f"cat {pids}; echo 100000 > {pids} && echo wrote; "
            f"echo $$ > {procs} || echo denied; mkdir /sys/fs/cgroup/x || echo nomkdir"
        )
        r = ketch("exec", cid, "sh", "-c", script)
        assert r.out.split()[:1] == ["50"] and "wrote" not in r.out, (r.out, r.err)
        assert "denied" in r.out and "nomkdir" in r.out, (r.out, r.err)
        host = host_file / cid / "pids.max"
        assert host.read_text().strip() == "50"
        mounts = ketch("exec", cid, "grep", "/sys/fs/cgroup", "/proc/mounts", check=True).out
        assert mounts and all(" ro," in ln for ln in mounts.splitlines()), mounts
    finally:
        ketch("rm", "-f", cid, check=True)


def test_the_root_mount_s_source_is_overlay_and_no_dev_core(ketch: Ketch, bb: str) -> None:
    rc, out, err = run(ketch, bb, "sh", "-c", "grep ' / ' /proc/mounts; ls /dev")
    assert rc == 0, err
    assert out.startswith("overlay / overlay "), out
    assert "core" not in out.split()


def test_inspect_shows_the_host_config(ketch: Ketch, bb: str) -> None:
    r = ketch(
        "create", "--network", "none", "--ulimit", "nofile=10:20", "--sysctl", "kernel.msgmax=9000",
        "--shm-size", "1g", "--device", "/dev/null:/dev/n:rw", "--group-add", "audio", bb, "true"
    )  # fmt: skip
    assert r.rc == 0, r.err
    hc = json.loads(ketch("inspect", r.out.strip(), check=True).out)[0]["HostConfig"]
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert hc["Sysctls"] == {"kernel.msgmax": "9000"} and hc["ShmSize"] == 1 << 30
    assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rw"}]
    assert hc["GroupAdd"] == ["audio"]
    ketch("rm", r.out.strip(), check=True)


def test_network_flags_need_a_user_defined_network(ketch: Ketch, bb: str) -> None:
    r = ketch("create", "--network", "none", "--network-alias", "db", bb, "true")
    assert r.rc == 125 and "only for containers in user defined networks" in r.err
    r = ketch("create", "--network", "none", "--ip", "10.1.2.3", bb, "true")
    assert r.rc == 125 and "user defined networks only" in r.err
    assert os.path.exists("/proc/self")  # nothing else to check: nothing was made
    assert ketch("ps", "-aq", check=True).out == ""


def test_exec_as_another_user_gets_that_user_s_home(ketch: Ketch, bb: str) -> None:
    cid = ketch("run", "-d", "--network", "none", bb, "sleep", "30", check=True).out.strip()
    try:
        assert ketch("exec", cid, "sh", "-c", "echo $HOME", check=True).out == "/root\n"
        assert ketch("exec", "-u", "web", cid, "sh", "-c", "echo $HOME", check=True).out == "/home/web\n"
        assert ketch("exec", "-u", "web", "-e", "HOME=/y", cid, "sh", "-c", "echo $HOME", check=True).out == "/y\n"
    finally:
        ketch("rm", "-f", cid, check=True)
    cid = ketch("run", "-d", "--network", "none", "-e", "HOME=/given", bb, "sleep", "30", check=True).out.strip()
    try:  # a HOME of the container's own stays
        assert ketch("exec", "-u", "web", cid, "sh", "-c", "echo $HOME", check=True).out == "/given\n"
    finally:
        ketch("rm", "-f", cid, check=True)
