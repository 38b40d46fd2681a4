"""Credentials where docker and podman keep them, and the registry auth
challenges (Basic, and the Bearer token flow Docker Hub uses).

Where credentials are looked for (podman's order, containers-auth.json(5)):
$REGISTRY_AUTH_FILE alone when it is set; otherwise
$XDG_RUNTIME_DIR/containers/auth.json, then ~/.config/containers/auth.json,
then docker's config.json ($DOCKER_CONFIG/config.json or
~/.docker/config.json). The first file that knows the registry answers. In a
file: `credHelpers[registry]`, then `credsStore` (the
docker-credential-NAME get/store/erase protocol: JSON on stdin/stdout),
then the `auths` entry (`auth`, `username`/`password`, `identitytoken`)."""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AuthError

if TYPE_CHECKING:
    from ..config import Settings

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 10.0  # seconds a credential helper may take
HELPER_MAX_OUTPUT = 64 << 10  # bytes of a helper's answer read; more is an error
NOT_FOUND = "credentials not found in native keychain"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str  # "" with an identity token
    identity_token: str = ""  # docker's `identitytoken`: an OAuth2 refresh token


def _env(settings: Settings | None, name: str) -> str | None:
    return settings.env(name) if settings is not None else os.environ.get(name)


def _home(settings: Settings | None) -> Path:
    home = _env(settings, "HOME")
    return Path(home) if home else Path.home()


def docker_config_path(settings: Settings | None = None) -> Path:
    base = _env(settings, "DOCKER_CONFIG")
    return Path(base) / "config.json" if base else _home(settings) / ".docker" / "config.json"


def auth_files(settings: Settings | None = None) -> list[Path]:
    """The files credentials are read from, first answer wins (see the module's text)."""
    explicit = _env(settings, "REGISTRY_AUTH_FILE")
    if explicit:
        return [Path(explicit)]
    files = []
    runtime = _env(settings, "XDG_RUNTIME_DIR")
    if runtime:
        files.append(Path(runtime) / "containers" / "auth.json")
    files.append(_home(settings) / ".config" / "containers" / "auth.json")
    files.append(docker_config_path(settings))
    return files


def write_file(settings: Settings | None = None) -> Path:
    """The file `login` writes: REGISTRY_AUTH_FILE when set (podman's), docker's config.json otherwise."""
    explicit = _env(settings, "REGISTRY_AUTH_FILE")
    return Path(explicit) if explicit else docker_config_path(settings)


def _auth_key(domain: str) -> str:
    return DOCKER_HUB_AUTH_KEY if domain == "docker.io" else domain


def _load(path: Path) -> dict[str, Any] | None:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return cfg if isinstance(cfg, dict) else None


def _key_matches(key: str, domain: str) -> bool:
    k = re.sub(r"^https?://", "", key).rstrip("/")
    if domain == "docker.io":
        return key == DOCKER_HUB_AUTH_KEY or k in ("index.docker.io/v1", "index.docker.io", "docker.io")
    return key == domain or k == domain


def _entry(mapping: object, domain: str) -> tuple[str, Any] | None:
    if not isinstance(mapping, dict):
        return None
    for key, value in mapping.items():
        if isinstance(key, str) and _key_matches(key, domain):
            return key, value
    return None


def _from_entry(entry: object) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    raw = entry.get("identitytoken")
    token: str = raw if isinstance(raw, str) else ""
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return Credentials(user, pw, token)
    if isinstance(entry.get("username"), str) and entry["username"]:
        password = entry.get("password")
        return Credentials(entry["username"], password if isinstance(password, str) else "", token)
    if token:
        return Credentials("<token>", "", token)
    return None


def lookup(domain: str, settings: Settings | None = None) -> Credentials | None:
    """The credentials for `domain` (host[:port], docker.io for Docker Hub), or None:
    those the caller gave for this work (Settings.given_auth) before any file's."""
    given = settings.given_auth.get(domain) if settings is not None else None
    if given is not None:
        return Credentials(*given)
    for path in auth_files(settings):
        cfg = _load(path)
        if cfg is None:
            continue
        key = _auth_key(domain)
        helpers = cfg.get("credHelpers")
        found = _entry(helpers, domain)
        if found is not None and isinstance(found[1], str) and found[1]:
            return helper_get(found[1], found[0] if found[0] else key)
        entry = _entry(cfg.get("auths"), domain)
        store = cfg.get("credsStore")
        if isinstance(store, str) and store:
            got = helper_get(store, entry[0] if entry else key)
            if got is not None:
                return got
        if entry is not None:
            creds = _from_entry(entry[1])
            if creds is not None:
                return creds
    return None


