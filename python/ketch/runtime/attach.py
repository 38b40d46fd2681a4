"""`attach`: a running container's output, from now on, until it ends;
its exit code then. A detached container's stdio is held by its monitor
(rust/src/monitor.rs), which writes everything to the container's json-file
log: attach follows that log, so what it shows is exactly what the
container writes, on the stream it writes it to. Its stdin is the
container's own /dev/null (the monitor gives it none), so there is
nothing to attach it to; with `forward` (docker's --sig-proxy) SIGINT,
SIGTERM and SIGHUP go to the container's process."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

from ..errors import KetchError
from ..store import Store
from .inspect import LogEntry, logs
from .state import lookup


def attach(store: Store, ref: str, forward: bool = True) -> Iterator[LogEntry]:
    """The entries the container writes from now on; raises if it is not running."""
    c = lookup(store, ref)
    if c.state != "running":
        raise KetchError("You cannot attach to a stopped container, start it first")
    if c.paused:
        raise KetchError("You cannot attach to a paused container, unpause it first")
    old = {}
    if forward and c.pid is not None:
        pid = c.pid

        def relay(signum: int, _frame: object) -> None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            old[s] = signal.signal(s, relay)
    try:
        yield from logs(store, c.id, follow=True, tail="0")
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def exit_code(store: Store, ref: str) -> int:
    from .inspect import wait_exit

    return wait_exit(store, ref)
