"""The Click that Typer is built on (Typer < 0.25 depends on `click`)."""

from click import Abort, Command, Context, Option, UsageError
from click.exceptions import Exit
from click.exceptions import NoArgsIsHelpError as NoArgsIsHelp

__all__ = ["Abort", "Command", "Context", "Exit", "NoArgsIsHelp", "Option", "UsageError"]
