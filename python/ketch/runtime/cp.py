"""`ketch cp`: docker's rules for where things land; the copying itself is
Rust (cp.rs), with every container path resolved inside the container."""

from __future__ import annotations

import os
import posixpath
from typing import Any

from .. import _native
from ..errors import KetchError
from ..store import Store
from . import state


def split(arg: str) -> tuple[str | None, str]:
    """`CONTAINER:PATH` -> (container, path); a local path -> (None, path)
    (as docker reads it: no container part when a slash comes before the colon)."""
    name, sep, path = arg.partition(":")
    if not sep or not name or "/" in name or arg.startswith("."):
        return None, arg
    return name, path


def _target(store: Store, c: state.Container) -> dict[str, Any]:
    if c.state == "running" and c.pid is not None:
        return {"pid": c.pid}
    d = state.container_dir(store, c.id)
    init = [str(d / "init")] if (d / "init").is_dir() else []
    return {
        "lowerdirs": init + list(c.config["lowerdirs"]),
        "upper": str(d / "upper"),
        "work": str(d / "work"),
        "rootfs": str(d / "rootfs"),
    }


def _contents(path: str) -> bool:
    """`dir/.`: the directory's contents, not the directory."""
    return path.endswith("/.") or path == "."


def _base(path: str) -> str:
    """The path without a trailing `/.` or slashes."""
    if _contents(path):
        path = path[:-1]
    return path.rstrip("/") or ("/" if path.startswith("/") else ".")


def _landing(src: str, src_kind: str, dest: str, dest_kind: str | None, parent_exists: bool) -> tuple[str, str]:
    """(directory to extract into, name of the top entry) by docker's rules."""
    if dest_kind == "dir":
        return dest, "." if _contents(src) else posixpath.basename(src.rstrip("/")) or "."
    if dest_kind is not None and src_kind == "dir":
        raise KetchError(f"cannot copy a directory to a file: {dest}")
    if dest_kind is None and dest.endswith("/") and src_kind != "dir":
        raise KetchError(f"destination directory {dest} must exist")
    if not parent_exists:
        raise KetchError(f"destination directory {posixpath.dirname(dest.rstrip('/')) or '/'} must exist")
    return posixpath.dirname(dest.rstrip("/")) or "/", posixpath.basename(dest.rstrip("/"))


def copy(store: Store, src_arg: str, dest_arg: str) -> None:
    try:
        _copy(store, src_arg, dest_arg)
    except ValueError as e:  # what the copying child reported
        raise KetchError(str(e)) from None


def _copy(store: Store, src_arg: str, dest_arg: str) -> None:
    src_ctr, src = split(src_arg)
    dest_ctr, dest = split(dest_arg)
    if (src_ctr is None) == (dest_ctr is None):
        raise KetchError(
            "must specify at least one container source"
            if src_ctr is None
            else "copying between containers is not supported"
        )
    if not (src or dest):
        raise KetchError("filesystem path cannot be empty")
    if src_ctr is not None:
        c = state.lookup(store, src_ctr)
        t = _target(store, c)
        path = src if src.startswith("/") else "/" + src
        base = _base(path)
        kind = _native.cp_stat(t, base)
        if kind is None:
            raise KetchError(f"Could not find the file {src} in container {src_ctr}")
        if _contents(path) and kind != "dir":
            raise KetchError(f"{src}: not a directory")
        dest_abs = os.path.abspath(dest)
        dest_kind = "dir" if os.path.isdir(dest_abs) else ("file" if os.path.lexists(dest_abs) else None)
        # a missing destination written with a trailing "/" (or "/.") names a
        # directory that must exist: abspath drops it, docker's resolveLocalPath keeps it
        asserts_dir = dest_kind is None and dest.endswith(("/", "/."))
        parent_exists = os.path.isdir(os.path.dirname(dest_abs))
        into, name = _landing(path, kind, dest_abs + "/" if asserts_dir else dest_abs, dest_kind, parent_exists)
        _native.cp_out(t, base, name, into)
        return
    assert dest_ctr is not None
    c = state.lookup(store, dest_ctr)
    t = _target(store, c)
    if not os.path.lexists(src):
        raise KetchError(f"could not find the file {src} on the host: no such file or directory")
    src_kind = "dir" if os.path.isdir(src) and not os.path.islink(src) else "file"
    cpath = dest if dest.startswith("/") else "/" + dest
    dest_kind = _native.cp_stat(t, cpath.rstrip("/") or "/", follow=True)
    parent = posixpath.dirname(cpath.rstrip("/")) or "/"
    parent_exists = _native.cp_stat(t, parent, follow=True) == "dir"
    into, name = _landing(src, src_kind, cpath, dest_kind, parent_exists)
    _native.cp_in(t, _base(src), name, into)
