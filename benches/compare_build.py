"""Times `ketch build` against docker's builder and `podman build` on the
same Dockerfile and context, in one run: cold (--no-cache) and fully
cached. Optionally (--big) a cached rebuild of a 10,000-file context.

    .venv/bin/python benches/compare_build.py [--runs N] [--big-mb 1000]

The Dockerfile is the issue's: WORKDIR, COPY of 200 files, ADD of a 5 MB
file, RUN, ENV, EXPOSE, CMD, on a busybox image made offline (handed to
docker and podman with `ketch save`). Peers that are not there, or fail,
are skipped and said so. Each figure is the median of N runs.
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

from support.imagekit import busybox_entries, tar_bytes  # noqa: E402

KETCH = str(Path(sys.executable).parent / "ketch")
DOCKERFILE = """FROM {base}
WORKDIR /app
COPY files/ /app/files/
ADD blob.bin /app/blob.bin
RUN echo built > /app/built.txt
ENV MODE=bench
EXPOSE 80
CMD ["cat", "/app/built.txt"]
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float | None:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, env=env)
    if r.returncode != 0:
        print(f"{cmd[0]} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()[-300:]}")
        return None
    return time.perf_counter() - t


def median(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float | None:
    ts = []
    for _ in range(runs):
        t = timed(cmd, env)
        if t is None:
            return None
        ts.append(t)
    return statistics.median(ts)


def make_context(d: Path, base: str) -> None:
    (d / "files").mkdir(parents=True)
    for i in range(200):
        (d / "files" / f"f{i:03d}.txt").write_text(f"file {i}\n" * 20)
    (d / "blob.bin").write_bytes(os.urandom(5 << 20))
    (d / "Dockerfile").write_text(DOCKERFILE.format(base=base))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--big-mb", type=int, default=0, help="also time a cached rebuild of a 10,000-file context of this size"
    )
    args = ap.parse_args()
    results: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="ketch-bench-build-") as tmp:
        tmpd = Path(tmp)
        env = {**os.environ, "KETCH_ROOT": str(tmpd / "store"), "KETCH_RUN_ROOT": str(tmpd / "run")}
        rootfs = tmpd / "bb.tar"
        rootfs.write_bytes(tar_bytes(busybox_entries()))
        subprocess.run([KETCH, "import", str(rootfs), "bench/busybox:latest"], check=True, env=env, capture_output=True)
        ctx = tmpd / "ctx"
        make_context(ctx, "bench/busybox:latest")

        cold = [KETCH, "build", "--no-cache", "-t", "b", str(ctx)]
        results["ketch build, cold (--no-cache)"] = median(cold, args.runs, env)
        results["ketch build, cached"] = median([KETCH, "build", "-t", "b", str(ctx)], args.runs, env)

        archive = tmpd / "bb-image.tar"
        subprocess.run([KETCH, "save", "-o", str(archive), "bench/busybox:latest"], check=True, env=env)
        docker = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
        if docker:
            subprocess.run(["docker", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
            denv = {**os.environ, "DOCKER_BUILDKIT": "0"}
            results["docker build (legacy builder), cold"] = median(
                ["docker", "build", "--no-cache", "-t", "ketch-bench-b", str(ctx)], args.runs, denv
            )
            results["docker build (legacy builder), cached"] = median(
                ["docker", "build", "-t", "ketch-bench-b", str(ctx)], args.runs, denv
            )
            subprocess.run(["docker", "rmi", "-f", "ketch-bench-b", "bench/busybox:latest"], capture_output=True)
            subprocess.run(["docker", "builder", "prune", "-f"], capture_output=True)
        else:
            print("docker: skipped, no dockerd answers")
        if shutil.which("podman"):
            subprocess.run(["podman", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
            results["podman build, cold"] = median(
                ["podman", "build", "--no-cache", "-t", "ketch-bench-b", str(ctx)], args.runs
            )
            results["podman build, cached"] = median(["podman", "build", "-t", "ketch-bench-b", str(ctx)], args.runs)
            subprocess.run(["podman", "rmi", "-f", "ketch-bench-b", "bench/busybox:latest"], capture_output=True)
        else:
            print("podman: skipped, not installed")

        if args.big_mb:
            big = tmpd / "big"
            (big / "data").mkdir(parents=True)
            per = max(1, (args.big_mb << 20) // 10_000)
            chunk = os.urandom(per)
            for i in range(10_000):
                sub = big / "data" / f"d{i // 100:03d}"
                sub.mkdir(exist_ok=True)
                (sub / f"f{i:05d}").write_bytes(chunk[: per - 8] + i.to_bytes(8, "little"))
            (big / "Dockerfile").write_text('FROM bench/busybox:latest\nCOPY data /data\nCMD ["true"]\n')
            t = timed([KETCH, "build", "-t", "big", str(big)], env)
            results[f"ketch build, 10,000 files / {args.big_mb} MB, first"] = t
            results[f"ketch build, 10,000 files / {args.big_mb} MB, cached"] = median(
                [KETCH, "build", "-t", "big", str(big)], args.runs, env
            )
    print(f"median of {args.runs} runs each")
    for k, v in results.items():
        print(f"{k:55} {'failed' if v is None else f'{v * 1000:8.0f} ms'}")


if __name__ == "__main__":
    main()
