"""Times `ketch pull` against the other tools on one multi-layer image from
one local registry, in one run, syncing the disk before each pull; then,
with `--cycles N`, N rounds of the rmi-then-pull cycle (`rmi IMG && pull
IMG`) of every tool, interleaved.

    .venv/bin/python benches/compare_pull.py [--pause SECONDS] [--order ketch,docker,podman]
        [--cycles N] [--ketch NAME=PYTHONPATH ...] [--docker-host unix:///run/ketch-bench/docker.sock]

Before each timed command the disk is synced and left to go idle (see
`settle`). The image is made from this host's own files (a busybox base, /usr/share and
/usr/lib/x86_64-linux-gnu as two more layers: about 1.3 GB and 53,000 files
unpacked) and cached under /var/tmp/ketch-bench. Peers that are not
installed (docker needs a running dockerd) are skipped and said so.
`--ketch` (repeatable) times several ketch trees side by side (each its
own store; `old=/tmp/old/python`), else the ketch on PYTHONPATH. Each
ketch pull's peak RSS is read from wait4. The floor: `gzip -dc` of every
blob to /dev/null.

The cycle on this disk (journal-less ext4): creating tens of thousands of
files where as many were just deleted is slow for a few minutes (the inode
allocator skips recently deleted inodes), so a cycle measures the layout as
much as the unpacker; `--cycle-pause` seconds separate one tool's cycle from
the next tool's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.imagekit import busybox_entries, sha256, tar_bytes  # noqa: E402

# A small launcher that reports its child's peak RSS: a child forked from this
# process (which holds the blobs it pushed) would inherit this one's high-water mark.
from support.ketch import _LAUNCH  # noqa: E402
from support.registry import start_registry, stop_registry  # noqa: E402

CACHE = Path("/var/tmp/ketch-bench")
KETCH = str(Path(sys.executable).parent / "ketch")
TREES = ["usr/share", "usr/lib/x86_64-linux-gnu"]


def file_sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def make_layers() -> list[tuple[Path, str, str]]:
    """[(gzip blob path, blob digest, diff id)], built once and cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    index = CACHE / "layers.json"
    if index.exists():
        return [(Path(p), d, i) for p, d, i in json.loads(index.read_text())]
    out = []
    base = CACHE / "base.tar"
    base.write_bytes(tar_bytes(busybox_entries()))
    tars = [base]
    for i, tree in enumerate(TREES):
        t = CACHE / f"layer{i + 1}.tar"
        subprocess.run(["tar", "-cf", str(t), "--numeric-owner", "-C", "/", tree], check=True)
        tars.append(t)
    for t in tars:
        gz = t.with_suffix(".tar.gz")
        with open(gz, "wb") as f:
            subprocess.run(["gzip", "-6", "-n", "-c", str(t)], stdout=f, check=True)
        out.append((gz, file_sha256(gz), file_sha256(t)))
    index.write_text(json.dumps([(str(p), d, i) for p, d, i in out]))
    return out


