"""Times `ketch build` against docker's legacy builder (and, with --podman,
`podman build`) on the same Dockerfile and context, in one run: cold
(--no-cache) and fully cached, the commands of each kind interleaved (round
after round, each once a round, each round starting one further on, so
that a neighbour's load and the previous build's writeback fall on all
alike). Optionally (--big) a cached rebuild of a 10,000-file context.

    .venv/bin/python benches/compare_build.py [--runs N] [--base PYTHONPATH] [--podman] [--big-mb 1000]

The Dockerfile is the issue's: WORKDIR, COPY of 200 files, ADD of a 5 MB
file, RUN, ENV, EXPOSE, CMD, on a busybox image made offline (handed to
docker and podman with `ketch save`, under a name of this run's own).
`--base` also times ketch with another tree first on the path (the code
before a change), in the same rounds. docker is whatever DOCKER_HOST
answers (the shared one: DOCKER_HOST=unix:///run/ketch-bench/docker.sock;
it is given --network none for RUN, having no bridge); what the run made
there is removed after: its tags, and the images its builds reported, by
their ids (never another user's). Peers that are not there, or fail, are
skipped and said so. Each figure is the median of N runs.
"""

from __future__ import annotations

import argparse
import os
import re
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
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]

Cmd = tuple[list[str], dict[str, str] | None]
_BUILT = re.compile(rb"Successfully built ([0-9a-f]{12,64})")


def timed(cmd: list[str], env: dict[str, str] | None = None, made: list[str] | None = None) -> float | None:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, env=env)
    took = time.perf_counter() - t
    if r.returncode != 0:
        print(f"{cmd[0]} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()[-300:]}")
        return None
    if made is not None:
        made.extend(m.decode() for m in _BUILT.findall(r.stdout))
    return took


