"""The library never prints: outside cli/ no module calls print() or
touches sys.stdout / sys.stderr (it returns data and emits events; each face
words them), nor reads or writes the process's own fds 0, 1, 2 (a face hands
it the files a container is attached to: runtime.stdio.Stdio). Read from the
source, so a stray print fails here."""

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
        elif isinstance(node, ast.Call) and _fd_call(node.func) and node.args and _std_fd(node.args[0]):
            found.append(f"{node.lineno}: {ast.unparse(node.func)}({ast.unparse(node.args[0])}, ...)")
        elif isinstance(node, ast.arguments):
            named = [*node.posonlyargs, *node.args][-len(node.defaults) :] if node.defaults else []
            pairs = [*zip(named, node.defaults, strict=True), *zip(node.kwonlyargs, node.kw_defaults, strict=True)]
            found += [f"{a.lineno}: {a.arg}={ast.unparse(d)}" for a, d in pairs if d is not None and _std_fd(d)
                      and a.arg in _STDIO_NAMES]  # fmt: skip
    return sorted(found, key=lambda f: int(f.split(":")[0]))


# calls whose first argument is a file descriptor of the terminal or the process's stdio
_FD_CALLS = {"read", "write", "isatty", "fstat", "dup", "dup2", "tcgetattr", "tcsetattr", "setraw", "setcbreak"}
_STDIO_NAMES = {"stdin", "stdout", "stderr", "out", "err", "fd", "src", "dst"}


def _fd_call(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and func.attr in _FD_CALLS and isinstance(func.value, ast.Name)


def _std_fd(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value in (0, 1, 2)


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
    sample.write_text(
        "import os, sys\nprint('x')\nsys.stderr.write('y')\nos.write(1, b'z')\ndef f(a, out=1, *, stdin=0): pass\n"
    )
    assert _writes(sample) == ["2: print()", "3: sys.stderr", "4: os.write(1, ...)", "5: out=1", "5: stdin=0"]
    for rel in ALLOWED:
        assert _writes(PKG / rel), f"{rel} no longer writes to stdio: drop its allowance"
