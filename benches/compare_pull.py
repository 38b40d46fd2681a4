"""Times `ketch pull` against the other tools on one multi-layer image from
one local registry, in one run, syncing the disk before each pull.

    .venv/bin/python benches/compare_pull.py [--pause SECONDS] [--order ketch,docker,podman]

Before each timed command the disk is synced and left to go idle (see
`settle`). The image is made from this host's own files (a busybox base, /usr/share and
/usr/lib/x86_64-linux-gnu as two more layers: about 1.3 GB and 53,000 files
unpacked) and cached under /var/tmp/ketch-bench. Peers that are not
installed (docker needs a running dockerd) are skipped and said so.
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


def _disk_stat() -> list[str]:
    """Counters of every block device: reads, writes, discards."""
    return [Path(p).read_text() for p in sorted(Path("/sys/block").glob("*/stat"))]


def settle(limit: float = 180.0) -> None:
    """sync, then wait until the disks have been idle for 2 s: deleting a tree
    on a filesystem mounted with `discard` leaves the disk busy for tens of
    seconds, which would be charged to whichever tool runs next."""
    subprocess.run(["sync"], check=True)
    end = time.monotonic() + limit
    quiet, last = 0, _disk_stat()
    while quiet < 2 and time.monotonic() < end:
        time.sleep(1)
        now = _disk_stat()
        quiet = quiet + 1 if now == last else 0
        last = now


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    settle()
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pause", type=float, default=60.0, help="seconds to let the disk settle before timing")
    ap.add_argument(
        "--order", default="ketch,docker,podman", help="which pullers run first (the disk favours the first)"
    )
    args = ap.parse_args()
    layers = make_layers()
    total = sum(p.stat().st_size for p, _, _ in layers)
    results: dict[str, float] = {}
    cleanup: list[list[str]] = []
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
            env = {**os.environ, "KETCH_ROOT": str(tmpd / "ketch"), "KETCH_RUN_ROOT": str(tmpd / "run")}

            def run_ketch() -> None:
                results["ketch pull"] = timed([KETCH, "pull", name], env)

            def run_docker() -> None:
                if not shutil.which("docker") or subprocess.run(["docker", "info"], capture_output=True).returncode:
                    print("docker pull: skipped, no dockerd answers (apt-get install docker.io; dockerd &)")
                elif subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0:
                    print("docker pull: skipped, docker already has the image (docker rmi it first)")
                else:
                    results["docker pull"] = timed(["docker", "pull", "-q", name])
                    cleanup.append(["docker", "rmi", "-f", name])

            def run_podman() -> None:
                if not shutil.which("podman"):
                    print("podman pull: skipped, podman is not installed")
                    return
                results["podman pull"] = timed(["podman", "pull", "-q", "--tls-verify=false", name])
                cleanup.append(["podman", "rmi", "-f", name])

            runners = {"ketch": run_ketch, "docker": run_docker, "podman": run_podman}
            for tool in args.order.split(","):
                runners[tool]()
            if shutil.which("skopeo") and shutil.which("umoci"):
                oci = tmpd / "oci"
                results["skopeo copy (download only)"] = timed(
                    ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{name}", f"oci:{oci}:big"]
                )
                results["umoci unpack (of skopeo's copy)"] = timed(
                    ["umoci", "unpack", "--image", f"{oci}:big", str(tmpd / "bundle")]
                )
            out = tmpd / "x"
            out.mkdir()
            results[f"tar -xzf of the largest layer alone ({largest.stat().st_size >> 20} MiB)"] = timed(
                ["tar", "-xzf", str(largest), "-C", str(out)]
            )
            results["gzip -dc of the largest layer alone"] = timed(["sh", "-c", f"gzip -dc {largest} > /dev/null"])
        finally:
            stop_registry(reg)
            for cmd in cleanup:
                subprocess.run(cmd, capture_output=True)
    print(f"image: {len(layers)} layers, {total / 1e6:.0f} MB compressed")
    base = results["ketch pull"]
    for k, v in results.items():
        print(f"{k:55s} {v:7.2f} s   ({v / base:.2f}x ketch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
