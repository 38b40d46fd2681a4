"""The decisions `create` makes before anything is written (runtime/spec.py
and the modules it asks: mounts, names, caps, seccomp), and the signal
names stop and kill take: each a pure function of the image's config, the
flags and (for users and groups) the image's own files. No root needed."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ketch import _native
from ketch.errors import KetchError
from ketch.models.container import ContainerSpec
from ketch.runtime import caps, mounts, names, seccomp, signals, spec, state
from ketch.runtime.spec import resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
web:x:1000:1000::/home/web:/bin/sh
huge:x:4294967296:0::/:/bin/sh
minus:x:-1:0::/:/bin/sh
word:x:x:0::/:/bin/sh
hugegid:x:2000:4294967296::/:/bin/sh
top:x:4294967294:4294967294::/:/bin/sh
"""
GROUP = """root:x:0:
web:x:1000:web
big:x:99999999999999999999:
"""


@pytest.fixture
def spec_layer(tmp_path: Path) -> list[Path]:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    return [tmp_path]


@pytest.mark.parametrize(
    "user",
    [
        "4294967296",  # 2^32: wrapped, it would be root
        "4294967295",  # (uid_t)-1: "leave unchanged" to setuid
        "99999999999999999999",
        "0:4294967296",
        "1000:18446744073709551616",
        "huge",  # the image's passwd gives an id out of range
        "minus",
        "word",
        "hugegid",
        "root:big",  # the image's group file gives one
    ],
)
def test_ids_beyond_32_bits_are_refused(spec_layer: list[Path], user: str) -> None:
    with pytest.raises(KetchError) as e:
        resolve_user(user, spec_layer)
    msg = str(e.value)
    assert "\n" not in msg and ("must be in range 0-4294967294" in msg or "not a valid id" in msg), msg


def test_ids_in_range_resolve(spec_layer: list[Path]) -> None:
    assert resolve_user("web", spec_layer) == (1000, 1000, [1000])
    assert resolve_user("1000", spec_layer) == (1000, 1000, [1000])
    assert resolve_user("top", spec_layer) == (4294967294, 4294967294, [4294967294])
    assert resolve_user("4294967294:7", spec_layer) == (4294967294, 7, [7])
    assert resolve_user("12345:678", spec_layer) == (12345, 678, [678])
    assert resolve_user("", spec_layer) == (0, 0, [0])


def test_user_names_uids_groups_and_supplementary_groups(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:100:101::/:/bin/sh\n")
    (lower / "etc/group").write_text("root:x:0:\napp:x:101:\nextra:x:200:app,other\nwheel:x:10:other\n")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/group").write_text("root:x:0:\napp:x:101:\nextra:x:201:app\n")  # the top layer's file wins
    layers = [upper, lower]
    assert resolve_user("app", layers) == (100, 101, [101, 201])
    assert resolve_user("100", layers) == (100, 101, [101, 201])  # a uid in passwd: its name's groups
    assert resolve_user("app:root", layers) == (100, 0, [0, 201])
    assert resolve_user("app:7", layers) == (100, 7, [7, 201])
    assert resolve_user("555", layers) == (555, 0, [0])  # a uid not in passwd: gid 0, no groups
    assert resolve_user("555:app", layers) == (555, 101, [101])
    with pytest.raises(KetchError, match="unable to find user nobody: no matching entries in passwd file"):
        resolve_user("nobody", layers)
    with pytest.raises(KetchError, match="unable to find group staff: no matching entries in group file"):
        resolve_user("app:staff", layers)


def test_passwd_behind_a_symlink_or_a_whiteout_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("app:x:100:100::/:/bin/sh\n")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "etc").symlink_to(outside)
    with pytest.raises(KetchError, match="unable to find user app"):
        resolve_user("app", [linked])
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc/passwd").write_text("app:x:100:100::/:/bin/sh\n")
    assert resolve_user("app", [lower]) == (100, 100, [100])
    if os.geteuid() == 0:  # a whiteout (a 0/0 char device) needs mknod
        upper = tmp_path / "upper"
        upper.mkdir()
        os.mknod(upper / "etc", 0o600 | stat.S_IFCHR, 0)
        with pytest.raises(KetchError, match="unable to find user app"):
            resolve_user("app", [upper, lower])


IMAGE = {"config": {"Entrypoint": ["/bin/ep"], "Cmd": ["default", "args"], "Env": ["PATH=/bin", "A=image"]}}


