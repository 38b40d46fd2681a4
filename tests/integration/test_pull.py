"""`ketch pull`, `images`, `rmi`, `tag`, `history`, `inspect` against a real
registry (Debian's docker-registry) filled with images made offline."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import threading
import time
from pathlib import Path

import pytest

from support.imagekit import Entry, build, busybox_entries, sha256, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry

pytestmark = requires_root

BASE = tar_bytes(busybox_entries())


def layer_dirs(k: Ketch) -> list[str]:
    if not (k.root / "layers").is_dir():  # a pull killed before it opened the store
        return []
    return sorted(p.name for p in (k.root / "layers").iterdir() if not p.name.startswith("."))


def diff_of(k: Ketch, diff_ids: list[str], index: int) -> Path:
    from ketch.store.layers import chain_ids

    return k.root / "layers" / chain_ids(diff_ids)[index].split(":")[1] / "diff"


@pytest.fixture(scope="module")
def images(registry: RunningRegistry) -> dict[str, object]:
    reg = registry.client
    top = tar_bytes(
        [
            Entry("data/", "dir"),
            Entry("data/keep/", "dir"),
            Entry("data/keep/a", data=b"A\n"),
            Entry("data/keep/hard", "hardlink", link="data/keep/a"),
            Entry("data/link", "symlink", link="keep/a"),
            Entry("data/fifo", "fifo"),
            Entry("data/setuid", data=b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000),
            Entry("data/cap", data=b"x", xattrs={"user.note": "kept"}),
        ]
    )
    wh = tar_bytes([Entry("data/keep/a", "whiteout"), Entry("data/opaque/", "dir"), Entry("data/opaque", "opaque")])
    out: dict[str, object] = {}
    out["busybox"] = reg.push("lab/busybox", "latest", build([(BASE, "gzip")], oci=False))
    out["layered"] = reg.push("lab/layered", "latest", build([(BASE, "gzip"), (top, "zstd"), (wh, "plain")]))
    arm = build([(tar_bytes([Entry("arch", data=b"arm64\n")]), "gzip")], arch="arm64")
    amd = build([(tar_bytes([Entry("arch", data=b"amd64\n")]), "gzip")], arch="amd64")
    out["multi_index"] = reg.push_index("lab/multi", "latest", {"linux/amd64": amd, "linux/arm64": arm})
    out["multi_amd"], out["multi_arm"] = amd, arm
    out["top"], out["wh"] = top, wh
    return out


def test_pull_prints_dockers_lines_and_stores_layers(ketch: Ketch, registry: RunningRegistry, images: dict) -> None:
    img = images["busybox"]
    name = f"{registry.addr}/lab/busybox"
    r = ketch("pull", name)
    assert r.rc == 0, r.err
    short = next(iter(d for d in img.blobs if img.blobs[d] != img.config))[7:19]
    lines = r.out.splitlines()
    assert lines[0] == "Using default tag: latest"
    assert lines[1] == "latest: Pulling from lab/busybox"
    assert f"{short}: Pulling fs layer" in lines
    assert f"{short}: Pull complete" in lines
    assert lines[-3] == f"Digest: {img.digest}"
    assert lines[-2] == f"Status: Downloaded newer image for {name}:latest"
    assert lines[-1] == f"{name}:latest"
    diff = diff_of(ketch, [sha256(BASE)], 0)
    assert (diff / "bin/busybox").stat().st_size == os.path.getsize("/bin/busybox")
    assert os.readlink(diff / "bin/sh") == "busybox"
    assert stat.S_IMODE((diff / "tmp").stat().st_mode) == 0o1777

    again = ketch("pull", f"{name}:latest")
    assert again.rc == 0
    assert again.out.splitlines() == [
        "latest: Pulling from lab/busybox",
        f"Digest: {img.digest}",
        f"Status: Image is up to date for {name}:latest",
        f"{name}:latest",
    ]


def test_layers_are_shared_and_whiteouts_become_overlay_format(
    ketch: Ketch, registry: RunningRegistry, images: dict
) -> None:
    ketch("pull", f"{registry.addr}/lab/busybox", check=True)
    r = ketch("pull", f"{registry.addr}/lab/layered")
    assert r.rc == 0, r.err
    base_blob = next(d for d, b in images["busybox"].blobs.items() if b != images["busybox"].config)
    # The base layer is the same tar but the other image holds it gzip'd the same way: already there.
    assert f"{base_blob[7:19]}: Already exists" in r.out
    assert len(layer_dirs(ketch)) == 3
    diff_ids = [sha256(BASE), sha256(images["top"]), sha256(images["wh"])]
    top = diff_of(ketch, diff_ids, 1)
    assert (top / "data/keep/hard").stat().st_ino == (top / "data/keep/a").stat().st_ino
    assert os.readlink(top / "data/link") == "keep/a"
    assert stat.S_ISFIFO((top / "data/fifo").lstat().st_mode)
    st = (top / "data/setuid").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o4755)
    assert os.getxattr(top / "data/cap", "user.note") == b"kept"
    wh = diff_of(ketch, diff_ids, 2)
    st = (wh / "data/keep/a").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(wh / "data/opaque", "trusted.overlay.opaque") == b"y"


def test_images_lists_dockers_columns(ketch: Ketch, registry: RunningRegistry, images: dict) -> None:
    ketch("pull", f"{registry.addr}/lab/busybox", check=True)
    r = ketch("images")
    assert r.rc == 0
    head, row = r.out.splitlines()
    assert re.match(r"REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$", head)
    cols = re.split(r"\s{3,}", row)
    assert cols[0] == f"{registry.addr}/lab/busybox"
    assert cols[1] == "latest"
    assert cols[2] == images["busybox"].id[7:19]
    assert cols[3].endswith(" ago")
    assert re.fullmatch(r"\d\.\d\dMB", cols[4])
    assert head.index("TAG") == len(cols[0]) + 3
    assert ketch("images", "-q").out.split() == [images["busybox"].id[7:19]]
    d = ketch("images", "--digests", "--no-trunc").out.splitlines()[1]
    assert images["busybox"].digest in d and images["busybox"].id in d


def test_multi_platform_index_selects_this_host_or_platform_flag(
    ketch: Ketch, registry: RunningRegistry, images: dict
) -> None:
    r = ketch("pull", f"{registry.addr}/lab/multi")
    assert r.rc == 0, r.err
    assert f"Digest: {sha256(images['multi_index'])}" in r.out
    info = json.loads(ketch("image", "inspect", f"{registry.addr}/lab/multi").out)[0]
    assert info["Architecture"] == "amd64"
    assert info["Id"] == images["multi_amd"].id
    r = ketch("pull", "--platform=linux/arm64", f"{registry.addr}/lab/multi")
    assert r.rc == 0, r.err
    info = json.loads(ketch("image", "inspect", f"{registry.addr}/lab/multi").out)[0]
    assert info["Architecture"] == "arm64"


def test_errors_are_one_line_and_nonzero(ketch: Ketch, registry: RunningRegistry, images: dict) -> None:
    r = ketch("pull", f"{registry.addr}/lab/nosuch:latest")
    assert r.rc == 1
    assert (
        r.err.strip() == f"manifest for {registry.addr}/lab/nosuch:latest not found: manifest unknown: manifest unknown"
    )
    zero = "sha256:" + "0" * 64
    r = ketch("pull", f"{registry.addr}/lab/busybox@{zero}")
    assert r.rc == 1 and "not found: manifest unknown" in r.err
    r = ketch("pull", "Not_Valid:ref")
    assert (r.rc, r.err.strip()) == (
        1,
        "invalid reference format: repository name (library/Not_Valid) must be lowercase",
    )
    r = ketch("pull", "127.0.0.1:1/lab/busybox")
    assert r.rc == 1 and "connection refused" in r.err.lower() and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
    r = ketch("rmi", "nosuch")
    assert r.rc == 1 and "No such image: nosuch" in r.err
    r = ketch("pull", f"{registry.addr}/lab/nosuch:latest", env={"KETCH_DEBUG": "1"})
    assert r.rc == 1 and "Traceback" in r.err and "ManifestUnknown" in r.err


def test_diff_id_mismatch_fails_and_leaves_nothing(ketch: Ketch, registry: RunningRegistry) -> None:
    bad = build([(tar_bytes([Entry("x", data=b"x")]), "gzip")], diff_ids=["sha256:" + "1" * 64])
    registry.client.push("lab/baddiff", "latest", bad)
    r = ketch("pull", f"{registry.addr}/lab/baddiff")
    assert r.rc == 1 and "digest mismatch" in r.err and "Traceback" not in r.err
    assert layer_dirs(ketch) == []
    assert [p for p in (ketch.root / "layers").iterdir()] == []
    assert ketch("images", "-q").out == ""


@pytest.mark.parametrize(
    "entries",
    [
        [Entry("../../../../../../tmp/ketch-escape-PLACE", data=b"x")],
        [Entry("evil", "symlink", link="/tmp"), Entry("evil/ketch-escape-PLACE", data=b"x")],
        [Entry("up", "symlink", link="../../../../../../../tmp"), Entry("up/ketch-escape-PLACE", data=b"x")],
        [Entry("f", "symlink", link="/tmp/ketch-escape-PLACE"), Entry("f", data=b"x")],
        [Entry("h", "hardlink", link="/tmp/ketch-escape-PLACE")],
        [Entry("d/", "dir"), Entry("d/.wh.", data=b"")],
    ],
    ids=["dotdot", "abs-symlink-parent", "rel-symlink-parent", "symlink-then-file", "hardlink-out", "bare-whiteout"],
)
def test_hostile_layers_change_nothing_outside(
    ketch: Ketch, registry: RunningRegistry, entries: list[Entry], request: pytest.FixtureRequest
) -> None:
    place = request.node.callspec.id
    victim = Path(f"/tmp/ketch-escape-{place}")
    victim.write_bytes(b"original")
    try:
        for e in entries:
            e.name = e.name.replace("PLACE", place)
            e.link = e.link.replace("PLACE", place)
        img = build([(tar_bytes(entries), "gzip")])
        registry.client.push(f"lab/hostile-{place}", "latest", img)
        r = ketch("pull", f"{registry.addr}/lab/hostile-{place}")
        assert victim.read_bytes() == b"original"
        assert victim.stat().st_nlink == 1
        assert "Traceback" not in r.err
        if place == "bare-whiteout" or place == "hardlink-out":
            assert r.rc == 1 and ("invalid layer" in r.err or "hardlink" in r.err), r.err
            assert layer_dirs(ketch) == []
    finally:
        victim.unlink()


def test_decompression_bomb_is_bounded(ketch: Ketch, registry: RunningRegistry) -> None:
    bomb = build([(tar_bytes([Entry("zeros", data=bytes(64 << 20))]), "gzip")])
    registry.client.push("lab/bomb", "latest", bomb)
    r = ketch("pull", f"{registry.addr}/lab/bomb", env={"KETCH_MAX_LAYER_BYTES": str(8 << 20)})
    assert r.rc == 1 and "expands beyond the limit" in r.err
    assert layer_dirs(ketch) == []


def test_rmi_untags_then_deletes_image_and_unshared_layers(
    ketch: Ketch, registry: RunningRegistry, images: dict
) -> None:
    bb, lay = f"{registry.addr}/lab/busybox", f"{registry.addr}/lab/layered"
    ketch("pull", bb, check=True)
    ketch("pull", lay, check=True)
    ketch("tag", lay, "mine:v1", check=True)
    assert ketch("rmi", "mine:v1").out.splitlines() == ["Untagged: mine:v1"]
    r = ketch("rmi", lay)
    assert r.rc == 0, r.err
    img = images["layered"]
    lines = r.out.splitlines()
    assert lines[:3] == [f"Untagged: {lay}:latest", f"Untagged: {lay}@{img.digest}", f"Deleted: {img.id}"]
    assert len(lines) == 5 and all(line.startswith("Deleted: sha256:") for line in lines[3:])
    assert len(layer_dirs(ketch)) == 1  # busybox's layer stays
    # blobs of the removed image are gone, busybox's remain
    blobs = {p.name for p in (ketch.root / "content/blobs/sha256").iterdir()}
    assert img.id[7:] not in blobs and images["busybox"].id[7:] in blobs
    assert ketch("rmi", bb).rc == 0
    assert layer_dirs(ketch) == [] and ketch("images", "-q").out == ""


def test_tag_with_docker_flag_forms_and_history(ketch: Ketch, registry: RunningRegistry, images: dict) -> None:
    ketch("pull", "-q", f"{registry.addr}/lab/layered", check=True)
    r = ketch("history", f"{registry.addr}/lab/layered")
    lines = r.out.splitlines()
    assert re.match(r"IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT", lines[0])
    assert lines[1].startswith(images["layered"].id[7:19]) and lines[2].startswith("<missing>")
    assert len(lines) == 4


def test_two_pulls_at_once_share_one_copy(ketch: Ketch, registry: RunningRegistry, images: dict) -> None:
    name = f"{registry.addr}/lab/layered"
    procs = [ketch.popen("pull", name) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(layer_dirs(ketch)) == 3
    assert not [p for p in (ketch.root / "layers").iterdir() if p.name.startswith(".")]


def test_kill_9_mid_pull_leaves_a_store_the_next_pull_accepts(ketch: Ketch, registry: RunningRegistry) -> None:
    big = tar_bytes([Entry(f"f{i}", data=os.urandom(4 << 20)) for i in range(40)])
    img = build([(BASE, "gzip"), (big, "gzip")])
    registry.client.push("lab/big", "latest", img)
    name = f"{registry.addr}/lab/big"
    for delay in (0.3, 0.8, 1.5):
        p = ketch.popen("pull", name)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        # whatever is under a final name is complete
        for d in layer_dirs(ketch):
            assert (ketch.root / "layers" / d / "meta.json").exists()
    r = ketch("pull", name)
    assert r.rc == 0, r.err
    assert ketch("images", "-q").out.split() == [img.id[7:19]]
    diff = diff_of(ketch, [sha256(BASE), sha256(big)], 1)
    assert (diff / "f39").stat().st_size == 4 << 20
    assert not [p for p in (ketch.root / "layers").iterdir() if p.name.startswith(".")]


def test_pull_in_threads_of_one_process(tmp_path: Path, registry: RunningRegistry, images: dict) -> None:
    """The library, not the CLI: two threads pulling the same image share one store."""
    from ketch.reference import parse
    from ketch.registry.pull import pull
    from ketch.store import Store

    os.environ["KETCH_RUN_ROOT"] = str(tmp_path / "run")
    store = Store(tmp_path / "store")
    errors: list[BaseException] = []

    def go() -> None:
        try:
            pull(store, parse(f"{registry.addr}/lab/layered"), lambda _l: None)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=go) for _ in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert errors == []
    assert len([p for p in (tmp_path / "store/layers").iterdir() if not p.name.startswith(".")]) == 3


def test_the_library_reports_pull_and_push_as_typed_events(
    tmp_path: Path, registry: RunningRegistry, images: dict
) -> None:
    """`pull` and `push` from the library, with a callback: typed events in
    docker's order, no text (the CLI words them)."""
    from ketch.reference import parse
    from ketch.registry import progress as p
    from ketch.registry.pull import pull
    from ketch.registry.push import push
    from ketch.store import Store

    os.environ["KETCH_RUN_ROOT"] = str(tmp_path / "run")
    store = Store(tmp_path / "store")
    bb, layered = images["busybox"], images["layered"]
    base = next(d for d, b in bb.blobs.items() if b != bb.config)
    name = f"{registry.addr}/lab/busybox"
    events: list[object] = []

    def seen(ev: object) -> None:
        assert not isinstance(ev, str)
        events.append(ev)

    assert pull(store, parse(name), seen).downloaded
    progress = [e for e in events if isinstance(e, p.LayerProgress)]  # how many: a matter of timing
    assert all(e.layer == base and 0 < e.current <= e.total == len(bb.blobs[base]) for e in progress)
    assert [e for e in events if not isinstance(e, p.LayerProgress)] == [
        p.PullingFrom("latest", "lab/busybox"),
        p.LayerStarted(base),
        p.LayerVerifying(base),
        p.LayerDownloaded(base),
        p.LayerExtracted(base),
        p.Digest(bb.digest),
        p.Pulled(f"{name}:latest", True),
    ]
    events.clear()
    assert not pull(store, parse(f"{name}:latest"), seen).downloaded
    assert events == [p.PullingFrom("latest", "lab/busybox"), p.Digest(bb.digest), p.Pulled(f"{name}:latest", False)]

    events.clear()
    pull(store, parse(f"{registry.addr}/lab/layered"), seen)
    others = [d for d, b in layered.blobs.items() if b != layered.config and d != base]
    kinds = [(type(e), getattr(e, "layer", None)) for e in events if not isinstance(e, p.LayerProgress)]
    assert kinds[:2] == [(p.PullingFrom, None), (p.LayerExists, base)]
    assert sorted(kinds[2:4]) == sorted((p.LayerStarted, d) for d in others)
    for d in others:  # each layer's own events in order; the layers interleave
        assert [k for k, layer in kinds if layer == d] == [
            p.LayerStarted,
            p.LayerVerifying,
            p.LayerDownloaded,
            p.LayerExtracted,
        ]
    assert kinds[-2:] == [(p.Digest, None), (p.Pulled, None)]

    events.clear()
    from ketch.store import images as imgs

    diff_id = imgs.config(store, imgs.lookup(store, f"{name}:latest")[0].id)["rootfs"]["diff_ids"][0]
    imgs.tag(store, f"{name}:latest", f"{registry.addr}/lab/copied:v1")
    digest = push(store, parse(f"{registry.addr}/lab/copied:v1"), seen)
    assert events == [
        p.PushingTo(f"{registry.addr}/lab/copied"),
        p.LayerPreparing(diff_id),
        p.LayerMounted(diff_id, "lab/busybox"),
        p.ManifestPushed("v1", digest, len(store.content.read(digest))),
    ]
    events.clear()
    push(store, parse(f"{registry.addr}/lab/copied:v1"), seen)
    assert events[2] == p.LayerAlreadyPushed(diff_id)