def interleaved(cmds: dict[str, Cmd], runs: int, made: list[str]) -> dict[str, float | None]:
    """Each command once a round, `runs` rounds; the median of each (None: it failed)."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    failed: set[str] = set()
    labels = list(cmds)
    for r in range(runs):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:  # each round starts one further on
            cmd, env = cmds[label]
            if label in failed:
                continue
            t = timed(cmd, env, made if cmd[0] == "docker" else None)
            if t is None:
                failed.add(label)
            else:
                times[label].append(t)
    return {k: None if k in failed else statistics.median(v) for k, v in times.items()}


def make_context(d: Path, base: str) -> None:
    (d / "files").mkdir(parents=True)
    for i in range(200):
        (d / "files" / f"f{i:03d}.txt").write_text(f"file {i}\n" * 20)
    (d / "blob.bin").write_bytes(os.urandom(5 << 20))
    (d / "Dockerfile").write_text(DOCKERFILE.format(base=base))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--base", help="PYTHONPATH of another ketch tree, timed in the same rounds")
    ap.add_argument("--podman", action="store_true", help="also podman build (runc, cgroupfs)")
    ap.add_argument(
        "--big-mb", type=int, default=0, help="also time a cached rebuild of a 10,000-file context of this size"
    )
    args = ap.parse_args()
    base_image = f"ketch-bench-{os.getpid()}/busybox:latest"  # this run's own name, in the peers' stores too
    tag = f"ketch-bench-{os.getpid()}-b"
    cold: dict[str, Cmd] = {}
    cached: dict[str, Cmd] = {}
    made: list[str] = []  # the images docker's builds reported
    cleanup: list[list[str]] = []
    results: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="ketch-bench-build-") as tmp:
        tmpd = Path(tmp)
        env = {**os.environ, "KETCH_ROOT": str(tmpd / "store"), "KETCH_RUN_ROOT": str(tmpd / "run")}
        rootfs = tmpd / "bb.tar"
        rootfs.write_bytes(tar_bytes(busybox_entries()))
        subprocess.run([KETCH, "import", str(rootfs), base_image], check=True, env=env, capture_output=True)
        ctx = tmpd / "ctx"
        make_context(ctx, base_image)
        archive = tmpd / "bb-image.tar"
        subprocess.run([KETCH, "save", "-o", str(archive), base_image], check=True, env=env)
        try:
            trees = {"ketch": env, **({"ketch (--base tree)": {**env, "PYTHONPATH": args.base}} if args.base else {})}
            for label, tenv in trees.items():
                # --network none as docker's below (and no bridge left on the host by the bench)
                build = [KETCH, "build", "--network", "none", "-t", "b"]
                cold[f"{label} build, cold (--no-cache)"] = ([*build, "--no-cache", str(ctx)], tenv)
                cached[f"{label} build, cached"] = ([*build, str(ctx)], tenv)
            docker = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
            if docker:
                subprocess.run(["docker", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
                cleanup.append(["docker", "rmi", tag, base_image])  # by name: untagged, never by id
                denv = {**os.environ, "DOCKER_BUILDKIT": "0"}
                build = ["docker", "build", "--network", "none", "-t", tag]
                cold["docker build (legacy builder), cold"] = ([*build, "--no-cache", str(ctx)], denv)
                cached["docker build (legacy builder), cached"] = ([*build, str(ctx)], denv)
            else:
                print("docker: skipped, no dockerd answers (DOCKER_HOST?)")
            if args.podman and shutil.which("podman"):
                subprocess.run([*PODMAN, "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
                cleanup.append([*PODMAN, "rmi", "-f", tag, base_image])  # podman's own store: this run's only
                cold["podman build, cold"] = ([*PODMAN, "build", "--no-cache", "-t", tag, str(ctx)], None)
                cached["podman build, cached"] = ([*PODMAN, "build", "-t", tag, str(ctx)], None)
            for cmd, cenv in cold.values():  # one untimed round: .pyc files, the peers' first start, the cache
                timed(cmd, cenv, made if cmd[0] == "docker" else None)
            results.update(interleaved(cold, args.runs, made))
            results.update(interleaved(cached, args.runs, made))
            results["python -c pass (the interpreter's floor)"] = statistics.median(
                t for t in (timed([sys.executable, "-c", "pass"]) for _ in range(args.runs)) if t is not None
            )
        finally:
            for cmd in cleanup:
                subprocess.run(cmd, capture_output=True)
            if made:
                # what the builds made and no tag holds now: by the ids they reported (theirs alone)
                subprocess.run(["docker", "rmi", *sorted(set(made))], capture_output=True)

        if args.big_mb:
            big = tmpd / "big"
            (big / "data").mkdir(parents=True)
            per = max(1, (args.big_mb << 20) // 10_000)
            chunk = os.urandom(per)
            for i in range(10_000):
                sub = big / "data" / f"d{i // 100:03d}"
                sub.mkdir(exist_ok=True)
                (sub / f"f{i:05d}").write_bytes(chunk[: per - 8] + i.to_bytes(8, "little"))
            (big / "Dockerfile").write_text(f'FROM {base_image}\nCOPY data /data\nCMD ["true"]\n')
            t = timed([KETCH, "build", "-t", "big", str(big)], env)
            results[f"ketch build, 10,000 files / {args.big_mb} MB, first"] = t
            results[f"ketch build, 10,000 files / {args.big_mb} MB, cached"] = interleaved(
                {"big": ([KETCH, "build", "-t", "big", str(big)], env)}, args.runs, made
            )["big"]
    print(f"median of {args.runs} interleaved runs each")
    for k, v in results.items():
        print(f"{k:55} {'failed' if v is None else f'{v * 1000:8.0f} ms'}")
    for kind in ("cold (--no-cache)", "cached"):
        k, d = results.get(f"ketch build, {kind}"), results.get(f"docker build (legacy builder), {kind.split()[0]}")
        if k and d:
            print(f"ketch / docker, {kind}: {k / d:.2f}x")


if __name__ == "__main__":
    main()
