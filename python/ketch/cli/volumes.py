"""`ketch volume`: create, ls, inspect, rm, prune."""

from typing import TYPE_CHECKING, Annotated

import typer

from ._shared import each, group, out, store, subcommand
from .options import Format, InspectFormat, PruneForce, PruneLabel

if TYPE_CHECKING:
    from ..runtime.volumes import Volume

volume = group("volume", "Manage volumes")
Volumes = Annotated[list[str], typer.Argument(metavar="VOLUME [VOLUME...]")]


@subcommand(volume, "create")
def volume_create(
    name: Annotated[str | None, typer.Argument(metavar="[VOLUME]")] = None,
    driver: Annotated[str, typer.Option("-d", "--driver", help="Specify volume driver name")] = "local",
    labels: Annotated[list[str] | None, typer.Option("--label", help="Set metadata for a volume")] = None,
) -> None:
    """Create a volume"""
    from ..errors import KetchError
    from ..runtime import volumes
    from ..runtime.hostconfig import label

    if driver != "local":  # docker's answer for a plugin it cannot find
        raise KetchError(
            f"Error response from daemon: create {name or ''}: error looking up volume plugin {driver}: "
            "plugin not found"
        )
    print(volumes.create(store(), name, labels=dict(label(x, "--label") for x in labels or []) or None)[0].name)


@subcommand(volume, "ls")
def volume_ls(
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display volume names")] = False,
    format_: Format = None,
) -> None:
    """List volumes"""
    from ..runtime import volumes
    from ._format import table

    vols = volumes.list_all(store())
    if not format_ and not quiet:
        from ._format import config_format

        format_ = config_format("volumesFormat")  # docker's default from ~/.docker/config.json
    if quiet and (not format_ or format_ == "table"):  # docker: a custom format wins over -q
        for v in vols:
            print(v.name)
        return
    if format_ and format_ != "table":
        import sys

        from .template import Method, Row, format_rows

        def row(v: "Volume") -> Row:
            labels = v.inspect()["Labels"] or {}
            return Row(
                "*formatter.volumeContext",
                {
                    "Name": v.name, "Driver": "local", "Scope": "local", "Mountpoint": str(v.mountpoint),
                    "Labels": ",".join(sorted(f"{k}={x}" for k, x in labels.items())),
                    "Label": Method(lambda k: labels.get(k, ""), 1),
                    "Links": "N/A", "Size": "N/A", "Group": "N/A", "Availability": "N/A", "Status": "N/A",
                },
            )  # fmt: skip

        sys.stdout.write(format_rows(format_, [row(v) for v in vols], VOLUME_HEADER))
        return
    print(table([["DRIVER", "VOLUME NAME"], *[["local", v.name] for v in vols]], minwidth=10))


VOLUME_HEADER = {
    "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS",
    "Links": "LINKS", "Size": "SIZE", "Group": "GROUP", "Availability": "AVAILABILITY", "Status": "STATUS",
}  # fmt: skip


@subcommand(volume, "inspect")
def volume_inspect(names: Volumes, format_: InspectFormat = None) -> int:
    """Display detailed information on one or more volumes"""
    from ..runtime import volumes
    from ._shared import documents

    # docker's: those found (`[]` for none), then an error line for each not found; -f a Go template (or json)
    return documents(names, lambda s, n: volumes.get(s, n).inspect(), volumes.VolumeNotFound, format_)


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
    filter_: PruneLabel = None,
    force: PruneForce = False,
) -> None:
    """Remove unused local volumes"""
    from ..runtime import volumes
    from ._format import human_size

    r = volumes.prune(store(), all_, filter_)
    if r.deleted:
        out("\n".join(["Deleted Volumes:", *r.deleted, ""]))
    out(f"Total reclaimed space: {human_size(r.reclaimed)}")