@pytest.mark.parametrize(
    ("config", "args", "entrypoint", "expected"),
    [
        (IMAGE, [], None, (["/bin/ep"], ["default", "args"])),  # the image's both
        (IMAGE, ["x", "y"], None, (["/bin/ep"], ["x", "y"])),  # arguments replace Cmd only
        (IMAGE, [], "/bin/other", (["/bin/other"], [])),  # --entrypoint drops the image's Cmd
        (IMAGE, ["x"], "/bin/other", (["/bin/other"], ["x"])),
        (IMAGE, ["sh"], "", ([], ["sh"])),  # --entrypoint "": none at all
        ({"config": {"Cmd": ["sh"]}}, [], None, ([], ["sh"])),
        ({}, ["true"], None, ([], ["true"])),
    ],
)
def test_entrypoint_and_cmd(
    config: dict[str, Any], args: list[str], entrypoint: str | None, expected: tuple[list[str], list[str]]
) -> None:
    assert spec.command(config, args, entrypoint) == expected


def test_no_command_at_all_is_an_error() -> None:
    with pytest.raises(KetchError, match="no command specified"):
        spec.command({"config": {}}, [], None)
    with pytest.raises(KetchError, match="no command specified"):
        spec.command(IMAGE, [], "")


def test_env_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_CALLER", "here")
    monkeypatch.delenv("UNSET_ANYWHERE", raising=False)
    merged = spec.merge_env(["PATH=/bin", "A=image", "B=1"], ["A=flag", "C=", "FROM_CALLER", "UNSET_ANYWHERE"])
    assert merged == ["PATH=/bin", "A=flag", "B=1", "C=", "FROM_CALLER=here"]
    assert spec.merge_env([], []) == [f"PATH={spec.DEFAULT_PATH}"]  # docker's PATH when the image has none
    assert spec.merge_env(["X=a=b"], ["Y=c=d"]) == ["X=a=b", "Y=c=d", f"PATH={spec.DEFAULT_PATH}"]
    with pytest.raises(KetchError, match="invalid environment variable: =x"):
        spec.merge_env([], ["=x"])


def test_env_file(tmp_path: Path) -> None:
    f = tmp_path / "env"
    f.write_text("# a comment\nA=1\n\n  B=two words  \nBARE\n")
    assert spec.read_env_file(str(f)) == ["A=1", "B=two words", "BARE"]
    with pytest.raises(KetchError, match=r"open .*/missing: No such file or directory"):
        spec.read_env_file(str(tmp_path / "missing"))


def test_workdir() -> None:
    assert spec.workdir(None, {}) == "/"
    assert spec.workdir(None, {"WorkingDir": "/app"}) == "/app"
    assert spec.workdir("/w", {"WorkingDir": "/app"}) == "/w"
    with pytest.raises(KetchError, match="the working directory 'rel' is invalid, it needs to be an absolute path"):
        spec.workdir("rel", {})
    with pytest.raises(KetchError, match="working directory 'app' is invalid"):
        spec.workdir(None, {"WorkingDir": "app"})


def test_volumes_binds_and_tmpfs(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    made = tmp_path / "made" / "here"
    binds, tmpfs, named = mounts.parse(
        tmp_path / "root",
        [f"{host}:/in", f"{host}:/ro:ro", "data:/data", "cache:/c:ro", "/anon", f"{made}:/m:rw"],
        [f"type=bind,source={host},target=/b,readonly", "type=volume,target=/v", "type=tmpfs,dst=/t"],
        ["/run:size=64m"],
    )
    assert made.is_dir()  # a missing -v host directory is made, as docker makes it
    anon = [n for n, _, a in named if a]
    assert len(anon) == 2 and all(len(n) == 64 for n in anon)
    assert named == [("data", "/data", False), ("cache", "/c", False), (anon[0], "/anon", True), (anon[1], "/v", True)]
    vol = tmp_path / "root" / "volumes"
    assert binds == [
        (str(host), "/in", False),
        (str(host), "/ro", True),
        (str(vol / "data" / "_data"), "/data", False),
        (str(vol / "cache" / "_data"), "/c", True),
        (str(vol / anon[0] / "_data"), "/anon", False),
        (str(made), "/m", False),
        (str(host), "/b", True),
        (str(vol / anon[1] / "_data"), "/v", False),
    ]
    assert tmpfs == ["/run", "/t"]


@pytest.mark.parametrize(
    ("volume", "mount", "tmpfs", "message"),
    [
        ("/a:/b:rx", None, None, "invalid volume specification: '/a:/b:rx'"),
        ("data:/d:rx", None, None, "invalid volume specification: 'data:/d:rx'"),
        ("/a:/b:ro:x", None, None, "invalid volume specification: '/a:/b:ro:x'"),
        ("rel/dir:/b", None, None, "a host path must be absolute"),
        ("/a:relative", None, None, "invalid volume destination 'relative'"),
        ("/a:/x/../y", None, None, "invalid volume destination '/x/../y'"),
        ("data:/", None, None, "invalid volume destination '/'"),
        (None, "type=nfs,target=/x", None, 'unsupported mount type "nfs"'),
        (None, "type=bind,target=/x", None, "source is required for bind mounts"),
        (None, "type=volume", None, "target is required"),
        (None, "type=bind,src=/nonexistent-ketch-test,dst=/x", None, "bind source path does not exist"),
        (None, "type=volume,target=/x,colour=red", None, 'unknown option "colour"'),
        (None, "type=volume,target", None, "invalid field 'target' must be a key=value pair"),
        (None, "type=tmpfs,target=tmp", None, "invalid --mount destination 'tmp'"),
        (None, None, "relative", "invalid --tmpfs destination 'relative'"),
    ],
)
def test_mount_errors(tmp_path: Path, volume: str | None, mount: str | None, tmpfs: str | None, message: str) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)  # a relative -v source must not be made anywhere
    try:
        with pytest.raises(KetchError, match=re.escape(message)):
            mounts.parse(tmp_path, [volume] if volume else [], [mount] if mount else [], [tmpfs] if tmpfs else [])
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "rel").exists()


