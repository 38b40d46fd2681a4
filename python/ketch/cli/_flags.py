"""Docker's flag syntax on top of Click: `-t=value` is the value `value`
(Click alone reads it as `=value`), and a boolean flag takes `=true` or
`=false` (`--pause=false`)."""

from __future__ import annotations

from typing import Any

import typer.core

from . import _click as click
from ._fast import normalize_args


def normalize(command: click.Command, args: list[str], interspersed: bool) -> list[str]:
    """Splits `-x=value` into `-x value` for short options that take a value.
    Stops at `--`, and at the first positional when the command's positionals
    end its own arguments (run/exec: the rest belongs to the container).
    (The rewriting itself is _fast.normalize_args: the fast path does the same.)"""
    takes_value: set[str] = set()
    # flag name -> (what `=true` becomes, what `=false` becomes: the secondary name or nothing)
    booleans: dict[str, tuple[str, str | None]] = {}
    for p in command.params:
        if isinstance(p, click.Option) and not p.is_flag and not p.count:
            takes_value.update(o for o in p.opts + p.secondary_opts if len(o) == 2)
        elif isinstance(p, click.Option) and p.is_flag and not p.count:
            for o in p.opts:
                booleans[o] = (o, p.secondary_opts[0] if p.secondary_opts else None)
    return normalize_args(args, takes_value, booleans, interspersed)


class DockerCommand(typer.core.TyperCommand):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, normalize(self, args, self.allow_interspersed_args))


class DockerGroup(typer.core.TyperGroup):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, normalize(self, args, False))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[Any, Any, list[str]]:
        return super().resolve_command(ctx, args)
