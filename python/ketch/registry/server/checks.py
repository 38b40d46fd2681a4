"""`registry serve`'s settings, checked before anything listens: the
address as Go's net.Listen takes it, the --access file's shape, the limits.
Each failure is a UsageError worded as the face shows it."""

from __future__ import annotations

import ipaddress
import json
import math

from ...errors import UsageError


def check_serve_options(
    addr: str, auth: str, access: str | None, timeout: float, max_blob: int, max_connections: int
) -> None:
    if auth not in ("basic", "token"):
        raise UsageError(f"--auth {auth}: use basic or token")
    check_listen_address(addr)
    if access:
        check_access_file(access)
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout {timeout}: a positive number of seconds")
    if max_blob < 1 or max_connections < 1:
        raise UsageError("--max-blob and --max-connections must be positive")


def check_listen_address(addr: str) -> None:
    """host:port as Go's net.Listen takes it (and its errors' wording)."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        raise UsageError(f"listen tcp: address {addr}: missing port in address")
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise UsageError(f"listen tcp: address {addr}: invalid port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"listen tcp: address {addr}: invalid IPv6 address") from None
    elif ":" in host:
        raise UsageError(f"listen tcp: address {addr}: too many colons in address")


def check_access_file(path: str) -> None:
    """The --access file: {"repositories": {PATTERN: {"pull": [USER...], "push": [USER...]}}}."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(1 << 20))
    except OSError as e:
        raise UsageError(f"--access {path}: {e.strerror}") from None
    except ValueError as e:
        msg = getattr(e, "msg", "not UTF-8 text")
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise UsageError(f"--access {path}: not valid JSON: {msg}{where}") from None

    def users(v: object) -> bool:
        return isinstance(v, list) and all(isinstance(u, str) for u in v)

    repos = (data.get("repositories") or {}) if isinstance(data, dict) else None
    if not isinstance(repos, dict) or not all(
        isinstance(rule, dict) and all(users(v) for v in rule.values()) for rule in repos.values()
    ):
        raise UsageError(
            f'--access {path}: expected {{"repositories": {{PATTERN: {{"pull": [USER, ...], "push": [...]}}}}}}'
        )
