"""Dockerfile instructions that only change an image's config (CMD,
ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, STOPSIGNAL, VOLUME):
`commit --change` applies them, as `docker commit -c` does."""

from __future__ import annotations

import json
import posixpath

from ..errors import KetchError

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

CONFIG_ONLY = ("CMD", "ENTRYPOINT", "ENV", "WORKDIR", "USER", "EXPOSE", "LABEL", "STOPSIGNAL", "VOLUME")


def exec_form(rest: str) -> list[str] | None:
    """The JSON array form (`["a", "b"]`), or None when `rest` is not one."""
    s = rest.strip()
    if not s.startswith("["):
        return None
    try:
        value = json.loads(s)
    except (ValueError, RecursionError):  # RecursionError: arrays nested too deep
        return None
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return value
    return None


def command_form(rest: str, shell: list[str] | None = None) -> list[str]:
    """CMD/ENTRYPOINT/RUN: the exec form as written, the shell form through `/bin/sh -c`."""
    form = exec_form(rest)
    if form is not None:
        return form
    return [*(shell or ["/bin/sh", "-c"]), rest.strip()]


def key_values(rest: str, what: str) -> list[tuple[str, str]]:
    """`K=V K2="V 2"` pairs, or the legacy single `K V` form (ENV, LABEL)."""
    try:
        import shlex

        words = shlex.split(rest, posix=True)
    except ValueError as e:
        raise KetchError(f"{what}: {e}: {rest}") from None
    if not words:
        raise KetchError(f"{what} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.strip().partition(" ")
        if not value.strip():
            raise KetchError(f"{what} names can not be blank" if not key else f"{what} {key} has no value")
        return [(key, value.strip())]
    pairs = []
    for w in words:
        k, sep, v = w.partition("=")
        if not sep or not k:
            raise KetchError(f"{what}: syntax error - can't find = in {w!r}. Must be of the form: name=value")
        pairs.append((k, v))
    return pairs


def apply(config: dict[str, Any], line: str) -> dict[str, Any]:
    """`config` (an image's "config" object) with the instruction applied."""
    word, _, rest = line.strip().partition(" ")
    ins = word.upper()
    rest = rest.strip()
    cfg = dict(config)
    if ins not in CONFIG_ONLY:
        raise KetchError(f"{word} is not a valid change command")
    if ins in ("CMD", "ENTRYPOINT"):
        value = command_form(rest)
        cfg["Cmd" if ins == "CMD" else "Entrypoint"] = value
        if ins == "ENTRYPOINT" and "Cmd" in cfg:
            cfg["Cmd"] = None  # a new entrypoint drops the inherited CMD, as docker does
    elif ins == "ENV":
        env = list(cfg.get("Env") or [])
        for k, v in key_values(rest, "ENV"):
            env = [e for e in env if e.partition("=")[0] != k] + [f"{k}={v}"]
        cfg["Env"] = env
    elif ins == "LABEL":
        labels = dict(cfg.get("Labels") or {})
        labels.update(key_values(rest, "LABEL"))
        cfg["Labels"] = labels
    elif ins == "WORKDIR":
        if not rest:
            raise KetchError("WORKDIR requires exactly one argument")
        cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", rest))
    elif ins == "USER":
        if not rest:
            raise KetchError("USER requires exactly one argument")
        cfg["User"] = rest
    elif ins == "EXPOSE":
        ports = dict(cfg.get("ExposedPorts") or {})
        for p in rest.split():
            port, _, proto = p.partition("/")
            if not port.replace("-", "").isdigit() or proto not in ("", "tcp", "udp", "sctp"):
                raise KetchError(f"invalid containerPort: {p}")
            ports[f"{port}/{proto or 'tcp'}"] = {}
        cfg["ExposedPorts"] = ports
    elif ins == "STOPSIGNAL":
        cfg["StopSignal"] = rest
    elif ins == "VOLUME":
        vols = dict(cfg.get("Volumes") or {})
        for v in exec_form(rest) or rest.split():
            vols[v] = {}
        cfg["Volumes"] = vols
    return cfg
