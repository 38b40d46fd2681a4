"""No host-side code opens, copies or extracts image or container content by
a host path (DESIGN.md's safety rules; issue 10): every such operation goes
through Rust's in-root resolution (`_native.copy_in_root` and its siblings).
This walks python/ketch's syntax trees for the operations that did it
before: shutil's copies and moves, tarfile extraction, chdir/chroot, and a
path joined onto a directory that holds a layer, a container's root or an
image's merged view. Anything found must be on the short allowlist below,
with the reason it is safe."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "ketch"

# shutil calls that read or write files by path (copyfileobj works on open files).
SHUTIL = {"copy", "copy2", "copyfile", "copytree", "move", "copymode", "copystat"}
# tarfile methods that write members to disk or hand them out.
TARFILE = {"extract", "extractall", "extractfile"}
OS = {"chdir", "fchdir", "chroot"}

# Names of directories whose content comes from an image or a container:
# a layer's diff, the lower/upper dirs of an overlay, a root file system, a
# merged view. A path joined onto one of these is image content by host path.
CONTENT_ROOT = re.compile(r"^(lower|lowers|lowerdir|lowerdirs|lw|upper|upperdir|rootfs|merged|layer|layers)$")

# (file, function, operation) -> why it is safe. Keep it short.
ALLOWED = {
    ("store/archive.py", "load", "tarfile.extractfile"): (
        "reads each member of an archive being loaded into the content store by digest; "
        "no member is written to a path the archive names"
    ),
    ("runtime/spec.py", "_image_file", "join"): (
        "reads /etc/passwd and /etc/group of an image layer by layer: every component lstat'ed, "
        "a symlink, file or whiteout in the way stops the lookup, the file opened O_NOFOLLOW"
    ),
    ("runtime/mounts.py", "real_dir", "join"): (
        "one top-level name (etc, sbin) of each layer, lexists/is_symlink first: "
        "only whether the image has it as a real directory, nothing read"
    ),
}


def _call_name(node: ast.Call) -> tuple[str, str] | None:
    """(receiver, attribute) of `x.attr(...)`, receiver as written."""
    f = node.func
    if isinstance(f, ast.Attribute):
        recv = f.value
        name = recv.id if isinstance(recv, ast.Name) else recv.attr if isinstance(recv, ast.Attribute) else ""
        return name, f.attr
    return None


class _Finder(ast.NodeVisitor):
    """The operations in one module, each with the function it is in. Inside a
    function, a name assigned from (or looping over) a content root is one too."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str, int]] = []
        self.scope: list[str] = []
        self.tainted: list[set[str]] = [set()]

    def _is_root(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return bool(CONTENT_ROOT.match(node.id)) or node.id in self.tainted[-1]
        if isinstance(node, ast.Attribute):
            return bool(CONTENT_ROOT.match(node.attr))
        if isinstance(node, ast.Call):
            name = _call_name(node)
            # store.layers.diff(chain): a layer's directory
            if name is not None and name[1] == "diff" and name[0] == "layers":
                return True
            # Path(lower), str(layer)
            if isinstance(node.func, ast.Name) and node.func.id in ("Path", "str") and node.args:
                return self._is_root(node.args[0])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self._is_root(node.left)
        if isinstance(node, (ast.List, ast.ListComp, ast.GeneratorExp)):
            elts = node.elts if isinstance(node, ast.List) else [node.elt]
            return any(self._is_root(e) for e in elts)
        return False

    def _taint(self, target: ast.AST) -> None:
        for n in ast.walk(target):
            if isinstance(n, ast.Name):
                self.tainted[-1].add(n.id)

    def _where(self) -> str:
        return self.scope[-1] if self.scope else "<module>"

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.tainted.append(set(self.tainted[-1]))
        self.generic_visit(node)
        self.tainted.pop()
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        if self._is_root(node.value):
            for t in node.targets:
                self._taint(t)
        for t in node.targets:
            self.visit(t)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        if self._is_root(node.iter):
            self._taint(node.target)
        for n in [*node.body, *node.orelse]:
            self.visit(n)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self.visit(node.iter)
        if self._is_root(node.iter):
            self._taint(node.target)
        for n in node.ifs:
            self.visit(n)

    def _comp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        for g in node.generators:  # the generators first: they bind the names
            self.visit(g)
        for field in ("elt", "key", "value"):
            if hasattr(node, field):
                self.visit(getattr(node, field))

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comp  # noqa: N815

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Div) and self._is_root(node.left):
            self.found.append((self._where(), "join", node.lineno))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        if name is not None:
            recv, attr = name
            if recv == "shutil" and attr in SHUTIL:
                self.found.append((self._where(), f"shutil.{attr}", node.lineno))
            elif attr in TARFILE:
                self.found.append((self._where(), f"tarfile.{attr}", node.lineno))
            elif recv == "os" and attr in OS:
                self.found.append((self._where(), f"os.{attr}", node.lineno))
            elif recv == "path" and attr == "join" and node.args and self._is_root(node.args[0]):
                self.found.append((self._where(), "join", node.lineno))
        self.generic_visit(node)


def host_side_operations(package: Path = PACKAGE) -> Iterator[tuple[str, str, str, int]]:
    for path in sorted(package.rglob("*.py")):
        f = _Finder()
        f.visit(ast.parse(path.read_text(), str(path)))
        rel = str(path.relative_to(package))
        for where, op, line in f.found:
            yield rel, where, op, line


def test_no_host_side_operation_on_image_content_outside_the_allowlist() -> None:
    found = list(host_side_operations())
    unexpected = [f"{rel}:{line} {where}: {op}" for rel, where, op, line in found if (rel, where, op) not in ALLOWED]
    assert unexpected == [], "host-side operations on image or container content:\n" + "\n".join(unexpected)
    # An entry that matches nothing any more goes: the list stays short and true.
    stale = set(ALLOWED) - {(rel, where, op) for rel, where, op, _ in found}
    assert not stale, f"allowlist entries that match nothing: {sorted(stale)}"


def test_the_walk_finds_what_it_looks_for(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "import os, shutil, tarfile\n"
        "def a(src, dst):\n    shutil.copy2(src, dst)\n"
        "def b(lowerdirs, target):\n"
        "    for lower in lowerdirs:\n        p = Path(lower) / target\n"
        "def c(tf, d):\n    tf.extractall(d, filter='data')\n"
        "def d(rootfs):\n    os.chdir(rootfs)\n    return os.path.join(rootfs, 'etc')\n"
        "def e(store, chain, rel):\n    d = store.layers.diff(chain)\n    return d / rel\n"
        "def f(lowers, name):\n    return next(x for x in (Path(lw) / name for lw in lowers))\n"
        "def ok(tmp):\n    return tmp / 'upperless'\n"
    )
    ops = sorted((where, op) for _, where, op, _ in host_side_operations(pkg))
    assert ops == [
        ("a", "shutil.copy2"),
        ("b", "join"),
        ("c", "tarfile.extractall"),
        ("d", "join"),
        ("d", "os.chdir"),
        ("e", "join"),
        ("f", "join"),
    ]
