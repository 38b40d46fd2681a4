"""Credentials stored the way docker stores them, and the registry auth
challenges (Basic, and the Bearer token flow Docker Hub uses)."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _auth_key(domain: str) -> str:
    return DOCKER_HUB_AUTH_KEY if domain == "docker.io" else domain


def credentials(domain: str) -> tuple[str, str] | None:
    """(user, password) stored for `domain` in docker's config.json, if any."""
    try:
        cfg = json.loads(docker_config_path().read_text())
    except (OSError, ValueError):
        return None
    auths = cfg.get("auths") or {}
    wanted = _auth_key(domain)
    for key, entry in auths.items():
        k = re.sub(r"^https?://", "", key).rstrip("/")
        if key == wanted or k == domain or (domain == "docker.io" and k in ("index.docker.io/v1", "docker.io")):
            if not isinstance(entry, dict):
                continue
            if entry.get("auth"):
                try:
                    user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    continue
                return user, pw
            if entry.get("username"):
                return entry["username"], entry.get("password", "")
    return None


_param = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _param.finditer(rest)}
    return scheme.lower(), params


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
