"""The Click that Typer is built on (Typer < 0.25 depends on `click`)."""

from click import Abort, Command, Context, Option, UsageError
from click import exceptions as _exc
from click.exceptions import Exit

# Raised for a bare command group: Click >= 8.2 names it NoArgsIsHelpError.
NoArgsIsHelp: type[Exception] = getattr(_exc, "NoArgsIsHelpError", None) or getattr(_exc, "NoArgsIsHelp", UsageError)

__all__ = ["Abort", "Command", "Context", "Exit", "NoArgsIsHelp", "Option", "UsageError"]
