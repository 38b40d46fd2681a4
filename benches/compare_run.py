"""Times `ketch run --rm IMAGE true` against `docker run --rm` and `podman run
--rm` on the same busybox image, in one run, plus the in-process library
spawn-and-wait (no CLI) and `unshare` + `chroot` + `true` as the floor.

    .venv/bin/python benches/compare_run.py [--runs N]

The image is made offline (busybox-static) and handed to docker and podman
with `ketch save | docker load` / `podman load`. Each figure is the median
of N runs. Peers that are not there are skipped and said so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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


def median_time(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ketch-run-bench-") as tmp:
        tmpd = Path(tmp)
        (tmpd / "registry").mkdir()
        reg = start_registry(tmpd / "registry")
        env = {**os.environ, "KETCH_ROOT": str(tmpd / "store"), "KETCH_RUN_ROOT": str(tmpd / "run")}
        try:
            reg.client.push("bench/busybox", "latest", build([(tar_bytes(busybox_entries()), "gzip")]))
            name = f"{reg.addr}/bench/busybox:latest"
            subprocess.run([KETCH, "pull", "-q", name], check=True, env=env, stdout=subprocess.DEVNULL)
            archive = tmpd / "img.tar"
            subprocess.run([KETCH, "save", "-o", str(archive), name], check=True, env=env)

            results["ketch run --rm --network none"] = median_time(
                [KETCH, "run", "--rm", "--network", "none", name, "true"], args.runs, env
            )
            results["ketch run --rm --network host"] = median_time(
                [KETCH, "run", "--rm", "--network", "host", name, "true"], args.runs, env
            )
            # the default bridge (made once, before the timed runs)
            subprocess.run([KETCH, "run", "--rm", name, "true"], check=True, env=env)
            results["ketch run --rm (bridge)"] = median_time([KETCH, "run", "--rm", name, "true"], args.runs, env)
            results["ketch run --rm -p 80 (bridge)"] = median_time(
                [KETCH, "run", "--rm", "-p", "80", name, "true"], args.runs, env
            )
            docker = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
            if docker:
                subprocess.run(["docker", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
                results["docker run --rm"] = median_time(["docker", "run", "--rm", name, "true"], args.runs)
                results["docker run --rm --net=none"] = median_time(
                    ["docker", "run", "--rm", "--net=none", name, "true"], args.runs
                )
                results["docker run --rm -p 80"] = median_time(
                    ["docker", "run", "--rm", "-p", "80", name, "true"], args.runs
                )
                subprocess.run(["docker", "rmi", "-f", name], capture_output=True)
            else:
                print("docker: skipped, no dockerd answers")
            if shutil.which("podman"):
                subprocess.run(["podman", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
                for label, extra in (("podman run --rm", []), ("podman run --rm --net=none", ["--net=none"])):
                    try:
                        results[label] = median_time(["podman", "run", "--rm", *extra, name, "true"], args.runs)
                    except subprocess.CalledProcessError as e:
                        print(f"{label}: failed here ({e.returncode}); see the issue notes on crun/runc and rlimits")
                subprocess.run(["podman", "rmi", "-f", name], capture_output=True)
            else:
                print("podman: skipped, not installed")

            # The library call alone: spawn + wait, no CLI, no Python start-up.
            code = (
                "import os, statistics, time\n"
                "from ketch.store import Store\n"
                "from ketch.runtime import containers as c, process as p\n"
                "s = Store()\n"
                f"n = {args.runs}\n"
                "ts = []\n"
                "for _ in range(n):\n"
                f"    k = c.create(s, {name!r}, ['true'])\n"
                "    t = time.perf_counter()\n"
                "    pid, _ = p.start(s, k)\n"
                "    p.wait(s, k, pid)\n"
                "    ts.append(time.perf_counter() - t)\n"
                "    c.remove(s, k.id)\n"
                "print(statistics.median(ts))\n"
            )
            out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
            results["library: start + wait (no CLI)"] = float(out.stdout.strip())
            rootfs = tmpd / "rootfs"
            rootfs.mkdir()
            subprocess.run(["tar", "-xf", "-", "-C", str(rootfs)], input=tar_bytes(busybox_entries()), check=True)
            results["unshare + chroot + true (floor)"] = median_time(
                ["unshare", "-m", "-p", "-f", "-u", "-i", "-n", "chroot", str(rootfs), "/bin/true"], args.runs
            )
        finally:
            stop_registry(reg)
            # the bench store's bridge and its rules
            teardown = "from ketch.store import Store\nfrom ketch.network.networks import teardown\nteardown(Store())\n"
            subprocess.run([sys.executable, "-c", teardown], env=env, check=False)
    print(f"median of {args.runs} runs each")
    base = results["ketch run --rm (bridge)"]
    for k, v in results.items():
        print(f"{k:40s} {v * 1000:8.1f} ms   ({v / base:.2f}x ketch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