def test_a_layer_already_unpacked_from_another_blob_still_gets_its_blob(
    ketch: Ketch, registry: RunningRegistry, images: dict, tmp_path: Path
) -> None:
    """Same diff id, other compression: the layer is reused, the blob is fetched
    so that the image can be saved (and pushed) as it came."""
    ketch("pull", "-q", f"{registry.addr}/lab/busybox", check=True)
    other = build([(BASE, "zstd")])
    registry.client.push("lab/busybox-zstd", "latest", other)
    r = ketch("pull", f"{registry.addr}/lab/busybox-zstd")
    assert r.rc == 0, r.err
    zstd_blob = next(d for d, b in other.blobs.items() if b != other.config)
    assert f"{zstd_blob[7:19]}: Already exists" in r.out
    assert len(layer_dirs(ketch)) == 1
    assert (ketch.root / "content/blobs/sha256" / zstd_blob[7:]).exists()
    assert ketch("save", "-o", str(tmp_path / "z.tar"), f"{registry.addr}/lab/busybox-zstd").rc == 0


def test_images_filter_and_rmi_by_id_with_several_repositories(
    ketch: Ketch, registry: RunningRegistry, images: dict
) -> None:
    bb = f"{registry.addr}/lab/busybox"
    ketch("pull", "-q", bb, check=True)
    ketch("pull", "-q", f"{registry.addr}/lab/layered", check=True)
    ketch("tag", bb, "copy/busybox:v2", check=True)
    rows = ketch("images", "copy/busybox").out.splitlines()[1:]
    assert [r.split()[:2] for r in rows] == [["copy/busybox", "v2"]]
    assert ketch("images", "-q", f"{bb}:latest").out.split() == [images["busybox"].id[7:19]]
    short = images["busybox"].id[7:19]
    r = ketch("rmi", short)
    assert r.rc == 1
    assert f"unable to delete {short} (must be forced) - image is referenced in multiple repositories" in r.err
    r = ketch("rmi", "-f", short)
    assert r.rc == 0, r.err
    assert "Untagged: copy/busybox:v2" in r.out and f"Deleted: {images['busybox'].id}" in r.out
    # the layer stays: lab/layered uses it
    assert len(layer_dirs(ketch)) == 3
