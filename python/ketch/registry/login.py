"""`ketch login` and `logout`, as the docker CLI does them:
credentials checked against the registry, then kept in docker's
config.json (so docker and ketch share them)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AuthError, KetchError
from . import auth
from .client import RegistryClient

if TYPE_CHECKING:
    from ..config import Settings


def _config(settings: Settings | None = None) -> dict[str, Any]:
    try:
        data = json.loads(auth.write_file(settings).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(cfg: dict[str, Any], settings: Settings | None = None) -> None:
    path = auth.write_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def server_key(server: str | None) -> tuple[str, str]:
    """(domain to talk to, key in config.json) for `ketch login [SERVER]`."""
    if not server or server in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return "docker.io", auth.DOCKER_HUB_AUTH_KEY
    s = server.removeprefix("https://").removeprefix("http://").rstrip("/")
    return s, s


@dataclass(frozen=True)
class Login:
    """Where `login` kept the credentials: `helper` (docker-credential-NAME's
    NAME) when one is configured for the server, else in the file `path`."""

    server: str
    path: Path
    helper: str | None


def check_login(server: str | None, user: str, password: str, settings: Settings | None = None) -> None:
    """The registry accepts these credentials (AuthError if not); nothing is kept."""
    domain, _ = server_key(server)
    client = RegistryClient(domain, settings)
    client.creds = (user, password)
    r = client.request("GET", "/v2/", "")
    if r.status == 401:
        raise AuthError(f"login attempt to {client.scheme}://{client.host}/v2/ failed with status: 401 Unauthorized")
    if r.status != 200:
        raise KetchError(f"login attempt to {client.scheme}://{client.host}/v2/ failed with status: {r.status}")


def login(server: str | None, user: str, password: str, settings: Settings | None = None) -> Login:
    """`docker login`: the credentials checked, then kept (a credential helper's or config.json)."""
    check_login(server, user, password, settings)
    domain, key = server_key(server)
    cfg = _config(settings)
    helper = auth.helper_for(cfg, domain)
    auths = cfg.setdefault("auths", {})
    if helper is not None:  # docker's way: the secret goes to the helper, the file keeps an empty entry
        name, server = helper
        auth.helper_store(name, server, user, password)
        auths[key] = {}
    else:
        auths[key] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _save(cfg, settings)
    return Login(key, auth.write_file(settings), helper[0] if helper else None)


@dataclass(frozen=True)
class Logout:
    """What `logout [SERVER]` did: `server` as config.json keys it; `removed`,
    whether credentials for it were there (and are gone)."""

    server: str
    removed: bool


def logout(server: str | None, settings: Settings | None = None) -> Logout:
    """Removes the credentials for `server` from the file and, through the
    configured helper, from its store."""
    domain, key = server_key(server)
    cfg = _config(settings)
    auths = cfg.get("auths") or {}
    erased = False
    helper = auth.helper_for(cfg, domain)
    if helper is not None:
        name, srv = helper
        erased = auth.helper_erase(name, srv)
    if key not in auths:
        return Logout(key, erased)
    del auths[key]
    _save(cfg, settings)
    return Logout(key, True)
