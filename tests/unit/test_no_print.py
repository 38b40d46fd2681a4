"""The library never prints: outside cli/ no module calls print() or
touches sys.stdout / sys.stderr (it returns data and emits events; each face
words them). Read from the source, so a stray print fails here."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "python" / "ketch"

# file (relative to python/ketch) -> why it may write to the process's stdio
ALLOWED = {
    "registry/server/serve.py": "the registry server is a program of its own: its start-up line goes to its stderr",
    "registry/server/routes.py": "the registry server's log of a request that failed inside it, on its stderr",
}


def _writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"{node.lineno}: print()")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ("stdout", "stderr", "__stdout__", "__stderr__")
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append(f"{node.lineno}: sys.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "sys":
            found += [f"{node.lineno}: from sys import {a.name}" for a in node.names if a.name in ("stdout", "stderr")]
    return found


def offenders() -> list[str]:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith("cli/") or rel in ALLOWED:
            continue
        bad += [f"{rel}:{w}" for w in _writes(path)]
    return bad


def test_no_module_outside_the_cli_prints() -> None:
    assert offenders() == []


def test_the_scan_sees_a_print_and_each_allowance_is_still_needed(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import sys\nprint('x')\nsys.stderr.write('y')\n")
    assert _writes(sample) == ["2: print()", "3: sys.stderr"]
    for rel in ALLOWED:
        assert _writes(PKG / rel), f"{rel} no longer writes to stdio: drop its allowance"
