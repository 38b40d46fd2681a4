"""Image, stage and build-context content never reaches the host through
the copies ketch makes on the host side (issue 10, paths 3 to 5): ADD of
archives of every compression and `ketch build -`, COPY/ADD from the
context, a stage or an image, and a new volume's copy-up. Each attack is
a real archive, Dockerfile or image; each test checks a victim on the host
(content, link count, no new file) and that a node stays a node."""

from __future__ import annotations

import bz2
import io
import lzma
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.imagekit import Entry
from support.ketch import KETCH, Ketch, requires_root

pytestmark = requires_root


@pytest.fixture
def copy_base(ketch: Ketch) -> str:
    return ketch.import_busybox("lab/busybox")


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[Path]:
    """A host directory holding one file that an attack aims at; after the
    test, the file is unchanged, has one link, and nothing was added beside it."""
    d = tmp_path / "victim"
    d.mkdir()
    (d / "victim.txt").write_text("host secret\n")
    yield d
    assert sorted(os.listdir(d)) == ["victim.txt"]
    assert (d / "victim.txt").read_text() == "host secret\n"
    assert (d / "victim.txt").stat().st_nlink == 1


def _member(tf: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.size, ti.mode = kind, link, len(data), 0o644
    tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def hostile_tar(victim: Path, attack: str, extra: dict[str, bytes] | None = None) -> bytes:
    """Entries that try to write `victim/victim.txt`. "links": a symlink out
    then a file through it, `..` names, an absolute link then a file over
    it, a hardlink to it. "cve": the archive that gets past Python 3.11.7's
    tarfile filters (CVE-2025-4517: a path whose real length passes
    PATH_MAX, so os.path.realpath stops following links while the kernel
    does not); it wrote the victim on the host before the fix."""
    buf = io.BytesIO()
    target = str(victim / "victim.txt")
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (extra or {}).items():
            _member(tf, name, data=data)
        if attack == "links":
            _member(tf, "out", tarfile.SYMTYPE, str(victim))
            _member(tf, "out/victim.txt", data=b"pwned by a link\n")
            _member(tf, "../" * 30 + str(victim).lstrip("/") + "/victim.txt", data=b"pwned by ..\n")
            _member(tf, "abs", tarfile.SYMTYPE, target)
            _member(tf, "abs", data=b"pwned over an absolute link\n")
            _member(tf, "hard", tarfile.LNKTYPE, target)
            _member(tf, "ok.txt", data=b"fine\n")
            return _close(tf, buf)
        comp, steps, path = "d" * 247, "abcdefghijklmnop", ""
        for step in steps:
            _member(tf, os.path.join(path, comp), tarfile.DIRTYPE)
            _member(tf, os.path.join(path, step), tarfile.SYMTYPE, comp)
            path = os.path.join(path, comp)
        long_link = os.path.join(*steps, "l" * 254)
        _member(tf, long_link, tarfile.SYMTYPE, "../" * len(steps))
        _member(tf, "escape", tarfile.SYMTYPE, long_link + "/.." * (len(steps) + 1) + str(victim))
        _member(tf, "escape/victim.txt", data=b"pwned past the filter\n")
        _member(tf, "ok.txt", data=b"fine\n")
    return buf.getvalue()


def _close(tf: tarfile.TarFile, buf: io.BytesIO) -> bytes:
    tf.close()
    return buf.getvalue()


COMPRESS = {"bz2": bz2.compress, "xz": lzma.compress}


def build_stdin(ketch: Ketch, data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [KETCH, "build", *args, "-"], input=data, capture_output=True, env=ketch.env, timeout=300, check=False
    )


def listing(d: Path) -> list[str]:
    """Everything under the test's directory but ketch's own (the store, whose
    layers hold paths longer than PATH_MAX in these tests, and its run root)."""
    return sorted(
        str(p.relative_to(d)) for top in d.iterdir() if top.name not in ("store", "run") for p in [top, *top.rglob("*")]
    )


@pytest.mark.parametrize("attack", ["links", "cve"])
@pytest.mark.parametrize("comp", ["bz2", "xz"])
def test_add_of_a_hostile_archive_writes_only_inside_the_image(
    ketch: Ketch, copy_base: str, tmp_path: Path, victim: Path, comp: str, attack: str
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / f"evil.tar.{comp}").write_bytes(COMPRESS[comp](hostile_tar(victim, attack)))
    (ctx / "Dockerfile").write_text(f"FROM {copy_base}\nADD evil.tar.{comp} /x/\n")
    before = listing(tmp_path)
    r = ketch("build", "-t", "evil", str(ctx))
    assert (victim / "victim.txt").read_text() == "host secret\n"
    assert r.rc == 0, r.err
    # What tried to leave stayed in the image, under /x.
    rel = str(victim).lstrip("/")
    if attack == "links":
        r = ketch(
            "run", "--rm", "evil", "sh", "-c", f"cat /x/ok.txt /x/{rel}/victim.txt /x/abs /x/hard; readlink /x/out"
        )
        want = ["fine", "pwned by ..", "pwned over an absolute link", "pwned by ..", str(victim)]
    else:
        r = ketch("run", "--rm", "evil", "cat", "/x/ok.txt", f"/x/{rel}/victim.txt")
        want = ["fine", "pwned past the filter"]
    assert r.out.splitlines() == want, r.err
    assert [p for p in listing(tmp_path) if p not in before] == []


@pytest.mark.parametrize("attack", ["links", "cve"])
@pytest.mark.parametrize("comp", ["bz2", "xz"])
def test_a_hostile_context_on_stdin_is_extracted_inside_its_directory(
    ketch: Ketch, copy_base: str, tmp_path: Path, victim: Path, comp: str, attack: str
) -> None:
    dockerfile = f"FROM {copy_base}\nCOPY ok.txt /ok.txt\n".encode()
    before = listing(tmp_path)
    r = build_stdin(ketch, COMPRESS[comp](hostile_tar(victim, attack, {"Dockerfile": dockerfile})), "-t", "fromstdin")
    assert (victim / "victim.txt").read_text() == "host secret\n"
    assert r.returncode == 0, r.stderr
    assert ketch("run", "--rm", "fromstdin", "cat", "/ok.txt").out == "fine\n"
    assert [p for p in listing(tmp_path) if p not in before] == []
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith("context-")]


