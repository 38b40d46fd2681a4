"""Registries on 127.0.0.1 for a test to push to and pull from: Debian's
docker-registry (the reference distribution implementation), and ketch's own
`ketch registry serve`."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.imagekit import Registry
from support.ketch import KETCH
from support.net import free_port, wait_port

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"


@dataclass
class RunningRegistry:
    addr: str  # host:port
    client: Registry
    proc: subprocess.Popen[bytes]


def start_registry(tmp: Path, extra_config: str = "", creds: tuple[str, str] | None = None) -> RunningRegistry:
    """Debian's docker-registry serving from `tmp`, once it answers (`extra_config`: YAML appended to its config)."""
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    cfg = tmp / "config.yml"
    cfg.write_text(
        f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {tmp / "data"}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{extra_config}
"""
    )
    log = open(tmp / "registry.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=log, stderr=log, start_new_session=True)
    addr = f"127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://{addr}/v2/", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # 401 under auth: it is up
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((tmp / "registry.log").read_text()) from None
            time.sleep(0.1)
    return RunningRegistry(addr, Registry(f"http://{addr}", creds), proc)


def start_basic_registry(tmp: Path, user: str, password: str) -> RunningRegistry:
    """docker-registry behind basic auth (htpasswd) for `user`, holding lab/busybox:latest."""
    from support.imagekit import build, busybox_entries, tar_bytes

    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd is not installed (apt-get install apache2-utils)")
    hp = tmp / "htpasswd"
    hp.write_text(
        subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True).stdout
    )
    reg = start_registry(tmp, f"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {hp}\n", creds=(user, password))
    reg.client.push("lab/busybox", "latest", build([(tar_bytes(busybox_entries()), "gzip")]))
    return reg


def stop_registry(r: RunningRegistry) -> None:
    r.proc.send_signal(signal.SIGTERM)
    try:
        r.proc.wait(10)
    except subprocess.TimeoutExpired:
        r.proc.kill()
        r.proc.wait()


@dataclass
class Served:
    """A `ketch registry serve` and the store it serves from."""

    addr: str
    root: Path
    proc: subprocess.Popen[bytes]

    def req(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request; (status, headers with lower-case names, body)."""
        host, port = self.addr.split(":")
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def serve_ketch(root: Path, *flags: str, addr: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`ketch registry serve --root root *flags` on `addr` (a free port if
    none), once it listens; the process and its host:port."""
    addr = addr or f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([KETCH, "registry", "serve", "--addr", addr, "--root", str(root), *flags])
    wait_port(int(addr.rsplit(":", 1)[1]))
    return proc, addr


def stop_served(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
