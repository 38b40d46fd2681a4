"""The library used directly, as a second face (the Engine API) would:
pull from a real registry through the pull policy, inspect, history, the
images' rows, a removal's report; a container created, started, its
processes and its exit. No output is read but the data returned, and the
CLI's JSON for the same objects is the library's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ketch import config
from ketch.config import Settings
from ketch.store import Store
from support.imagekit import build, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry

pytestmark = requires_root

HISTORY = [
    {"created": "2026-11-01T10:00:00Z", "created_by": "ADD busybox /"},
    {"created": "2026-11-01T10:00:01Z", "created_by": 'CMD ["sh"]', "empty_layer": True, "comment": "the command"},
]


@pytest.fixture(scope="module")
def lib_image(registry: RunningRegistry) -> str:
    image = build([(tar_bytes(busybox_entries()), "gzip")], history=HISTORY)
    registry.client.push("lab/libface", "latest", image)
    return f"{registry.addr}/lab/libface"


@pytest.fixture
def lib_store(ketch: Ketch, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The store the `ketch` fixture's commands use; what has no store at hand
    (cgroups) reads the same variables from this process's environment."""
    for var in ("KETCH_RUN_ROOT", "KETCH_CGROUP_PARENT", "KETCH_DEFAULT_NETWORK"):
        monkeypatch.setenv(var, ketch.env[var])
    monkeypatch.delenv("KETCH_ROOT", raising=False)
    monkeypatch.setattr(config, "_process", None)
    return Store(settings=Settings(ketch.root, environ=ketch.env))


def test_pull_inspect_history_and_remove_as_data(ketch: Ketch, lib_store: Store, lib_image: str) -> None:
    from ketch.images import NotFoundLocally, PullLine, ensure_image
    from ketch.registry.progress import Pulled
    from ketch.store.images import remove
    from ketch.store.inspect import history, image_inspect, image_rows

    events: list[object] = []
    result = ensure_image(lib_store, lib_image, "missing", events.append)
    assert result is not None
    assert events[0] == NotFoundLocally(f"{lib_image}:latest")
    assert any(isinstance(e, PullLine) and isinstance(e.event, Pulled) for e in events)
    assert ensure_image(lib_store, lib_image, "missing") is None  # there now: nothing pulled

    doc = image_inspect(lib_store, lib_image)
    assert doc["RepoTags"] == [f"{lib_image}:latest"]
    assert doc["RepoDigests"] and doc["RepoDigests"][0].startswith(f"{lib_image}@sha256:")
    assert doc["Comment"] == "the command"
    assert json.loads(ketch("image", "inspect", lib_image, check=True).out) == [doc]  # the CLI prints the same document

    rows = history(lib_store, lib_image)
    assert [r.created_by for r in rows] == ['CMD ["sh"]', "ADD busybox /"]
    assert rows[0].image is not None and rows[0].image.id == doc["Id"] and rows[1].image is None
    assert rows[0].size == 0 and rows[1].size > 0

    (row,) = image_rows(lib_store)
    assert (row.repository, row.tag, row.image.id) == (lib_image, "latest", doc["Id"])

    report = remove(lib_store, f"{lib_image}:latest")
    assert report.untagged == [f"{lib_image}:latest", doc["RepoDigests"][0]]
    assert report.deleted[0] == doc["Id"] and len(report.deleted) == 2  # the image, then its one layer
    assert image_rows(lib_store) == []
    assert ketch("images", "-q").out == ""


def test_a_container_inspected_its_processes_and_its_exit(ketch: Ketch, lib_store: Store, lib_image: str) -> None:
    from ketch.images import ensure_image
    from ketch.runtime import containers as ctr
    from ketch.runtime import launch, process
    from ketch.runtime.inspect import container_inspect, top, wait_exit
    from ketch.runtime.listing import select

    ensure_image(lib_store, lib_image, "missing")
    opts = launch.options(lib_store.settings, name="libface", env=["WHO=library"])
    c = launch.create(lib_store, lib_image, ["sh", "-c", "sleep 2; exit 7"], opts)
    assert container_inspect(lib_store, "libface")["State"]["Status"] == "created"
    process.start_detached(lib_store, c)

    doc = container_inspect(lib_store, "libface")
    assert doc["State"]["Running"] is True and doc["State"]["Pid"] > 0
    assert "WHO=library" in doc["Config"]["Env"] and doc["HostConfig"]["NetworkMode"] == "none"
    assert [x.id for x in select(lib_store)] == [c.id]
    procs = top(lib_store, "libface")
    assert "PID" in procs.titles
    assert any("sleep 2" in line for line in procs.lines)

    assert wait_exit(lib_store, "libface") == 7
    after = container_inspect(lib_store, c.id)
    assert (after["State"]["Status"], after["State"]["ExitCode"]) == ("exited", 7)
    assert json.loads(ketch("inspect", "libface", check=True).out) == [after]
    assert select(lib_store) == [] and Path(after["LogPath"]).name == f"{c.id}-json.log"
    ctr.remove(lib_store, c.id)
    assert ketch("ps", "-a", "-q").out == ""


def test_the_readme_example_runs_as_written(ketch: Ketch, lib_store: Store, lib_image: str) -> None:
    """README.md's "As a library" block, run against the test registry's image
    (the one name changed) and the `ketch` fixture's store."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("## As a library", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "127.0.0.1:5000/lab/busybox" in block
    code = block.replace("127.0.0.1:5000/lab/busybox", lib_image).replace("ketch.Store()", "store_")
    printed: list[str] = []
    scope = {"store_": lib_store, "print": lambda *a: printed.append(" ".join(map(str, a)))}
    exec(compile(code, "README.md", "exec"), scope)
    assert printed == ["3"]
    assert scope["report"].untagged[0] == f"{lib_image}:latest" and scope["report"].deleted
    assert ketch("ps", "-a", "-q").out == "" and ketch("images", "-q").out == ""


def test_a_detached_start_that_fails_after_its_monitor_began_leaves_nothing_running(
    ketch: Ketch, lib_store: Store, lib_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills between the monitor's start and its ready answer: the
    start fails, and neither the monitor nor the container's process is left
    running under a row that says created (a second `start` would run a
    second copy of it)."""
    import errno
    import time
    import uuid

    from ketch.images import ensure_image
    from ketch.runtime import containers as ctr
    from ketch.runtime import process, state

    ensure_image(lib_store, lib_image, "missing")
    marker = uuid.uuid4().hex
    c = ctr.create(lib_store, lib_image, ["sh", "-c", f"sleep 60; : {marker}"])  # sh stays, the marker in its argv

    def full(*_: object) -> None:
        time.sleep(0.3)  # the container's process is running by now
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(process, "record_monitor", full)
    with pytest.raises(OSError):
        process.start_detached(lib_store, c)
    after = state.lookup(lib_store, c.id)
    assert after.state != "running"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _processes_running(c.id, marker):
        time.sleep(0.05)
    assert _processes_running(c.id, marker) == []
    ctr.remove(lib_store, c.id)


def _processes_running(cid: str, marker: str) -> list[int]:
    """Live processes whose command line names the container (its monitor
    reads <dir>/<cid>/monitor.json) or carries the marker (its process)."""
    import os

    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")  # noqa: SIM115
            stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue
        if any(cid.encode() in part or marker.encode() in part for part in cmd):
            found.append(int(pid))
    return found