def test_init_binary_and_init_layer(tmp_path: Path) -> None:
    tini = tmp_path / "tini"
    tini.write_bytes(b"")
    assert mounts.init_binary(str(tini)) == str(tini)
    with pytest.raises(KetchError, match="--init needs a static init binary: /nope not found"):
        mounts.init_binary("/nope")
    image = tmp_path / "image"
    (image / "sbin").mkdir(parents=True)
    (image / "etc").symlink_to("sbin")  # a symlinked /etc keeps its meaning: nothing put there
    mounts.init_layer(tmp_path / "init", [str(image)], tini=True)
    made = sorted(str(p.relative_to(tmp_path / "init")) for p in (tmp_path / "init").rglob("*"))
    assert made == ["dev", "proc", "sbin", "sbin/docker-init", "sys"]
    mounts.init_layer(tmp_path / "init2", [str(tmp_path / "empty")])
    made = sorted(str(p.relative_to(tmp_path / "init2")) for p in (tmp_path / "init2").rglob("*"))
    assert made == ["dev", "etc", "etc/hostname", "etc/hosts", "etc/resolv.conf", "proc", "sys"]


def test_add_host() -> None:
    assert spec.add_host("db:10.0.0.5") == ("db", "10.0.0.5")
    assert spec.add_host("v6:[::1]") == ("v6", "::1")
    assert spec.add_host("v6:fe80::1") == ("v6", "fe80::1")  # IPv6 after the first colon
    with pytest.raises(KetchError, match='invalid argument "db:nope" for "--add-host" flag: invalid IP address'):
        spec.add_host("db:nope")
    with pytest.raises(KetchError, match="bad format for add-host"):
        spec.add_host(":10.0.0.5")


def test_publish() -> None:
    assert spec.publish("bridge", [], False, ["80/tcp"]) == []
    assert spec.publish("none", [], False, []) == []
    assert spec.publish("bridge", ["127.0.0.1:8080:80", "53/udp"], False, ["443/tcp"]) == [
        {"host_ip": "127.0.0.1", "host_port": 8080, "proto": "tcp", "port": 80},
        {"host_ip": "0.0.0.0", "host_port": 0, "proto": "udp", "port": 53},
    ]
    assert spec.publish("mynet", [], True, ["80/tcp", "53/udp", "8080"]) == [
        {"host_ip": "0.0.0.0", "host_port": 0, "proto": "tcp", "port": 80},
        {"host_ip": "0.0.0.0", "host_port": 0, "proto": "udp", "port": 53},
        {"host_ip": "0.0.0.0", "host_port": 0, "proto": "tcp", "port": 8080},
    ]
    for network, specs, every in (("none", ["80"], False), ("host", [], True)):
        with pytest.raises(KetchError, match=rf"port publishing and the container type network mode \({network}\)"):
            spec.publish(network, specs, every, [])
    with pytest.raises(KetchError, match="invalid port specification"):
        spec.publish("bridge", ["80:"], False, [])


def test_security_options(tmp_path: Path) -> None:
    assert spec.security([], False) == ("default", False)
    assert spec.security(["no-new-privileges"], False) == ("default", True)
    assert spec.security(["no-new-privileges:true"], False) == ("default", True)
    assert spec.security(["no-new-privileges=false"], False) == ("default", False)
    assert spec.security(["seccomp=unconfined"], False) == (None, False)
    assert spec.security(["seccomp:unconfined", "apparmor=unconfined", "label=disable"], False) == (None, False)
    assert spec.security([], True) == (None, False)  # --privileged: unconfined
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    (tmp_path / "p.json").write_text(json.dumps(profile))
    assert spec.security([f"seccomp={tmp_path / 'p.json'}"], False) == (profile, False)
    assert spec.security([f"seccomp={tmp_path / 'p.json'}"], True) == (None, False)
    for bad in ("no-new-privileges=maybe", "seccomp", "apparmor", "selinux=x", "x"):
        with pytest.raises(KetchError, match=f'invalid --security-opt: "{bad}"'):
            spec.security([bad], False)
    with pytest.raises(KetchError, match="opening seccomp profile"):
        spec.security([f"seccomp={tmp_path / 'missing.json'}"], False)


