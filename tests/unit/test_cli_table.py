"""cli/app.py's table: each command and group is found in the module it names,
and running one imports that noun's module alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketch.cli import app as table


def test_every_command_is_in_the_module_the_table_names() -> None:
    for name, module in table.COMMANDS.items():
        view = table.load([name])
        assert [c.name for c in view.registered_commands] == [name], name
        assert view.registered_commands[0].callback.__module__ == f"ketch.cli.{module}", name
    for name in table.GROUPS:
        assert [g.name for g in table.load(["--root", "/x", name, "ls"]).registered_groups] == [name]


def test_the_whole_application_has_nothing_the_table_lacks() -> None:
    everything = table.load(["--help"])
    assert [c.name for c in everything.registered_commands] == list(table.COMMANDS)
    assert [g.name for g in everything.registered_groups] == list(table.GROUPS)


@pytest.mark.parametrize(
    ("args", "noun"), [(["ps", "-a"], "container_io"), (["stop", "x"], "containers"), (["images", "-q"], "images")]
)
def test_a_command_imports_its_nouns_module_alone(tmp_path: Path, args: list[str], noun: str) -> None:
    assert _nouns(tmp_path, "typer_main", args) == f"NOUNS={noun}"


@pytest.mark.parametrize("args", [["ps", "-a"], ["images", "-q"], ["--help"]])
def test_the_fast_path_imports_no_nouns_module(tmp_path: Path, args: list[str]) -> None:
    """docker's simple forms of ps and images, and --help, are read before Typer (cli/_fast.py)."""
    assert _nouns(tmp_path, "main", args) == "NOUNS="


def _nouns(tmp_path: Path, entry: str, args: list[str]) -> str:
    """The noun modules that running `args` through cli.`entry` imported."""
    code = (
        "import sys\n"
        f"from ketch.cli import {entry}\n"
        f"rc = {entry}({args!r})\n"
        "nouns = sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('ketch.cli.') and m[10] != '_')\n"
        "print('NOUNS=' + ','.join(n for n in nouns if n not in ('app', 'options')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # --help at its kept width
    env |= {"KETCH_ROOT": str(tmp_path / "root"), "KETCH_RUN_ROOT": str(tmp_path / "run")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    return out.strip().splitlines()[-1]
