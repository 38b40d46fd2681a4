"""`ketch cp` both ways, for stopped and running containers, with docker's
rules for where things land, confined to the container's root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.ketch import Ketch, requires_root

pytestmark = requires_root

SETUP = (
    "mkdir -p /d/sub; echo a > /d/a; echo b > /d/sub/b; echo .wh.x > /d/.wh.x; "
    # symlinks that would name host files if resolved on the host
    "ln -s /etc /d/etc; ln -s ../../../../../../etc/passwd /d/up; ln -s / /d/top"
)


@pytest.fixture
def cp_image(ketch: Ketch, tmp_path: Path) -> str:
    ketch.import_busybox("cpimg")
    return "cpimg"


@pytest.fixture(params=["stopped", "running"])
def box(request: pytest.FixtureRequest, ketch: Ketch, cp_image: str) -> str:
    if request.param == "stopped":
        ketch("run", "--name", "box", cp_image, "sh", "-c", SETUP, check=True)
    else:
        ketch("run", "-d", "--name", "box", cp_image, "sh", "-c", SETUP + "; touch /ready; sleep 60", check=True)
        for _ in range(100):
            if ketch("exec", "box", "ls", "/ready").rc == 0:
                break
    yield "box"
    ketch("rm", "-f", "box")


def test_copy_out_by_docker_rules(ketch: Ketch, box: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert ketch("cp", f"{box}:/d", str(out)).rc == 0  # into an existing dir: out/d
    assert (out / "d" / "a").read_text() == "a\n" and (out / "d" / "sub" / "b").read_text() == "b\n"
    assert (out / "d" / ".wh.x").read_text() == ".wh.x\n"  # an ordinary file, not a whiteout
    assert os.readlink(out / "d" / "etc") == "/etc"  # the link itself, not the host's /etc
    assert os.readlink(out / "d" / "top") == "/"  # its target as it was (never "//")
    assert ketch("cp", f"{box}:/d/a", str(out / "renamed")).rc == 0
    assert (out / "renamed").read_text() == "a\n"
    assert ketch("cp", f"{box}:/d/.", str(out / "contents")).rc == 0  # a new dir with d's contents
    assert sorted(os.listdir(out / "contents")) == [".wh.x", "a", "etc", "sub", "top", "up"]
    # a path through a symlink resolves inside the container
    assert ketch("cp", f"{box}:/d/etc/passwd", str(out / "passwd")).rc == 0
    assert (out / "passwd").read_text().startswith("root:x:0:0:root:/root:/bin/sh\nweb:")
    r = ketch("cp", f"{box}:/nope", str(out))
    assert r.rc == 1 and "Could not find the file /nope in container box" in r.err
    r = ketch("cp", f"{box}:/d", str(out / "renamed"))
    assert r.rc == 1 and "cannot copy a directory to a file" in r.err


def test_copy_in_stays_inside_the_container(ketch: Ketch, box: str, tmp_path: Path) -> None:
    host_passwd = Path("/etc/passwd").read_bytes()
    src = tmp_path / "src"
    (src / "inner").mkdir(parents=True)
    (src / "f").write_text("host-file\n")
    (src / "inner" / "g").write_text("g\n")
    (tmp_path / "passwd").write_text("evil\n")
    assert ketch("cp", str(src / "f"), f"{box}:/d/").rc == 0
    assert ketch("cp", str(src), f"{box}:/newdir").rc == 0
    assert ketch("cp", str(src) + "/.", f"{box}:/d/sub").rc == 0
    # through the container's /d/etc -> /etc: the container's passwd, never the host's
    assert ketch("cp", str(tmp_path / "passwd"), f"{box}:/d/etc/passwd").rc == 0
    assert ketch("cp", str(tmp_path / "passwd"), f"{box}:/d/up").rc == 0
    assert Path("/etc/passwd").read_bytes() == host_passwd
    look = tmp_path / "look"
    look.mkdir()
    assert ketch("cp", f"{box}:/", str(look / "root")).rc == 0
    root = look / "root"
    assert (root / "d" / "f").read_text() == "host-file\n"
    assert (root / "newdir" / "inner" / "g").read_text() == "g\n"
    assert (root / "d" / "sub" / "f").read_text() == "host-file\n" and (root / "d" / "sub" / "b").exists()
    assert (root / "etc" / "passwd").read_text() == "evil\n"
    r = ketch("cp", str(src / "f"), f"{box}:/missing/dir/x")
    assert r.rc == 1 and "must exist" in r.err
    r = ketch("cp", str(src / "f"), str(tmp_path / "y"))
    assert r.rc == 1 and "must specify at least one container" in r.err


def test_copy_out_to_a_trailing_slash_needs_that_directory(ketch: Ketch, box: str, tmp_path: Path) -> None:
    # docker keeps the "/" a local destination ends with: a file copied to a
    # missing "dir/" is an error (not a file named dir), a directory may make it
    out = tmp_path / "out"
    out.mkdir()
    r = ketch("cp", f"{box}:/d/a", f"{out}/new/")
    assert r.rc == 1 and f"destination directory {out}/new/ must exist" in r.err, r.err
    assert not (out / "new").exists()
    assert ketch("cp", f"{box}:/d", f"{out}/made/").rc == 0
    assert (out / "made" / "a").read_text() == "a\n" and (out / "made" / "sub" / "b").read_text() == "b\n"
    assert ketch("cp", f"{box}:/d/a", f"{out}/").rc == 0 and (out / "a").read_text() == "a\n"
    assert ketch("cp", f"{box}:/d/.", f"{out}/contents/.").rc == 0
    assert sorted(os.listdir(out / "contents")) == [".wh.x", "a", "etc", "sub", "top", "up"]
