"""`ketch save` / `ketch load`: docker's archive format and an OCI layout,
round trips through ketch, an archive as docker 20.10 writes it, and docker
itself where a dockerd answers."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from support.imagekit import Entry, build, busybox_entries, sha256, tar_bytes
from support.ketch import KETCH, Ketch, requires_root
from support.registry import RunningRegistry

pytestmark = requires_root

BASE = tar_bytes(busybox_entries())
WH = tar_bytes([Entry("etc/passwd", "whiteout"), Entry("extra/", "dir"), Entry("extra/f", data=b"f\n")])


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry) -> str:
    registry.client.push("lab/archived", "v1", build([(BASE, "gzip"), (WH, "zstd")]))
    return f"{registry.addr}/lab/archived:v1"


def other(tmp_path: Path) -> Ketch:
    return Ketch(tmp_path / "store2", tmp_path / "run2")


def members(path: Path) -> list[str]:
    with tarfile.open(path) as tf:
        return tf.getnames()


def test_save_then_load_into_another_store(ketch: Ketch, tmp_path: Path, pushed: str) -> None:
    ketch("pull", "-q", pushed, check=True)
    image_id = json.loads(ketch("image", "inspect", pushed).out)[0]["Id"]
    out = tmp_path / "img.tar"
    r = ketch("save", "-o", str(out), pushed)
    assert r.rc == 0, r.err
    names = members(out)
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= set(names)
    with tarfile.open(out) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [pushed]
    assert manifest[0]["Config"] == f"blobs/sha256/{image_id[7:]}"
    assert len(manifest[0]["Layers"]) == 2
    with tarfile.open(out) as tf:
        heads = [tf.extractfile(p).read(4) for p in manifest[0]["Layers"]]  # type: ignore[union-attr]
    # docker before 23 reads no zstd: that layer is shipped as a plain tar
    assert heads[0][:2] == b"\x1f\x8b" and heads[1] != b"\x28\xb5\x2f\xfd"
    assert manifest[0]["Layers"][1] == f"blobs/sha256/{sha256(WH)[7:]}"

    k2 = other(tmp_path)
    r = k2("load", "-i", str(out))
    assert r.rc == 0, r.err
    assert r.out.strip() == f"Loaded image: {pushed}"
    assert json.loads(k2("image", "inspect", pushed).out)[0]["Id"] == image_id
    from ketch.store.layers import chain_ids

    top = k2.root / "layers" / chain_ids([sha256(BASE), sha256(WH)])[1][7:] / "diff"
    assert stat.S_ISCHR((top / "etc/passwd").lstat().st_mode)
    assert (top / "extra/f").read_bytes() == b"f\n"
    # loading the same again changes nothing
    assert k2("load", "-i", str(out)).rc == 0
    assert len(k2("images", "-q").out.split()) == 1


def test_save_to_stdout_and_load_from_stdin(ketch: Ketch, tmp_path: Path, pushed: str) -> None:
    ketch("pull", "-q", pushed, check=True)
    saved = subprocess.run([KETCH, "save", pushed], capture_output=True, env=ketch.env, check=True).stdout
    k2 = other(tmp_path)
    p = subprocess.run([KETCH, "load"], input=saved, capture_output=True, env=k2.env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().strip() == f"Loaded image: {pushed}"


def test_load_an_archive_as_docker_20_writes_it(ketch: Ketch, tmp_path: Path) -> None:
    """Legacy layout: <id>/layer.tar (uncompressed), <id>/json, <id>/VERSION, <config hex>.json."""
    img = build([(BASE, "plain")])
    cfg_hex = img.id[7:]
    layer_id = "a" * 64
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:

        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))

        add(f"{layer_id}/VERSION", b"1.0")
        add(f"{layer_id}/json", json.dumps({"id": layer_id}).encode())
        add(f"{layer_id}/layer.tar", BASE)
        add(f"{cfg_hex}.json", img.config)
        add(
            "manifest.json",
            json.dumps(
                [{"Config": f"{cfg_hex}.json", "RepoTags": ["lab/legacy:v1"], "Layers": [f"{layer_id}/layer.tar"]}]
            ).encode(),
        )
        add("repositories", json.dumps({"lab/legacy": {"v1": layer_id}}).encode())
    archive = tmp_path / "legacy.tar"
    archive.write_bytes(buf.getvalue())
    r = ketch("load", "-i", str(archive))
    assert r.rc == 0, r.err
    assert r.out.strip() == "Loaded image: lab/legacy:v1"
    assert json.loads(ketch("image", "inspect", "lab/legacy:v1").out)[0]["Id"] == img.id
    assert (ketch.root / "layers" / sha256(BASE)[7:] / "diff/bin/busybox").exists()
    # the legacy json/VERSION files are not kept as blobs
    blobs = {p.name for p in (ketch.root / "content/blobs/sha256").iterdir()}
    assert sha256(b"1.0")[7:] not in blobs


def test_load_a_pure_oci_layout(ketch: Ketch, tmp_path: Path, pushed: str) -> None:
    ketch("pull", "-q", pushed, check=True)
    full = tmp_path / "full.tar"
    ketch("save", "-o", str(full), pushed, check=True)
    oci = tmp_path / "oci.tar"
    with tarfile.open(full) as src, tarfile.open(oci, "w") as dst:
        for m in src.getmembers():
            if m.name not in ("manifest.json", "repositories"):
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    k2 = other(tmp_path)
    r = k2("load", "-i", str(oci))
    assert r.rc == 0, r.err
    assert r.out.strip() == f"Loaded image: {pushed}"


def test_bad_archives_fail_cleanly(ketch: Ketch, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    r = ketch("load", "-i", str(junk))
    assert r.rc == 1 and r.err.startswith("invalid archive") and len(r.err.strip().splitlines()) == 1
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w") as tf:
        ti = tarfile.TarInfo("hello")
        ti.size = 2
        tf.addfile(ti, io.BytesIO(b"hi"))
    r = ketch("load", "-i", str(empty))
    assert r.rc == 1 and "neither manifest.json nor index.json" in r.err
    assert list((ketch.root / "content/blobs/sha256").iterdir()) == []
    r = ketch("save", "-o", str(tmp_path / "x.tar"), "nosuch:image")
    assert r.rc == 1 and "No such image" in r.err and not (tmp_path / "x.tar").exists()


def _dockerd() -> bool:
    return bool(shutil.which("docker")) and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _dockerd(), reason="no dockerd answers here (apt-get install docker.io, then start dockerd)")
def test_round_trip_through_docker(ketch: Ketch, tmp_path: Path, pushed: str) -> None:
    ketch("pull", "-q", pushed, check=True)
    image_id = json.loads(ketch("image", "inspect", pushed).out)[0]["Id"]
    out = tmp_path / "for-docker.tar"
    ketch("save", "-o", str(out), pushed, check=True)
    tag = "ketch-test/roundtrip:v1"
    try:
        subprocess.run(["docker", "load", "-i", str(out)], check=True, capture_output=True)
        assert (
            subprocess.run(
                ["docker", "image", "inspect", "-f", "{{.Id}}", pushed], capture_output=True, text=True, check=True
            ).stdout.strip()
            == image_id
        )
        subprocess.run(["docker", "tag", pushed, tag], check=True)
        back = tmp_path / "from-docker.tar"
        subprocess.run(["docker", "save", "-o", str(back), tag], check=True)
        k2 = other(tmp_path)
        r = k2("load", "-i", str(back))
        assert r.rc == 0, r.err
        assert json.loads(k2("image", "inspect", tag).out)[0]["Id"] == image_id
    finally:
        subprocess.run(["docker", "rmi", "-f", pushed, tag], capture_output=True)


def test_load_streams_members_to_disk(ketch: Ketch, tmp_path: Path) -> None:
    """An archive of many members just under 1 MiB: load keeps none of them in
    memory (it held every member up to 1 MiB: 1.27 GB RSS for a 1.2 GB archive),
    and the ones no image uses do not stay in the store."""
    ketch.import_busybox("lab/bb:v1")
    archive = tmp_path / "padded.tar"
    ketch("save", "-o", str(archive), "lab/bb:v1", check=True)
    with tarfile.open(archive, "a") as tf:
        for i in range(192):
            ti = tarfile.TarInfo(f"padding/{i}")
            ti.size = 1 << 20
            tf.addfile(ti, io.BytesIO(bytes(ti.size)))
    k2 = other(tmp_path)
    r, rss = k2.measured("load", "-i", str(archive))
    assert (r.rc, r.out.strip()) == (0, "Loaded image: lab/bb:v1"), r.err
    assert rss < 128 << 20, f"peak RSS {rss >> 20} MiB"
    assert {p.name for p in (k2.root / "content/blobs/sha256").iterdir()} == {
        p.name for p in (ketch.root / "content/blobs/sha256").iterdir()
    }
    assert list((k2.root / "content/ingest").iterdir()) == []


def test_import_and_load_honour_the_layer_limit(ketch: Ketch, tmp_path: Path) -> None:
    """KETCH_MAX_LAYER_BYTES bounds an imported or loaded layer as it bounds a
    pulled one: a small gzip that expands to 16 MiB, or a plain 16 MiB tarball,
    fails under a limit of 8 MiB with one line and leaves nothing."""
    big = tar_bytes([*busybox_entries(), Entry("zeros", data=bytes(16 << 20))])
    bomb, plain = tmp_path / "bomb.tar.gz", tmp_path / "plain.tar"
    bomb.write_bytes(gzip.compress(big))
    plain.write_bytes(big)
    ketch("import", str(bomb), "lab/bomb:v1", check=True)  # no limit: it is a fine image
    archive = tmp_path / "bomb-archive.tar"
    ketch("save", "-o", str(archive), "lab/bomb:v1", check=True)
    k2 = other(tmp_path)
    limit = {"KETCH_MAX_LAYER_BYTES": str(8 << 20)}
    for args, want in (
        (["import", str(bomb), "lab/x"], "expands beyond the limit of 8388608 bytes"),
        (["import", str(plain), "lab/x"], "larger than the limit of 8388608 bytes"),
        (["load", "-i", str(archive)], "expands beyond the limit of 8388608 bytes"),
    ):
        r = k2(*args, env=limit)
        assert r.rc == 1 and want in r.err, (args, r.err)
        assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
        assert k2("images", "-q").out == ""
        assert [p for p in (k2.root / "layers").iterdir()] == []
        assert list((k2.root / "content/blobs/sha256").iterdir()) == []
        assert list((k2.root / "content/ingest").iterdir()) == []
    assert k2("load", "-i", str(archive)).rc == 0  # the control: without the limit it loads