def test_capabilities() -> None:
    default = _native.docker_caps()
    bit = {n: 1 << i for i, n in enumerate(caps.NAMES)}
    assert caps.mask(default, [], [], False) == default
    assert caps.mask(default, ["NET_ADMIN"], ["CHOWN"], False) == (default | bit["NET_ADMIN"]) & ~bit["CHOWN"]
    assert caps.mask(default, ["cap_sys_admin"], [], False) == default | bit["SYS_ADMIN"]
    assert caps.mask(default, ["KILL"], ["ALL"], False) == bit["KILL"]  # ALL dropped first, then the adds
    assert caps.mask(default, [], [], True) == caps.all_caps()
    assert caps.mask(default, ["ALL"], [], False) == caps.all_caps()
    with pytest.raises(KetchError, match='invalid capability: NOPE \\(unknown capability: "CAP_NOPE"\\)'):
        caps.mask(default, ["NOPE"], [], False)
    assert seccomp.default_profile()  # what "default" becomes at start


@pytest.mark.parametrize(
    ("name", "number"),
    [("KILL", signal.SIGKILL), ("sigterm", signal.SIGTERM), ("SIGHUP", signal.SIGHUP), ("9", 9), ("usr1", 10)],
)
def test_signal_names(name: str, number: int) -> None:
    assert signals.number(name) == number


@pytest.mark.parametrize("bad", ["NOPE", "0", "999", "SIG", "-1", "1" * 60])
def test_bad_signal_names(bad: str) -> None:
    with pytest.raises(KetchError, match="invalid signal: "):
        signals.number(bad)


def test_names() -> None:
    assert names.check("web-1") == "web-1"
    assert names.check("/web.1_a") == "web.1_a"  # docker's leading slash
    for bad in ("a", "-web", "we b", "web/1", ""):
        with pytest.raises(KetchError, match=r"Invalid container name \(.*\), only \[a-zA-Z0-9\]"):
            names.check(bad)
    name = names.random_name(lambda _: False)
    adjective, _, scientist = name.partition("_")
    assert adjective in names.ADJECTIVES and scientist in names.SCIENTISTS
    seen: list[str] = []

    def taken(name: str) -> bool:
        seen.append(name)
        return len(seen) < 5

    assert names.random_name(taken) == seen[-1] and len(seen) == 5
    crowded = names.random_name(lambda _: True)  # every pair taken: a number after it
    assert crowded.rstrip("0123456789") != crowded and names.check(crowded)


def test_the_spec_is_the_config_the_row_keeps() -> None:
    s = ContainerSpec(
        id="c" * 64,
        name=None,
        image_id="sha256:" + "a" * 64,
        image="busybox",
        entrypoint=["/ep"],
        cmd=["x"],
        env=["PATH=/bin"],
        cwd="/",
        uid=1,
        gid=2,
        groups=[2],
        user="web",
        hostname="h",
        network="none",
        publish=[],
        lowerdirs=["/l"],
        limits={"memory": None, "cpus": None, "pids": None},
        binds=[("/s", "/d", True)],
        tmpfs=["/t"],
        volumes=[("data", "/data", False), ("f" * 64, "/anon", True)],
        init=True,
        readonly_root=False,
        caps=5,
        privileged=False,
        seccomp="default",
        no_new_privileges=True,
        tty=False,
        extra_hosts=[("db", "10.0.0.5")],
        dns=["1.1.1.1"],
        dns_search=[],
    )
    config = s.config()
    assert list(config) == [
        "argv", "entrypoint", "cmd", "env", "cwd", "uid", "gid", "groups", "hostname", "network", "publish",
        "lowerdirs", "user", "limits", "binds", "tmpfs", "volume_names", "anonymous_volumes", "init",
        "readonly_root", "caps", "privileged", "seccomp", "no_new_privileges", "tty", "extra_hosts",
    ]  # fmt: skip
    assert config["argv"] == ["/ep", "x"]
    assert config["volume_names"] == ["data", "f" * 64] and config["anonymous_volumes"] == ["f" * 64]
    assert config["extra_hosts"] == [["db", "10.0.0.5"]]
    assert not hasattr(s, "__dict__")  # slotted


def _running(pid: int, start: int | None) -> state.Container:
    return state.Container("c" * 64, "x", "i", "img", {}, 0.0, "running", pid, start, None, None, None)


