"""`ketch system service` on a socket of the test's own, over the test's
store (the `ketch` fixture's), for docker's clients to drive: the static
docker CLI 28 at /usr/local/bin/docker, Debian's docker.io client, docker-py.
Never /run/docker.sock."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.ketch import KETCH, Ketch, Result

DOCKER28 = "/usr/local/bin/docker"
DOCKER20 = "/usr/bin/docker"  # Debian's docker.io client (its dockerd is never started here)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


@dataclass
class Engine:
    """A running service: its socket, its process, and the store's `ketch`."""

    socket: str
    proc: subprocess.Popen[bytes]
    ketch: Ketch
    log: Path

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        e["DOCKER_HOST"] = self.host
        e["DOCKER_CONFIG"] = str(self.ketch.root.parent / "docker-config")  # not the host's ~/.docker
        return e

    def docker(
        self, *args: str, client: str = DOCKER28, input: str | None = None, timeout: float = 120, **env: str
    ) -> Result:
        """docker's CLI against the service: (rc, out, err)."""
        if not os.path.exists(client):
            pytest.skip(f"{client} is not installed")
        p = subprocess.run(
            [client, *args], capture_output=True, text=True, input=input, env={**self.env(), **env}, timeout=timeout
        )
        return Result(p.returncode, p.stdout, p.stderr)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> tuple[int, dict[str, str], bytes]:
        """One raw request: (status, headers with lower-case names, body)."""
        c = UnixHTTP(self.socket, timeout)
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        h = {"Content-Type": "application/json", **(headers or {})} if isinstance(body, (dict, list)) else headers or {}
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        out = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, out

    def get_json(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, (status, body)
        return json.loads(body)


def start_engine(k: Ketch, *flags: str) -> Engine:
    sock = str(k.root.parent / "api" / "docker.sock")
    log = k.root.parent / "service.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [KETCH, "system", "service", "--socket", sock, *flags],
            stdout=f,
            stderr=f,
            env=k.env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(sock):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                s.close()
                break
            except OSError:
                pass
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited: {log.read_text()}")
        time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError(f"the service did not listen: {log.read_text()}")
    return Engine(sock, proc, k, log)


def stop_engine(e: Engine) -> None:
    if e.proc.poll() is None:
        e.proc.send_signal(signal.SIGTERM)
        try:
            e.proc.wait(10)
        except subprocess.TimeoutExpired:
            e.proc.kill()
            e.proc.wait()


def have_docker_py() -> bool:
    try:
        import docker  # noqa: F401
    except ImportError:
        return False
    return True


def which_client(path: str) -> bool:
    return os.path.exists(path) or shutil.which(os.path.basename(path)) is not None
