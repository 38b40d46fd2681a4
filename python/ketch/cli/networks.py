"""`ketch network`: create, ls, inspect, rm, connect, disconnect, prune."""

from typing import TYPE_CHECKING, Annotated

import typer

from ._shared import each, group, store, subcommand
from .options import Format, InspectFormat, PruneForce, PruneUntil

if TYPE_CHECKING:
    from ..models.network import NetworkSummary
    from .template import Row

network = group("network", "Manage networks")
Networks = Annotated[list[str], typer.Argument(metavar="NETWORK [NETWORK...]")]
Network = Annotated[str, typer.Argument(metavar="NETWORK")]
Container = Annotated[str, typer.Argument(metavar="CONTAINER")]


@subcommand(network, "create")
def network_create(
    name: Network,
    driver: Annotated[str, typer.Option("-d", "--driver", help="Driver to manage the Network")] = "bridge",
    subnet: Annotated[str | None, typer.Option("--subnet", help="Subnet in CIDR format")] = None,
    gateway: Annotated[str | None, typer.Option("--gateway", help="IPv4 Gateway for the master subnet")] = None,
    labels: Annotated[list[str] | None, typer.Option("--label", help="Set metadata on a network")] = None,
) -> None:
    """Create a network"""
    from ..network import networks
    from ..runtime.hostconfig import label

    given = dict(label(x, "--label") for x in labels or []) or None
    print(networks.create(store(), name, subnet, gateway, driver, given).id)


@subcommand(network, "ls")
def network_ls(
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display network IDs")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Do not truncate the output")] = False,
    filter_: Annotated[
        list[str] | None, typer.Option("-f", "--filter", help="Provide filter values (e.g. 'driver=bridge')")
    ] = None,
    format_: Format = None,
) -> None:
    """List networks"""
    from ..errors import KetchError
    from ..models.ids import short_id
    from ..network import networks
    from ._format import table
    from ._shared import daemon_error

    try:
        rows = networks.summaries(store(), list(filter_ or []))
    except KetchError as e:
        raise daemon_error(e) from None
    ids = [n.id if no_trunc else short_id(n.id) for n in rows]
    if not format_ and not quiet:
        from ._format import config_format

        format_ = config_format("networksFormat")  # docker's default from ~/.docker/config.json
    if quiet and (not format_ or format_ == "table"):  # docker: a custom format wins over -q
        print("\n".join(ids))
        return
    if format_ and format_ != "table":
        import sys

        from .template import format_rows

        sys.stdout.write(format_rows(format_, network_rows(rows, ids), NETWORK_HEADER))
        return
    print(
        table(
            [
                ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
                *[[i, n.name, n.driver, "local"] for i, n in zip(ids, rows, strict=True)],
            ],
            minwidth=10,
        )
    )


NETWORK_HEADER = {
    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
    "Internal": "INTERNAL", "Labels": "LABELS",
}  # fmt: skip


def network_rows(rows: "list[NetworkSummary]", ids: list[str]) -> "list[Row]":
    """`network ls` as docker's --format sees it (its networkContext)."""
    from .template import Method, Row

    return [
        Row(
            "*network.networkContext",
            {
                "ID": i,
                "Name": n.name,
                "Driver": n.driver,
                "Scope": "local",
                "IPv4": "true" if n.driver == "bridge" else "false",
                "IPv6": "false",
                "Internal": "false",
                "Labels": "",
                "Label": Method(lambda _k: "", 1),
            },
        )
        for i, n in zip(ids, rows, strict=True)
    ]


@subcommand(network, "inspect")
def network_inspect(names: Networks, format_: InspectFormat = None) -> int:
    """Display detailed information on one or more networks"""
    from ..errors import KetchError
    from ..network.networks import inspect_document
    from ._shared import documents

    # docker's: those found (`[]` for none), then an error line for each not found; -f a Go template (or json)
    return documents(names, inspect_document, KetchError, format_)


@subcommand(network, "rm")
def network_rm(names: Networks) -> int:
    """Remove one or more networks"""
    from ..network import networks

    s = store()
    return each(names, lambda name: networks.remove(s, name))


@subcommand(network, "connect")
def network_connect(
    name: Network,
    container: Container,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Add network-scoped alias for the container")
    ] = None,
    ip: Annotated[str | None, typer.Option("--ip", help='IPv4 address (e.g., "172.30.100.104")')] = None,
) -> None:
    """Connect a container to a network"""
    from ..runtime.launch import connect

    connect(store(), name, container, list(alias or []), ip)


@subcommand(network, "disconnect")
def network_disconnect(
    name: Network,
    container: Container,
    force: Annotated[bool, typer.Option("-f", "--force", help="Force the container to disconnect")] = False,
) -> None:
    """Disconnect a container from a network"""
    from ..runtime.launch import disconnect

    disconnect(store(), name, container)


@subcommand(network, "prune")
def network_prune(filter_: PruneUntil = None, force: PruneForce = False) -> None:
    """Remove all unused networks"""
    from ..network import networks

    gone = networks.prune(store(), filter_)
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone) + "\n")  # docker: the list, then a blank line
