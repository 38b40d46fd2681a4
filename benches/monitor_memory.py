"""Memory of the per-container monitor: RSS and PSS (/proc/PID/smaps_rollup)
of each monitor with N idle detached containers running.

    .venv/bin/python benches/monitor_memory.py [-n 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.imagekit import build, busybox_entries, tar_bytes  # noqa: E402
from support.registry import start_registry, stop_registry  # noqa: E402

KETCH = str(Path(sys.executable).parent / "ketch")


def rollup(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ketch-mon-") as tmp:
        tmpd = Path(tmp)
        (tmpd / "registry").mkdir()
        reg = start_registry(tmpd / "registry")
        env = {**os.environ, "KETCH_ROOT": str(tmpd / "store"), "KETCH_RUN_ROOT": str(tmpd / "run")}
        ids = []
        try:
            reg.client.push("bench/busybox", "latest", build([(tar_bytes(busybox_entries()), "gzip")]))
            name = f"{reg.addr}/bench/busybox:latest"
            for _ in range(args.n):
                out = subprocess.run(
                    [KETCH, "run", "-d", "--network", "none", name, "sleep", "600"],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                ids.append(out.stdout.strip())
            time.sleep(1)
            rows = []
            for cid in ids:
                pid = 0
                # the monitor is the container init's parent
                for p in Path("/proc").iterdir():
                    if p.name.isdigit():
                        try:
                            cmd = (p / "cmdline").read_bytes()
                        except OSError:
                            continue
                        if b"ketch-monitor" in cmd and cid.encode() in cmd:
                            pid = int(p.name)
                rows.append(rollup(pid))
            rss = sum(r["Rss"] for r in rows) / len(rows)
            pss = sum(r["Pss"] for r in rows) / len(rows)
            print(f"{args.n} idle detached containers: monitor RSS {rss / 1024:.1f} MiB, PSS {pss / 1024:.1f} MiB each")
        finally:
            for cid in ids:
                subprocess.run([KETCH, "rm", "-f", cid], env=env, capture_output=True)
            stop_registry(reg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