def credentials(domain: str, settings: Settings | None = None) -> tuple[str, str] | None:
    """(user, password) for `domain`, if any (see `lookup`)."""
    c = lookup(domain, settings)
    return (c.username, c.password) if c else None


# -- credential helpers -----------------------------------------------------------


class HelperError(AuthError):
    """A credential helper that failed, hung or answered nonsense."""


def helper_path(name: str) -> str:
    """docker-credential-NAME, found on PATH only: a name that is a path, or
    holds anything but letters, digits, `.`, `_`, `-`, is refused."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise HelperError(f"credential helper name {name[:80]!r} is not a plain name (docker-credential-NAME on PATH)")
    found = shutil.which(f"docker-credential-{name}")
    if not found:
        raise HelperError(f"credential helper docker-credential-{name} is not on PATH")
    return found


def _run_helper(name: str, action: str, data: bytes) -> tuple[int, bytes]:
    """Runs `docker-credential-NAME action` with `data` on stdin: (exit code,
    stdout). Bounded in time (HELPER_TIMEOUT) and size (HELPER_MAX_OUTPUT);
    its stderr is not read (a helper writes its errors on stdout)."""
    exe = helper_path(name)
    try:
        p = subprocess.Popen(
            [exe, action], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    except OSError as e:
        raise HelperError(f"credential helper docker-credential-{name}: {e.strerror or e}") from None
    assert p.stdin is not None and p.stdout is not None
    out = bytearray()
    rc = -1
    deadline = time.monotonic() + HELPER_TIMEOUT
    why = ""
    try:
        try:
            p.stdin.write(data)
            p.stdin.close()
        except BrokenPipeError:
            pass
        fd = p.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                why = f"gave no answer within {HELPER_TIMEOUT:g} s"
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            out += chunk
            if len(out) > HELPER_MAX_OUTPUT:
                why = f"answered more than {HELPER_MAX_OUTPUT} bytes"
                break
        if not why:
            try:
                rc = p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                why = f"did not exit within {HELPER_TIMEOUT:g} s"
    finally:
        if why or p.returncode is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        p.stdout.close()
    if why:
        raise HelperError(f"credential helper docker-credential-{name} {why}")
    return rc, bytes(out)


def _helper_message(out: bytes) -> str:
    text = out.decode(errors="replace").strip().splitlines()
    return (text[0] if text else "")[:200]


def helper_get(name: str, server: str) -> Credentials | None:
    """`get`: None when the helper says it has no credentials for `server`."""
    rc, out = _run_helper(name, "get", server.encode())
    if rc != 0:
        msg = _helper_message(out)
        if NOT_FOUND in msg.lower() or "credentials not found" in msg.lower():
            return None
        raise HelperError(f"credential helper docker-credential-{name} get failed (exit {rc}): {msg or 'no message'}")
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("Username") or "", str)
        or not isinstance(doc.get("Secret"), str)
    ):
        raise HelperError(f"credential helper docker-credential-{name} get: its answer is not a credentials document")
    user, secret = doc.get("Username") or "", doc["Secret"]
    if user == "<token>":
        return Credentials(user, "", secret)
    return Credentials(user, secret)


def helper_store(name: str, server: str, user: str, secret: str) -> None:
    doc = json.dumps({"ServerURL": server, "Username": user, "Secret": secret}).encode()
    rc, out = _run_helper(name, "store", doc)
    if rc != 0:
        msg = _helper_message(out)
        raise HelperError(f"credential helper docker-credential-{name} store failed (exit {rc}): {msg}")


def helper_erase(name: str, server: str) -> bool:
    """`erase`: whether there was something to erase."""
    rc, out = _run_helper(name, "erase", server.encode())
    if rc == 0:
        return True
    msg = _helper_message(out)
    if "not found" in msg.lower():
        return False
    raise HelperError(f"credential helper docker-credential-{name} erase failed (exit {rc}): {msg}")


def helper_for(cfg: dict[str, Any], domain: str) -> tuple[str, str] | None:
    """(helper name, server key) that keeps `domain`'s credentials in this config, if one does."""
    found = _entry(cfg.get("credHelpers"), domain)
    if found is not None and isinstance(found[1], str) and found[1]:
        return found[1], found[0]
    store = cfg.get("credsStore")
    if isinstance(store, str) and store:
        return store, _auth_key(domain)
    return None


# -- challenges ---------------------------------------------------------------

_param = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _param.finditer(rest)}
    return scheme.lower(), params


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