def test_refresh_reads_without_waiting(tmp_path: Path) -> None:
    """A container whose process is gone: ended at once if its monitor is
    gone too (no waiting for an exit file that will never come), running
    while its monitor lives (its exit is still to be written), and what the
    monitor wrote once it has."""
    store = SimpleNamespace(root=tmp_path, dir=str(tmp_path))
    d = tmp_path / "containers" / ("c" * 64)
    d.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    c = _running(gone.pid, 1)
    t = time.monotonic()
    ended = state._ended(store, c)  # type: ignore[arg-type]
    assert ended is not None and ended[0] is None and time.monotonic() - t < 0.05
    me = state.proc_start(os.getpid())
    assert me is not None
    assert state._ended(store, _running(os.getpid(), me)) is None  # type: ignore[arg-type]
    state.record_monitor(store, c.id, os.getpid())  # type: ignore[arg-type]
    assert state._ended(store, c) is None  # type: ignore[arg-type]
    (d / "exit.json").write_text('{"exit_code": 3, "finished": 12.5}')
    assert state._ended(store, c) == (3, 12.5)  # type: ignore[arg-type]
    (d / "exit.json").unlink()
    (d / "monitor.pid").write_text(f"{os.getpid()} {me + 1}\n")  # a pid reused by another process
    assert state._ended(store, c) is not None  # type: ignore[arg-type]


def test_refresh_gives_a_monitor_of_an_older_ketch_its_time(tmp_path: Path) -> None:
    """A detached container started before monitors were recorded (a
    monitor.json, no monitor.pid) whose process is gone: its exit, written
    a moment later by that monitor, is what refresh reports, not 137."""
    import threading

    store = SimpleNamespace(root=tmp_path, dir=str(tmp_path))
    d = tmp_path / "containers" / ("c" * 64)
    d.mkdir(parents=True)
    (d / "monitor.json").write_text("{}")
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    late = threading.Timer(0.15, lambda: (d / "exit.json").write_text('{"exit_code": 4, "finished": 9.5}'))
    late.start()
    try:
        assert state._ended(store, _running(gone.pid, 1)) == (4, 9.5)  # type: ignore[arg-type]
    finally:
        late.cancel()
    (d / "exit.json").unlink()
    (d / "monitor.pid").write_text("1 1\n")  # recorded (and gone): no wait
    t = time.monotonic()
    assert state._ended(store, _running(gone.pid, 1)) == (None, pytest.approx(time.time(), abs=1))  # type: ignore[arg-type]
    assert time.monotonic() - t < 0.4  # the legacy grace is 0.5 s: not waited for


# -- issue 12's run/create flags (runtime/hostconfig.py, spec.host_flags) -------


def test_labels_are_the_image_s_under_the_file_s_under_the_flags(tmp_path: Path) -> None:
    from ketch.runtime import hostconfig as hc

    f = tmp_path / "labels"
    f.write_text("# comment\n\n  a=file  \nb=file\nonly\n")
    got = hc.labels({"a": "image", "c": "image"}, ["b=flag", "d=x=y"], [str(f)])
    assert got == {"a": "file", "c": "image", "b": "flag", "only": "", "d": "x=y"}
    for bad in ("=v", " =v", ""):
        with pytest.raises(KetchError, match="empty name"):
            hc.label(bad)


def test_label_files_are_bounded_and_regular(tmp_path: Path) -> None:
    from ketch.runtime import hostconfig as hc

    long = tmp_path / "long"
    long.write_bytes(b"k=" + b"v" * (64 << 10) + b"\n")
    with pytest.raises(KetchError, match="line 1 is longer than 64 KiB: token too long"):
        hc.read_label_file(str(long))
    big = tmp_path / "big"
    big.write_bytes(b"k=v\n" * (300 << 10))
    with pytest.raises(KetchError, match="1 MiB at most"):
        hc.read_label_file(str(big))
    os.mkfifo(tmp_path / "fifo")  # opened without blocking, refused
    with pytest.raises(KetchError, match="not a regular file"):
        hc.read_label_file(str(tmp_path / "fifo"))
    with pytest.raises(KetchError, match="open .*nope: No such file"):
        hc.read_label_file(str(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("nofile=1024", ("nofile", 1024, 1024)),
        ("nofile=1024:4096", ("nofile", 1024, 4096)),
        ("core=-1", ("core", -1, -1)),
        ("memlock=0:-1", ("memlock", 0, -1)),
        ("nproc=10:10", ("nproc", 10, 10)),
    ],
)
def test_ulimit_parsing(spec: str, want: tuple[str, int, int]) -> None:
    from ketch.runtime import hostconfig as hc

    assert hc.ulimit(spec) == want


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("nofile", "invalid ulimit argument"),
        ("nofile=", "invalid ulimit argument"),
        ("nofile=x", "invalid ulimit argument"),
        ("nofile=1:2:3", "invalid ulimit argument"),
        ("as=1", "invalid ulimit type: as"),
        ("nofile=10:5", "soft limit must be less than or equal to hard limit: 10 > 5"),
        ("nofile=-1:5", "soft limit must be less than or equal to hard limit: -1 > 5"),
        ("nofile=-2", "invalid ulimit value: -2"),
        (f"nofile={1 << 63}", "invalid ulimit value"),
    ],
)
def test_bad_ulimits(spec: str, why: str) -> None:
    from ketch.runtime import hostconfig as hc

    with pytest.raises(KetchError, match=re.escape(f'invalid argument "{spec}" for "--ulimit" flag: ') + ".*" + why):
        hc.ulimit(spec)


