"""What every noun module of the CLI uses: the Typer application and its
groups, and (from _common, which needs no Typer) the running command's
settings and store, docker's way with several arguments, and its wording of
errors on stderr."""

from collections.abc import Callable
from typing import Annotated, Any

import typer

from . import _common
from ._common import Silent, confirm, daemon_error, documents, each, error, out, store, terminal
from ._flags import DockerCommand, DockerGroup

__all__ = [
    "Silent", "app", "command", "confirm", "daemon_error", "documents", "each", "error", "group", "image_group",
    "out", "settings", "store", "subcommand", "terminal",
]  # fmt: skip

# The running command's settings: the same object as _common's (main() makes
# them anew for each command and sets both).
settings = _common.settings

app = typer.Typer(
    cls=DockerGroup,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="A Docker-compatible container engine.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
_groups: dict[str, typer.Typer] = {}


@app.callback()
def _root(
    root: Annotated[
        str | None, typer.Option("--root", help="Store directory (default /var/lib/ketch, or KETCH_ROOT)")
    ] = None,
) -> None:
    if root:
        settings.use_root(root)


def group(name: str, help: str) -> typer.Typer:
    """`ketch NAME ...`: a group of commands, made once."""
    if name not in _groups:
        _groups[name] = typer.Typer(cls=DockerGroup, no_args_is_help=True, rich_markup_mode=None, help=help)
        app.add_typer(_groups[name], name=name)
    return _groups[name]


def image_group() -> typer.Typer:
    return group("image", "Manage images")


def command(name: str, image_alias: str | None = None, **context: Any) -> Callable[[Any], Any]:
    """Registers a command as `ketch NAME` and, as docker has it, `ketch image ALIAS`.
    `context` are Click context settings."""

    def register(fn: Any) -> Any:
        app.command(name, cls=DockerCommand, context_settings=context or None)(fn)
        if image_alias:
            image_group().command(image_alias, cls=DockerCommand)(fn)
        return fn

    return register


def subcommand(parent: typer.Typer, name: str) -> Callable[[Any], Any]:
    """Registers `ketch GROUP NAME`."""
    return parent.command(name, cls=DockerCommand)
