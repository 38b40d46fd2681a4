"""The container verbs that make and unmake one: `create` (its row and
files, from the spec runtime/spec.py builds), `rename` and `remove`.

    <root>/containers/<id>/upper, work   the container's copy-on-write layer
    <root>/containers/<id>/init          its init layer (runtime/mounts.py)
    <root>/containers/<id>/rootfs        where its root is mounted, in its own mount namespace only
    <root>/containers/<id>/hosts, hostname, resolv.conf

The rest of a container's life is in the modules named after it: state
(the record, lookup, refresh, pause), process (start, start_detached,
wait), exec, signals (stop, kill)."""

from __future__ import annotations

import os
import shutil
import signal
import time

from ..errors import ConflictError, KetchError
from ..store import Store
from ..store import containers as rows_
from . import cgroups, mounts, names, spec
from .spec import Options
from .state import Container, alive, container_dir, disk_size, lookup, mark_stopped, refresh, release_network

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True

if TYPE_CHECKING:
    from ..models.system import Pruned


def create(store: Store, image_name: str, args: list[str], opts: Options | None = None) -> Container:
    """A new container of `image_name` running `args`: its spec built (every
    check made), then its row and its files; on any failure, none of them."""
    s = spec.build(store, image_name, args, opts)
    config = s.config()
    d = container_dir(store, s.id)
    rows_.insert(
        store,
        s.id,
        s.name,
        s.image_id,
        s.image,
        config,
        time.time(),
        lambda: names.random_name(lambda name: rows_.name_taken(store, name)),  # under the row's write lock
    )
    try:
        for sub in ("upper", "work", "rootfs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        mounts.init_layer(d / "init", s.lowerdirs, s.init)
        for vol_name, target, anon in s.volumes:
            from . import volumes

            vol, new = volumes.create(store, vol_name, anonymous=anon)
            if new:
                volumes.copy_up(s.lowerdirs, target, vol.mountpoint)
        (d / "hostname").write_text(s.hostname + "\n")
        from ..network import dns

        dns.write_hosts(store, s.id, config, create=True)
        (d / "resolv.conf").write_text(dns.resolv_conf(s.dns, s.dns_search))
    except BaseException:
        remove(store, s.id, force=True, volumes_too=True, quiet=True)
        raise
    c = lookup(store, s.id)
    from .events import container as event

    event(store, c, "create")
    return c


def rename(store: Store, ref: str, new: str) -> None:
    c = lookup(store, ref)
    rows_.rename(store, c.id, names.check(new))
    from .events import container as event

    old, c.name = c.name, new
    event(store, c, "rename", oldName="/" + old)


def remove(store: Store, ref: str, force: bool = False, volumes_too: bool = False, quiet: bool = False) -> Container:
    """`rm`: with `volumes_too` (-v), the container's anonymous volumes go
    with it. `quiet`: no destroy event (a create undone: it had none)."""
    c = lookup(store, ref)
    if c.state == "running":
        if not force:
            raise ConflictError(
                f"You cannot remove a running container {c.id}. Stop the container before attempting removal "
                "or force remove"
            )
        mark_stopped(store, c.id)  # its monitor starts it no more
        if c.paused:
            cgroups.freeze(c.id, False)
        for _ in range(100):
            if c.pid is not None and alive(c):
                try:
                    os.kill(c.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            elif not c.restarting:
                break
            time.sleep(0.01)
            c = refresh(store, c)  # the process its monitor runs now (one started just before the stop was seen)
    cgroups.remove(c.id)
    release_network(store, c)
    shutil.rmtree(container_dir(store, c.id), ignore_errors=True)
    rows_.delete(store, c.id)
    if not quiet:
        from .events import container as event

        event(store, c, "destroy")
    if volumes_too and c.config.get("anonymous_volumes"):
        from . import volumes

        for name in c.config["anonymous_volumes"]:
            try:
                volumes.remove(store, name)
            except KetchError:
                pass  # another container mounts it too (--volumes-from)
    return c


def prune(store: Store, filters: list[str] | None = None) -> Pruned:
    """`container prune [--filter until=|label=|label!=]`: every container
    not running (that the filters take); their ids and the bytes their
    writable layers held."""
    from ..models.filters import PruneFilter
    from ..models.system import Pruned
    from .state import list_containers

    f = PruneFilter(filters)
    deleted, reclaimed = [], 0
    for c in list_containers(store):
        if c.state == "running" or not f.takes(c.created, c.config.get("labels")):
            continue
        size = disk_size(container_dir(store, c.id) / "upper")
        try:
            remove(store, c.id)
        except KetchError:
            continue  # started meanwhile
        deleted.append(c.id)
        reclaimed += size
    from ..store import events

    events.record(store, "container", "prune", "", {"reclaimed": str(reclaimed)})
    return Pruned(deleted, reclaimed)


def update(store: Store, ref: str, limits: cgroups.Limits) -> Container:
    """`docker update`: new --memory, --cpus, --pids-limit, written to a
    running container's cgroups and kept in its config for its next start."""
    import json as _json

    cgroups.check_cpus(limits.cpus)
    c = lookup(store, ref)
    if c.state == "running":
        cgroups.update(c.id, limits)
    saved = dict(c.config.get("limits") or {})
    saved.update({k: v for k, v in vars(limits).items() if v})
    c.config["limits"] = saved
    rows_.set_config(store, c.id, _json.dumps(c.config))
    return c
