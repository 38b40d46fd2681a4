"""`export`: a container's filesystem as one tar, as docker exports it:
its layers and its writable layer merged (an overlay of them all, mounted
nowhere and held by fd, rust/src/root.rs), archived by the layer writer
(rust/src/layer/diff.rs), which opens every entry relative to its parent
with O_NOFOLLOW: a symlink the container made is archived as the link,
never as what it points to on the host. Volumes and bind mounts are not
in it (docker's neither)."""

from __future__ import annotations

import os
import shutil
from typing import BinaryIO

from .. import _native
from ..store import Store
from .state import container_dir, lookup


def _write(store: Store, ref: str, tmp: str) -> None:
    c = lookup(store, ref)
    d = container_dir(store, c.id)
    layers = [str(d / "upper")] + ([str(d / "init")] if (d / "init").is_dir() else []) + list(c.config["lowerdirs"])
    fd = _native.overlay_root(layers)
    try:
        _native.write_layer(f"/proc/self/fd/{fd}", tmp, gzip=False)
    finally:
        os.close(fd)


def export_to_file(store: Store, ref: str, path: str | os.PathLike[str]) -> None:
    """`export -o PATH`: written beside PATH, then renamed: never a half-written archive under its name."""
    tmp = f"{os.fspath(path)}.ketch-tmp-{os.getpid()}"
    try:
        _write(store, ref, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def export(store: Store, ref: str, out: BinaryIO) -> None:
    """`export` to a stream (stdout): made in the store first, then copied out."""
    tmpdir = store.root / "tmp"
    tmpdir.mkdir(exist_ok=True, mode=0o700)
    tmp = tmpdir / f"export-{os.getpid()}.tar"
    tmp.unlink(missing_ok=True)
    try:
        _write(store, ref, str(tmp))
        with open(tmp, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
        out.flush()
    finally:
        tmp.unlink(missing_ok=True)
