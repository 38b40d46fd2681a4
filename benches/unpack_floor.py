"""The CPU floor of unpacking: each cached bench layer unpacked by ketch to
tmpfs (no disk), against `gzip -dc` and `tar -xzf` of the same layer.

    .venv/bin/python benches/unpack_floor.py     (after compare_pull.py has built the layers)
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ketch import _native

CACHE = Path("/var/tmp/ketch-bench")
SCRATCH = Path("/dev/shm/ketch-unpack-floor")


def main() -> int:
    layers = sorted(CACHE.glob("layer*.tar.gz"))
    if not layers:
        print("no layers cached: run benches/compare_pull.py first")
        return 1
    for src in layers:
        shutil.rmtree(SCRATCH, ignore_errors=True)
        t = time.perf_counter()
        u = _native.unpack_layer(src, SCRATCH)
        native = time.perf_counter() - t
        shutil.rmtree(SCRATCH)
        t = time.perf_counter()
        subprocess.run(f"gzip -dc {src} > /dev/null", shell=True, check=True)
        gz = time.perf_counter() - t
        SCRATCH.mkdir()
        t = time.perf_counter()
        subprocess.run(["tar", "-xzf", str(src), "-C", str(SCRATCH)], check=True)
        tar = time.perf_counter() - t
        shutil.rmtree(SCRATCH)
        print(
            f"{src.name}: {src.stat().st_size >> 20} MiB, {u['entries']} entries: "
            f"ketch unpack to tmpfs {native:.2f} s, gzip -dc {gz:.2f} s, tar -xzf to tmpfs {tar:.2f} s"
        )
    # Peak resident memory of this process (Python + the unpacker) after all layers.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the unpacking process: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
