import hashlib
import os

import pytest

from ketch import _native
from ketch.errors import ManifestInvalid
from ketch.models.image import DOCKER_MANIFEST, OCI_INDEX, Index, Manifest, parse_document
from ketch.store.layers import chain_ids


def test_sha256_matches_hashlib(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(3 << 20)
    p = tmp_path / "blob"
    p.write_bytes(data)
    want = "sha256:" + hashlib.sha256(data).hexdigest()
    assert _native.sha256_file(p) == (want, len(data))
    assert _native.sha256_bytes(data) == want
    h = _native.Sha256()
    for i in range(0, len(data), 100_000):
        h.update(data[i : i + 100_000])
    assert h.digest() == want
    with pytest.raises(ValueError):
        h.digest()


def test_chain_ids_follow_the_oci_rule() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a]) == [a]
    assert chain_ids([a, b])[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()


MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    b'"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:'
    + b"a" * 64
    + b'","size":1},"layers":[]}'
)


def test_manifest_parses_and_type_must_agree() -> None:
    assert isinstance(parse_document(MANIFEST, DOCKER_MANIFEST), Manifest)
    with pytest.raises(ManifestInvalid, match="does not match"):
        parse_document(MANIFEST, OCI_INDEX)
    idx = b'{"schemaVersion":2,"mediaType":"' + OCI_INDEX.encode() + b'","manifests":[]}'
    assert isinstance(parse_document(idx, OCI_INDEX), Index)
    with pytest.raises(ManifestInvalid, match="does not match its media type"):
        parse_document(b'{"schemaVersion":2,"manifests":[]}', DOCKER_MANIFEST)
    with pytest.raises(ManifestInvalid, match="schema 1"):
        parse_document(
            b'{"schemaVersion":1,"fsLayers":[]}', "application/vnd.docker.distribution.manifest.v1+prettyjws"
        )


def test_unpack_errors_are_ketch_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io
    import tarfile  # noqa: E401

    from ketch.errors import DigestMismatchError

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("a")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"x"))
    (tmp_path / "l.tar").write_bytes(buf.getvalue())
    with pytest.raises(DigestMismatchError):
        _native.unpack_layer(tmp_path / "l.tar", tmp_path / "out", None, "sha256:" + "0" * 64)
    u = _native.unpack_layer(tmp_path / "l.tar", tmp_path / "out2")
    assert u["diff_id"] == "sha256:" + hashlib.sha256(buf.getvalue()).hexdigest()
    assert u["content_size"] == 1 and u["entries"] == 1
