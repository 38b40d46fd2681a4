"""Times the commands people type all day, alternating run by run so that
the machine's drift falls on every one alike: `ketch ps`, `ketch images`,
`ketch --help` and `ketch run --rm --network none IMAGE true`, in one or
more source trees of ketch, and (with --peers) the same listings of podman
and docker and the interpreter's floor.

    .venv/bin/python benches/compare_startup.py [--tree OLD --tree NEW] [--peers] [--runs N] [--no-run]

A tree is a checkout whose python/ketch holds its built extension and
ketch-monitor (scripts/setup.sh, or the two cargo builds in README.md); the
default is the checkout holding this script. Each tree gets a store of its
own with the same busybox image imported (so `ps` and `images` list none
and one). --peers adds `podman ps`/`podman images` (podman's own store) and
`docker ps`/`docker images` against DOCKER_HOST (default the shared bench
daemon, unix:///run/ketch-bench/docker.sock: a client and its daemon), and
the floor: this interpreter's `-c pass` and `-S -E -c pass`.

Prints the median and the spread (min-max) of N runs of each command, in
wall-clock time and in the CPU time (user + system) the process and its
children used: on a machine shared with builds the CPU time drifts less.
"""

from __future__ import annotations

import argparse
import compileall
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

from support.imagekit import busybox_entries, tar_bytes  # noqa: E402

KETCH = str(Path(sys.executable).parent / "ketch")
COMMANDS = {
    "ps": ["ps"],
    "images": ["images"],
    "--help": ["--help"],
    "run --rm --network none": ["run", "--rm", "--network", "none", "bench/busybox", "true"],
}
DOCKER_HOST = "unix:///run/ketch-bench/docker.sock"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one run, which must succeed."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read() if p.stderr else b""
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {p.returncode}: {err.decode(errors='replace').strip()}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", action="append", help="a checkout (repeat; default: this one)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--peers", action="store_true", help="podman, docker and the interpreter's floor too")
    ap.add_argument("--no-run", action="store_true", help="leave out `ketch run` (it needs root)")
    args = ap.parse_args()
    trees = [Path(t).resolve() for t in args.tree or [HERE.parent]]
    commands = {k: v for k, v in COMMANDS.items() if not (args.no_run and k.startswith("run"))}
    # label -> (argv, env); ketch's per tree, the peers' and the floor's once
    cases: dict[str, tuple[list[str], dict[str, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="ketch-startup-") as tmp:
        rootfs = Path(tmp) / "busybox.tar"
        rootfs.write_bytes(tar_bytes(busybox_entries()))
        for i, tree in enumerate(trees):
            # byte-compiled as an installed package is (a shell with PYTHONDONTWRITEBYTECODE would
            # otherwise time the compiler)
            compileall.compile_dir(tree / "python" / "ketch", quiet=1)
            env = {
                **os.environ,
                "PYTHONPATH": str(tree / "python"),
                "KETCH_ROOT": f"{tmp}/store{i}",
                "KETCH_RUN_ROOT": f"{tmp}/run{i}",
            }
            env.pop("COLUMNS", None)
            subprocess.run(
                [KETCH, "import", str(rootfs), "bench/busybox"], check=True, env=env, stdout=subprocess.DEVNULL
            )
            for name, argv in commands.items():
                cases[f"`ketch {name}`" + (f" ({tree})" if len(trees) > 1 else "")] = ([KETCH, *argv], env)
        if args.peers:
            env = {**os.environ}
            cases["`python -c pass` (the venv's)"] = ([sys.executable, "-c", "pass"], env)
            cases["`python -S -E -c pass`"] = ([sys.executable, "-S", "-E", "-c", "pass"], env)
            for tool in ("podman", "docker"):
                if shutil.which(tool) is None:
                    print(f"{tool}: not installed, left out", file=sys.stderr)
                    continue
                tool_env = {**env, "DOCKER_HOST": os.environ.get("DOCKER_HOST", DOCKER_HOST)}
                for verb in ("ps", "images"):
                    cases[f"`{tool} {verb}`"] = ([tool, verb], tool_env)
        for argv, env in cases.values():  # warm the page cache and any first-use work
            timed(argv, env)
        walls: dict[str, list[float]] = {k: [] for k in cases}
        cpus: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for label, (argv, env) in cases.items():
                wall, cpu = timed(argv, env)
                walls[label].append(wall * 1000)
                cpus[label].append(cpu * 1000)
    print(f"medians of {args.runs} runs each, interleaved, ms (min-max)")
    print("| command | wall | CPU (user + sys) |")
    print("| --- | --- | --- |")
    for label in cases:
        w, c = walls[label], cpus[label]
        print(
            f"| {label} | {statistics.median(w):.1f} ({min(w):.0f}-{max(w):.0f}) "
            f"| {statistics.median(c):.1f} ({min(c):.0f}-{max(c):.0f}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
