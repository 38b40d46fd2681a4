"""Image config + `run` flags -> what the process is started with, by
docker's rules (Entrypoint/Cmd, Env, WorkingDir, User)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import KetchError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class ProcessSpec:
    argv: list[str]
    env: list[str]
    cwd: str
    uid: int = 0
    gid: int = 0
    groups: list[int] = field(default_factory=list)
    user: str = ""


def command(config: dict[str, Any], args: list[str], entrypoint: str | None) -> tuple[list[str], list[str]]:
    """(Entrypoint, Cmd) by docker's rule: an --entrypoint replaces the
    image's and drops its Cmd; arguments after the image replace Cmd. The
    process runs Entrypoint + Cmd."""
    img = config.get("config") or {}
    if entrypoint is not None:
        ep = [entrypoint] if entrypoint else []
        cmd = args
    else:
        ep = list(img.get("Entrypoint") or [])
        cmd = args or list(img.get("Cmd") or [])
    if not ep + cmd:
        raise KetchError("no command specified")
    return ep, cmd


def merge_env(image_env: list[str], extra: list[str]) -> list[str]:
    """Image Env, then -e values (KEY=VAL sets, bare KEY copies the caller's value);
    PATH gets docker's default when the image has none; HOSTNAME is added by the caller."""
    out: dict[str, str] = {}
    for e in image_env:
        k, _, v = e.partition("=")
        out[k] = v
    for e in extra:
        k, sep, v = e.partition("=")
        if not k:
            raise KetchError(f"invalid environment variable: {e}")
        if sep:
            out[k] = v
        elif k in os.environ:
            out[k] = os.environ[k]
    out.setdefault("PATH", DEFAULT_PATH)
    return [f"{k}={v}" for k, v in out.items()]


def read_env_file(path: str) -> list[str]:
    out = []
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise KetchError(f"open {path}: {e.strerror}") from e
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _image_file(lowerdirs: list[Path], rel: str) -> bytes | None:
    """A small file of the image as the container would see it (top layer
    first, stopping at a whiteout), read without following any symlink."""
    parts = rel.strip("/").split("/")
    for layer in lowerdirs:
        d = layer
        ok = True
        for comp in parts[:-1]:
            d = d / comp
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                ok = False
                break
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # whited out
            if not stat.S_ISDIR(st.st_mode):
                return None  # a symlink or file in the way: not followed from the host
        if not ok:
            continue
        target = d / parts[-1]
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            return None
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            return f.read(1 << 20)
    return None


MAX_ID = (1 << 32) - 2  # uid_t is 32 bits, and (uid_t)-1 means "unchanged" to the kernel


def _numeric_id(text: str, what: str) -> int | None:
    """A uid or gid written as a number (None for a name); out of range is an
    error, never wrapped (2^32 would be root)."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    if value > MAX_ID:
        raise KetchError(f"{what} {text[:40]}: uids and gids must be in range 0-{MAX_ID}")
    return value


def _file_id(text: str, what: str, file: str) -> int:
    """An id read from the image's passwd or group file."""
    value = _numeric_id(text.strip(), what)
    if value is None:
        raise KetchError(f"{what}: the image's {file} gives {text[:40]!r}, not a valid id")
    return value


def resolve_user(user: str, lowerdirs: list[Path]) -> tuple[int, int, list[int]]:
    """`-u`/USER (`name`, `uid`, `name:group`, `uid:gid`) -> uid, gid, groups,
    from the image's own /etc/passwd and /etc/group, read as files."""
    if not user:
        user = "0"
    name, _, group = user.partition(":")
    uid_given = _numeric_id(name, "user")
    gid_given = _numeric_id(group, "group") if group else None
    passwd = (_image_file(lowerdirs, "etc/passwd") or b"").decode(errors="replace")
    groups_text = (_image_file(lowerdirs, "etc/group") or b"").decode(errors="replace")
    uid = gid = None
    username = None
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) < 4:
            continue
        if f[0] == name or (uid_given is not None and f[2].strip() == str(uid_given)):
            uid = _file_id(f[2], f"user {name}", "/etc/passwd")
            gid = _file_id(f[3], f"user {name}", "/etc/passwd")
            username = f[0]
            break
    if uid is None:
        if uid_given is None:
            raise KetchError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = uid_given, 0
    if group:
        found = None
        for line in groups_text.splitlines():
            f = line.split(":")
            if len(f) >= 3 and (f[0] == group or (gid_given is not None and f[2].strip() == str(gid_given))):
                found = _file_id(f[2], f"group {group}", "/etc/group")
                break
        if found is None:
            if gid_given is None:
                raise KetchError(f"unable to find group {group}: no matching entries in group file")
            found = gid_given
        gid = found
    extra = []
    if username:
        for line in groups_text.splitlines():
            f = line.split(":")
            if len(f) >= 4 and username in f[3].split(","):
                extra.append(_file_id(f[2], f"group {f[0]}", "/etc/group"))
    assert gid is not None
    return uid, gid, sorted({gid, *extra})
