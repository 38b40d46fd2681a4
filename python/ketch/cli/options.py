"""The option aliases more than one noun's commands share (docker's flag
and help text, written once). A noun's own aliases are at the top of its module."""

from typing import Annotated

import typer

NoTrunc = Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")]
PruneForce = Annotated[bool, typer.Option("-f", "--force", help="Do not prompt for confirmation")]
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
