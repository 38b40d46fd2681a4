"""`ketch volume`: create, ls, inspect, rm, prune."""

from typing import Annotated

import typer

from ._shared import each, group, out, store, subcommand
from .options import PruneForce

volume = group("volume", "Manage volumes")
Volumes = Annotated[list[str], typer.Argument(metavar="VOLUME [VOLUME...]")]


@subcommand(volume, "create")
def volume_create(name: Annotated[str | None, typer.Argument(metavar="[VOLUME]")] = None) -> None:
    """Create a volume"""
    from ..runtime import volumes

    print(volumes.create(store(), name)[0].name)


@subcommand(volume, "ls")
def volume_ls(quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display volume names")] = False) -> None:
    """List volumes"""
    from ..runtime import volumes
    from ._format import table

    vols = volumes.list_all(store())
    if quiet:
        for v in vols:
            print(v.name)
        return
    print(table([["DRIVER", "VOLUME NAME"], *[["local", v.name] for v in vols]]))


@subcommand(volume, "inspect")
def volume_inspect(names: Volumes) -> None:
    """Display detailed information on one or more volumes"""
    import json

    from ..runtime import volumes

    s = store()
    print(json.dumps([volumes.get(s, n).inspect() for n in names], indent=4))


@subcommand(volume, "rm")
def volume_rm(
    names: Volumes,
    force: Annotated[bool, typer.Option("-f", "--force", help="Force the removal of one or more volumes")] = False,
) -> int:
    """Remove one or more volumes"""
    from ..runtime import volumes

    s = store()
    return each(names, lambda n: volumes.remove(s, n, force))


@subcommand(volume, "prune")
def volume_prune(
    all_: Annotated[
        bool, typer.Option("-a", "--all", help="Remove all unused volumes, not just anonymous ones")
    ] = False,
    force: PruneForce = False,
) -> None:
    """Remove unused local volumes"""
    from ..runtime import volumes

    gone = volumes.prune(store(), all_)
    if gone:
        out("\n".join(["Deleted Volumes:", *gone, ""]))
    print("Total reclaimed space: 0B")