@pytest.mark.parametrize("comp", ["bz2", "xz", "gz", ""])
def test_a_normal_context_on_stdin_of_every_compression(
    ketch: Ketch, copy_base: str, tmp_path: Path, comp: str
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{comp}" if comp else "w") as tf:
        _member(tf, "Dockerfile", data=f"FROM {copy_base}\nCOPY d /d\n".encode())
        _member(tf, "d/", tarfile.DIRTYPE)
        _member(tf, "d/a.txt", data=b"from the context\n")
        _member(tf, "d/link", tarfile.SYMTYPE, "a.txt")
    r = build_stdin(ketch, buf.getvalue(), "-t", "ok")
    assert r.returncode == 0, r.stderr
    r = ketch("run", "--rm", "ok", "sh", "-c", "cat /d/a.txt; readlink /d/link")
    assert r.out == "from the context\na.txt\n"


def test_a_context_on_stdin_that_is_no_archive_is_one_line(ketch: Ketch, copy_base: str, tmp_path: Path) -> None:
    r = build_stdin(ketch, b"\x00not a tar at all" * 100)
    err = r.stderr.decode()
    assert r.returncode == 1 and err.startswith("unable to prepare context:") and len(err.splitlines()) == 1, err
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith("context-")]


def test_copy_of_two_sources_cannot_write_through_a_link_the_first_left(
    ketch: Ketch, copy_base: str, tmp_path: Path, victim: Path
) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "a").mkdir(parents=True)
    (ctx / "b" / "x").mkdir(parents=True)
    os.symlink(victim, ctx / "a" / "x")
    (ctx / "b" / "x" / "planted.txt").write_text("planted\n")
    (ctx / "Dockerfile").write_text(f"FROM {copy_base}\nCOPY a b /t/\n")
    r = ketch("build", "-t", "two", str(ctx))
    assert r.rc == 0, r.err
    assert ketch("run", "--rm", "two", "cat", "/t/x/planted.txt").out == "planted\n"


def _loop_device(tmp_path: Path, marker: bytes) -> tuple[str, int, int] | None:
    """A loop device over a file full of `marker`: (path, major, minor), or
    None where loop devices cannot be made here."""
    if not shutil.which("losetup") or not os.path.exists("/dev/loop-control"):
        return None
    backing = tmp_path / "disk.img"
    backing.write_bytes(marker * ((1 << 16) // len(marker) + 1))
    r = subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    dev = r.stdout.strip()
    st = os.stat(dev)
    return dev, os.major(st.st_rdev), os.minor(st.st_rdev)


def test_copy_from_a_stage_copies_nodes_as_nodes_and_links_inside_the_stage(
    ketch: Ketch, copy_base: str, tmp_path: Path
) -> None:
    marker = b"HOST-DISK-CONTENT-7f3a9\n"
    loop = _loop_device(tmp_path, marker)
    try:
        major, minor = (loop[1], loop[2]) if loop else (7, 200)
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(
            f"FROM {copy_base} AS s\n"
            f"RUN busybox mknod /disk b {major} {minor} && busybox mknod /null c 1 3 && busybox mkfifo /fifo"
            " && ln -s / /data && ln -s ../../.. /rel && echo stage-shadow > /etc/shadow"
            " && mkdir /tree && echo one > /tree/a && ln /tree/a /tree/b && busybox mknod /tree/null c 1 3\n"
            f"FROM {copy_base}\n"
            "COPY --from=s /disk /disk\n"
            "COPY --from=s /null /fifo /nodes/\n"
            "COPY --from=s /data/etc/shadow /via-abs\n"
            "COPY --from=s /rel/etc/shadow /via-rel\n"
            "COPY --from=s /tree /tree\n"
        )
        r = ketch("build", "-t", "nodes", str(ctx))
        assert r.rc == 0, r.err
        r = ketch(
            "run", "--rm", "nodes", "stat", "-c", "%n %F %t:%T %h", "/disk", "/nodes/null", "/nodes/fifo", "/tree/null"
        )
        assert r.out.splitlines() == [
            f"/disk block special file {major:x}:{minor:x} 1",
            "/nodes/null character special file 1:3 1",
            "/nodes/fifo fifo 0:0 1",
            "/tree/null character special file 1:3 1",
        ], r.err
        # The stage's own /etc/shadow, never the host's.
        assert ketch("run", "--rm", "nodes", "cat", "/via-abs", "/via-rel").out == "stage-shadow\nstage-shadow\n"
        r = ketch("run", "--rm", "nodes", "sh", "-c", "stat -c %i /tree/a /tree/b | busybox uniq | wc -l")
        assert r.out.strip() == "1", "hardlinks stay hardlinks"
        # Not one byte of the device went into any layer.
        for f in (tmp_path / "store").rglob("*"):
            if f.is_file() and not f.is_symlink() and f.stat().st_size < (64 << 20):
                assert marker not in f.read_bytes(), f
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop[0]], check=False)


