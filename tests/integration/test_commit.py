"""`ketch diff` and `ketch commit` on real containers: the upper dir as
docker's change list and as a new image layer (whiteouts, opaque
directories, hard links), and the new image run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from support.imagekit import Entry, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root

pytestmark = requires_root


@pytest.fixture
def commit_image(ketch: Ketch, tmp_path: Path) -> str:
    extra = [
        Entry("srv/", "dir"),
        Entry("srv/keep", data=b"keep"),
        Entry("srv/old/", "dir"),
        Entry("srv/old/a", data=b"a"),
        Entry("srv/old/b", data=b"b"),
    ]
    tar = tmp_path / "img.tar"
    tar.write_bytes(tar_bytes([*busybox_entries(), *extra]))
    ketch("import", str(tar), "base", check=True)
    return "base"


CHANGES = (
    "echo new > /srv/new; echo more >> /srv/keep; rm /srv/old/a; "
    "mkdir -p /data/deep; echo x > /data/deep/f; ln /data/deep/f /data/hard; "
    # a directory removed and made again: overlay makes it opaque
    "rm -rf /tmp; mkdir /tmp; echo t > /tmp/only"
)


def test_diff_lists_changes_as_docker_does(ketch: Ketch, commit_image: str) -> None:
    assert ketch("run", "--name", "d1", commit_image, "sh", "-c", CHANGES).rc == 0
    r = ketch("diff", "d1")
    assert r.out.splitlines() == [
        "A /data",
        "A /data/deep",
        "A /data/deep/f",
        "A /data/hard",
        "C /srv",
        "C /srv/keep",
        "A /srv/new",
        "C /srv/old",
        "D /srv/old/a",
        "C /tmp",
        "A /tmp/only",
    ], r.out
    # mount points ketch made (/proc, /sys, /dev, /etc/hosts...) are not changes of the container
    assert "/proc" not in r.out and "/etc" not in r.out


def test_commit_then_run_the_new_image(ketch: Ketch, commit_image: str) -> None:
    assert ketch("run", "--name", "c1", "-e", "FROM_RUN=1", "-w", "/srv", commit_image, "sh", "-c", CHANGES).rc == 0
    r = ketch(
        "commit",
        "-m",
        "add data",
        "-a",
        "Ann <ann@example.com>",
        "-c",
        'CMD ["cat", "/srv/new"]',
        "--change",
        "ENV MODE=prod",
        "c1",
        "lab/committed:v1",
    )
    assert r.rc == 0, r.err
    image_id = r.out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert ketch("run", "--rm", "lab/committed:v1").out == "new\n"
    r = ketch(
        "run",
        "--rm",
        "lab/committed:v1",
        "sh",
        "-c",
        "cat /srv/keep; ls /srv/old; ls /tmp; stat -c %h /data/hard; echo $MODE $FROM_RUN; pwd",
    )
    # keep changed, old/a deleted, /tmp only the new file (opaque), the hard link kept
    assert r.out == "keepmore\nb\nonly\n2\nprod 1\n/srv\n", r.err  # "keep" had no newline
    info = json.loads(ketch("image", "inspect", "lab/committed:v1").out)[0]
    assert info["Id"] == image_id
    assert info["Author"] == "Ann <ann@example.com>"
    assert info["Config"]["Cmd"] == ["cat", "/srv/new"]
    assert "MODE=prod" in info["Config"]["Env"] and "FROM_RUN=1" in info["Config"]["Env"]
    assert not any(e.startswith("HOSTNAME=") for e in info["Config"]["Env"])
    assert len(info["RootFS"]["Layers"]) == 2
    hist = ketch("history", "lab/committed:v1").out.splitlines()
    assert "add data" in hist[1]
    # The new layer holds only the container's changes.
    r = ketch("save", "lab/committed:v1", "-o", str(Path(ketch.root).parent / "out.tar"))
    assert r.rc == 0, r.err


def test_commit_a_running_container_freezes_it_only_meanwhile(ketch: Ketch, commit_image: str) -> None:
    r = ketch("run", "-d", "--name", "live", commit_image, "sh", "-c", "echo 1 > /srv/count; sleep 30")
    assert r.rc == 0
    try:
        for _ in range(50):
            if "A /srv/count" in ketch("diff", "live").out:
                break
            time.sleep(0.05)
        r = ketch("commit", "live", "lab/live")
        assert r.rc == 0, r.err
        assert "Up " in ketch("ps", "-f", "name=live").out and "Paused" not in ketch("ps").out
        assert ketch("run", "--rm", "lab/live", "cat", "/srv/count").out == "1\n"
        assert ketch("commit", "--pause=false", "live", "lab/live:nopause").rc == 0
    finally:
        ketch("rm", "-f", "live")


def test_commit_errors_leave_nothing(ketch: Ketch, commit_image: str) -> None:
    assert ketch("create", "--name", "c2", commit_image, "true").rc == 0
    before = ketch("images", "-q", "-a").out
    r = ketch("commit", "c2", "Bad:Name")
    assert r.rc != 0 and r.err.count("\n") == 1 and "Traceback" not in r.err
    r = ketch("commit", "-c", "RUN echo no", "c2", "lab/x")
    assert r.rc != 0 and "RUN is not a valid change command" in r.err
    assert ketch("commit", "nosuch", "lab/x").rc != 0
    assert ketch("images", "-q", "-a").out == before
