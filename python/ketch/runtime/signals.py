"""Signals to a container: by docker's names, `stop` (the image's
StopSignal, then SIGKILL) and `kill`."""

from __future__ import annotations

import os
import signal
import time

from ..errors import ConflictError, KetchError
from ..store import Store
from ..store import images as imgs
from . import cgroups
from .state import Container, lookup, refresh


def number(name: str) -> int:
    """A signal by name (KILL, SIGTERM) or number (1 to SIGRTMAX)."""
    n = name.upper()
    if n.isascii() and n.isdigit():
        if 0 < int(n) <= signal.SIGRTMAX:
            return int(n)
        raise KetchError(f"invalid signal: {name[:40]}")
    if not n.startswith("SIG"):
        n = "SIG" + n
    try:
        return signal.Signals[n]
    except KeyError:
        raise KetchError(f"invalid signal: {name}") from None


def stop(store: Store, ref: str, timeout: float = 10.0) -> Container:
    """The image's StopSignal (SIGTERM by default), then SIGKILL after `timeout` seconds."""
    c = lookup(store, ref)
    if c.state != "running" or c.pid is None:
        return c
    if c.paused:
        cgroups.freeze(c.id, False)  # a frozen process cannot act on the signal
    img_cfg = imgs.config(store, c.image_id).get("config") or {}
    first = number(img_cfg.get("StopSignal") or "SIGTERM")
    from .events import container as event

    for sig, grace in ((first, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(c.pid, sig)
        except ProcessLookupError:
            pass
        event(store, c, "kill", signal=str(int(sig)))
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            c = refresh(store, c)
            if c.state != "running":
                event(store, c, "stop")
                return c
            time.sleep(0.02)
    c = refresh(store, c)
    event(store, c, "stop")
    return c


def kill(store: Store, ref: str, sig: str = "KILL") -> Container:
    signum = number(sig)  # a bad signal is the flag's fault, whatever the container
    c = lookup(store, ref)
    if c.state != "running" or c.pid is None:
        raise ConflictError(f"Cannot kill container: {ref}: Container {c.id} is not running")
    try:
        os.kill(c.pid, signum)
    except ProcessLookupError:
        pass
    if signum == signal.SIGKILL and c.paused:
        cgroups.freeze(c.id, False)  # a frozen task acts on SIGKILL only once thawed
    from .events import container as event

    event(store, c, "kill", signal=str(signum))
    return c
