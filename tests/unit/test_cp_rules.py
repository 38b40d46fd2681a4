"""runtime/cp.py's decisions, before any byte moves: which argument names a
container, and where a copy lands by docker's rules (a file or a directory,
an existing destination or not, a trailing "/" and the "/." form)."""

from __future__ import annotations

import pytest

from ketch.errors import KetchError
from ketch.runtime.cp import _base, _contents, _landing, split


@pytest.mark.parametrize(
    ("arg", "want"),
    [
        ("box:/etc/hosts", ("box", "/etc/hosts")),
        ("box:etc", ("box", "etc")),
        ("box:", ("box", "")),
        ("0123abcd:/a:b", ("0123abcd", "/a:b")),  # the first colon splits
        ("/tmp/a:b", (None, "/tmp/a:b")),  # absolute: a local path
        ("./file:name.txt", (None, "./file:name.txt")),  # explicitly relative: local
        ("plain", (None, "plain")),
    ],
)
def test_which_argument_is_a_container(arg: str, want: tuple[str | None, str]) -> None:
    assert split(arg) == want


def test_contents_and_base_forms() -> None:
    assert [_contents(p) for p in ("/d/.", ".", "/d", "/d/", "/d/..", "/.d")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    assert [_base(p) for p in ("/d/.", "/d/", "/d//", "/", "/.", ".", "d/.", "/a/b")] == [
        "/d", "/d", "/d", "/", "/", ".", "d", "/a/b",
    ]  # fmt: skip


# (source, its kind, destination, its kind (None: missing), its parent exists) -> (extract into, top entry's name)
LANDS = [
    # a file: into an existing directory under its own name, or as the destination's name
    ("/d/a", "file", "/out", "dir", True, ("/out", "a")),
    ("/d/a", "file", "/out/", "dir", True, ("/out/", "a")),
    ("/d/a", "file", "/out/new", None, True, ("/out", "new")),
    ("/d/a", "file", "/out/old", "file", True, ("/out", "old")),  # overwritten
    # a directory: into an existing one under its own name, or made as the destination
    ("/d", "dir", "/out", "dir", True, ("/out", "d")),
    ("/d/", "dir", "/out", "dir", True, ("/out", "d")),
    ("/d", "dir", "/out/new", None, True, ("/out", "new")),
    ("/d", "dir", "/out/new/", None, True, ("/out", "new")),  # a directory may be made from a "/" name
    # "/.": the directory's contents, into an existing one or a new one
    ("/d/.", "dir", "/out", "dir", True, ("/out", ".")),
    ("/d/.", "dir", "/out/new", None, True, ("/out", "new")),
    ("/", "dir", "/look/root", None, True, ("/look", "root")),
    ("/x", "file", "/", "dir", True, ("/", "x")),
    ("/x", "file", "/new", None, True, ("/", "new")),
]


@pytest.mark.parametrize(("src", "src_kind", "dest", "dest_kind", "parent", "want"), LANDS)
def test_where_a_copy_lands(
    src: str, src_kind: str, dest: str, dest_kind: str | None, parent: bool, want: tuple[str, str]
) -> None:
    assert _landing(src, src_kind, dest, dest_kind, parent) == want


@pytest.mark.parametrize(
    ("src", "src_kind", "dest", "dest_kind", "parent", "message"),
    [
        ("/d", "dir", "/out/file", "file", True, "cannot copy a directory to a file: /out/file"),
        ("/d/.", "dir", "/out/file", "file", True, "cannot copy a directory to a file: /out/file"),
        # a missing destination that ends in "/" must be an existing directory for a file
        ("/d/a", "file", "/out/new/", None, True, "destination directory /out/new/ must exist"),
        ("/d/a", "file", "/missing/dir/x", None, False, "destination directory /missing/dir must exist"),
        ("/d", "dir", "/missing/new", None, False, "destination directory /missing must exist"),
        ("/d/a", "file", "/x", None, False, "destination directory / must exist"),
    ],
)
def test_copies_docker_refuses(
    src: str, src_kind: str, dest: str, dest_kind: str | None, parent: bool, message: str
) -> None:
    with pytest.raises(KetchError) as e:
        _landing(src, src_kind, dest, dest_kind, parent)
    assert str(e.value) == message
