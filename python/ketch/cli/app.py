"""The command table: each `ketch` command and group, and the module of its
noun. Only the module a command needs is imported (`ketch ps` loads
container_io.py alone); help, a typo or no command at all loads every one."""

from __future__ import annotations

import copy
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

# In the order `ketch --help` lists them (docker's, roughly).
COMMANDS: dict[str, str] = {
    "pull": "images",
    "images": "images",
    "rmi": "images",
    "tag": "images",
    "history": "images",
    "inspect": "container_io",  # containers first, then images, as docker resolves a name
    "import": "images",
    "save": "images",
    "load": "images",
    "run": "containers",
    "create": "containers",
    "start": "containers",
    "ps": "container_io",
    "rm": "containers",
    "stop": "containers",
    "restart": "containers",
    "logs": "container_io",
    "exec": "container_io",
    "commit": "container_io",
    "cp": "container_io",
    "diff": "container_io",
    "port": "container_io",
    "top": "container_io",
    "kill": "containers",
    "wait": "containers",
    "rename": "containers",
    "pause": "containers",
    "unpause": "containers",
    "stats": "container_io",
    "attach": "container_io",
    "export": "container_io",
    "update": "containers",
    "build": "build",
    "push": "images",
    "login": "registry",
    "logout": "registry",
    "search": "registry",
    "version": "system",
    "info": "system",
    "events": "system",
}
GROUPS: dict[str, str] = {
    "container": "container_group",
    "image": "images",
    "volume": "volumes",
    "network": "networks",
    "builder": "build",
    "system": "system",
    "registry": "registry",
}
NOUNS = list(dict.fromkeys([*COMMANDS.values(), *GROUPS.values()]))


def command_name(args: list[str]) -> str | None:
    """The command or group `args` name, past `--root DIR`; None for
    anything else first (help, another option)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--root":
            i += 2
        elif a.startswith("--root="):
            i += 1
        else:
            return None if a.startswith("-") else a
    return None


def _noun(module: str) -> None:
    importlib.import_module(f"{__package__}.{module}")


def load(args: list[str]) -> typer.Typer:
    """The application for `args`. Typer builds a Click command for each
    registered one before it parses anything (about 1 ms each): when `args`
    name a command or group, that one alone is registered in the view
    returned; otherwise every noun is loaded, in the table's order."""
    name = command_name(args)
    from ._shared import app

    view = copy.copy(app)
    if name in COMMANDS:
        _noun(COMMANDS[name])
        view.registered_commands = [c for c in app.registered_commands if c.name == name]
        view.registered_groups = []
    elif name in GROUPS:
        _noun(GROUPS[name])
        view.registered_commands = []
        view.registered_groups = [g for g in app.registered_groups if g.name == name]
    else:
        for module in NOUNS:
            _noun(module)
        order = {n: i for i, n in enumerate([*COMMANDS, *GROUPS])}
        view.registered_commands = sorted(app.registered_commands, key=lambda c: order.get(c.name or "", len(order)))
        view.registered_groups = sorted(app.registered_groups, key=lambda g: order.get(g.name or "", len(order)))
    return view


def __getattr__(name: str) -> object:
    """`app`: the whole application (what `ketch --help` shows)."""
    if name == "app":
        return load([])
    raise AttributeError(name)
