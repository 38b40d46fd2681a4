"""`ketch network`: create, ls, inspect, rm, connect, disconnect, prune."""

from typing import Annotated

import typer

from ._shared import each, group, store, subcommand
from .options import PruneForce

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
) -> None:
    """Create a network"""
    from ..network import networks

    print(networks.create(store(), name, subnet, gateway, driver).id)


@subcommand(network, "ls")
def network_ls(
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display network IDs")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Do not truncate the output")] = False,
) -> None:
    """List networks"""
    from ..models.ids import short_id
    from ..network import networks
    from ._format import table

    rows = networks.summaries(store())
    ids = [n.id if no_trunc else short_id(n.id) for n in rows]
    if quiet:
        print("\n".join(ids))
        return
    print(
        table(
            [
                ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
                *[[i, n.name, n.driver, "local"] for i, n in zip(ids, rows, strict=True)],
            ]
        )
    )


@subcommand(network, "inspect")
def network_inspect(names: Networks) -> None:
    """Display detailed information on one or more networks"""
    import json

    from ..network.networks import inspect_document

    s = store()
    print(json.dumps([inspect_document(s, n) for n in names], indent=4))


@subcommand(network, "rm")
def network_rm(names: Networks) -> int:
    """Remove one or more networks"""
    from ..network import networks

    s = store()
    return each(names, lambda name: networks.remove(s, name))


@subcommand(network, "connect")
def network_connect(name: Network, container: Container) -> None:
    """Connect a container to a network"""
    from ..runtime.launch import connect

    connect(store(), name, container)


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
def network_prune(force: PruneForce = False) -> None:
    """Remove all unused networks"""
    from ..network import networks

    gone = networks.prune(store())
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone) + "\n")  # docker: the list, then a blank line