def test_copy_from_a_stage_of_a_missing_path_fails_as_docker_does(ketch: Ketch, copy_base: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {copy_base} AS s\nRUN ln -s /etc/shadow /abs\nFROM {copy_base}\nCOPY --from=s /abs /x\n"
    )
    r = ketch("build", str(ctx))
    assert r.rc == 1 and r.err.strip() == "COPY failed: stat /abs: file does not exist", r.err


@pytest.fixture
def evil_image(ketch: Ketch) -> str:
    return ketch.import_busybox(
        "lab/evilvol",
        [
            Entry("etc/shadow", data=b"image shadow\n", mode=0o640),
            Entry("data", "symlink", link="/"),
            Entry("deep/", "dir"),
            Entry("deep/er/", "dir"),
            Entry("deep/er/rel", "symlink", link="../../.."),
            Entry("srv/", "dir", mode=0o750, uid=1000),
            Entry("srv/null", "char", device=(1, 3)),
            Entry("srv/disk", "block", device=(7, 0)),
            Entry("srv/fifo", "fifo"),
            Entry("srv/f", data=b"file\n", uid=1000),
            Entry("srv/f2", "hardlink", link="srv/f"),
            Entry("srv/link", "symlink", link="/etc/shadow"),
        ],
    )


@pytest.mark.parametrize("target", ["/data/etc", "/deep/er/rel/etc"])
def test_volume_copy_up_follows_links_inside_the_image_only(
    ketch: Ketch, evil_image: str, target: str, tmp_path: Path
) -> None:
    r = ketch("create", "--name", "cu", "-v", f"vol:{target}", evil_image, "true")
    assert r.rc == 0, r.err
    data = tmp_path / "store" / "volumes" / "vol" / "_data"
    # The image's /etc, not the host's.
    assert sorted(os.listdir(data)) == ["group", "passwd", "shadow"]
    assert (data / "shadow").read_bytes() == b"image shadow\n"
    host = [p.read_bytes() for p in (Path("/etc/shadow"), Path("/etc/hostname")) if p.is_file()]
    for f in data.rglob("*"):
        if f.is_file() and not f.is_symlink():
            assert f.read_bytes() not in host
    ketch("rm", "cu", check=True)


def test_volume_copy_up_copies_nodes_as_nodes(ketch: Ketch, evil_image: str, tmp_path: Path) -> None:
    r = ketch("create", "--name", "cu", "-v", "vol:/srv", evil_image, "true")
    assert r.rc == 0, r.err
    data = tmp_path / "store" / "volumes" / "vol" / "_data"
    st = {n: os.lstat(data / n) for n in os.listdir(data)}
    assert sorted(st) == ["disk", "f", "f2", "fifo", "link", "null"]
    import stat as S

    assert S.S_ISCHR(st["null"].st_mode) and os.major(st["null"].st_rdev) == 1 and os.minor(st["null"].st_rdev) == 3
    assert S.S_ISBLK(st["disk"].st_mode) and (os.major(st["disk"].st_rdev), os.minor(st["disk"].st_rdev)) == (7, 0)
    assert S.S_ISFIFO(st["fifo"].st_mode)
    assert os.readlink(data / "link") == "/etc/shadow"
    assert st["f"].st_ino == st["f2"].st_ino and st["f"].st_uid == 1000
    top = os.stat(data)
    assert (top.st_uid, top.st_mode & 0o7777) == (1000, 0o750)
    ketch("rm", "cu", check=True)
