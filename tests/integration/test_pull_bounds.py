"""A hostile registry on 127.0.0.1 (a small HTTP server of the test's own)
cannot make `ketch pull` hold or store more than its descriptors declare:
an endless manifest, a config or a layer longer than declared fail the pull
with one line, the pull's peak RSS stays bounded, the server gets to send
little more than the declared bytes, and nothing is left in the store."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import KETCH, Ketch, requires_root
from imagekit import OCI_MANIFEST, Entry, build, tar_bytes

pytestmark = requires_root

FLOOD = 256 << 20  # what the hostile server tries to send past the declared end
MAX_RSS = 160 << 20  # a pull's peak RSS here is about 60 MiB; reading the flood whole takes > 256
MAX_SENT = 64 << 20  # socket buffers hold a few MiB; the flood is 256


class Hostile(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = mode
        self.sent = 0  # bytes of flood the client accepted
        layer = tar_bytes([Entry("hello", data=b"hello\n")])
        self.image = build([(layer, "plain")])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Hostile

    def log_message(self, *args: object) -> None:
        pass

    def _flood(self, head: bytes, chunked: bool) -> None:
        """`head`, then FLOOD bytes: chunked, or delimited by closing the connection."""
        self.send_response(200)
        if self.path.split("/")[-2] == "manifests":
            self.send_header("Content-Type", OCI_MANIFEST)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        block = b"a" * (1 << 20) if head.startswith(b"{") else bytes(1 << 20)
        try:
            for data in [head] + [block] * (FLOOD >> 20):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                self.server.sent += len(data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def do_GET(self) -> None:
        img, mode = self.server.image, self.server.mode
        if self.path == "/v2/":
            return self._answer(b"{}", "application/json")
        kind, ref = self.path.split("/")[-2:]
        if kind == "manifests":
            if mode == "manifest-close":
                return self._flood(b'{"schemaVersion": 2, "x": "', chunked=False)
            if mode == "manifest-chunked":
                return self._flood(b'{"schemaVersion": 2, "x": "', chunked=True)
            return self._answer(img.manifest, OCI_MANIFEST)
        if kind == "blobs" and ref in img.blobs:
            is_config = ref == json.loads(img.manifest)["config"]["digest"]
            if (mode == "config-longer" and is_config) or (mode == "layer-longer" and not is_config):
                return self._flood(img.blobs[ref], chunked=True)
            return self._answer(img.blobs[ref], "application/octet-stream")
        self.send_error(404)

    def _answer(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[Hostile]:
    srv = Hostile(request.param)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join()


def pull_measured(k: Ketch, name: str, tmp: Path) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in bytes) of `ketch pull name`, the RSS of that process alone."""
    with open(tmp / "out", "wb") as out, open(tmp / "err", "wb") as err:
        p = subprocess.Popen([KETCH, "pull", name], stdout=out, stderr=err, env=k.env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, (tmp / "err").read_text(), usage.ru_maxrss * 1024


@pytest.mark.parametrize(
    "hostile", ["manifest-close", "manifest-chunked", "config-longer", "layer-longer"], indirect=True
)
def test_a_hostile_registry_cannot_flood_the_pull(ketch: Ketch, hostile: Hostile, tmp_path: Path) -> None:
    rc, err, rss = pull_measured(ketch, f"127.0.0.1:{hostile.server_address[1]}/lab/x:latest", tmp_path)
    assert rc == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    want = "is larger than 4194304 bytes" if hostile.mode.startswith("manifest") else "size mismatch"
    assert want in err, err
    assert rss < MAX_RSS, f"peak RSS {rss >> 20} MiB"
    assert hostile.sent < MAX_SENT, f"the registry sent {hostile.sent >> 20} MiB"
    assert list((ketch.root / "content/ingest").iterdir()) == []
    assert list((ketch.root / "layers").iterdir()) == []
    assert list((ketch.root / "content/blobs/sha256").iterdir()) == []
    assert ketch("images", "-q").out == ""


@pytest.mark.parametrize("hostile", ["none"], indirect=True)
def test_the_same_server_honest_is_pulled(ketch: Ketch, hostile: Hostile, tmp_path: Path) -> None:
    """The control: without the lie, the same image pulls."""
    rc, err, _ = pull_measured(ketch, f"127.0.0.1:{hostile.server_address[1]}/lab/x:latest", tmp_path)
    assert rc == 0, err
    assert ketch("images", "-q").out.split() == [hostile.image.id[7:19]]
