"""`import ketch` is the engine: every name of its table resolves to the
library call it names, the type checkers' copy of the table says the same,
no name hides a submodule, and importing the package loads nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ketch

PACKAGE = Path(ketch.__file__).parent


def _typed_names() -> dict[str, str]:
    """name -> "module:attribute" as the TYPE_CHECKING block imports them."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    out = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1, ast.dump(node)
        for alias in node.names:
            out[alias.asname or alias.name] = f"ketch.{node.module}:{alias.name}"
    return out


def test_every_name_is_the_library_call_it_names() -> None:
    from importlib import import_module

    for name, target in ketch._ENTRIES.items():
        module, _, attr = target.partition(":")
        value = getattr(ketch, name)
        assert value is getattr(import_module(module), attr), name
        assert callable(value), name
    assert set(ketch.__all__) == {"__version__", *ketch._ENTRIES}
    assert set(ketch._ENTRIES) <= set(dir(ketch))


def test_the_type_checkers_table_is_the_same() -> None:
    assert _typed_names() == ketch._ENTRIES


def test_no_name_hides_a_submodule() -> None:
    submodules = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    assert not set(ketch._ENTRIES) & submodules


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        ketch.no_such_verb  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as e:
        assert "no_such_verb" in str(e)
    else:
        raise AssertionError("ketch.no_such_verb resolved")


def test_importing_the_package_loads_no_part_of_it() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, ketch; print(sorted(m for m in sys.modules if m.startswith('ketch.')))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"
