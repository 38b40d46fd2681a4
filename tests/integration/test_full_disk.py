"""A pull onto a full disk: one line on stderr, a non-zero exit, nothing half-written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.imagekit import Entry, build, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry
from support.wait import wait_for

pytestmark = requires_root


def test_pull_onto_a_full_disk(tmp_path: Path, registry: RunningRegistry) -> None:
    big = tar_bytes([Entry(f"f{i}", data=os.urandom(1 << 20)) for i in range(24)])
    registry.client.push("lab/toobig", "latest", build([(tar_bytes(busybox_entries()), "gzip"), (big, "gzip")]))
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True)
    try:
        k = Ketch(mnt / "store", tmp_path / "run")
        r = k("pull", f"{registry.addr}/lab/toobig")
        assert r.rc == 1
        assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
        assert r.err.startswith(f"no space left on device for the store at {mnt / 'store'}"), r.err
        layers = mnt / "store/layers"
        # a layer that completed may stay (it is whole); no partial one does
        assert not [p for p in layers.iterdir() if p.name.startswith(".")]
        assert all((p / "meta.json").exists() for p in layers.iterdir())
        assert list((mnt / "store/content/ingest").iterdir()) == []
        assert k("images", "-q").out == ""
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_does_not_wedge_the_store(ketch: Ketch, tmp_path: Path) -> None:
    """A container fills the store's disk: `ps -a` still lists it (exited) and
    `rm -f` removes it, which gives the room back."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True)
    ketch.root = mnt / "store"
    ketch.env["KETCH_ROOT"] = str(ketch.root)
    try:
        ketch.import_busybox("bb")
        r = ketch("run", "-d", "--name", "fill", "bb", "dd", "if=/dev/zero", "of=/fill", "bs=4k")
        assert r.rc == 0, r.err
        assert wait_for(lambda: os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize < 1 << 20, timeout=30)
        assert wait_for(lambda: not _running("dd if=/dev/zero of=/fill bs=4k"), timeout=30)
        with open(mnt / "filler", "wb", buffering=0) as f:  # the last blocks too, whoever would take them
            try:
                while True:
                    f.write(bytes(4096))
            except OSError:
                pass
        assert os.statvfs(mnt).f_bavail == 0
        r = ketch("ps", "-a")
        assert r.rc == 0, r.err
        assert len(r.out.splitlines()) == 2 and "Exited (" in r.out and "fill" in r.out, r.out
        r = ketch("rm", "-f", "fill")
        assert (r.rc, r.out.strip()) == (0, "fill"), r.err
        assert ketch("ps", "-a", "-q").out == ""
        assert os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize > 8 << 20  # the room is back
        r = ketch("run", "--rm", "bb", "echo", "ok")
        assert (r.rc, r.out) == (0, "ok\n"), r.err
    finally:
        ketch("rm", "-f", "fill")
        subprocess.run(["umount", str(mnt)], check=True)


def _running(cmdline: str) -> bool:
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and (p / "cmdline").read_bytes().replace(b"\0", b" ").strip() == cmdline.encode():
                return True
        except OSError:
            pass
    return False
