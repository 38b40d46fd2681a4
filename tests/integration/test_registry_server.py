"""`ketch registry serve`: the OCI distribution API against real HTTP
requests, and ketch's own push and pull through it."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Ketch, requires_root
from imagekit import Registry, build, busybox_entries, tar_bytes

KETCH = str(Path(sys.executable).parent / "ketch")


@dataclass
class Served:
    addr: str
    root: Path
    proc: subprocess.Popen[bytes]

    def req(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        host, port = self.addr.split(":")
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "registry"
    proc = subprocess.Popen([KETCH, "registry", "serve", "--addr", f"127.0.0.1:{port}", "--root", str(root)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield Served(f"127.0.0.1:{port}", root, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def codes(body: bytes) -> list[str]:
    return [e["code"] for e in json.loads(body)["errors"]]


def test_base_and_errors(served: Served) -> None:
    status, h, _ = served.req("GET", "/v2/")
    assert status == 200 and h["docker-distribution-api-version"] == "registry/2.0"
    status, _, body = served.req("GET", "/v2/Bad_Name/tags/list")
    assert status == 400 and codes(body) == ["NAME_INVALID"]
    status, _, body = served.req("GET", "/v2/lab/none/manifests/latest")
    assert status == 404 and codes(body) == ["MANIFEST_UNKNOWN"]
    status, _, body = served.req("GET", f"/v2/lab/none/blobs/{sha(b'x')}")
    assert status == 404 and codes(body) == ["BLOB_UNKNOWN"]
    status, _, body = served.req("GET", "/v2/lab/none/tags/list")
    assert status == 404 and codes(body) == ["NAME_UNKNOWN"]


def test_uploads_monolithic_chunked_and_verified(served: Served) -> None:
    data = os.urandom(300_000)
    d = sha(data)
    # single POST with the digest
    status, h, _ = served.req("POST", f"/v2/lab/a/blobs/uploads/?digest={d}", data)
    assert status == 201 and h["docker-content-digest"] == d
    status, h, body = served.req("GET", f"/v2/lab/a/blobs/{d}")
    assert status == 200 and body == data
    # ranges
    status, h, body = served.req("GET", f"/v2/lab/a/blobs/{d}", headers={"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20] and h["content-range"] == f"bytes 10-19/{len(data)}"
    # chunked: two PATCHes in order, an out-of-order one refused, then PUT
    status, h, _ = served.req("POST", "/v2/lab/b/blobs/uploads/")
    assert status == 202
    loc = h["location"]
    status, h, _ = served.req("PATCH", loc, data[:100_000], {"Content-Range": "0-99999"})
    assert status == 202 and h["range"] == "0-99999"
    status, _, body = served.req("PATCH", loc, data[200_000:], {"Content-Range": "200000-299999"})
    assert status == 416
    status, h, _ = served.req("GET", loc)
    assert status == 204 and h["range"] == "0-99999"
    status, _, _ = served.req("PATCH", loc, data[100_000:200_000], {"Content-Range": "100000-199999"})
    assert status == 202
    status, h, _ = served.req("PUT", f"{loc}?digest={d}", data[200_000:])
    assert status == 201
    assert served.req("HEAD", f"/v2/lab/b/blobs/{d}")[0] == 200
    # a wrong digest: refused, and nothing becomes visible
    status, h, _ = served.req("POST", "/v2/lab/c/blobs/uploads/")
    status, _, body = served.req("PUT", f"{h['location']}?digest={sha(b'other')}", data)
    assert status == 400 and codes(body) == ["DIGEST_INVALID"]
    assert served.req("HEAD", f"/v2/lab/c/blobs/{sha(b'other')}")[0] == 404
    assert served.req("HEAD", f"/v2/lab/c/blobs/{d}")[0] == 404  # not linked to lab/c
    # cross-repository mount
    status, h, _ = served.req("POST", f"/v2/lab/c/blobs/uploads/?mount={d}&from=lab/a")
    assert status == 201 and served.req("HEAD", f"/v2/lab/c/blobs/{d}")[0] == 200


def test_manifests_tags_catalog_referrers_and_deletes(served: Served) -> None:
    client = Registry(f"http://{served.addr}")
    img = build([(tar_bytes(busybox_entries()), "gzip")])
    # a manifest whose blobs are missing is refused
    status, _, body = served.req("PUT", "/v2/lab/app/manifests/v0", img.manifest, {"Content-Type": img.media_type})
    assert status == 400 and codes(body) == ["MANIFEST_BLOB_UNKNOWN"]
    for t in ("v1", "v2", "v3", "latest"):
        client.push("lab/app", t, img)
    status, h, body = served.req("GET", "/v2/lab/app/manifests/v2", headers={"Accept": img.media_type})
    assert status == 200 and body == img.manifest and h["docker-content-digest"] == img.digest
    assert h["content-type"] == img.media_type
    status, h, body = served.req("GET", "/v2/lab/app/tags/list?n=2")
    assert json.loads(body) == {"name": "lab/app", "tags": ["latest", "v1"]}
    assert h["link"] == '</v2/lab/app/tags/list?n=2&last=v1>; rel="next"'
    status, h, body = served.req("GET", "/v2/lab/app/tags/list?n=2&last=v1")
    assert json.loads(body)["tags"] == ["v2", "v3"] and "link" not in h
    client.push("lab/other", "x", img)
    assert json.loads(served.req("GET", "/v2/_catalog")[2]) == {"repositories": ["lab/app", "lab/other"]}
    # referrers: an artifact whose subject is the image
    blob = b"signature"
    served.req("POST", f"/v2/lab/app/blobs/uploads/?digest={sha(blob)}", blob)
    empty = b"{}"
    served.req("POST", f"/v2/lab/app/blobs/uploads/?digest={sha(empty)}", empty)
    art = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(empty), "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": sha(blob), "size": len(blob)}],
            "subject": {"mediaType": img.media_type, "digest": img.digest, "size": len(img.manifest)},
        }
    ).encode()
    status, h, _ = served.req(
        "PUT", f"/v2/lab/app/manifests/{sha(art)}", art, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    )
    assert status == 201 and h["oci-subject"] == img.digest
    idx = json.loads(served.req("GET", f"/v2/lab/app/referrers/{img.digest}")[2])
    assert [m["digest"] for m in idx["manifests"]] == [sha(art)]
    status, h, body = served.req("GET", f"/v2/lab/app/referrers/{img.digest}?artifactType=application/other")
    assert json.loads(body)["manifests"] == [] and h["oci-filters-applied"] == "artifactType"
    # deletes: a tag, then the manifest
    assert served.req("DELETE", "/v2/lab/app/manifests/v3")[0] == 202
    assert served.req("GET", "/v2/lab/app/manifests/v3")[0] == 404
    assert served.req("DELETE", f"/v2/lab/app/manifests/{img.digest}")[0] == 202
    assert served.req("GET", f"/v2/lab/app/manifests/{img.digest}")[0] == 404
    assert json.loads(served.req("GET", "/v2/lab/app/tags/list")[2])["tags"] == []


def test_kill_mid_upload_leaves_nothing_visible(served: Served) -> None:
    data = os.urandom(1 << 20)
    host, port = served.addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.putrequest("POST", f"/v2/lab/k/blobs/uploads/?digest={sha(data)}")
    c.putheader("Content-Length", str(len(data)))
    c.endheaders()
    c.send(data[:1000])
    served.proc.kill()
    served.proc.wait()
    c.close()
    restarted = subprocess.Popen([KETCH, "registry", "serve", "--addr", served.addr, "--root", str(served.root)])
    served.proc = restarted
    for _ in range(100):
        try:
            socket.create_connection((host, int(port)), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    assert served.req("HEAD", f"/v2/lab/k/blobs/{sha(data)}")[0] == 404
    assert list((served.root / "blobs" / "sha256").iterdir()) == []


@requires_root
def test_ketch_push_and_pull_through_it(served: Served, ketch: Ketch, tmp_path: Path) -> None:
    tar = tmp_path / "bb.tar"
    tar.write_bytes(tar_bytes(busybox_entries()))
    ketch("import", str(tar), "base", check=True)
    name = f"{served.addr}/lab/bb:v1"
    ketch("tag", "base", name, check=True)
    r = ketch("push", name)
    assert r.rc == 0 and "Pushed" in r.out, r.err
    ketch("tag", "base", f"{served.addr}/team/bb:v2", check=True)
    assert "Mounted from lab/bb" in ketch("push", f"{served.addr}/team/bb:v2").out
    k2 = Ketch(tmp_path / "s2", tmp_path / "r2")
    assert k2("pull", name).rc == 0
    assert k2("run", "--rm", name, "echo", "via ketch's registry").out == "via ketch's registry\n"
