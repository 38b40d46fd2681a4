"""`ketch system boot`: after the host has started again, the containers
whose restart policy says so are started again, as dockerd does when it
comes up: `always` ones (even those stopped by hand), `unless-stopped` ones
unless they were stopped by hand, `on-failure` ones that did not end well
and have retries left. Run once at boot (contrib/systemd/ketch-boot.service);
a container already running under its monitor is left be."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import KetchError
from ..store import Store
from .state import Container, list_containers, manually_stopped


@dataclass(frozen=True)
class Booted:
    """One container `boot` started (error: "" when it did) or failed to start."""

    id: str
    name: str
    error: str = ""


def wanted(store: Store, c: Container) -> bool:
    """Whether `c` (refreshed: a container whose monitor died with the host is exited) is started at boot."""
    if c.state == "running" or c.started is None:
        return False  # running, or never started
    r = c.config.get("restart") or {}
    policy = r.get("policy", "no")
    if policy == "always":
        return True
    if policy == "unless-stopped":
        return not manually_stopped(store, c.id)
    if policy == "on-failure":
        retries = int(r.get("max_retries") or 0)
        return (
            not manually_stopped(store, c.id)
            and (c.exit_code or 0) != 0
            and (retries == 0 or c.restart_count < retries)
        )
    return False


def boot(store: Store) -> list[Booted]:
    """Starts, detached under their monitors, the containers the restart
    policies bring back; what was started (or failed to), in creation order."""
    from .process import start_detached

    done = []
    for c in sorted(list_containers(store), key=lambda c: c.created):
        if not wanted(store, c):
            continue
        try:
            start_detached(store, c)
        except KetchError as e:
            done.append(Booted(c.id, c.name, str(e)))
        else:
            done.append(Booted(c.id, c.name))
    return done
