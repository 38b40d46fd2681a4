"""ketch run as a command, the way a user runs it: a store of the test's own,
results as (rc, out, err), and the clean-up of what a test left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.imagekit import busybox_entries, tar_bytes

KETCH = shutil.which("ketch", path=str(Path(sys.executable).parent)) or shutil.which("ketch") or "ketch"

requires_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (layers hold device nodes, owners and trusted xattrs)"
)

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
            # The host's registries.conf, daemon.json and certs.d are not the tests'
            # (test_registry_config.py writes its own).
            "KETCH_REGISTRIES_CONF": str(root.parent / "registries.conf"),
            "KETCH_DAEMON_JSON": str(root.parent / "daemon.json"),
            "KETCH_CERTS_DIRS": str(root.parent / "certs.d"),
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

    def clean_up(self) -> None:
        """Whatever the test left (it failed midway, or a container outlived
        it): its containers, then the cgroups under this test's own parent."""
        if self.root.exists():
            for cid in self("ps", "-a", "-q", "--no-trunc").out.split():
                self("rm", "-f", cid)
        root = Path("/sys/fs/cgroup")
        # v2: root/<parent>; v1: root/<controller>/<parent>
        parents = [root / self.cgroup_parent] + [h / self.cgroup_parent for h in root.iterdir() if h.is_dir()]
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
