"""`ketch container ...`: every container command again, as docker's
management group has them (containers.py's and container_io.py's), with
`container prune` and `container inspect`. Loaded for the group alone."""

from typing import Annotated

import typer

from . import _shared
from ._flags import DockerCommand
from ._shared import out, store
from .container_io import attach, commit, container_inspect, cp, diff, exec_, export, logs, port, ps, stats, top
from .containers import kill, pause, rename, restart, rm_, run, start, stop, unpause, update, wait
from .options import PruneUntil

_container = _shared.group("container", "Manage containers")


@_shared.subcommand(_container, "prune")
def container_prune(
    filter_: PruneUntil = None,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not prompt for confirmation")] = False,
) -> int:
    """Remove all stopped containers"""
    from ..models.filters import PruneFilter
    from ..runtime.containers import prune
    from ._format import human_size

    PruneFilter(filter_)  # refused before the prompt, as docker's daemon would after it
    if not force and not _shared.confirm("WARNING! This will remove all stopped containers."):
        return 0
    r = prune(store(), filter_)
    if r.deleted:
        out("\n".join(["Deleted Containers:", *r.deleted, ""]))
    out(f"Total reclaimed space: {human_size(r.reclaimed, 4)}")
    return 0


for _name, _fn in [
    ("attach", attach), ("commit", commit), ("cp", cp), ("create", run), ("diff", diff), ("exec", exec_),
    ("export", export), ("inspect", None), ("kill", kill), ("logs", logs), ("ls", ps), ("list", ps), ("ps", ps),
    ("pause", pause), ("port", port), ("rename", rename), ("restart", restart), ("rm", rm_), ("remove", rm_),
    ("run", run), ("start", start), ("stats", stats), ("stop", stop), ("top", top), ("unpause", unpause),
    ("update", update), ("wait", wait),
]:  # fmt: skip
    if _fn is None:
        continue
    _ctx = {"allow_interspersed_args": False, "help_option_names": ["--help"]} if _fn is run else None
    if _fn is exec_ or _fn is top:
        _ctx = {"allow_interspersed_args": False}
    _help = "Create a new container" if _name == "create" else _fn.__doc__
    _container.command(_name, cls=DockerCommand, context_settings=_ctx, help=_help)(_fn)

_shared.subcommand(_container, "inspect")(container_inspect)
