"""The store after killed pulls and concurrent commands: partial downloads
are cleaned (a live one is not), and `rmi` never deletes what a running pull
is using."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from support.fakeregistry import FakeRegistry, Handler
from support.imagekit import Entry, build, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.wait import wait_for

pytestmark = requires_root


class Slow:
    """A registry whose lab/slow layer trickles until `go` is set."""

    def __init__(self) -> None:
        self.image = build([(tar_bytes([Entry("big", data=os.urandom(4 << 20))]), "plain")])
        quick = build([(tar_bytes([Entry("q", data=b"q\n")]), "plain")])
        self.reg = FakeRegistry({"lab/slow:latest": self.image, "lab/quick:latest": quick})
        self.layer = json.loads(self.image.manifest)["layers"][0]["digest"]
        self.go = threading.Event()
        self.reg.blob_hook = self._blob

    def _blob(self, h: Handler, digest: str) -> bool:
        if digest != self.layer:
            return False
        data, step = self.reg.blobs[digest], 64 << 10

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(data), step):
                if not self.go.is_set():
                    time.sleep(0.2)
                yield data[i : i + step]

        h.stream(chunks(), "application/octet-stream")
        return True


@pytest.fixture
def slow() -> Iterator[Slow]:
    s = Slow()
    with s.reg:
        yield s
        s.go.set()


def ingests(k: Ketch) -> set[str]:
    d = k.root / "content/ingest"
    return {p.name for p in d.iterdir() if p.stat().st_size > 0} if d.is_dir() else set()


def start_pull(k: Ketch, name: str, before: set[str]) -> tuple[subprocess.Popen[str], str]:
    """A pull in the background, once its own ingest file has bytes in it: (process, that file's name)."""
    p = k.popen("pull", name)
    assert wait_for(lambda: bool(ingests(k) - before), timeout=30), "the pull never started downloading"
    return p, (ingests(k) - before).pop()


def test_killed_pulls_leave_no_ingest_and_a_live_one_is_kept(ketch: Ketch, slow: Slow) -> None:
    name = f"{slow.reg.addr}/lab/slow"
    leftovers: set[str] = set()
    for _ in range(3):
        p, f = start_pull(ketch, name, leftovers)
        p.kill()
        p.communicate()
        assert f in ingests(ketch)  # a killed pull's partial blob
        leftovers.add(f)

    live, mine = start_pull(ketch, name, leftovers)
    try:
        # Another pull while that one downloads: each pull cleans what killed ones left.
        ketch("pull", f"{slow.reg.addr}/lab/quick", check=True)
        left = {p.name for p in (ketch.root / "content/ingest").iterdir()}
        assert left == {mine}, "the leftovers are cleaned, the live download is not"
    finally:
        slow.go.set()
        out, err = live.communicate(timeout=120)
    assert live.returncode == 0, err
    assert list((ketch.root / "content/ingest").iterdir()) == []
    assert len(ketch("images", "-q").out.split()) == 2


class Gated:
    """A registry with images A and B on one busybox layer, each with a layer
    of its own; a request for the blob named `stall` sends its first bytes,
    then waits for `go`."""

    def __init__(self) -> None:
        base = (tar_bytes(busybox_entries()), "gzip")
        self.images = {}
        for name in ("a", "b"):
            own = tar_bytes([Entry(f"{name}.bin", data=os.urandom(1 << 20)), Entry("who", data=name.encode())])
            self.images[name] = build([base, (own, "gzip")], cmd=["cat", "/who"])
        self.reg = FakeRegistry({f"lab/{n}:latest": img for n, img in self.images.items()})
        self.stall = ""
        self.entered, self.go = threading.Event(), threading.Event()
        self.reg.blob_hook = self._blob

    def _blob(self, h: Handler, digest: str) -> bool:
        if digest != self.stall:
            return False
        data = self.reg.blobs[digest]

        def chunks() -> Iterator[bytes]:
            yield data[:1024]
            self.entered.set()
            self.go.wait(60)
            yield data[1024:]

        h.stream(chunks(), "application/octet-stream")
        return True


def test_rmi_racing_a_pull_that_shares_its_layers(ketch: Ketch) -> None:
    """`rmi -f A` while `pull B` is stalled after it found the shared layer
    (B's own layer on the wire) or before (B's config on the wire): the pull
    succeeds and B runs, every round."""
    g = Gated()
    a, b = (f"{g.reg.addr}/lab/{n}" for n in ("a", "b"))
    b_manifest = json.loads(g.images["b"].manifest)
    stalls = [b_manifest["layers"][1]["digest"], b_manifest["config"]["digest"]] * 3
    with g.reg:
        try:
            for stall in stalls:
                ketch("pull", "-q", a, check=True)
                g.stall = stall
                g.entered.clear()
                g.go.clear()
                pull = ketch.popen("pull", b)
                assert g.entered.wait(30), "the pull never asked for the stalled blob"
                rmi = ketch("rmi", "-f", a)
                g.go.set()
                out, err = pull.communicate(timeout=120)
                assert (pull.returncode, rmi.rc) == (0, 0), (stall, err, rmi.err)
                r = ketch("run", "--rm", b)
                assert (r.rc, r.out) == (0, "b"), (stall, r.err)
                ketch("rmi", b, check=True)
                # nothing kept for the pull outlives the images
                assert [p for p in (ketch.root / "layers").iterdir() if not p.name.startswith(".")] == []
                assert list((ketch.root / "content/blobs/sha256").iterdir()) == []
        finally:
            g.go.set()
