"""`ketch registry serve` against Debian's docker-registry (the reference
distribution registry), in one run: one blob of N MiB pushed to each
(MiB/s), then fetched by 1 and by 8 concurrent clients (curl to /dev/null)
with the server's CPU time; manifest GETs per second from 8 keep-alive
clients (ab); `skopeo copy` of a busybox image into each.

    .venv/bin/python benches/registry_blob.py [--mb 256]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.imagekit import Registry, build, busybox_entries, tar_bytes  # noqa: E402
from support.registry import start_registry, stop_registry  # noqa: E402

KETCH = str(Path(sys.executable).parent / "ketch")


def fetch(url: str, clients: int) -> float:
    t = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", url]) for _ in range(clients)]
    for p in procs:
        p.wait()
    return time.perf_counter() - t


def cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=256)
    args = ap.parse_args()
    data = os.urandom(args.mb << 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    rows = []
    other: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ketch-bench-reg-") as tmp:
        tmpd = Path(tmp)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ours = subprocess.Popen(
            [KETCH, "registry", "serve", "--addr", f"127.0.0.1:{port}", "--root", str(tmpd / "ketch")],
            stderr=subprocess.DEVNULL,
        )
        (tmpd / "ref").mkdir()
        ref = start_registry(tmpd / "ref")
        try:
            time.sleep(1)
            img = build([(tar_bytes(busybox_entries()), "gzip")])
            oci = tmpd / "oci"
            servers = (("ketch registry", f"127.0.0.1:{port}", ours.pid), ("docker-registry", ref.addr, ref.proc.pid))
            for label, addr, pid in servers:
                t = time.perf_counter()
                Registry(f"http://{addr}").push_blob("bench/blob", data)
                other.append((label, "blob push (one request)", f"{args.mb / (time.perf_counter() - t):.0f} MiB/s"))
                url = f"http://{addr}/v2/bench/blob/blobs/{digest}"
                for clients in (1, 8):
                    c0 = cpu(pid)
                    t = fetch(url, clients)
                    rows.append((label, clients, clients * args.mb / t, cpu(pid) - c0))
                Registry(f"http://{addr}").push("bench/img", "v1", img)
                murl = f"http://{addr}/v2/bench/img/manifests/v1"
                if shutil.which("ab"):
                    out = subprocess.run(
                        ["ab", "-k", "-q", "-n", "5000", "-c", "8", "-H", f"Accept: {img.media_type}", murl],
                        capture_output=True,
                        text=True,
                    ).stdout
                    rps = re.search(r"Requests per second:\s+([\d.]+)", out)
                    figure = f"{float(rps.group(1)):.0f}/s" if rps else "?"
                    other.append((label, "manifest GETs, 8 clients (ab -k)", figure))
                if shutil.which("skopeo"):
                    if not oci.exists():
                        src = f"docker://{addr}/bench/img:v1"
                        subprocess.run(
                            ["skopeo", "copy", "--src-tls-verify=false", src, f"oci:{oci}:v1"],
                            check=True,
                            capture_output=True,
                        )
                    t = time.perf_counter()
                    dest = f"docker://{addr}/bench/copied:v1"
                    subprocess.run(
                        ["skopeo", "copy", "--dest-tls-verify=false", f"oci:{oci}:v1", dest],
                        check=True,
                        capture_output=True,
                    )
                    other.append(
                        (label, "skopeo copy of busybox into it", f"{(time.perf_counter() - t) * 1000:.0f} ms")
                    )
        finally:
            ours.terminate()
            ours.wait()
            stop_registry(ref)
    print(f"{args.mb} MiB blob, curl to /dev/null")
    for label, clients, mbs, used in rows:
        print(f"{label:18} {clients} client(s)  {mbs:8.0f} MiB/s in all   server CPU {used:5.2f} s")
    for label, what, figure in other:
        print(f"{label:18} {what:36} {figure}")


if __name__ == "__main__":
    main()
