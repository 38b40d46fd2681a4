"""`ketch registry serve`: the OCI distribution API against real HTTP
requests, and ketch's own push and pull through it."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.imagekit import Registry, build, busybox_entries, tar_bytes
from support.ketch import KETCH, Ketch, requires_root
from support.registry import Served, serve_ketch, stop_served


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    proc, addr = serve_ketch(tmp_path / "registry")
    s = Served(addr, tmp_path / "registry", proc)
    try:
        yield s
    finally:
        for p in {proc, s.proc}:  # a test may have restarted it
            stop_served(p)


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
    served.proc, _ = serve_ketch(served.root, addr=served.addr)
    assert served.req("HEAD", f"/v2/lab/k/blobs/{sha(data)}")[0] == 404
    assert list((served.root / "blobs" / "sha256").iterdir()) == []


@requires_root
def test_ketch_push_and_pull_through_it(served: Served, ketch: Ketch, tmp_path: Path) -> None:
    ketch.import_busybox("base")
    name = f"{served.addr}/lab/bb:v1"
    ketch("tag", "base", name, check=True)
    r = ketch("push", name)
    assert r.rc == 0 and "Pushed" in r.out, r.err
    ketch("tag", "base", f"{served.addr}/team/bb:v2", check=True)
    assert "Mounted from lab/bb" in ketch("push", f"{served.addr}/team/bb:v2").out
    k2 = Ketch(tmp_path / "s2", tmp_path / "r2")
    assert k2("pull", name).rc == 0
    assert k2("run", "--rm", name, "echo", "via ketch's registry").out == "via ketch's registry\n"


def test_search_with_operator_metadata(served: Served, ketch: Ketch) -> None:
    client = Registry(f"http://{served.addr}")
    img = build([(tar_bytes(busybox_entries()), "gzip")])
    for repo in ("lab/busybox", "team/busyboxplus", "lab/nginx"):
        client.push(repo, "latest", img)
    ketch("registry", "describe", "--root", str(served.root), "lab/busybox", "--description", "Busybox base image.",
          "--stars", "316", "--official", check=True)  # fmt: skip
    ketch("registry", "describe", "--root", str(served.root), "lab/nginx", "--description",
          "Official build of Nginx, a web server that also uses busybox tooling in this test", check=True)  # fmt: skip
    status, _, body = served.req("GET", "/v1/search?q=busybox&n=2")
    doc = json.loads(body)
    assert (doc["num_results"], doc["num_pages"], doc["page_size"], doc["query"]) == (3, 2, 2, "busybox")
    assert doc["results"][0] == {
        "name": "lab/busybox", "description": "Busybox base image.", "star_count": 316, "is_official": True,
        "is_automated": False,
    }  # fmt: skip
    r = ketch(
        "search",
        "--filter",
        "stars=100",
        "--format",
        "{{.Name}}\t{{.StarCount}}\t{{.IsOfficial}}",
        f"{served.addr}/busybox",
    )
    assert r.out == "lab/busybox\t316\ttrue\n", r.out + r.err
    r = ketch("search", "-f", "is-official=false", "--format", "{{.Name}}", f"{served.addr}/busybox")
    assert r.out.split() == ["lab/nginx", "team/busyboxplus"]
    r = ketch("search", f"{served.addr}/busybox")
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"], r.err
    assert lines[1].startswith("lab/busybox") and "316" in lines[1] and "[OK]" in lines[1]
    assert "Official build of Nginx, a web server that..." in r.out  # docker's truncation at 45
    assert len(ketch("search", "--limit", "1", f"{served.addr}/busybox").out.splitlines()) == 2


def test_htpasswd_login_logout_and_push(ketch: Ketch, tmp_path: Path) -> None:
    import shutil

    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd (apache2-utils) is needed to make a bcrypt password file")
    pw = tmp_path / "htpasswd"
    pw.write_text(
        subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True, check=True).stdout
    )
    proc, addr = serve_ketch(tmp_path / "reg", "--htpasswd", str(pw))
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    try:
        r = ketch("login", addr, "-u", "alice", "-p", "wrong", env=env)
        assert r.rc == 1 and f"login attempt to http://{addr}/v2/ failed with status: 401 Unauthorized" in r.err
        assert "WARNING! Using --password via the CLI is insecure" in r.err
        r = ketch("login", addr, "-u", "alice", "--password-stdin", input="s3cret\n", env=env)
        assert r.rc == 0 and r.out.strip() == "Login Succeeded", r.err
        cfg = json.loads((tmp_path / "docker-config" / "config.json").read_text())
        assert cfg == {"auths": {addr: {"auth": "YWxpY2U6czNjcmV0"}}}
        ketch.import_busybox(f"{addr}/lab/private:v1")
        r = ketch("push", f"{addr}/lab/private:v1", env=env)
        assert r.rc == 0 and "Pushed" in r.out, r.err
        assert ketch("logout", addr, env=env).out == f"Removing login credentials for {addr}\n"
        r = ketch("push", f"{addr}/lab/private:v1", env=env)
        assert r.rc == 1 and "no basic auth credentials" in r.err
        assert ketch("logout", addr, env=env).out == f"Not logged in to {addr}\n"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_tls(tmp_path: Path) -> None:
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    proc, addr = serve_ketch(
        tmp_path / "reg", "--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem")
    )
    try:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
        ctx.check_hostname = False
        host, port = addr.split(":")
        c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=5)
        c.request("GET", "/v2/")
        r = c.getresponse()
        assert r.status == 200 and r.getheader("Docker-Distribution-API-Version") == "registry/2.0"
        c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_gc_removes_what_no_manifest_references(served: Served, ketch: Ketch) -> None:
    client = Registry(f"http://{served.addr}")
    a = build([(tar_bytes(busybox_entries()), "gzip")], cmd=["a"])
    b = build([(tar_bytes(busybox_entries()[:3]), "gzip")], cmd=["b"])
    client.push("lab/a", "v", a)
    client.push("lab/b", "v", b)
    stray = b"never referenced"
    served.req("POST", f"/v2/lab/a/blobs/uploads/?digest={sha(stray)}", stray)
    assert served.req("DELETE", f"/v2/lab/b/manifests/{b.digest}")[0] == 202
    r = ketch("registry", "gc", "--root", str(served.root))
    assert r.rc == 0, r.err
    left = {f"sha256:{p.name}" for p in (served.root / "blobs" / "sha256").iterdir()}
    assert left == set(a.blobs) | {a.digest}
    assert served.req("GET", "/v2/lab/a/manifests/v")[0] == 200


def test_token_flow_and_private_repositories(ketch: Ketch, tmp_path: Path) -> None:
    """Docker Hub's flow against ketch's own token endpoint: anonymous pulls
    of a public repository, a private one invisible to others."""
    import shutil

    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd (apache2-utils) is needed to make a bcrypt password file")
    pw = tmp_path / "htpasswd"
    lines = [
        subprocess.run(["htpasswd", "-Bbn", u, p], capture_output=True, text=True, check=True).stdout.strip()
        for u, p in (("alice", "s3cret"), ("bob", "hunter2"))
    ]
    pw.write_text("\n".join(lines) + "\n")
    rules = tmp_path / "access.json"
    rules.write_text(json.dumps({"repositories": {
        "alice/*": {"pull": ["alice"], "push": ["alice"]},
        "pub/*": {"pull": ["*"], "push": ["alice"]},
    }}))  # fmt: skip
    proc, addr = serve_ketch(tmp_path / "reg", "--htpasswd", str(pw), "--auth", "token", "--access", str(rules))
    alice = {"DOCKER_CONFIG": str(tmp_path / "alice")}
    bob = {"DOCKER_CONFIG": str(tmp_path / "bob")}
    nobody = {"DOCKER_CONFIG": str(tmp_path / "nobody")}
    try:
        c = http.client.HTTPConnection(*addr.split(":"))
        c.request("GET", "/v2/alice/secret/tags/list")
        resp = c.getresponse()
        resp.read()
        assert resp.status == 401
        assert resp.getheader("WWW-Authenticate") == (
            f'Bearer realm="http://{addr}/token",service="ketch-registry",scope="repository:alice/secret:pull"'
        )
        assert ketch("login", addr, "-u", "alice", "--password-stdin", input="s3cret\n", env=alice).rc == 0
        assert ketch("login", addr, "-u", "bob", "--password-stdin", input="hunter2\n", env=bob).rc == 0
        ketch.import_busybox(f"{addr}/alice/secret:v1")
        ketch("tag", f"{addr}/alice/secret:v1", f"{addr}/pub/shared:v1", check=True)
        assert ketch("push", f"{addr}/alice/secret:v1", env=alice).rc == 0
        r = ketch("push", f"{addr}/pub/shared:v1", env=alice)
        assert r.rc == 0, r.err
        r = ketch("push", f"{addr}/pub/shared:v1", env=bob)  # bob may read pub/*, not write it
        assert r.rc != 0
        # anonymous: the public one pulls, the private one does not exist for them
        k2 = Ketch(tmp_path / "s2", tmp_path / "r2")
        assert k2("pull", f"{addr}/pub/shared:v1", env=nobody).rc == 0
        r = k2("pull", f"{addr}/alice/secret:v1", env=bob)
        assert r.rc != 0
        assert k2("pull", f"{addr}/alice/secret:v1", env=alice).rc == 0
        # a forged or expired token is worth nothing
        c = http.client.HTTPConnection(*addr.split(":"))
        c.request("GET", "/v2/alice/secret/tags/list", headers={"Authorization": "Bearer e30.e30.AAAA"})
        resp = c.getresponse()
        resp.read()
        assert resp.status == 401
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@requires_root
def test_big_layers_go_up_chunked_and_in_parallel(served: Served, ketch: Ketch, tmp_path: Path) -> None:
    import tarfile

    big = tmp_path / "big"
    big.mkdir()
    (big / "blob").write_bytes(os.urandom(40 << 20))  # above two 16 MiB chunks
    tar = tmp_path / "big.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(big / "blob", "data/blob")
    ketch("import", str(tar), f"{served.addr}/lab/big:v1", check=True)
    r = ketch("push", f"{served.addr}/lab/big:v1")
    assert r.rc == 0 and "Pushed" in r.out, r.err
    k2 = Ketch(tmp_path / "s2", tmp_path / "r2")
    assert k2("pull", f"{served.addr}/lab/big:v1").rc == 0
    layer = next((Path(k2.root) / "layers").glob("*/diff/data/blob"))
    assert layer.read_bytes() == (big / "blob").read_bytes()


def test_hostile_requests_store_nothing(served: Served) -> None:
    for path in ("/v2/../../etc/tags/list", "/v2/lab/UPPER/tags/list", "/v2/lab//x/tags/list"):
        status, _, _ = served.req("GET", path)
        assert status in (400, 404), path
    # An oversized manifest is refused before its body is read (a client
    # still sending it may see the connection close: ask as docker does, with
    # Expect: 100-continue, so the answer comes first).
    head = (
        "PUT /v2/lab/m/manifests/v1 HTTP/1.1\r\n"
        f"Host: {served.addr}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
        f"Content-Length: {(5 << 20) + 2}\r\nExpect: 100-continue\r\n\r\n"
    )
    got = _raw(served.addr, head.encode())
    assert got.startswith(b"HTTP/1.1 413") and b"SIZE_INVALID" in got, got[:200]
    status, _, body = served.req(
        "PUT", "/v2/lab/m/manifests/v1", b"not json", {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    )
    assert status == 400 and codes(body) == ["MANIFEST_INVALID"]
    status, _, body = served.req("PUT", "/v2/lab/m/manifests/v1", b"{}", {"Content-Type": "text/plain"})
    assert status == 400 and codes(body) == ["MANIFEST_INVALID"]
    status, _, body = served.req("PUT", f"/v2/lab/m/blobs/uploads/{'0' * 32}?digest={sha(b'x')}", b"x")
    assert status == 404 and codes(body) == ["BLOB_UPLOAD_UNKNOWN"]
    status, _, body = served.req("PUT", "/v2/lab/m/blobs/uploads/..%2F..%2Fx?digest=sha256:00", b"x")
    assert status in (400, 404)
    assert list((served.root / "blobs" / "sha256").iterdir()) == []
    assert not (served.root / "repositories" / "lab" / "m" / "_manifests").exists()


def test_skopeo_and_podman_against_it(served: Served, tmp_path: Path) -> None:
    import shutil

    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    client = Registry(f"http://{served.addr}")
    img = build([(tar_bytes(busybox_entries()), "gzip")])
    client.push("lab/src", "v1", img)
    oci = tmp_path / "oci"
    r = subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{served.addr}/lab/src:v1", f"oci:{oci}:v1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", f"oci:{oci}:v1", f"docker://{served.addr}/lab/back:v2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    status, h, _ = served.req("HEAD", "/v2/lab/back/manifests/v2", headers={"Accept": img.media_type})
    assert status == 200
    if shutil.which("podman"):
        name = f"{served.addr}/lab/back:v2"
        try:
            r = subprocess.run(["podman", "pull", "-q", "--tls-verify=false", name], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            r = subprocess.run(
                ["podman", "push", "--tls-verify=false", name, f"{served.addr}/lab/frompodman:v3"],
                capture_output=True,
                text=True,
            )
            assert r.returncode == 0, r.stderr
            assert served.req("GET", "/v2/lab/frompodman/tags/list")[0] == 200
        finally:
            subprocess.run(["podman", "rmi", "-f", name], capture_output=True)


def test_abandoned_uploads_expire(tmp_path: Path) -> None:
    proc, addr = serve_ketch(tmp_path / "reg", "--upload-ttl", "1")
    try:
        s = Served(addr, tmp_path / "reg", proc)
        status, h, _ = s.req("POST", "/v2/lab/slow/blobs/uploads/")
        assert status == 202
        loc = h["location"]
        assert s.req("PATCH", loc, b"part", {"Content-Range": "0-3"})[0] == 202
        time.sleep(2.5)
        status, _, body = s.req("GET", loc)
        assert status == 404 and codes(body) == ["BLOB_UPLOAD_UNKNOWN"]
        assert list((tmp_path / "reg" / "_uploads").iterdir()) == []
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def _dockerd() -> bool:
    import shutil

    return bool(shutil.which("docker")) and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _dockerd(), reason="no dockerd answers here (apt-get install docker.io, then start dockerd)")
def test_docker_pushes_to_and_pulls_from_it(served: Served, tmp_path: Path) -> None:
    """docker treats 127.0.0.1 registries as insecure by default, so plain http works."""
    client = Registry(f"http://{served.addr}")
    client.push(
        "lab/fordocker", "v1", build([(tar_bytes(busybox_entries()), "gzip")], cmd=["echo", "from-ketch-registry"])
    )
    name = f"{served.addr}/lab/fordocker:v1"
    again = f"{served.addr}/lab/fromdocker:v2"
    try:
        r = subprocess.run(["docker", "pull", name], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["docker", "run", "--rm", "--net=none", name], capture_output=True, text=True)
        assert r.stdout == "from-ketch-registry\n", r.stderr
        subprocess.run(["docker", "tag", name, again], check=True)
        r = subprocess.run(["docker", "push", again], capture_output=True, text=True)
        assert r.returncode == 0 and "v2: digest: sha256:" in r.stdout, r.stderr
        assert served.req("GET", "/v2/lab/fromdocker/tags/list")[0] == 200
    finally:
        subprocess.run(["docker", "rmi", "-f", name, again], capture_output=True)


def test_rate_limit_answers_toomanyrequests(tmp_path: Path) -> None:
    proc, addr = serve_ketch(tmp_path / "reg", "--rate", "5")
    try:
        s = Served(addr, tmp_path / "reg", proc)
        answers = [s.req("GET", "/v2/") for _ in range(20)]
        assert answers[0][0] == 200
        limited = [a for a in answers if a[0] == 429]
        assert limited and codes(limited[0][2]) == ["TOOMANYREQUESTS"] and limited[0][1]["retry-after"] == "1"
        time.sleep(1.2)
        assert s.req("GET", "/v2/")[0] == 200  # the bucket refills
    finally:
        proc.terminate()
        proc.wait(timeout=5)


# -- issue 10: the server against hostile clients ------------------------------------


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _htpasswd(path: Path, users: dict[str, str], cost: int = 4) -> Path:
    import bcrypt

    path.write_text(
        "".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(cost)).decode()}\n" for u, p in users.items())
    )
    return path


def _basic(user: str, pw: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def _raw(addr: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends `data` as is; what comes back until the server closes, it goes quiet, or 64 KiB arrived."""
    host, port = addr.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        try:
            while len(got) < 65536:
                part = s.recv(65536)
                if not part:
                    break
                got += part
                if b"\r\n\r\n" in got and not got.startswith(b"HTTP/1.1 100"):
                    head, _, rest = got.partition(b"\r\n\r\n")
                    n = [
                        int(v)
                        for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                        if k.lower() == b"content-length"
                    ]
                    if n and len(rest) >= n[0]:
                        break
        except TimeoutError:
            pass
    return got


