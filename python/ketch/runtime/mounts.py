"""What a new container mounts, from -v, --mount and --tmpfs as docker
reads them, and its init layer (the mount points ketch itself needs)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import KetchError

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

Bind = tuple[str, str, bool]  # (host source, target, read-only)
Named = tuple[str, str, bool]  # a named volume: (name, target, anonymous)


def parse(
    root: Path, vols: list[str], mounts: list[str], tmpfs: list[str]
) -> tuple[list[Bind], list[str], list[Named]]:
    """-v, --mount and --tmpfs: (binds, tmpfs targets, named volumes). A
    volume's bind is its directory under the store's `root`; a missing host
    directory of a -v bind is created, as docker does."""
    binds: list[Bind] = []
    targets = [mount_point(t.split(":", 1)[0], "--tmpfs") for t in tmpfs]
    named: list[Named] = []

    def volume(name: str | None, target: str, ro: bool) -> None:
        anon = name is None
        name = name or os.urandom(32).hex()
        named.append((name, mount_point(target, "volume"), anon))
        binds.append((str(root / "volumes" / name / "_data"), target, ro))

    if vols:
        from . import volumes  # only for -v: a run without one is faster so
    for vspec in vols:
        parts = vspec.split(":")
        if len(parts) == 1 and vspec.startswith("/"):
            volume(None, vspec, False)  # -v /path: an anonymous volume
        elif len(parts) in (2, 3) and not parts[0].startswith("/") and volumes.is_name(parts[0]):
            if len(parts) == 3 and parts[2] not in ("ro", "rw"):
                raise KetchError(f"invalid volume specification: '{vspec}'")
            volume(parts[0], parts[1], len(parts) == 3 and parts[2] == "ro")
        else:
            binds.append(_bind(vspec))
    for mspec in mounts:
        m = parse_mount(mspec)
        if m["type"] == "tmpfs":
            targets.append(mount_point(m["target"], "--mount"))
        elif m["type"] == "volume":
            volume(m["source"] or None, m["target"], m["readonly"])
        else:
            binds.append((os.path.realpath(m["source"]), mount_point(m["target"], "--mount"), m["readonly"]))
    return binds, targets, named


def mount_point(path: str, flag: str) -> str:
    if not path.startswith("/") or ".." in path.split("/") or path.rstrip("/") == "":
        raise KetchError(f"invalid {flag} destination {path!r}: it must be an absolute path inside the container")
    return path


def _bind(spec: str) -> Bind:
    """docker's -v HOST:CONTAINER[:ro|rw] (a missing host directory is created, as docker does)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise KetchError(f"invalid volume specification: '{spec}'")
    src, dst = parts[0], mount_point(parts[1], "volume")
    if not src.startswith("/"):
        raise KetchError(f"invalid volume specification: '{spec}': a host path must be absolute")
    if not os.path.lexists(src):
        os.makedirs(src)
    return (os.path.realpath(src), dst, len(parts) == 3 and parts[2] == "ro")


def parse_mount(spec: str) -> dict[str, Any]:
    """docker's --mount: type=bind|volume|tmpfs, source/src, target/destination/dst, readonly/ro."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        k, sep, v = part.partition("=")
        k = k.strip().lower()
        if k in ("readonly", "ro") and not sep:
            v = "true"
        elif not sep:
            raise KetchError(
                f'invalid argument "{spec}" for "--mount" flag: invalid field \'{part}\' must be a key=value pair'
            )
        fields[k] = v
    kind = fields.pop("type", "volume")
    src = fields.pop("source", fields.pop("src", ""))
    dst = fields.pop("target", fields.pop("destination", fields.pop("dst", "")))
    ro = fields.pop("readonly", fields.pop("ro", "false")).lower() in ("1", "true")
    fields.pop("bind-propagation", None)
    fields.pop("volume-nocopy", None)
    if kind not in ("bind", "volume", "tmpfs"):
        raise KetchError(f'invalid argument "{spec}" for "--mount" flag: unsupported mount type "{kind}"')
    if not dst:
        raise KetchError(f'invalid argument "{spec}" for "--mount" flag: target is required')
    if kind == "bind" and not src:
        raise KetchError(f'invalid argument "{spec}" for "--mount" flag: source is required for bind mounts')
    if kind == "bind" and not os.path.exists(src):
        raise KetchError(f'invalid mount config for type "bind": bind source path does not exist: {src}')
    if fields:
        raise KetchError(f'invalid argument "{spec}" for "--mount" flag: unknown option "{next(iter(fields))}"')
    return {"type": kind, "source": src, "target": dst, "readonly": ro}


def init_binary(configured: str | None) -> str:
    """--init's pid 1, mounted read-only at /sbin/docker-init as docker's
    docker-init is: ketch-monitor, which is the init (tini's job: reap,
    forward signals, pass the exit code on; rust/src/init.rs) when started by
    that name; KETCH_INIT_PATH names another static init (tini-static)."""
    if configured is None:
        from .process import helper_program

        return os.path.realpath(helper_program())
    if not os.path.isfile(configured):
        raise KetchError(f"--init needs a static init binary: {configured} not found")
    return os.path.realpath(configured)


def init_layer(init: Path, lowerdirs: list[str], tini: bool = False) -> None:
    """The mount points ketch itself needs (/proc, /sys, /dev and the files
    bind-mounted into /etc), in a layer of their own between the image and
    the container's upper dir, as docker's "-init" layer: so they never show
    in `diff` or in a committed layer. /etc's files only where the image's
    /etc is a real directory (a symlinked /etc keeps its meaning)."""
    for sub in ("proc", "sys", "dev"):
        (init / sub).mkdir(parents=True, exist_ok=True)

    def real_dir(name: str) -> bool:
        found = next((Path(lower) / name for lower in lowerdirs if os.path.lexists(Path(lower) / name)), None)
        return found is None or (found.is_dir() and not found.is_symlink())

    if real_dir("etc"):
        (init / "etc").mkdir(exist_ok=True)
        for f in ("hosts", "hostname", "resolv.conf"):
            (init / "etc" / f).touch()
    if tini and real_dir("sbin"):
        (init / "sbin").mkdir(exist_ok=True)
        (init / "sbin" / "docker-init").touch()
