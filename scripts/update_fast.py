"""Writes what the fast path (python/ketch/cli/_fast.py) keeps of the Typer
application, taken from Typer itself, so that the fast path needs no Typer:

- cli/_help.py: `ketch --help` as the Typer path prints it at Click's default width;
- cli/_run_table.py: `ketch run`'s options as Click has them (the ones the fast
  path reads: flags, text, integers, decimals) and every parameter's default, with
  the CRC of each source they come from (the fast path reads run only while
  those are unchanged).

Run it after changing a command's name, order or first docstring line, or
run's flags (tests/unit/test_fast_path.py fails until then):

    PYTHONPATH=python .venv/bin/python scripts/update_fast.py
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import zlib
from pathlib import Path

CLI = Path(__file__).resolve().parents[1] / "python" / "ketch" / "cli"
WIDTH = 78  # Click's HelpFormatter on a terminal of 80 columns or more (or none)
# what Typer's `run` command is made from
RUN_SOURCES = ("containers.py", "options.py", "_flags.py", "_shared.py")


def typer_help() -> str:
    """What the Typer path prints for `ketch --help` at WIDTH."""
    from ketch.cli import typer_main

    os.environ["COLUMNS"] = str(WIDTH + 2)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert typer_main(["--help"]) == 0
    return buf.getvalue()


def help_sources() -> dict[str, int]:
    """The modules `ketch --help` is made from (the table, the application, every noun's) and their CRC-32s."""
    from ketch.cli.app import NOUNS

    names = ["app.py", "_shared.py", *(f"{n}.py" for n in NOUNS)]
    return {name: zlib.crc32((CLI / name).read_bytes()) for name in names}


def render(text: str) -> str:
    """_help.py's source: the text as one literal, one line of source per line of help."""
    assert text.endswith("\n") and '"""' not in text and "\\" not in text
    return (
        '"""`ketch --help` as the Typer path prints it at Click\'s default width:\n'
        "what the fast path prints (cli/_fast.py) while the modules it is made\n"
        "from have the CRC-32s in SOURCES. Written by scripts/update_fast.py;\n"
        'tests/unit/test_fast_path.py checks it is the same text."""\n\n'
        f"SOURCES = {lit(help_sources())}\n"
        f"WIDTH = {WIDTH}\n"
        f'HELP = """\\\n{text[:-1]}"""\n'
    )


def lit(value: object) -> str:
    """`value` as source, laid out as ruff formats it (one item a line, trailing commas)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{\n" + "".join(f"    {lit(k)}: {lit(v)},\n" for k, v in value.items()) + "}" if value else "{}"
    if isinstance(value, tuple) and len(value) < 2:
        return f"({lit(value[0])},)" if value else "()"
    if isinstance(value, tuple):
        return "(\n" + "".join(f"    {lit(v)},\n" for v in value) + ")"
    assert value is None or isinstance(value, (bool, int, float)), value
    return repr(value)


def run_table() -> str:
    """_run_table.py's source, from the Click command Typer makes of `run`."""
    import click
    import typer.main

    from ketch.cli.app import load

    command = typer.main.get_command(load(["run"])).commands["run"]  # type: ignore[attr-defined]
    flags: dict[str, str] = {}
    values: dict[str, str] = {}
    many, ints, floats = [], [], []
    for p in command.params:
        if not isinstance(p, click.Option) or p.name is None or p.count or p.callback is not None or p.envvar:
            continue
        if p.is_flag:
            if not p.secondary_opts:
                flags.update(dict.fromkeys(p.opts, p.name))
            continue
        kind = p.type.name if p.nargs == 1 else None
        if kind not in ("text", "integer", "float"):
            continue
        values.update(dict.fromkeys(p.opts, p.name))
        if p.multiple:
            many.append(p.name)
        elif kind == "integer":
            ints.append(p.name)
        elif kind == "float":
            floats.append(p.name)
    defaults = dict(command.make_context("run", ["IMAGE"]).params)
    del defaults["image"], defaults["args"]
    sources = {name: zlib.crc32((CLI / name).read_bytes()) for name in RUN_SOURCES}
    return (
        '"""`ketch run`\'s options as Typer\'s Click command has them, for the fast\n'
        "path (cli/_fast.py): the flags, the options with a text, integer or decimal\n"
        "value, and every parameter's default. Written by scripts/update_fast.py from\n"
        "the sources named in SOURCES, with their CRC-32: the fast path reads run only\n"
        'while they are unchanged."""\n\n'
        f"SOURCES = {lit(sources)}\n"
        f"FLAGS = {lit(flags)}\n"
        f"VALUES = {lit(values)}\n"
        f"MANY = {lit(tuple(many))}\n"
        f"INTS = {lit(tuple(ints))}\n"
        f"FLOATS = {lit(tuple(floats))}\n"
        f"DEFAULTS = {lit(defaults)}\n"
    )


def main() -> int:
    (CLI / "_help.py").write_text(render(typer_help()))
    (CLI / "_run_table.py").write_text(run_table())
    print(f"wrote {CLI / '_help.py'} and {CLI / '_run_table.py'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
