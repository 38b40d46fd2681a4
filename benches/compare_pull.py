"""Times `ketch pull` against the other tools on one multi-layer image from
one local registry, in one run, syncing the disk before each pull.

    .venv/bin/python benches/compare_pull.py [--runs N]

The image is made from this host's own files (a busybox base, /usr/share and
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

from conftest import start_registry, stop_registry  # noqa: E402
from imagekit import busybox_entries, sha256, tar_bytes  # noqa: E402

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


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    subprocess.run(["sync"], check=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    layers = make_layers()
    total = sum(p.stat().st_size for p, _, _ in layers)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="ketch-bench-", dir="/var/tmp") as tmp:
        tmpd = Path(tmp)
        (tmpd / "registry").mkdir()
        reg = start_registry(tmpd / "registry")
        try:
            push(reg, layers)
            name = f"{reg.addr}/bench/big:latest"
            largest = max(layers, key=lambda x: x[0].stat().st_size)[0]
            for _ in range(args.runs):
                root = tmpd / "ketch"
                env = {**os.environ, "KETCH_ROOT": str(root), "KETCH_RUN_ROOT": str(tmpd / "run")}
                results.setdefault("ketch pull", []).append(timed([KETCH, "pull", name], env))
                shutil.rmtree(root)
                if shutil.which("skopeo") and shutil.which("umoci"):
                    oci = tmpd / "oci"
                    results.setdefault("skopeo copy (download only)", []).append(
                        timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{name}", f"oci:{oci}:big"])
                    )
                    results.setdefault("umoci unpack", []).append(
                        timed(["umoci", "unpack", "--image", f"{oci}:big", str(tmpd / "bundle")])
                    )
                    shutil.rmtree(oci)
                    shutil.rmtree(tmpd / "bundle")
                if shutil.which("podman"):
                    results.setdefault("podman pull", []).append(
                        timed(["podman", "pull", "-q", "--tls-verify=false", name])
                    )
                    subprocess.run(["podman", "rmi", "-f", name], capture_output=True)
                if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
                    results.setdefault("docker pull", []).append(timed(["docker", "pull", "-q", name]))
                    subprocess.run(["docker", "rmi", "-f", name], capture_output=True)
                out = tmpd / "x"
                out.mkdir()
                results.setdefault(f"tar -xzf largest layer ({largest.stat().st_size >> 20} MiB)", []).append(
                    timed(["tar", "-xzf", str(largest), "-C", str(out)])
                )
                shutil.rmtree(out)
                results.setdefault("gzip -dc largest layer", []).append(
                    timed(["sh", "-c", f"gzip -dc {largest} > /dev/null"])
                )
        finally:
            stop_registry(reg)
    print(f"image: {len(layers)} layers, {total / 1e6:.0f} MB compressed; best of {args.runs} runs")
    base = min(results["ketch pull"])
    for k, v in results.items():
        print(f"{k:45s} {min(v):7.2f} s   (x{min(v) / base:.2f} of ketch)   runs: {', '.join(f'{x:.2f}' for x in v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
