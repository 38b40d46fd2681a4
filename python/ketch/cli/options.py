"""The option and argument aliases more than one CLI module's commands share
(docker's flag and help text, written once). A module's own aliases are at
the top of it."""

from typing import Annotated

import typer

NoTrunc = Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")]
PruneForce = Annotated[bool, typer.Option("-f", "--force", help="Do not prompt for confirmation")]
PruneUntil = Annotated[
    list[str] | None, typer.Option("--filter", help='Provide filter values (e.g. "until=<timestamp>")')
]
PruneLabel = Annotated[list[str] | None, typer.Option("--filter", help='Provide filter values (e.g. "label=<label>")')]
Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Format output using a custom template: 'table', 'table TEMPLATE' (a table with headers), "
        "'json', or a Go template",
    ),
]
InspectFormat = Annotated[
    str | None, typer.Option("-f", "--format", help="Format output using a custom template: 'json' or a Go template")
]

# The container commands' arguments (containers.py and container_io.py)
Containers = Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")]
Container_ = Annotated[str, typer.Argument(metavar="CONTAINER")]
Many = list[str] | None
# Flags that run, create and exec share.
Interactive = Annotated[bool, typer.Option("-i", "--interactive", help="Keep STDIN open")]
Tty = Annotated[bool, typer.Option("-t", "--tty", help="Allocate a pseudo-TTY")]
Env = Annotated[list[str] | None, typer.Option("-e", "--env", help="Set environment variables")]
Workdir = Annotated[str | None, typer.Option("-w", "--workdir", help="Working directory inside the container")]
User = Annotated[str | None, typer.Option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")]
