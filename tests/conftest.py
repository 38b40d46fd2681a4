"""Shared fixtures: a real registry (Debian's docker-registry, the reference
distribution implementation) on 127.0.0.1, and ketch run as a command."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from imagekit import Registry  # noqa: E402

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
KETCH = shutil.which("ketch", path=str(Path(sys.executable).parent)) or shutil.which("ketch") or "ketch"

requires_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (layers hold device nodes, owners and trusted xattrs)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningRegistry:
    addr: str  # host:port
    client: Registry
    proc: subprocess.Popen[bytes]


def start_registry(tmp: Path, extra_config: str = "", creds: tuple[str, str] | None = None) -> RunningRegistry:
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    cfg = tmp / "config.yml"
    cfg.write_text(
        f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {tmp / "data"}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{extra_config}
"""
    )
    log = open(tmp / "registry.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=log, stderr=log, start_new_session=True)
    addr = f"127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://{addr}/v2/", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # 401 under auth: it is up
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((tmp / "registry.log").read_text()) from None
            time.sleep(0.1)
    return RunningRegistry(addr, Registry(f"http://{addr}", creds), proc)


def stop_registry(r: RunningRegistry) -> None:
    r.proc.send_signal(signal.SIGTERM)
    try:
        r.proc.wait(10)
    except subprocess.TimeoutExpired:
        r.proc.kill()
        r.proc.wait()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    r = start_registry(tmp_path_factory.mktemp("registry"))
    yield r
    stop_registry(r)


# Runs argv[2:] as its child and writes the child's peak RSS (KiB) to argv[1].
_LAUNCH = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Result:
    rc: int
    out: str
    err: str


class Ketch:
    def __init__(self, root: Path, run_root: Path) -> None:
        self.root = root
        # Containers' cgroups go under a parent of this test's own, so that a
        # check for leftovers sees only what this test made.
        self.cgroup_parent = f"ketch-test-{os.getpid()}-{root.parent.name}"
        self.env = {
            **os.environ,
            "KETCH_ROOT": str(root),
            "KETCH_RUN_ROOT": str(run_root),
            "KETCH_CGROUP_PARENT": self.cgroup_parent,
            # Containers get no network unless a test asks (test_network.py
            # sets up and tears down its own bridge).
            "KETCH_DEFAULT_NETWORK": "none",
        }
        self.env.pop("KETCH_DEBUG", None)

    def __call__(
        self, *args: str, input: str | None = None, check: bool = False, env: dict[str, str] | None = None
    ) -> Result:
        p = subprocess.run(
            [KETCH, *args], capture_output=True, text=True, input=input, env={**self.env, **(env or {})}, timeout=300
        )
        if check and p.returncode != 0:
            raise AssertionError(f"ketch {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return Result(p.returncode, p.stdout, p.stderr)

    def import_busybox(self, name: str, extra: list[Any] | None = None) -> str:
        """`ketch import` of a busybox root (plus `extra` imagekit entries) as `name`; returns `name`."""
        from imagekit import busybox_entries, tar_bytes

        tar = self.root.parent / f"import-{abs(hash(name))}.tar"
        tar.write_bytes(tar_bytes([*busybox_entries(), *(extra or [])]))
        self(*("import", str(tar), name), check=True)
        tar.unlink()
        return name

    def measured(self, *args: str, stdin: Path | None = None) -> tuple[Result, int]:
        """`ketch args` (stdin from a file), and the peak RSS in bytes of that
        process alone. It is started by a small launcher: a child forked straight
        from pytest would count pytest's own peak (the kernel keeps, across exec,
        the high-water mark of the memory it forked with)."""
        out, err, rss = (self.root.parent / f"measured.{x}" for x in ("out", "err", "rss"))
        with open(out, "wb") as o, open(err, "wb") as e, open(stdin or os.devnull, "rb") as i:
            p = subprocess.run(
                [sys.executable, "-S", "-c", _LAUNCH, str(rss), KETCH, *args], stdin=i, stdout=o, stderr=e, env=self.env
            )
        result = Result(p.returncode, out.read_text(), err.read_text())
        peak = int(rss.read_text()) * 1024
        for f in (out, err, rss):
            f.unlink()
        return result, peak

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([KETCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)


@pytest.fixture
def ketch(tmp_path: Path) -> Iterator[Ketch]:
    k = Ketch(tmp_path / "store", tmp_path / "run")
    yield k
    # Whatever the test left (it failed midway, or a container outlived it):
    # its containers, then the cgroups under this test's own parent.
    if (tmp_path / "store").exists():
        for cid in k("ps", "-a", "-q", "--no-trunc").out.split():
            k("rm", "-f", cid)
    root = Path("/sys/fs/cgroup")
    # v2: root/<parent>; v1: root/<controller>/<parent>
    parents = [root / k.cgroup_parent] + [h / k.cgroup_parent for h in root.iterdir() if h.is_dir()]
    for parent in parents:
        if parent.is_dir():
            for child in [c for c in parent.iterdir() if c.is_dir()] + [parent]:
                for _ in range(100):
                    try:
                        child.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.05)


def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Polls `pred` until it holds or `timeout` seconds pass; whether it held."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def static_binary(tmp_path_factory: pytest.TempPathFactory, source: Path | str, what: str) -> bytes:
    """A static program built with gcc from `source` (a .c path, or C text),
    for images made offline; skips the test where gcc is missing."""
    if shutil.which("gcc") is None:
        pytest.skip(f"gcc is needed to build the static {what} (scripts/setup.sh installs it)")
    d = tmp_path_factory.mktemp("static")
    src = d / "prog.c"
    src.write_text(source.read_text() if isinstance(source, Path) else source)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "prog"), str(src)], check=True)
    return (d / "prog").read_bytes()
