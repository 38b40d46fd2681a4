"""`ketch import`: a rootfs tarball (file or stdin, plain or gzip) becomes a one-layer image."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path

from support.imagekit import busybox_entries, sha256, tar_bytes
from support.ketch import KETCH, Ketch, requires_root

pytestmark = requires_root


def test_import_from_stdin_and_file(ketch: Ketch, tmp_path: Path) -> None:
    tar = tar_bytes(busybox_entries())
    p = subprocess.run([KETCH, "import", "-", "lab/imp:v1"], input=tar, capture_output=True, env=ketch.env)
    assert p.returncode == 0, p.stderr
    image_id = p.stdout.decode().strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    info = json.loads(ketch("image", "inspect", "lab/imp:v1").out)[0]
    assert info["Id"] == image_id
    assert info["RootFS"]["Layers"] == [sha256(tar)]
    assert info["RepoTags"] == ["lab/imp:v1"]
    diff = ketch.root / "layers" / sha256(tar)[7:] / "diff"
    assert (diff / "bin/busybox").exists()
    hist = ketch("history", "lab/imp:v1").out.splitlines()
    assert hist[1].rstrip().endswith("Imported from -")

    gz = tmp_path / "rootfs.tar.gz"
    gz.write_bytes(gzip.compress(tar))
    r = ketch("import", "-m", "from a file", str(gz), "lab/imp:gz")
    assert r.rc == 0, r.err
    # the same content: one layer shared by both images
    assert len([d for d in (ketch.root / "layers").iterdir() if not d.name.startswith(".")]) == 1
    assert "from a file" in ketch("history", "lab/imp:gz").out


def test_import_of_a_non_tarball_fails_cleanly(ketch: Ketch, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive" * 100)
    r = ketch("import", str(bad), "lab/bad")
    assert r.rc != 0 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    assert ketch("images", "-q").out == ""
    assert list((ketch.root / "layers").iterdir()) == []
    assert list((ketch.root / "content/blobs/sha256").iterdir()) == []
    r = ketch("import", str(bad), "Bad_Name")
    assert r.rc == 1 and "must be lowercase" in r.err
