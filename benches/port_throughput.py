"""Throughput of a published port: N MB sent from the host to 127.0.0.1 and
to a host address, through `ketch run -p` (kernel DNAT) and through
`docker run -p` (docker-proxy on loopback), to a busybox `nc` sink in the
container, in one run.

    .venv/bin/python benches/port_throughput.py [--mb 1024]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.imagekit import busybox_entries, tar_bytes  # noqa: E402

KETCH = str(Path(sys.executable).parent / "ketch")


def send(host: str, port: int, mb: int) -> float:
    """Seconds to push `mb` MiB through a fresh TCP connection (after it connects)."""
    chunk = b"\0" * (1 << 20)
    for _ in range(100):
        try:
            s = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            time.sleep(0.05)
    else:
        raise RuntimeError(f"cannot connect to {host}:{port}")
    t = time.perf_counter()
    for _ in range(mb):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # the sink closes when it has read everything
    s.close()
    return time.perf_counter() - t


def host_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        if not line.split()[1].startswith(("ketch", "docker", "kt")):
            return addr
    return "127.0.0.1"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    args = ap.parse_args()
    results: dict[str, float] = {}
    addr = host_address()
    with tempfile.TemporaryDirectory(prefix="ketch-bench-port-") as tmp:
        tmpd = Path(tmp)
        env = {**os.environ, "KETCH_ROOT": str(tmpd / "store"), "KETCH_RUN_ROOT": str(tmpd / "run")}
        rootfs = tmpd / "bb.tar"
        rootfs.write_bytes(tar_bytes(busybox_entries()))
        subprocess.run([KETCH, "import", str(rootfs), "bench/busybox:latest"], check=True, env=env, capture_output=True)
        try:
            for label, target in (("127.0.0.1", "127.0.0.1"), ("host address", addr)):
                cid = subprocess.run(
                    [KETCH, "run", "-d", "-p", "5000", "bench/busybox:latest", "sh", "-c", "nc -l -p 5000 > /dev/null"],
                    check=True, env=env, capture_output=True, text=True,
                ).stdout.strip()  # fmt: skip
                port = int(
                    subprocess.run([KETCH, "port", cid, "5000"], env=env, capture_output=True, text=True).stdout.rsplit(
                        ":", 1
                    )[1]
                )
                results[f"ketch -p, to {label}"] = send(target, port, args.mb)
                subprocess.run([KETCH, "rm", "-f", cid], env=env, capture_output=True)
            archive = tmpd / "img.tar"
            subprocess.run([KETCH, "save", "-o", str(archive), "bench/busybox:latest"], check=True, env=env)
            if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
                subprocess.run(["docker", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
                for label, target in (("127.0.0.1", "127.0.0.1"), ("host address", addr)):
                    sink = ["sh", "-c", "nc -l -p 5000 > /dev/null"]
                    cid = subprocess.run(
                        ["docker", "run", "-d", "-p", "5000", "bench/busybox:latest", *sink],
                        check=True, capture_output=True, text=True,
                    ).stdout.strip()  # fmt: skip
                    port = int(
                        subprocess.run(["docker", "port", cid, "5000"], capture_output=True, text=True)
                        .stdout.splitlines()[0]
                        .rsplit(":", 1)[1]
                    )
                    results[f"docker -p, to {label}"] = send(target, port, args.mb)
                    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
                subprocess.run(["docker", "rmi", "-f", "bench/busybox:latest"], capture_output=True)
            else:
                print("docker: skipped, no dockerd answers")
        finally:
            teardown = "from ketch.store import Store\nfrom ketch.network.networks import teardown\nteardown(Store())\n"
            subprocess.run([sys.executable, "-c", teardown], env=env, check=False)
    for k, v in results.items():
        print(f"{k:32} {args.mb / v:8.0f} MiB/s  ({v:.2f} s for {args.mb} MiB)")


if __name__ == "__main__":
    main()
