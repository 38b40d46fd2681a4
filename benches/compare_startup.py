"""Times the commands people type all day in two or more source trees of
ketch, alternating run by run so that the machine's drift falls on all of
them alike: `ketch ps`, `ketch images`, `ketch --help` and
`ketch run --rm --network none IMAGE true`.

    .venv/bin/python benches/compare_startup.py --tree OLD --tree NEW [--runs N]

A tree is a checkout whose python/ketch holds its built extension and
ketch-monitor (scripts/setup.sh, or the two cargo builds in README.md).
Each tree gets a store of its own with the same busybox image imported.
Prints the median and the spread (min-max) of N runs per command and tree.
"""

from __future__ import annotations

import argparse
import compileall
import os
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", action="append", required=True, help="a checkout (repeat)")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    trees = [Path(t).resolve() for t in args.tree]
    times: dict[tuple[str, Path], list[float]] = {(c, t): [] for c in COMMANDS for t in trees}
    with tempfile.TemporaryDirectory(prefix="ketch-startup-") as tmp:
        rootfs = Path(tmp) / "busybox.tar"
        rootfs.write_bytes(tar_bytes(busybox_entries()))
        envs = {}
        for i, tree in enumerate(trees):
            # byte-compiled as an installed package is (a shell with PYTHONDONTWRITEBYTECODE would
            # otherwise time the compiler)
            compileall.compile_dir(tree / "python" / "ketch", quiet=1)
            envs[tree] = {
                **os.environ,
                "PYTHONPATH": str(tree / "python"),
                "KETCH_ROOT": f"{tmp}/store{i}",
                "KETCH_RUN_ROOT": f"{tmp}/run{i}",
            }
            subprocess.run(
                [KETCH, "import", str(rootfs), "bench/busybox"], check=True, env=envs[tree], stdout=subprocess.DEVNULL
            )
            for argv in COMMANDS.values():  # warm the page cache and any first-use work
                subprocess.run([KETCH, *argv], check=True, env=envs[tree], stdout=subprocess.DEVNULL)
        for _ in range(args.runs):
            for name, argv in COMMANDS.items():
                for tree in trees:
                    t = time.perf_counter()
                    subprocess.run([KETCH, *argv], check=True, env=envs[tree], stdout=subprocess.DEVNULL)
                    times[(name, tree)].append(time.perf_counter() - t)
    print(f"medians of {args.runs} runs, ms (min-max)")
    print("| command | " + " | ".join(str(t) for t in trees) + " |")
    print("| --- |" + " --- |" * len(trees))
    for name in COMMANDS:
        cells = []
        for tree in trees:
            xs = [x * 1000 for x in times[(name, tree)]]
            cells.append(f"{statistics.median(xs):.1f} ({min(xs):.0f}-{max(xs):.0f})")
        print(f"| `ketch {name}` | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
