"""A pull onto a full disk: one line on stderr, a non-zero exit, nothing half-written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import Ketch, RunningRegistry, requires_root
from imagekit import Entry, build, busybox_entries, tar_bytes

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
