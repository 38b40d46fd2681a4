"""Writes python/ketch/cli/_help.py: `ketch --help` as the Typer path prints
it at Click's default width, for the fast path to print without importing
Typer. Run it after changing a command's name, order or first docstring
line (tests/unit/test_fast_path.py fails until then):

    PYTHONPATH=python .venv/bin/python scripts/update_help.py
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "python" / "ketch" / "cli" / "_help.py"
WIDTH = 78  # Click's HelpFormatter on a terminal of 80 columns or more (or none)


def typer_help() -> str:
    """What the Typer path prints for `ketch --help` at WIDTH."""
    from ketch.cli import typer_main

    os.environ["COLUMNS"] = str(WIDTH + 2)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert typer_main(["--help"]) == 0
    return buf.getvalue()


def render(text: str) -> str:
    """The module's source: the text as one literal, one line of source per line of help."""
    assert text.endswith("\n") and '"""' not in text and "\\" not in text
    return (
        '"""`ketch --help` as the Typer path prints it at Click\'s default width:\n'
        "what the fast path prints (cli/_fast.py). Written by scripts/update_help.py;\n"
        'tests/unit/test_fast_path.py checks it is the same text."""\n\n'
        f"WIDTH = {WIDTH}\n"
        f'HELP = """\\\n{text[:-1]}"""\n'
    )


def main() -> int:
    TARGET.write_text(render(typer_help()))
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
