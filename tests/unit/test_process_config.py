"""The process contract between Python and Rust: what `ProcessConfig` and
`MonitorConfig` write is what rust/src/process/config.rs and monitor.rs read
(the fixtures under rust/tests/fixtures are these configs, and `cargo test`
parses them); a key either side lacks or does not know is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ketch import _native
from ketch.models.container import HealthConfig, MonitorConfig, NewContainer, ProcessConfig, RestartPolicy
from ketch.records import replace
from ketch.runtime import seccomp

FIXTURES = Path(__file__).resolve().parents[2] / "rust" / "tests" / "fixtures"

PROCESS = ProcessConfig(
    argv=["sh", "-c", "true"],
    env=["A=b", "PATH=/bin"],
    cwd="/w",
    uid=1000,
    gid=4294967295,
    groups=[5, 6],
    caps=_native.docker_caps(),
    seccomp={"default": 327681, "arches": ["x86", "x32"], "rules": [(["socket"], 2147418112, [(0, "NE", 40, 0)])]},
    no_new_privileges=True,
    cgroup_procs=["/sys/fs/cgroup/ketch/x/cgroup.procs"],
    helper="/opt/ketch-monitor",
    detached=True,
    container=NewContainer(
        rootfs="/var/lib/ketch/containers/x/rootfs",
        lowerdirs=["/l/init", "/l/1"],
        upperdir="/u",
        workdir="/w",
        hostname="box",
        new_net=True,
        netns="/run/ketch/netns/x",
        files=[("/h/hosts", "/etc/hosts")],
        binds=[("/src", "/dst", True)],
        tmpfs=["/tmp"],
        readonly_root=False,
        privileged=False,
        shm_size=67108864,
        sysctls=[("net/ipv4/ip_forward", "1")],
        devices=[("/dev/fuse", "c", 10, 229, 0o666)],
        cgroup_mounts=[("/sys/fs/cgroup/memory/ketch/x", "/sys/fs/cgroup/memory")],
    ),
    rlimits=[(7, 1024, 2048)],
)

MONITOR = MonitorConfig(
    process=PROCESS,
    log="/c/x-json.log",
    exit_file="/c/exit.json",
    cgroup_dirs=["/sys/fs/cgroup/ketch/x"],
    tty=False,
    proxies=[(7, "10.0.0.2", 80)],
    after=["/usr/bin/python3", "-S", "-E", "/k/after_monitor.py", "/var/lib/ketch", "x", "--rm"],
    restart=RestartPolicy("on-failure", 2),
    health=HealthConfig(
        replace(PROCESS, argv=["/bin/sh", "-c", "true"], container=None, detached=False),
        interval_ns=30_000_000_000,
        timeout_ns=30_000_000_000,
        start_period_ns=0,
        retries=3,
        events_file="/var/lib/ketch/events.jsonl",
        event_id="c0ffee",
        event_attributes={"image": "busybox", "name": "web"},
    ),
    log_max_size=1000,
    log_max_files=3,
    state_file="/c/state.json",
    stop_file="/c/stopped",
    stdin=True,
    attach_dir="/c",
    attached=[(9, 6)],
)


@pytest.mark.parametrize(("config", "name"), [(PROCESS, "process.json"), (MONITOR, "monitor.json")])
def test_the_rust_fixtures_are_what_python_writes(config: ProcessConfig | MonitorConfig, name: str) -> None:
    """`cargo test` parses these files: they must be what Python writes today
    (KETCH_WRITE_FIXTURES=1 rewrites them after a deliberate change)."""
    written = json.loads(config.to_json())
    path = FIXTURES / name
    if os.environ.get("KETCH_WRITE_FIXTURES"):
        path.write_text(json.dumps(written, indent=1) + "\n")
    assert json.loads(path.read_text()) == written


def test_rust_reads_back_every_field_python_writes() -> None:
    profile = seccomp.compile_rules(seccomp.default_profile(), _native.docker_caps())
    for config in (
        PROCESS,
        replace(PROCESS, seccomp=profile),
        replace(PROCESS, container=None),
    ):
        sent = json.loads(config.to_json())
        assert json.loads(_native.process_config(config.to_json())) == sent


@pytest.mark.parametrize("key", ["argv", "caps", "seccomp", "detached", "container"])
def test_a_missing_key_is_an_error_not_a_default(key: str) -> None:
    sent = json.loads(PROCESS.to_json())
    del sent[key]
    with pytest.raises(ValueError, match=f"invalid process configuration: missing field `{key}`"):
        _native.process_config(json.dumps(sent))


def test_an_unknown_or_mistyped_key_is_an_error() -> None:
    sent = json.loads(PROCESS.to_json())
    with pytest.raises(ValueError, match="unknown field `capz`"):
        _native.process_config(json.dumps({**sent, "capz": 1}))
    with pytest.raises(ValueError, match="unknown field `tty`"):
        _native.process_config(json.dumps({**sent, "container": {**sent["container"], "tty": True}}))
    with pytest.raises(ValueError, match="invalid process configuration: invalid type"):
        _native.process_config(json.dumps({**sent, "uid": "root"}))
    with pytest.raises(ValueError, match="unknown seccomp operator"):
        _native.process_config(
            json.dumps({**sent, "seccomp": {**sent["seccomp"], "rules": [[["x"], 1, [[0, "XX", 1, 0]]]]}})
        )


def test_spawn_and_exec_refuse_a_config_of_the_other_kind() -> None:
    with pytest.raises(ValueError, match="needs its `container` part"):
        _native.spawn(replace(PROCESS, container=None).to_json())
    with pytest.raises(ValueError, match="has no `container` part"):
        _native.exec_in(1, PROCESS.to_json())


def test_the_ready_message() -> None:
    """The monitor answers on spawn's report protocol: (stage, errno, pid,
    text), stage 0 once the container runs (rust/src/process/report.rs)."""
    import struct

    from ketch.runtime.process import ready

    assert ready(struct.pack("=Iii", 0, 0, 42)) == 42
    failed = struct.pack("=Iii", 14, 2, 0) + b"No such file or directory (os error 2)"  # 14: Stage::Exec
    assert ready(failed) == ("exec", 2, "No such file or directory (os error 2)")
    assert ready(struct.pack("=Iii", 14, 13, 0)) == ("exec", 13, "Permission denied (os error 13)")
    assert ready(b"") == ready(struct.pack("=Iii", 0, 0, 4)[:7]) == ("start the monitor", 5, "Input/output error")
