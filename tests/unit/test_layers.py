"""The layer rules: which part of python/ketch may import which. Read from
every import in the source (those inside functions too), so a forbidden
one fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "python" / "ketch"

# part -> the parts it may import (itself always). A part is a top-level
# module or package of ketch; "_native" is the Rust extension.
BASE = {"errors", "records", "fastjson", "config", "_native"}
RULES: dict[str, set[str]] = {
    "errors": set(),
    "records": set(),
    "fastjson": set(),
    "config": {"errors"},
    "_native": set(),
    "reference": {"errors", "records"},
    "models": {"errors", "records", "fastjson", "reference"},
    "store": BASE | {"models", "reference"},
    "registry": BASE | {"models", "reference", "store"},
    "network": BASE | {"models", "store"},
    "runtime": BASE | {"models", "reference", "store", "network"},
    "builder": BASE | {"models", "reference", "store", "registry", "network", "runtime", "images"},
    "images": BASE | {"models", "reference", "store", "registry"},
    # the second face: the parts, and the package's __version__ (as the CLI reports it)
    "api": BASE
    | {"models", "reference", "store", "registry", "network", "runtime", "builder", "images", "__version__"},
    "cli": set(),  # the face: anything (checked below: nobody imports it)
    # the facade: every part but the faces (its imports are for type checkers; it loads lazily)
    "__init__": BASE | {"models", "reference", "store", "registry", "network", "runtime", "builder", "images"},
    "__main__": {"cli"},
}


def _part(mod: str) -> str:
    return mod.split(".", 1)[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module relative to ketch) of every ketch import in a file."""
    here = list(path.relative_to(PKG).parts[:-1])  # the package the file is in
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(here[: len(here) - (node.level - 1)])
            mod = ".".join(x for x in (base, node.module or "") if x)
            if node.module is None or not mod:  # `from . import x`: x is a module
                found += [(node.lineno, ".".join(x for x in (mod, a.name) if x)) for a in node.names]
            else:
                found.append((node.lineno, mod))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ketch":
            mod = node.module.partition(".")[2]
            found += [(node.lineno, mod)] if mod else [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.partition(".")[2]) for a in node.names if a.name.startswith("ketch.")]
    return found


def violations() -> list[str]:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        me = _part(".".join(rel.with_suffix("").parts))
        allowed = RULES.get(me)
        if allowed is None:
            bad.append(f"{rel}: part {me!r} is not in the layer table")
            continue
        for line, mod in _imports(path):
            other = _part(mod)
            if other == me:
                continue
            if other == "cli" and me not in ("__main__",):
                bad.append(f"{rel}:{line}: imports the CLI ({mod})")
            elif me != "cli" and other not in allowed:
                bad.append(f"{rel}:{line}: {me} may not import {other} ({mod})")
    return bad


def test_every_import_keeps_the_layer_rules() -> None:
    assert violations() == []