def test_ulimits_in_the_process_contract_and_the_host_ceiling() -> None:
    import resource

    from ketch.runtime import hostconfig as hc

    assert hc.rlimits([("nofile", 1, 2), ("core", -1, -1), ("stack", 8, -1)]) == [
        (resource.RLIMIT_NOFILE, 1, 2),
        (resource.RLIMIT_CORE, hc.RLIM_INFINITY, hc.RLIM_INFINITY),
        (resource.RLIMIT_STACK, 8, hc.RLIM_INFINITY),
    ]
    for name, number in hc.ULIMITS.items():  # docker's names, Linux's numbers
        assert getattr(resource, f"RLIMIT_{name.upper()}", number) == number  # (Python lacks RLIMIT_LOCKS)
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    hc.check_ulimits([("nofile", nr_open, nr_open), ("nproc", -1, -1)])
    for bad in [("nofile", 1, nr_open + 1), ("nofile", -1, -1)]:
        with pytest.raises(KetchError, match=r"fs.nr_open"):
            hc.check_ulimits([bad])


@pytest.mark.parametrize(
    "spec",
    [
        "net.ipv4.ip_forward=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.core.somaxconn=1024",
        "kernel.shmmax=1000",
        "kernel.sem=250 32000 100 128",
        "kernel.shm_rmid_forced=1",
        "kernel.msgmnb=9",
        "fs.mqueue.msg_max=20",
    ],
)
def test_namespaced_sysctls(spec: str) -> None:
    from ketch.runtime import hostconfig as hc

    key, value = hc.sysctl(spec, "none")
    assert f"{key}={value}" == spec
    assert hc.sysctl_path(key) == key.replace(".", "/")


@pytest.mark.parametrize(
    "spec",
    [
        "vm.swappiness=1",
        "kernel.hostname=x",  # runc: it conflicts with the hostname field
        "kernel.domainname=x",
        "kernel.core_pattern=|/x",
        "kernel.shmmaxx=1",
        "fs.file-max=1",
        "net.ipv4.ip_forward",  # no value
        "net..ipv4=1",
        "net.ipv4.=1",
        "net/ipv4/ip_forward=1",
        "net.ipv4.../../vm/swappiness=1",
        "net.a b=1",
    ],
)
def test_host_wide_sysctls_are_refused(spec: str) -> None:
    from ketch.runtime import hostconfig as hc

    with pytest.raises(KetchError, match=re.escape(f"sysctl '{spec}' is not allowed")):
        hc.sysctl(spec, "none")


def test_sysctl_values_and_the_host_network() -> None:
    from ketch.runtime import hostconfig as hc

    with pytest.raises(KetchError, match="one line"):
        hc.sysctl("net.ipv4.ip_forward=1\n0", "none")
    with pytest.raises(KetchError, match='sysctl "net.ipv4.ip_forward" not allowed in host network namespace'):
        hc.sysctl("net.ipv4.ip_forward=1", "host")
    assert hc.sysctl("kernel.msgmax=1", "host") == ("kernel.msgmax", "1")  # IPC: ketch always has its own


def test_shm_size() -> None:
    from ketch.runtime import hostconfig as hc

    assert hc.shm_size(None) == 64 << 20
    assert hc.shm_size("1g") == 1 << 30 and hc.shm_size("128m") == 128 << 20 and hc.shm_size("4096") == 4096
    for bad in ("0", "lots", "-1", "1e9", ""):
        with pytest.raises(KetchError, match='for "--shm-size" flag: invalid size'):
            hc.shm_size(bad)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("/dev/fuse", ("/dev/fuse", "/dev/fuse", "rwm")),
        ("/dev/fuse:r", ("/dev/fuse", "/dev/fuse", "r")),
        ("/dev/sda:/dev/xvda", ("/dev/sda", "/dev/xvda", "rwm")),
        ("/dev/sda:/dev/xvda:rw", ("/dev/sda", "/dev/xvda", "rw")),
        ("/dev/snd:/dev/sub/dir//x/", ("/dev/snd", "/dev/sub/dir/x", "rwm")),
    ],
)
def test_device_specs(spec: str, want: tuple[str, str, str]) -> None:
    from ketch.runtime import hostconfig as hc

    assert hc.device(spec) == want


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "invalid device specification"),
        ("/dev/a:/dev/b:rw:x", "invalid device specification"),
        ("/dev/a:/dev/b:rwx", "invalid device mode"),
        ("/dev/a:/dev/b:rr", "invalid device mode"),
        ("/dev/a:dev/b", "bad format for path"),
        ("/dev/a:/etc/passwd", "under /dev only"),
        ("/dev/a:/dev/../etc/x", "under /dev only"),
        ("/dev/a:/dev", "under /dev only"),
    ],
)
def test_bad_device_specs(spec: str, why: str) -> None:
    from ketch.runtime import hostconfig as hc

    with pytest.raises(KetchError, match=why):
        hc.device(spec)