def _status(answer: bytes) -> int:
    line = answer.split(b"\r\n", 1)[0].split(b" ")
    assert len(line) >= 2 and line[0] == b"HTTP/1.1", f"no HTTP answer: {answer[:200]!r}"
    return int(line[1])


def _vm(pid: int, field: str) -> int:
    """A /proc/PID/status figure (VmRSS, VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_mount_needs_pull_on_the_source(tmp_path: Path, mode: str) -> None:
    """bob may use only bob/*: a mount from alice's private repository opens a
    plain upload (202, the same answer as for a digest alice does not have),
    and the blob stays unreadable from bob/own."""
    pw = _htpasswd(tmp_path / "htpasswd", {"alice": "a-pw", "bob": "b-pw"})
    rules = tmp_path / "access.json"
    rules.write_text(json.dumps({"repositories": {
        "alice/*": {"pull": ["alice"], "push": ["alice"]},
        "bob/*": {"pull": ["bob"], "push": ["bob"]},
    }}))  # fmt: skip
    proc, addr = serve_ketch(tmp_path / "reg", "--htpasswd", str(pw), "--auth", mode, "--access", str(rules))
    s = Served(addr, tmp_path / "reg", proc)

    def creds(user: str, pw: str, *scopes: str) -> dict[str, str]:
        if mode == "basic":
            return _basic(user, pw)
        q = urllib.parse.urlencode({"service": "ketch-registry", "scope": " ".join(scopes)})
        status, _, body = s.req("GET", f"/token?{q}", headers=_basic(user, pw))
        assert status == 200, body
        return {"Authorization": f"Bearer {json.loads(body)['token']}"}

    try:
        secret = os.urandom(1000)
        d = sha(secret)
        alice = creds("alice", "a-pw", "repository:alice/secret:pull,push")
        assert s.req("POST", f"/v2/alice/secret/blobs/uploads/?digest={d}", secret, alice)[0] == 201
        bob = creds(
            "bob", "b-pw", "repository:bob/own:pull,push", "repository:alice/secret:pull", "repository:bob/src:push"
        )
        status, h, _ = s.req("POST", f"/v2/bob/own/blobs/uploads/?mount={d}&from=alice/secret", None, bob)
        assert status == 202 and "/v2/bob/own/blobs/uploads/" in h["location"]
        assert s.req("HEAD", f"/v2/bob/own/blobs/{d}", None, bob)[0] == 404
        status, _, body = s.req("GET", f"/v2/bob/own/blobs/{d}", None, bob)
        assert status == 404 and secret not in body
        assert not (tmp_path / "reg" / "repositories" / "bob" / "own" / "_layers" / d).exists()
        # the same answer when alice/secret does not hold the digest: nothing learnt
        status, _, _ = s.req("POST", f"/v2/bob/own/blobs/uploads/?mount={sha(b'none')}&from=alice/secret", None, bob)
        assert status == 202
        # who may pull the source mounts (201), within bob's own repositories and alice's
        mine = os.urandom(500)
        assert s.req("POST", f"/v2/bob/src/blobs/uploads/?digest={sha(mine)}", mine, bob)[0] == 201
        bob2 = creds("bob", "b-pw", "repository:bob/own:pull,push", "repository:bob/src:pull")
        assert s.req("POST", f"/v2/bob/own/blobs/uploads/?mount={sha(mine)}&from=bob/src", None, bob2)[0] == 201
        assert s.req("GET", f"/v2/bob/own/blobs/{sha(mine)}", None, bob2)[2] == mine
        alice2 = creds("alice", "a-pw", "repository:alice/copy:pull,push", "repository:alice/secret:pull")
        assert s.req("POST", f"/v2/alice/copy/blobs/uploads/?mount={d}&from=alice/secret", None, alice2)[0] == 201
    finally:
        _stop(proc)


def test_auth_is_answered_before_the_body(tmp_path: Path) -> None:
    """An anonymous 600 MiB upload to a registry with users: 401 at once,
    without reading the body; the server's memory does not grow with it."""
    pw = _htpasswd(tmp_path / "htpasswd", {"alice": "a-pw"})
    proc, addr = serve_ketch(tmp_path / "reg", "--htpasswd", str(pw))
    try:
        peak = _vm(proc.pid, "VmHWM")
        claimed = 600 << 20
        head = (
            f"POST /v2/lab/big/blobs/uploads/?digest={sha(b'x')} HTTP/1.1\r\nHost: {addr}\r\n"
            f"Content-Length: {claimed}\r\n\r\n"
        ).encode()
        host, port = addr.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as c:
            c.sendall(head)
            try:
                answer = c.recv(65536)
            except TimeoutError:
                answer = b""
            # then the body, as a client that does not listen would send it
            chunk, sent = b"\0" * (1 << 20), 0
            try:
                while sent < claimed:
                    c.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
        assert answer.startswith(b"HTTP/1.1 401"), answer[:100]
        assert b"connection: close" in answer.lower()
        time.sleep(0.5)
        grew = _vm(proc.pid, "VmHWM") - peak
        assert grew < 50 << 20, f"the server's peak RSS grew by {grew >> 20} MiB"
        assert _vm(proc.pid, "VmRSS") < peak + (50 << 20)
        # with Expect: 100-continue, the answer is the 401, not "100 Continue"
        answer = _raw(addr, head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"), timeout=3)
        assert _status(answer) == 401
        # chunked too
        answer = _raw(
            addr,
            f"PATCH /v2/lab/big/blobs/uploads/{'0' * 32} HTTP/1.1\r\nHost: {addr}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n100000\r\n".encode(),
            timeout=3,
        )
        assert _status(answer) == 401
        assert list((tmp_path / "reg" / "_uploads").iterdir()) == []
    finally:
        _stop(proc)


def test_chunk_sizes_are_checked(served: Served) -> None:
    """A chunk size of -1 used to read to EOF; every malformed size is a 400 now."""
    addr = served.addr
    d = sha(b"x" * 10)
    start = f"POST /v2/lab/c/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n"
    for size, status in ((b"-1", 400), (b"zz", 400), (b"", 400), (b"+a", 400), (b"0x10", 400), (b"1" * 17, 400),
                         (b"ffffffffffffffff", 413), (b"a;ext=1", 201)):  # fmt: skip
        answer = _raw(addr, start.encode() + size + b"\r\n" + b"x" * 10 + b"\r\n0\r\n\r\n", timeout=3)
        assert _status(answer) == status, (size, answer[:200])  # 201: well-formed, with an extension
    # no CRLF after a chunk's data: refused
    answer = _raw(addr, start.encode() + b"5\r\nxxxxxxxxxx\r\n0\r\n\r\n", timeout=3)
    assert _status(answer) == 400
    assert list((served.root / "_uploads").iterdir()) == []


def test_bodies_are_bounded(tmp_path: Path) -> None:
    proc, addr = serve_ketch(tmp_path / "reg", "--max-blob", "1000")
    s = Served(addr, tmp_path / "reg", proc)
    try:
        # the announced length above --max-blob: 413 before reading; chunks adding up past it: 413
        big = os.urandom(2000)
        status, _, body = s.req("POST", f"/v2/lab/c/blobs/uploads/?digest={sha(big)}", big)
        assert status == 413 and codes(body) == ["SIZE_INVALID"]
        status, h, _ = s.req("POST", "/v2/lab/c/blobs/uploads/")
        loc = h["location"]
        assert s.req("PATCH", loc, big[:600], {"Content-Range": "0-599"})[0] == 202
        status, _, body = s.req("PATCH", loc, big[600:1200], {"Content-Range": "600-1199"})
        assert status == 413 and codes(body) == ["SIZE_INVALID"]
        status, h, _ = s.req("GET", loc)
        assert status == 204 and h["range"] == "0-599"  # the refused chunk left nothing behind
        assert s.req("HEAD", f"/v2/lab/c/blobs/{sha(big)}")[0] == 404
    finally:
        _stop(proc)


def test_slow_clients_are_let_go(tmp_path: Path) -> None:
    """--timeout 1: a head dripped a field at a time, a stalled body and an
    idle connection are all closed within about a second; others are served."""
    proc, addr = serve_ketch(tmp_path / "reg", "--timeout", "1")
    host, port = addr.split(":")
    try:

        def closed_within(c: socket.socket, seconds: float, drip: bytes = b"") -> tuple[bool, bytes]:
            end = time.time() + seconds
            got = b""
            c.settimeout(0.25)
            while time.time() < end:
                try:
                    if drip:
                        c.sendall(drip)
                    part = c.recv(4096)
                    if not part:
                        return True, got
                    got += part
                except TimeoutError:
                    continue
                except OSError:
                    return True, got
            return False, got

        slow = socket.create_connection((host, int(port)))
        slow.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {addr}\r\n".encode())
        done, got = closed_within(slow, 4, drip=b"X-Drip: 1\r\n")
        slow.close()
        assert done, "a client dripping its header fields held the connection"
        assert got == b"" or _status(got) == 408
        stall = socket.create_connection((host, int(port)))
        stall.sendall(f"POST /v2/lab/s/blobs/uploads/?digest={sha(b'y')} HTTP/1.1\r\nHost: {addr}\r\n"
                      "Content-Length: 100\r\n\r\n0123456789".encode())  # fmt: skip
        done, got = closed_within(stall, 4)
        stall.close()
        assert done and _status(got) == 408
        idle = socket.create_connection((host, int(port)))
        done, _ = closed_within(idle, 4)
        idle.close()
        assert done
        # a connection kept busy for longer than the timeout is served all along:
        # the timeout is per wait, not per connection (the one timer a
        # connection has is moved at every wait, never left to fire early)
        with socket.create_connection((host, int(port)), timeout=2) as busy:
            for _ in range(10):
                busy.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode())
                answer = busy.recv(4096)
                assert _status(answer) == 200 and b"Connection: close" not in answer
                time.sleep(0.3)
        assert list((tmp_path / "reg" / "_uploads").iterdir()) == []
        s = Served(addr, tmp_path / "reg", proc)
        assert s.req("GET", "/v2/")[0] == 200
        # a client that stops reading a blob it asked for is let go too
        blob = os.urandom(64 << 20)
        assert s.req("POST", f"/v2/lab/s/blobs/uploads/?digest={sha(blob)}", blob)[0] == 201
        reader = socket.create_connection((host, int(port)))
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        reader.sendall(f"GET /v2/lab/s/blobs/{sha(blob)} HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode())
        time.sleep(3.5)
        got, reader_closed = 0, False
        reader.settimeout(2)
        try:
            while part := reader.recv(1 << 20):
                got += len(part)
            reader_closed = True
        except TimeoutError:
            pass
        except OSError:
            reader_closed = True
        reader.close()
        assert reader_closed and got < len(blob), (reader_closed, got)
    finally:
        _stop(proc)


def test_connections_are_bounded(tmp_path: Path) -> None:
    proc, addr = serve_ketch(tmp_path / "reg", "--max-connections", "4")
    host, port = addr.split(":")
    time.sleep(0.5)  # the probe of serve_ketch's wait has gone
    held = [socket.create_connection((host, int(port))) for _ in range(4)]
    try:
        time.sleep(0.3)
        assert _status(_raw(addr, f"GET /v2/ HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode())) == 503
        held.pop().close()
        time.sleep(0.3)
        assert _status(_raw(addr, f"GET /v2/ HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode())) == 200
    finally:
        for c in held:
            c.close()
        _stop(proc)


def test_malformed_requests_are_answered_400(served: Served) -> None:
    """RFC 9112's malformed cases get an answer (and the connection closes),
    rather than a dropped connection or a request served."""
    a = served.addr
    cases = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /v2/\r\n\r\n", 400),  # HTTP/0.9
        (b"GET /v2/ HTTP/1.1\r\n\r\n", 400),  # no Host (RFC 9112 3.2)
        (f"GET /v2/ HTTP/1.1\r\nHost: {a}\r\nHost: {a}\r\n\r\n".encode(), 400),
        (b"GET /v2/ HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (f"GET  /v2/ HTTP/1.1\r\nHost: {a}\r\n\r\n".encode(), 400),
        (f"GET /v2/ HTTP/1.1 \r\nHost: {a}\r\n\r\n".encode(), 400),
        (f"GET /v2/ HTTP/1.1\r\nHost : {a}\r\n\r\n".encode(), 400),  # whitespace before the colon (5.1)
        (f"GET /v2/ HTTP/1.1\r\nHost: {a}\r\nX-A: 1\r\n folded\r\n\r\n".encode(), 400),  # obs-fold (5.2)
        (f"GET /v2/ HTTP/1.1\r\nHost: {a}\r\nX-A: a\0b\r\n\r\n".encode(), 400),
        (f"GET /v2/ HTTP/1.1\r\nHost: {a}\r\nX-A: a\rb\r\n\r\n".encode(), 400),
        (f"GET /v2/ HTTP/1.1\r\nHost: {a}\r\nNo colon here\r\n\r\n".encode(), 400),
        (f"GET /v2/ HTTP/2.0\r\nHost: {a}\r\n\r\n".encode(), 505),
        (f"GET v2/ HTTP/1.1\r\nHost: {a}\r\n\r\n".encode(), 400),
        (f"POST /v2/lab/a/blobs/uploads/ HTTP/1.1\r\nHost: {a}\r\nContent-Length: abc\r\n\r\n".encode(), 400),
        (f"POST /v2/lab/a/blobs/uploads/ HTTP/1.1\r\nHost: {a}\r\nContent-Length: -1\r\n\r\n".encode(), 400),
        (f"POST /v2/lab/a/blobs/uploads/ HTTP/1.1\r\nHost: {a}\r\nContent-Length: 1, 2\r\n\r\n".encode(), 400),
        (
            f"POST /v2/lab/a/blobs/uploads/ HTTP/1.1\r\nHost: {a}\r\nContent-Length: 1\r\n"
            "Content-Length: 2\r\n\r\n".encode(),
            400,
        ),
        (
            f"POST /v2/lab/a/blobs/uploads/ HTTP/1.1\r\nHost: {a}\r\nContent-Length: 3\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode(),
            400,
        ),  # 6.1: both is how requests are smuggled
        (f"POST /v2/lab/a/blobs/uploads/ HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: gzip\r\n\r\n".encode(), 400),
        (
            f"POST /v2/lab/a/blobs/uploads/ HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".encode(),
            501,
        ),
        (f"POST /v2/lab/a/blobs/uploads/ HTTP/1.0\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n".encode(), 400),
        ((f"GET /v2/ HTTP/1.1\r\nHost: {a}\r\n" + "X-Many: 1\r\n" * 200 + "\r\n").encode(), 431),
        (f"GET /v2/ HTTP/1.1\r\nHost: {a}\r\nX-Big: {'a' * (100 << 10)}\r\n\r\n".encode(), 431),
        (f"GET /{'a' * (10 << 10)} HTTP/1.1\r\nHost: {a}\r\n\r\n".encode(), 414),
    ]
    for raw, status in cases:
        answer = _raw(a, raw)
        assert _status(answer) == status, (raw[:120], answer[:200])
        assert b"connection: close" in answer.lower(), raw[:120]
    # the lenient cases the RFC allows stay accepted
    assert _status(_raw(a, b"GET /v2/ HTTP/1.0\r\n\r\n")) == 200  # HTTP/1.0 without Host
    assert _status(_raw(a, f"GET /v2/ HTTP/1.1\nHost: {a}\n\n".encode())) == 200  # bare LF (2.2)
    assert _status(_raw(a, f"\r\nGET /v2/ HTTP/1.1\r\nHost: {a}\r\n\r\n".encode())) == 200  # leading CRLF (2.2)
    assert _status(_raw(a, f"GET http://{a}/v2/ HTTP/1.1\r\nHost: {a}\r\n\r\n".encode())) == 200  # absolute-form
    assert served.req("GET", "/v2/")[0] == 200


def test_digests_and_names_are_checked_before_they_become_paths(served: Served) -> None:
    client = Registry(f"http://{served.addr}")
    img = build([(tar_bytes(busybox_entries()), "gzip")])
    client.push("lab/o", "v1", img)
    hexd = img.digest.split(":")[1]
    for path, code in (
        (f"/v2/lab/o/blobs/sha256:{hexd}%0A", "DIGEST_INVALID"),  # `$` lets a trailing newline through
        (f"/v2/lab/o/blobs/SHA256:{hexd}", "DIGEST_INVALID"),
        ("/v2/lab/o/blobs/sha256:..%2F..%2F..%2Fetc%2Fpasswd", "DIGEST_INVALID"),
        (f"/v2/lab/o/manifests/sha256:{hexd}%0A", "DIGEST_INVALID"),
        ("/v2/lab/o%0A/tags/list", "NAME_INVALID"),
        ("/v2/lab/o%0A/manifests/v1", "NAME_INVALID"),
        (f"/v2/lab/o/referrers/sha256:{hexd}%0A", "DIGEST_INVALID"),
    ):
        status, _, body = served.req("GET", path)
        assert status == 400 and codes(body) == [code], (path, status, body)
    for query, code in (("mount=sha256:..%2F..%2Fx&from=lab/o", "DIGEST_INVALID"),
                        (f"mount={img.digest}&from=Lab/O", "NAME_INVALID"),
                        (f"mount={img.digest}&from=lab/o%0A", "NAME_INVALID"),
                        ("digest=sha256:..%2F..%2Fx", "DIGEST_INVALID")):  # fmt: skip
        status, _, body = served.req("POST", f"/v2/lab/p/blobs/uploads/?{query}", b"data")
        assert status == 400 and codes(body) == [code], (query, body)
    # a tag with a newline is not stored
    media = {"Content-Type": img.media_type}
    status, _, body = served.req("PUT", "/v2/lab/o/manifests/v2%0A", img.manifest, media)
    assert status == 400 and codes(body) == ["TAG_INVALID"]
    # manifests whose references are not digests: MANIFEST_INVALID, and no existence oracle on host paths
    doc = json.loads(img.manifest)
    index_type = "application/vnd.oci.image.index.v1+json"
    up = "../" * 30
    bad_docs = [
        ({**doc, "config": {**doc["config"], "digest": 5}}, img.media_type),
        ({**doc, "config": "not a descriptor"}, img.media_type),
        ({**doc, "layers": [{"digest": ["x"]}]}, img.media_type),
        ({**doc, "layers": {"digest": img.digest}}, img.media_type),
        ({**doc, "config": {**doc["config"], "digest": f"sha256:{up}etc/passwd"}}, img.media_type),
        ({**doc, "subject": {"digest": f"sha256:{up}etc"}}, img.media_type),
        ({"schemaVersion": 2, "mediaType": index_type, "manifests": [{"digest": f"{up}etc/passwd"}]}, index_type),
        (
            {"schemaVersion": 2, "mediaType": index_type, "manifests": [{"digest": f"sha256:{up}etc/passwd"}]},
            index_type,
        ),
        ({"schemaVersion": 2, "mediaType": index_type, "manifests": [7]}, index_type),
        ([1, 2], img.media_type),
    ]
    for bad, media_type in bad_docs:
        status, _, body = served.req("PUT", "/v2/lab/o/manifests/bad", json.dumps(bad).encode(),
                                     {"Content-Type": media_type})  # fmt: skip
        assert status == 400 and codes(body) == ["MANIFEST_INVALID"], (bad, body)
    assert not (served.root / "repositories" / "lab" / "o" / "_manifests" / "tags" / "bad").exists()
    assert sorted(p.name for p in (served.root / "repositories" / "lab" / "o" / "_manifests" / "tags").iterdir()) == [
        "v1"
    ]
    assert served.req("GET", "/v2/_catalog?n=x")[0] == 400


def _in_process(tmp_path: Path, htpasswd: Path) -> tuple[str, Callable[[], None]]:
    """The server in a thread of this process (to watch the calls it makes)."""
    import asyncio
    import threading

    from ketch.registry import server

    where: list[str] = []
    box: dict[str, Any] = {}

    def main() -> None:
        async def go() -> None:
            box["task"] = asyncio.current_task()
            box["loop"] = asyncio.get_running_loop()
            await server.serve("127.0.0.1:0", tmp_path / "reg", where.append, htpasswd=str(htpasswd))

        try:
            asyncio.run(go())
        except asyncio.CancelledError:
            pass

    t = threading.Thread(target=main, daemon=True)
    t.start()
    for _ in range(200):
        if where:
            break
        time.sleep(0.025)

    def stop() -> None:
        box["loop"].call_soon_threadsafe(box["task"].cancel)
        t.join(10)

    return where[0], stop


def test_bcrypt_is_cached_and_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cost 12 (~250 ms a check here): 20 GET /v2/ of one client run bcrypt
    once; a wrong password is checked every time; while one check runs,
    another client is answered."""
    import threading

    import bcrypt

    calls: list[bytes] = []
    started, release = threading.Event(), threading.Event()
    real = bcrypt.checkpw

    def counting(pw: bytes, hashed: bytes) -> bool:
        calls.append(pw)
        if pw == b"slow":
            started.set()
            release.wait(10)
        return bool(real(pw, hashed))

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    pw = _htpasswd(tmp_path / "htpasswd", {"alice": "a-pw", "carol": "slow"}, cost=12)
    addr, stop = _in_process(tmp_path, pw)
    s = Served(addr, tmp_path / "reg", None)  # type: ignore[arg-type]
    try:
        assert all(s.req("GET", "/v2/", None, _basic("alice", "a-pw"))[0] == 200 for _ in range(20))
        assert calls == [b"a-pw"], f"bcrypt ran {len(calls)} times for 20 requests of one client"
        assert s.req("GET", "/v2/", None, _basic("alice", "wrong"))[0] == 401
        assert s.req("GET", "/v2/", None, _basic("alice", "wrong"))[0] == 401
        assert calls == [b"a-pw", b"wrong", b"wrong"]  # a failure is never remembered
        assert s.req("GET", "/v2/", None, _basic("alice", "a-pw"))[0] == 200 and len(calls) == 3
        answers: list[int] = []
        slow = threading.Thread(target=lambda: answers.append(s.req("GET", "/v2/", None, _basic("carol", "slow"))[0]))
        slow.start()
        assert started.wait(5)
        try:
            # while carol's check runs, an anonymous client and alice are answered
            assert _status(_raw(addr, f"GET /v2/ HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode(), timeout=3)) == 401
            assert s.req("GET", "/v2/", None, _basic("alice", "a-pw"))[0] == 200
            assert not answers
        finally:
            release.set()
        slow.join(10)
        assert answers == [200]
    finally:
        release.set()
        stop()


def test_serve_flags_are_checked(tmp_path: Path) -> None:
    for flags in (["--addr", "notanaddr"], ["--addr", "127.0.0.1:65536"], ["--timeout", "nan"], ["--max-blob", "0"]):
        r = subprocess.run(
            [KETCH, "registry", "serve", "--root", str(tmp_path / "reg"), *flags], capture_output=True, text=True,
            timeout=20,
        )  # fmt: skip
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, (flags, r.stderr)
        assert "Error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "reg").exists()
