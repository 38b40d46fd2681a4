"""Times `ketch run --rm --network none IMAGE true` against `docker run --rm
--net=none` and podman's (runc, cgroupfs, the rlimits this host allows), on
the same busybox image, in one run with the commands interleaved (round
after round, each command once a round, each round starting one further
on, so that a neighbour's load and the previous command's writeback fall
on all of them alike), plus the in-process library spawn-and-wait (no CLI) and
the floors: `unshare` + `chroot` + `true` and the interpreter's `python -c pass`.

    .venv/bin/python benches/compare_run.py [--runs N] [--base PYTHONPATH] [--bridge]

`--base` also times the same `ketch run` with another tree first on the
path (the code before a change), in the same rounds. `--bridge` adds the
default-bridge figures (ketch's and docker's; they make a bridge and firewall
rules: not for a shared dockerd started without them). docker is whatever
DOCKER_HOST answers (for the shared one,
DOCKER_HOST=unix:///run/ketch-bench/docker.sock); the image is handed to it
with `ketch save | docker load` and untagged afterwards (never removed by
id: other users' tags of the same image stay). Peers that are not there, or
fail, are skipped and said so. Each figure is the median of N runs.
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
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
PODMAN_RUN = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

Cmd = tuple[list[str], dict[str, str] | None]


def once(cmd: list[str], env: dict[str, str] | None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    return time.perf_counter() - t


def works(label: str, cmd: list[str], env: dict[str, str] | None = None) -> bool:
    r = subprocess.run(cmd, capture_output=True, env=env)
    if r.returncode != 0:
        print(f"{label}: skipped, failed here ({r.returncode}): {r.stderr.decode(errors='replace').strip()[-200:]}")
    return r.returncode == 0


def interleaved(cmds: dict[str, Cmd], runs: int) -> dict[str, float]:
    """Each command once a round, `runs` rounds; the median of each."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    labels = list(cmds)
    for r in range(runs):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:  # each round starts one further on
            cmd, env = cmds[label]
            times[label].append(once(cmd, env))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--base", help="PYTHONPATH of another ketch tree, timed in the same rounds")
    ap.add_argument("--bridge", action="store_true", help="also the default bridge (makes a bridge and rules)")
    args = ap.parse_args()
    cmds: dict[str, Cmd] = {}
    cleanup: list[list[str]] = []
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

            ketch_none = [KETCH, "run", "--rm", "--network", "none", name, "true"]
            cmds["ketch run --rm --network none"] = (ketch_none, env)
            if args.base:
                cmds["ketch run --rm --network none (--base tree)"] = (ketch_none, {**env, "PYTHONPATH": args.base})
            cmds["ketch run --rm --network host"] = ([KETCH, "run", "--rm", "--network", "host", name, "true"], env)
            if args.bridge:
                # the default bridge (made once, before the timed runs)
                subprocess.run([KETCH, "run", "--rm", name, "true"], check=True, env=env)
                cmds["ketch run --rm (bridge)"] = ([KETCH, "run", "--rm", name, "true"], env)
                cmds["ketch run --rm -p 80 (bridge)"] = ([KETCH, "run", "--rm", "-p", "80", name, "true"], env)
            docker = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
            if docker:
                subprocess.run(["docker", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
                cleanup.append(["docker", "rmi", name])  # by name: untagged, never by id
                none = ["docker", "run", "--rm", "--net=none", name, "true"]
                if works("docker run --rm --net=none", none):
                    cmds["docker run --rm --net=none"] = (none, None)
                if args.bridge:
                    cmds["docker run --rm (bridge)"] = (["docker", "run", "--rm", name, "true"], None)
                    cmds["docker run --rm -p 80"] = (["docker", "run", "--rm", "-p", "80", name, "true"], None)
            else:
                print("docker: skipped, no dockerd answers (DOCKER_HOST?)")
            if shutil.which("podman"):
                subprocess.run([*PODMAN, "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
                cleanup.append([*PODMAN, "rmi", name])
                none = [*PODMAN, "run", "--rm", "--net=none", *PODMAN_RUN, name, "true"]
                if works("podman run --rm --net=none", none):
                    cmds["podman (runc, cgroupfs) run --rm --net=none"] = (none, None)
            else:
                print("podman: skipped, not installed")

            rootfs = tmpd / "rootfs"
            rootfs.mkdir()
            subprocess.run(["tar", "-xf", "-", "-C", str(rootfs)], input=tar_bytes(busybox_entries()), check=True)
            floor = ["unshare", "-m", "-p", "-f", "-u", "-i", "-n", "chroot", str(rootfs), "/bin/true"]
            cmds["unshare + chroot + true (floor)"] = (floor, None)
            cmds["python -c pass (the interpreter's floor)"] = ([sys.executable, "-c", "pass"], None)
            for cmd, cenv in cmds.values():  # one untimed round: caches, .pyc files, the peers' first start
                once(cmd, cenv)
            results = interleaved(cmds, args.runs)

            # The library call alone: spawn + wait, no CLI, no Python start-up.
            code = (
                "import os, statistics, time\n"
                "from ketch.store import Store\n"
                "from ketch.runtime import containers as c, process as p\n"
                "from ketch.runtime.spec import Options\n"
                "s = Store()\n"
                f"n = {args.runs}\n"
                "ts = []\n"
                "for _ in range(n):\n"
                f"    k = c.create(s, {name!r}, ['true'], Options(network='none'))\n"
                "    t = time.perf_counter()\n"
                "    pid, _ = p.start(s, k)\n"
                "    p.wait(s, k, pid)\n"
                "    ts.append(time.perf_counter() - t)\n"
                "    c.remove(s, k.id)\n"
                "print(statistics.median(ts))\n"
            )
            out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
            results["library: start + wait (no CLI)"] = float(out.stdout.strip())
        finally:
            stop_registry(reg)
            for cmd in cleanup:
                subprocess.run(cmd, capture_output=True)
            if args.bridge:
                # the bench store's bridge and its rules
                teardown = (
                    "from ketch.store import Store\nfrom ketch.network.networks import teardown\nteardown(Store())\n"
                )
                subprocess.run([sys.executable, "-c", teardown], env=env, check=False)
    print(f"median of {args.runs} interleaved runs each")
    base = results["ketch run --rm --network none"]
    for k, v in results.items():
        print(f"{k:48s} {v * 1000:8.1f} ms   ketch / this: {base / v:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