def push(reg, layers: list[tuple[Path, str, str]]) -> None:  # type: ignore[no-untyped-def]
    descs = []
    for path, digest, _ in layers:
        reg.client.push_blob("bench/big", path.read_bytes())
        descs.append(
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": digest,
                "size": path.stat().st_size,
            }
        )
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-11-01T00:00:00Z",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [i for _, _, i in layers]},
        }
    ).encode()
    reg.client.push_blob("bench/big", config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    reg.client.push_manifest("bench/big", "latest", manifest, "application/vnd.docker.distribution.manifest.v2+json")


def _disk_stat() -> list[list[int]]:
    """Counters of every block device: reads, writes, discards."""
    return [[int(x) for x in Path(p).read_text().split()] for p in sorted(Path("/sys/block").glob("*/stat"))]


def _busy(a: list[list[int]], b: list[list[int]], sectors: int) -> bool:
    """Whether more than `sectors` were read or written between two `_disk_stat`s, or I/O is in flight."""
    for x, y in zip(a, b, strict=True):
        if y[2] - x[2] > sectors or y[6] - x[6] > sectors or y[8] > 0:
            return True
    return False


def settle(limit: float = 30.0, sectors: int = 4096) -> None:
    """sync, then wait until the disks have been quiet for 2 s (at most 2 MiB
    a second: a shared machine's other sessions never stop entirely), at
    most `limit` seconds: deleting a tree on a filesystem mounted with
    `discard` leaves the disk busy for tens of seconds, which would be
    charged to whichever tool runs next."""
    subprocess.run(["sync"], check=True)
    end = time.monotonic() + limit
    quiet, last = 0, _disk_stat()
    while quiet < 2 and time.monotonic() < end:
        time.sleep(1)
        now = _disk_stat()
        quiet = 0 if _busy(last, now, sectors) else quiet + 1
        last = now


def timed(cmd: list[str], env: dict[str, str] | None = None, quiet_disk: bool = True) -> float:
    if quiet_disk:
        settle()
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def timed_rss(cmd: list[str], env: dict[str, str], quiet_disk: bool = True) -> tuple[float, int]:
    """Seconds and the peak RSS (KiB) of `cmd` (wait4's rusage, through `_LAUNCH`: a process of its own)."""
    if quiet_disk:
        settle()
    with tempfile.NamedTemporaryFile(prefix="ketch-bench-rss-") as out:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", _LAUNCH, out.name, *cmd], check=True, stdout=subprocess.DEVNULL, env=env)
        took = time.perf_counter() - t
        return took, int(Path(out.name).read_text())


def docker_host(flag: str | None) -> str | None:
    if flag:
        return flag
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    shared = "/run/ketch-bench/docker.sock"
    return f"unix://{shared}" if os.path.exists(shared) else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pause", type=float, default=60.0, help="seconds to let the disk settle before timing")
    ap.add_argument(
        "--order", default="ketch,docker,podman", help="which pullers run first (the disk favours the first)"
    )
    ap.add_argument("--cycles", type=int, default=0, help="rounds of `rmi && pull` of every tool after the pulls")
    ap.add_argument("--cycle-pause", type=float, default=30.0, help="seconds between one tool's cycle and the next's")
    ap.add_argument("--ketch", action="append", default=[], help="NAME=PYTHONPATH of a ketch tree to time (repeat)")
    ap.add_argument("--docker-host", default=None, help="dockerd to time (default $DOCKER_HOST, else the shared one)")
    ap.add_argument("--no-floors", action="store_true", help="skip skopeo/umoci/tar/gzip")
    args = ap.parse_args()
    layers = make_layers()
    total = sum(p.stat().st_size for p, _, _ in layers)
    results: dict[str, list[float]] = {}
    rss: dict[str, list[int]] = {}
    cleanup: list[list[str]] = []
    denv = {**os.environ}
    host = docker_host(args.docker_host)
    if host:
        denv["DOCKER_HOST"] = host
    trees = [tuple(k.split("=", 1)) for k in args.ketch] or [("ketch", os.environ.get("PYTHONPATH", ""))]

    def note(key: str, v: float) -> None:
        results.setdefault(key, []).append(v)
        print(f"  {key}: {v:.2f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="ketch-bench-", dir="/var/tmp") as tmp:
        tmpd = Path(tmp)
        (tmpd / "registry").mkdir()
        reg = start_registry(tmpd / "registry")
        try:
            push(reg, layers)
            name = f"{reg.addr}/bench/big:latest"
            largest = max(layers, key=lambda x: x[0].stat().st_size)[0]
            # Nothing is deleted until every tool has run: deleting a large tree
            # slows this disk's writes for a while afterwards (ext4 `discard` on a
            # virtual disk), which would be charged to whichever tool ran next.
            time.sleep(args.pause)

            def ketch_env(tree: str, pypath: str) -> dict[str, str]:
                env = {**os.environ, "KETCH_ROOT": str(tmpd / f"ketch-{tree}")}
                env["KETCH_RUN_ROOT"] = str(tmpd / f"run-{tree}")
                if pypath:
                    env["PYTHONPATH"] = pypath
                return env

            def ketch_pull(tree: str, pypath: str, label: str, quiet_disk: bool = True) -> None:
                took, peak = timed_rss([KETCH, "pull", name], ketch_env(tree, pypath), quiet_disk)
                note(f"{tree} {label}", took)
                rss.setdefault(tree, []).append(peak)

            def docker_ok() -> bool:
                answers = (
                    shutil.which("docker")
                    and not subprocess.run(["docker", "info"], capture_output=True, env=denv).returncode
                )
                if not answers:
                    print("docker pull: skipped, no dockerd answers (set DOCKER_HOST or --docker-host)")
                    return False
                return True

            def run_docker() -> None:
                if not docker_ok():
                    return
                if subprocess.run(["docker", "image", "inspect", name], capture_output=True, env=denv).returncode == 0:
                    print("docker pull: skipped, docker already has the image (docker rmi it first)")
                    return
                cleanup.append(["docker", "rmi", "-f", name])
                note("docker pull", timed(["docker", "pull", "-q", name], denv))

            def run_podman() -> None:
                if not shutil.which("podman"):
                    print("podman pull: skipped, podman is not installed")
                    return
                cleanup.append(["podman", "rmi", "-f", name])
                note("podman pull", timed(["podman", "pull", "-q", "--tls-verify=false", name]))

            def run_ketch() -> None:
                for tree, pypath in trees:
                    ketch_pull(tree, pypath, "pull")

            runners = {"ketch": run_ketch, "docker": run_docker, "podman": run_podman}
            order = args.order.split(",")
            for tool in order:
                runners[tool]()

            # The cycle: `rmi IMG && pull IMG`, rmi and pull timed apart, nothing between them.
            def cycle(label: str, rmi: list[str], pull: list[str] | None, env: dict[str, str], tree: str = "") -> None:
                settle()
                t_rmi = timed(rmi, env, quiet_disk=False)
                if pull is None:
                    ketch_pull(tree, env.get("PYTHONPATH", ""), "pull in the cycle", quiet_disk=False)
                    t_pull = results[f"{tree} pull in the cycle"][-1]
                else:
                    t_pull = timed(pull, env, quiet_disk=False)
                    note(f"{label} pull in the cycle", t_pull)
                note(f"{label} rmi in the cycle", t_rmi)
                note(f"{label} rmi && pull", t_rmi + t_pull)
                time.sleep(args.cycle_pause)

            for _ in range(args.cycles):
                for tool in order:
                    if tool == "ketch":
                        for tree, pypath in trees:
                            env = ketch_env(tree, pypath)
                            cycle(tree, [KETCH, "rmi", name], None, env, tree)
                    elif tool == "docker" and "docker pull" in results:
                        cycle("docker", ["docker", "rmi", name], ["docker", "pull", "-q", name], denv)
                    elif tool == "podman" and "podman pull" in results:
                        cycle(
                            "podman",
                            ["podman", "rmi", name],
                            ["podman", "pull", "-q", "--tls-verify=false", name],
                            os.environ.copy(),
                        )
            if not args.no_floors:
                if shutil.which("skopeo") and shutil.which("umoci"):
                    oci = tmpd / "oci"
                    note(
                        "skopeo copy (download only)",
                        timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{name}", f"oci:{oci}:big"]),
                    )
                    note(
                        "umoci unpack (of skopeo's copy)",
                        timed(["umoci", "unpack", "--image", f"{oci}:big", str(tmpd / "bundle")]),
                    )
                out = tmpd / "x"
                out.mkdir()
                note(
                    f"tar -xzf of the largest layer alone ({largest.stat().st_size >> 20} MiB)",
                    timed(["tar", "-xzf", str(largest), "-C", str(out)]),
                )
                note("gzip -dc of the largest layer alone", timed(["sh", "-c", f"gzip -dc {largest} > /dev/null"]))
                blobs = " ".join(str(p) for p, _, _ in layers)
                note("gzip -dc of every blob, one after another", timed(["sh", "-c", f"gzip -dc {blobs} > /dev/null"]))
        finally:
            stop_registry(reg)
            for cmd in cleanup:
                subprocess.run(cmd, capture_output=True, env=denv)
    print(f"image: {len(layers)} layers, {total / 1e6:.0f} MB compressed")
    base_key = f"{trees[0][0]} pull"
    base = min(results[base_key])
    for k, v in results.items():
        runs = ", ".join(f"{x:.2f}" for x in v)
        print(f"{k:55s} {min(v):7.2f} s   ({min(v) / base:.2f}x {trees[0][0]})   runs: {runs}")
    for k, v in results.items():
        if k.startswith("docker "):
            for tree, _ in trees:
                mine = results.get(f"{tree} {k[7:]}")
                if mine:
                    ratios = ", ".join(f"{a / b:.2f}" for a, b in zip(mine, v, strict=False))
                    print(f"{tree} / docker, {k[7:]:40s} {ratios}")
    for tree, peaks in rss.items():
        print(f"{tree} pull peak RSS: {', '.join(f'{p / 1024:.0f}' for p in peaks)} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
