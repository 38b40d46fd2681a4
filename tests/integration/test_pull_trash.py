"""The rmi-then-pull layout: `rmi` takes a layer out of the store at once
(into `<root>/trash/`) and a background deleter removes it, never through a
link and never while a layer is being made; what a killed pull or deleter
left is deleted by the next pull or rmi; a layer whose bytes are not its
digest is refused with nothing of it kept."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.fakeregistry import FakeRegistry, Handler
from support.imagekit import Entry, build, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry

pytestmark = requires_root


def trash_items(k: Ketch) -> list[str]:
    t = k.root / "trash"
    return sorted(p.name for p in t.iterdir() if not p.name.startswith(".")) if t.is_dir() else []


def layer_dirs(k: Ketch) -> list[str]:
    return sorted(p.name for p in (k.root / "layers").iterdir() if not p.name.startswith("."))


def wait_empty_trash(k: Ketch, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while trash_items(k) and time.monotonic() < end:
        time.sleep(0.1)
    assert trash_items(k) == [], "the deleter did not empty the trash"


def test_rmi_takes_the_layers_out_at_once_and_the_trash_is_emptied(ketch: Ketch, registry: RunningRegistry) -> None:
    many = [Entry("many/", "dir")] + [Entry(f"many/f{i}", data=b"x" * 10) for i in range(2000)]
    img = registry.client.push(
        "lab/trash1", "latest", build([(tar_bytes(busybox_entries()), "gzip"), (tar_bytes(many), "gzip")])
    )
    name = f"{registry.addr}/lab/trash1:latest"
    assert ketch("pull", name).rc == 0
    assert len(layer_dirs(ketch)) == 2
    r = ketch("rmi", name)
    assert r.rc == 0, r.err
    assert r.out.splitlines()[-1].startswith("Deleted: sha256:")
    assert layer_dirs(ketch) == []  # out of the store the moment rmi returns
    assert ketch("images", "-q").out == ""
    wait_empty_trash(ketch)
    # and the same image comes back whole
    assert ketch("pull", name).rc == 0
    assert [len(os.listdir(p)) for p in (ketch.root / "layers").glob("*/diff/many")] == [2000]
    assert json.loads(ketch("image", "inspect", name).out)[0]["Id"] == json.loads(img.manifest)["config"]["digest"]


def test_the_deleter_never_follows_a_link_out(ketch: Ketch, registry: RunningRegistry, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep").write_text("host file\n")
    (victim / "sub" / "keep").write_text("host file\n")
    layer = tar_bytes(
        [
            Entry("d/", "dir"),
            Entry("d/abs", "symlink", link=str(victim)),
            Entry("d/up", "symlink", link="../../../../../../../../" + str(victim).lstrip("/")),
            Entry("d/sub", "symlink", link=str(victim / "sub")),
            Entry("d/file", "symlink", link=str(victim / "keep")),
            Entry("d/x/", "dir"),
            Entry("d/x/y", data=b"layer file\n"),
        ]
    )
    registry.client.push("lab/trashlinks", "latest", build([(layer, "gzip")]))
    name = f"{registry.addr}/lab/trashlinks:latest"
    assert ketch("pull", name).rc == 0
    assert ketch("rmi", name).rc == 0
    wait_empty_trash(ketch)
    assert (victim / "keep").read_text() == "host file\n"
    assert (victim / "sub" / "keep").read_text() == "host file\n"


def test_what_a_killed_pull_or_deleter_left_is_deleted_by_the_next_pull(
    ketch: Ketch, registry: RunningRegistry
) -> None:
    registry.client.push("lab/trash2", "latest", build([(tar_bytes(busybox_entries()), "gzip")]))
    name = f"{registry.addr}/lab/trash2:latest"
    assert ketch("pull", name).rc == 0
    assert ketch("rmi", name).rc == 0
    wait_empty_trash(ketch)
    # A deleter killed half-way, and a pull killed while it unpacked (its lock is free):
    half = ketch.root / "trash" / ("ab" * 32 + "-000000000000") / "diff" / "etc"
    half.mkdir(parents=True)
    (half / "passwd").write_text("x")
    stale = ketch.root / "layers" / (".tmp-" + "cd" * 32 + "-000000000000") / "diff"
    stale.mkdir(parents=True)
    (stale / "f").write_text("x")
    assert ketch("pull", name).rc == 0
    wait_empty_trash(ketch)
    assert [p.name for p in (ketch.root / "layers").iterdir() if p.name.startswith(".")] == []
    assert len(layer_dirs(ketch)) == 1


@pytest.fixture
def tampered() -> Iterator[FakeRegistry]:
    """A registry that answers a layer's digest with other bytes of the same
    length that unpack to the same tar (only the gzip header's mtime
    differs): only the blob's digest can tell them apart."""
    img = build([(tar_bytes([Entry("hello", data=b"hello\n")]), "gzip")])
    reg = FakeRegistry({"lab/x:latest": img})
    layer = json.loads(img.manifest)["layers"][0]["digest"]
    good = img.blobs[layer]
    bad = good[:4] + bytes(b ^ 0x5A for b in good[4:8]) + good[8:]
    assert good[:2] == b"\x1f\x8b" and len(bad) == len(good) and bad != good

    def blob(h: Handler, digest: str) -> bool:
        if digest != layer:
            return False
        h.answer(bad, "application/octet-stream")
        return True

    reg.blob_hook = blob
    with reg:
        yield reg


def test_a_layer_whose_bytes_are_not_its_digest_is_refused_and_nothing_kept(
    ketch: Ketch, tampered: FakeRegistry
) -> None:
    r = ketch("pull", f"{tampered.addr}/lab/x:latest")
    assert r.rc == 1, r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r.err
    assert "digest mismatch" in r.err, r.err
    assert list((ketch.root / "content/ingest").iterdir()) == []
    assert list((ketch.root / "layers").iterdir()) == []
    assert list((ketch.root / "content/blobs/sha256").iterdir()) == []
    assert ketch("images", "-q").out == ""
    wait_empty_trash(ketch)


def test_a_deleter_waits_while_a_layer_is_made(tmp_path: Path) -> None:
    """The deleter deletes nothing while a writer holds the trash's writers lock."""
    import threading

    from ketch.store import trash

    t = tmp_path / "trash"
    tree = t / "x-000000000000"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    done = threading.Event()
    with trash.writing(t):
        th = threading.Thread(target=lambda: (trash.empty(t), done.set()))
        th.start()
        time.sleep(0.5)
        assert (tree / "a" / "b" / "f").exists() and not done.is_set()
    th.join(10)
    assert done.is_set() and not tree.exists()
    assert sorted(os.listdir(t)) == [".deleter", ".writers"]  # the locks alone
