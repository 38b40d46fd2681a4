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
from .state import Container, lookup, mark_stopped, refresh


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


def stop(store: Store, ref: str, timeout: float | None = None) -> Container:
    """The container's stop signal (--stop-signal, else the image's
    StopSignal, else SIGTERM), then SIGKILL after `timeout` seconds (None:
    its --stop-timeout, else 10; -1 waits for ever). A stop asked for: its
    monitor does not start it again (whatever its restart policy), nor does
    one that is waiting to."""
    c = lookup(store, ref)
    if c.state != "running":
        return c
    mark_stopped(store, c.id)
    if c.paused:
        cgroups.freeze(c.id, False)  # a frozen process cannot act on the signal
    first = _stop_signal(store, c)
    if timeout is None:
        given = c.config.get("stop_timeout")
        timeout = 10.0 if given is None else float(given)
    if timeout < 0:
        timeout = float("inf")
    from .events import container as event

    for sig, grace in ((first, timeout), (signal.SIGKILL, 10.0)):
        signalled = _signal(c.pid, sig)
        event(store, c, "kill", signal=str(int(sig)))
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            c = refresh(store, c)
            if c.state != "running":
                event(store, c, "stop")
                return c
            if c.pid != signalled:  # started again just before the stop was seen
                signalled = _signal(c.pid, sig)
            time.sleep(0.02)
    c = refresh(store, c)
    event(store, c, "stop")
    return c


def _signal(pid: int | None, sig: int) -> int | None:
    if pid is not None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pid


def _stop_signal(store: Store, c: Container) -> int:
    """--stop-signal, else the image's StopSignal, else SIGTERM."""
    name = c.config.get("stop_signal")
    if name is None:
        img_cfg = imgs.config(store, c.image_id).get("config") or {}
        name = img_cfg.get("StopSignal")
    return number(name or "SIGTERM")


def kill(store: Store, ref: str, sig: str = "KILL") -> Container:
    signum = number(sig)  # a bad signal is the flag's fault, whatever the container
    c = lookup(store, ref)
    if c.state != "running" or c.restarting or c.pid is None:
        raise ConflictError(f"Cannot kill container: {ref}: Container {c.id} is not running")
    if signum in (signal.SIGKILL, _stop_signal(store, c)):
        mark_stopped(store, c.id)  # as docker's: a kill that ends it is a stop, not a failure to restart from
    try:
        os.kill(c.pid, signum)
    except ProcessLookupError:
        pass
    if signum == signal.SIGKILL and c.paused:
        cgroups.freeze(c.id, False)  # a frozen task acts on SIGKILL only once thawed
    from .events import container as event

    event(store, c, "kill", signal=str(signum))
    return c
