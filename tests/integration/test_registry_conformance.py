"""`ketch registry serve` against the OCI distribution-spec's error table:
each error path answers the status and the code the spec names (the
conformance suite v1.1.1's cases among them), and a HEAD answers the same
status with no body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from support.imagekit import Registry, build, busybox_entries, tar_bytes
from support.registry import Served, serve_ketch, stop_served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("conformance") / "registry"
    proc, addr = serve_ketch(root)
    s = Served(addr, root, proc)
    try:
        yield s
    finally:
        stop_served(proc)


@pytest.fixture(scope="module")
def pushed(served: Served) -> str:
    """lab/o:v1 pushed; its manifest's digest."""
    img = build([(tar_bytes(busybox_entries()), "gzip")])
    Registry(f"http://{served.addr}").push("lab/o", "v1", img)
    return img.digest


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def codes(body: bytes) -> list[str]:
    return [e["code"] for e in json.loads(body)["errors"]]


def test_a_manifest_reference_that_is_no_tag_is_unknown_on_get_and_head(served: Served, pushed: str) -> None:
    """The conformance suite's `.INVALID_MANIFEST_NAME` (3 cases failed with 400)."""
    for ref in (".INVALID_MANIFEST_NAME", "v1%0A", "-leading-dash", "a" * 129):
        status, _, body = served.req("GET", f"/v2/lab/o/manifests/{ref}")
        assert status == 404 and codes(body) == ["MANIFEST_UNKNOWN"], (ref, status, body)
        status, _, body = served.req("HEAD", f"/v2/lab/o/manifests/{ref}")
        assert status == 404 and body == b"", (ref, status, body)
        status, _, body = served.req("DELETE", f"/v2/lab/o/manifests/{ref}")
        assert status == 404 and codes(body) == ["MANIFEST_UNKNOWN"], (ref, status, body)
    # and nothing was made of them
    tags = served.root / "repositories" / "lab" / "o" / "_manifests" / "tags"
    assert sorted(p.name for p in tags.iterdir()) == ["v1"]


# (method, path, body, expected status, expected code; None: no body to check, a HEAD)
def _table(digest: str) -> list[tuple[str, str, bytes | None, int, str | None]]:
    missing = sha(b"not here")
    return [
        ("GET", "/v2/Lab/O/manifests/v1", None, 400, "NAME_INVALID"),
        ("GET", "/v2/lab/none/tags/list", None, 404, "NAME_UNKNOWN"),
        ("GET", "/v2/lab/o/manifests/v9", None, 404, "MANIFEST_UNKNOWN"),
        ("HEAD", "/v2/lab/o/manifests/v9", None, 404, None),
        ("GET", f"/v2/lab/o/manifests/{missing}", None, 404, "MANIFEST_UNKNOWN"),
        ("HEAD", f"/v2/lab/o/manifests/{missing}", None, 404, None),
        ("DELETE", f"/v2/lab/o/manifests/{missing}", None, 404, "MANIFEST_UNKNOWN"),
        ("GET", "/v2/lab/o/manifests/sha256:short", None, 400, "DIGEST_INVALID"),
        ("GET", f"/v2/lab/o/blobs/{missing}", None, 404, "BLOB_UNKNOWN"),
        ("HEAD", f"/v2/lab/o/blobs/{missing}", None, 404, None),
        ("DELETE", f"/v2/lab/o/blobs/{missing}", None, 404, "BLOB_UNKNOWN"),
        ("GET", "/v2/lab/o/blobs/sha256:zz", None, 400, "DIGEST_INVALID"),
        ("GET", "/v2/lab/o/blobs/uploads/0123456789abcdef", None, 404, "BLOB_UPLOAD_UNKNOWN"),
        ("PUT", f"/v2/lab/o/blobs/uploads/?digest={sha(b'x')}", b"y", 404, "BLOB_UPLOAD_UNKNOWN"),
        ("PUT", "/v2/lab/o/manifests/v1%0A", b"{}", 400, "TAG_INVALID"),
        ("PUT", "/v2/lab/o/manifests/v2", b"not json", 400, "MANIFEST_INVALID"),
        ("POST", "/v2/lab/o/manifests/v1", b"", 405, "UNSUPPORTED"),
        ("POST", "/v2/lab/o/manifests/.INVALID", b"", 405, "UNSUPPORTED"),
        ("PATCH", f"/v2/lab/o/blobs/{digest}", b"", 405, "UNSUPPORTED"),
        ("GET", "/v2/lab/o/referrers/sha256:zz", None, 400, "DIGEST_INVALID"),
        ("GET", "/v2/_catalog?n=x", None, 400, "PAGINATION_NUMBER_INVALID"),
    ]


def test_every_error_path_answers_the_spec_status_and_code(served: Served, pushed: str) -> None:
    for method, path, body, status, code in _table(pushed):
        headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"} if "manifests" in path else {}
        got, _, data = served.req(method, path, body, headers)
        assert got == status, (method, path, got, data)
        if code is None:
            assert data == b""
        else:
            assert codes(data) == [code], (method, path, data)


def test_a_digest_that_does_not_match_the_upload_is_digest_invalid_and_stores_nothing(served: Served) -> None:
    status, h, _ = served.req("POST", "/v2/lab/u/blobs/uploads/")
    assert status == 202
    loc = h["location"]
    wrong = sha(b"something else")
    status, _, body = served.req("PUT", f"{loc}?digest={wrong}", b"the content")
    assert status == 400 and codes(body) == ["DIGEST_INVALID"]
    assert not (served.root / "blobs" / "sha256" / wrong.split(":")[1]).exists()
    assert served.req("HEAD", f"/v2/lab/u/blobs/{wrong}")[0] == 404


def test_a_manifest_naming_an_unknown_blob_is_refused(served: Served) -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(b"c"), "size": 1},
        "layers": [],
    }
    status, _, body = served.req(
        "PUT", "/v2/lab/m/manifests/v1", json.dumps(doc).encode(),
        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )  # fmt: skip
    assert status == 400 and codes(body) == ["MANIFEST_BLOB_UNKNOWN"]
    assert served.req("GET", "/v2/lab/m/manifests/v1")[0] == 404