def test_device_nodes_only(tmp_path: Path) -> None:
    from ketch.runtime import hostconfig as hc

    assert hc.device_node("/dev/null")[:3] == ("c", 1, 3)
    (tmp_path / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    (tmp_path / "devlink").symlink_to("/dev/zero")
    assert hc.device_node(str(tmp_path / "devlink"))[:3] == ("c", 1, 5)  # followed on the host, as docker does
    for host in (tmp_path / "f", tmp_path / "link", tmp_path, tmp_path / "missing"):
        with pytest.raises(KetchError, match=f'adding custom device "{re.escape(str(host))}": '):
            hc.device_node(str(host))


def test_group_add() -> None:
    from ketch.runtime import hostconfig as hc

    group = "root:x:0:\naudio:x:29:\nbig:x:99999999999:\nword:x:abc:\n"
    assert hc.group_add(["audio", "4242", "0"], group) == [29, 4242, 0]
    for bad, why in (("nosuch", "Unable to find group nosuch"), ("word", "Unable to find group word"),
                     ("big", "not a valid id"), ("4294967296", "must be in range")):  # fmt: skip
        with pytest.raises(KetchError, match=why):
            hc.group_add([bad], group)


def test_home_is_the_user_s_passwd_entry(spec_layer: list[Path]) -> None:
    assert spec.home_of(0, spec_layer) == "/root"
    assert spec.home_of(1000, spec_layer) == "/home/web"
    assert spec.home_of(4242, spec_layer) == "/"  # no entry
    assert spec.home_of(0, []) == "/"  # no passwd at all


def _opts(**kw: Any) -> spec.Options:
    return spec.Options(**kw)


def test_host_flags_checks(spec_layer: list[Path]) -> None:
    flags = spec.host_flags(_opts(stop_signal="USR1", stop_timeout=3, label=["a=b"]), "none", {}, spec_layer)
    assert (flags["stop_signal"], flags["stop_timeout"], flags["labels"]) == ("USR1", 3, {"a": "b"})
    assert spec.host_flags(_opts(), "none", {"StopSignal": "SIGQUIT"}, spec_layer)["stop_signal"] == "SIGQUIT"
    assert spec.host_flags(_opts(group_add=["web"]), "none", {}, spec_layer)["group_ids"] == [1000]
    for opts, network, why in (
        (_opts(stop_signal="NOPE"), "none", "invalid signal"),
        (_opts(stop_timeout=-2), "none", "stop-timeout"),
        (_opts(network_alias=["db"]), "bridge", "only for containers in user defined networks"),
        (_opts(ip="10.0.0.2"), "none", "user defined networks only"),
        (_opts(ip="nope"), "mynet", '"--ip" flag: invalid IPv4 address'),
        (_opts(network_alias=["a\n1.2.3.4 evil"]), "mynet", "not a valid DNS name"),
        (_opts(network_alias=["a b"]), "mynet", "not a valid DNS name"),
        (_opts(device=["/dev/null:/dev/other"], privileged=True), "none", "maps to another path"),
    ):
        with pytest.raises(KetchError, match=why):
            spec.host_flags(opts, network, {}, spec_layer)


def test_device_permissions_need_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    from ketch.runtime import cgroups

    monkeypatch.setattr(cgroups, "is_v2", lambda: True)
    assert spec.perms_need_v1([("/dev/null", "/dev/null", "r")])
    assert not spec.perms_need_v1([("/dev/null", "/dev/null", "rwm")])
    monkeypatch.setattr(cgroups, "is_v2", lambda: False)
    assert not spec.perms_need_v1([("/dev/null", "/dev/null", "r")])
    assert cgroups.device_rules([("c", 10, 229, "rw")]) == ["c 10:229 rw"]


def test_the_cgroup_mounts_v1_and_v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What /sys/fs/cgroup shows inside: made from the container's own
    directories under a cgroup root of the test's own (v2 here too, though this host is hybrid)."""
    from ketch.runtime import cgroups

    monkeypatch.setattr(cgroups, "_root", lambda: tmp_path)
    monkeypatch.setattr(cgroups, "_parent", lambda: "ketch")
    (tmp_path / "cgroup.controllers").write_text("memory pids cpu\n")  # v2
    procs = [str(tmp_path / "ketch" / "c1" / "cgroup.procs")]
    assert cgroups.mounts(procs) == [(str(tmp_path / "ketch" / "c1"), "/sys/fs/cgroup")]
    (tmp_path / "cgroup.controllers").unlink()  # v1: a hierarchy each, cpu by its real name
    (tmp_path / "memory").mkdir()
    (tmp_path / "cpu,cpuacct").mkdir()
    (tmp_path / "cpu").symlink_to("cpu,cpuacct")
    procs = [str(tmp_path / c / "ketch" / "c1" / "cgroup.procs") for c in ("memory", "cpu")]
    assert cgroups.mounts(procs) == [
        (str(tmp_path / "memory/ketch/c1"), "/sys/fs/cgroup/memory"),
        (str(tmp_path / "cpu/ketch/c1"), "/sys/fs/cgroup/cpu,cpuacct"),
    ]


def test_v2_cgroups_are_written_with_their_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cgroups.create on a v2 tree (a directory of the test's, shaped as
    cgroup2 is): the memory limit the container's /sys/fs/cgroup/memory.max shows."""
    from ketch.runtime import cgroups

    monkeypatch.setattr(cgroups, "_root", lambda: tmp_path)
    monkeypatch.setattr(cgroups, "_parent", lambda: "ketch")
    (tmp_path / "cgroup.controllers").write_text("memory pids cpu\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "ketch").mkdir()
    (tmp_path / "ketch" / "cgroup.subtree_control").write_text("")
    procs = cgroups.create("c1", cgroups.Limits(memory=64 << 20, pids=5), ["c 1:3 r"])  # rules: v1 only
    d = tmp_path / "ketch" / "c1"
    assert procs == [str(d / "cgroup.procs")]
    assert (d / "memory.max").read_text() == str(64 << 20) and (d / "pids.max").read_text() == "5"
    assert cgroups.mounts(procs) == [(str(d), "/sys/fs/cgroup")]


def test_ipam_requested_address() -> None:
    import ipaddress

    from ketch.errors import ConflictError
    from ketch.network import ipam

    net, gw = ipaddress.IPv4Network("10.77.0.0/24"), ipaddress.IPv4Address("10.77.0.1")
    assert ipam.requested_address(net, gw, "10.77.0.50", 7, {"10.77.0.2"}) == ("10.77.0.50", 7)
    for ip, why in (("10.78.0.5", "no configured subnet"), ("10.77.0.0", "no configured subnet"),
                    ("10.77.0.255", "no configured subnet"), ("x", "invalid IPv4 address")):  # fmt: skip
        with pytest.raises(KetchError, match=why):
            ipam.requested_address(net, gw, ip, 2, set())
    for ip in ("10.77.0.2", "10.77.0.1"):
        with pytest.raises(ConflictError, match=f"Address already in use: {ip}"):
            ipam.requested_address(net, gw, ip, 2, {"10.77.0.2"})


def test_hosts_names_with_aliases() -> None:
    from ketch.network import dns

    assert dns.names("web", []) == "web"
    assert dns.names("web", ["db", "web", "db", "cache"]) == "web db cache"


def test_spec_flags_are_in_the_row_only_when_set() -> None:
    base = dict(  # noqa: C408
        id="c" * 64, name=None, image_id="i", image="b", entrypoint=[], cmd=["x"], env=[], cwd="/", uid=0, gid=0,
        groups=[0], user="", hostname="h", network="none", publish=[], lowerdirs=[], limits={}, binds=[], tmpfs=[],
        volumes=[], init=False, readonly_root=False, caps=0, privileged=False, seccomp="default",
        no_new_privileges=False, tty=False, extra_hosts=[], dns=[], dns_search=[],
    )  # fmt: skip
    plain = ContainerSpec(**base).config()  # type: ignore[arg-type]
    assert "labels" not in plain and "shm_size" not in plain
    s = ContainerSpec(
        **base,  # type: ignore[arg-type]
        labels={"a": "b"},
        ulimits=[("nofile", 1, 2)],
        shm_size=1 << 30,
        devices=[("/dev/fuse", "/dev/fuse", "rwm")],
        network_aliases=["db"],
        ip="10.0.0.9",
        stop_timeout=0,
    )
    c = s.config()
    assert c["labels"] == {"a": "b"} and c["ulimits"] == [["nofile", 1, 2]] and c["shm_size"] == 1 << 30
    assert c["devices"] == [["/dev/fuse", "/dev/fuse", "rwm"]] and c["network_aliases"] == ["db"]
    assert c["ip"] == "10.0.0.9" and c["stop_timeout"] == 0
    assert json.loads(json.dumps(c)) == c
