"""A hostile registry on 127.0.0.1 (a small HTTP server of the test's own)
cannot make `ketch pull` hold or store more than its descriptors declare:
an endless manifest, a config or a layer longer than declared fail the pull
with one line, the pull's peak RSS stays bounded, the server gets to send
little more than the declared bytes, and nothing is left in the store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from support.fakeregistry import FakeRegistry, Handler
from support.imagekit import OCI_MANIFEST, Entry, build, tar_bytes
from support.ketch import Ketch, requires_root

pytestmark = requires_root

FLOOD = 256 << 20  # what the hostile server tries to send past the declared end
MAX_RSS = 128 << 20  # a pull's peak RSS here is about 40 MiB; reading the flood whole took 550
MAX_SENT = 64 << 20  # socket buffers hold a few MiB; the flood is 256


def hostile_registry(mode: str) -> FakeRegistry:
    """One small image, and the lie `mode` names."""
    img = build([(tar_bytes([Entry("hello", data=b"hello\n")]), "plain")])
    reg = FakeRegistry({"lab/x:latest": img})
    config = json.loads(img.manifest)["config"]["digest"]
    text, zeros = b"a" * (1 << 20), bytes(1 << 20)

    def manifest(h: Handler, ref: str) -> bool:
        if not mode.startswith("manifest-"):
            return False
        head = b'{"schemaVersion": 2, "x": "'
        h.stream([head] + [text] * (FLOOD >> 20), OCI_MANIFEST, chunked=mode == "manifest-chunked")
        return True

    def blob(h: Handler, digest: str) -> bool:
        longer = mode == "config-longer" if digest == config else mode == "layer-longer"
        if not longer:
            return False
        h.stream([reg.blobs[digest]] + [zeros] * (FLOOD >> 20), "application/octet-stream")
        return True

    reg.manifest_hook, reg.blob_hook = manifest, blob
    return reg


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[FakeRegistry]:
    with hostile_registry(request.param) as reg:
        yield reg


@pytest.mark.parametrize(
    "hostile", ["manifest-close", "manifest-chunked", "config-longer", "layer-longer"], indirect=True
)
def test_a_hostile_registry_cannot_flood_the_pull(ketch: Ketch, hostile: FakeRegistry) -> None:
    r, rss = ketch.measured("pull", f"{hostile.addr}/lab/x:latest")
    rc, err = r.rc, r.err
    assert rc == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert ("is larger than 4194304 bytes" in err) or ("size mismatch" in err), err
    assert rss < MAX_RSS, f"peak RSS {rss >> 20} MiB"
    assert hostile.sent < MAX_SENT, f"the registry sent {hostile.sent >> 20} MiB"
    assert list((ketch.root / "content/ingest").iterdir()) == []
    assert list((ketch.root / "layers").iterdir()) == []
    assert list((ketch.root / "content/blobs/sha256").iterdir()) == []
    assert ketch("images", "-q").out == ""


@pytest.mark.parametrize("hostile", ["none"], indirect=True)
def test_the_same_server_honest_is_pulled(ketch: Ketch, hostile: FakeRegistry) -> None:
    """The control: without the lie, the same image pulls."""
    r, _ = ketch.measured("pull", f"{hostile.addr}/lab/x:latest")
    assert r.rc == 0, r.err
    assert len(ketch("images", "-q").out.split()) == 1
