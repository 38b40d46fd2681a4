"""The store owns all SQL (issue 11): no module outside python/ketch/store/
holds a SQL statement or reaches for the database connection. A static scan
of the syntax trees: string constants that read as SQL, and calls of the
database's methods (`.db.query`, `.db.write`, `.execute`, `.executemany`).
And inside the store, one way for each: blobs in by commit_file, images by
create_image.

What is not moved yet is listed below, per file and function (None: the whole
file), with who moves it; the list only shrinks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "ketch"

# A statement's first word, in capitals as this code base writes SQL (prose has "Select ...").
# A bare COMMIT is iptables-restore's too: transaction words count only with
# their SQL qualifier (a bare one reaches SQLite through a database call, which is caught).
SQL = re.compile(
    r"^\s*(?:(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|PRAGMA)\s+\S"
    r"|(BEGIN|COMMIT|ROLLBACK|END)\s+(TRANSACTION|IMMEDIATE|EXCLUSIVE|DEFERRED)\b)"
)
DB_METHODS = {"execute", "executemany", "executescript"}

# file -> functions still holding SQL (None: all of it), and why.
NOT_YET: dict[str, set[str] | None] = {}  # what has not moved yet: nothing


def _is_sql(text: str) -> bool:
    return bool(SQL.match(text))


def findings(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(enclosing function, line, what) of each SQL string or database call."""
    out: list[tuple[str, int, str]] = []

    def walk(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
            if isinstance(child, ast.Constant) and isinstance(child.value, str) and _is_sql(child.value):
                out.append((func, child.lineno, child.value.strip()[:60]))
            elif isinstance(child, ast.JoinedStr):
                parts = [v.value for v in child.values if isinstance(v, ast.Constant)]
                text = "".join(p for p in parts if isinstance(p, str))
                if _is_sql(text):
                    out.append((func, child.lineno, text.strip()[:60]))
                continue
            elif isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                attr = child.func
                base = attr.value
                if attr.attr in DB_METHODS or (
                    attr.attr in ("query", "write", "conn") and isinstance(base, ast.Attribute) and base.attr == "db"
                ):
                    out.append((func, child.lineno, f".{attr.attr}()"))
            walk(child, name)

    walk(tree, "<module>")
    return out


def test_no_sql_outside_the_store() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("store/"):
            continue
        allowed = NOT_YET.get(rel, set())
        for func, line, what in findings(ast.parse(path.read_text(), rel)):
            if allowed is None or func in allowed:
                continue
            found.append(f"{rel}:{line} in {func}: {what}")
    assert found == [], "SQL outside python/ketch/store/:\n" + "\n".join(found)


def test_the_scan_sees_sql_and_database_calls() -> None:
    """The scan itself: what it must catch, and what it must not."""
    src = """
def a(store):
    return store.db.query("SELECT id FROM images WHERE id=?", (1,))
def b(store):
    with store.db.write() as db:
        db.execute(x)
def c():
    q = f"DELETE FROM tags WHERE name='{n}'"
def d():
    print("Select an image from the list")
    raise Error("update the image, then delete it")
"""
    got = {(f, w.split()[0] if not w.startswith(".") else w) for f, _, w in findings(ast.parse(src))}
    assert got == {("a", ".query()"), ("a", "SELECT"), ("b", ".write()"), ("b", ".execute()"), ("c", "DELETE")}


def test_the_allowlist_names_only_what_still_holds_sql() -> None:
    """An entry whose SQL has moved is dropped from NOT_YET, so the list only shrinks."""
    for rel, funcs in NOT_YET.items():
        path = PACKAGE / rel
        if not path.exists():
            continue
        seen = {func for func, _, _ in findings(ast.parse(path.read_text(), rel))}
        assert seen, f"{rel} holds no SQL any more: drop it from NOT_YET"
        if funcs is not None:
            assert funcs <= seen, f"{rel}: {sorted(funcs - seen)} hold no SQL any more: drop them from NOT_YET"


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """(enclosing function, call) of every call."""
    out: list[tuple[str, ast.Call]] = []

    def walk(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
            if isinstance(child, ast.Call):
                out.append((func, child))
            walk(child, name)

    walk(tree, "<module>")
    return out


def test_one_way_into_blobs_and_one_way_to_record_an_image() -> None:
    """A rename onto a blob's path happens in ContentStore.commit_file only;
    rows of `images` are inserted by images._record only (create_image's).
    (The embedded registry, registry/server/, keeps blobs of its own.)"""
    renames, inserts = set(), set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("registry/server/"):
            continue
        tree = ast.parse(path.read_text(), rel)
        for func, call in _calls(tree):
            f = call.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("rename", "replace") and len(call.args) == 2:
                target = ast.unparse(call.args[1])
                if "content.path" in target or "blob" in target or target == "final":
                    renames.add((rel, func))
        for func, _, what in findings(tree):
            if re.match(r"INSERT (OR \w+ )?INTO images\b", what):
                inserts.add((rel, func))
    assert renames == {("store/content.py", "commit_file")}
    assert inserts == {("store/images.py", "_record")}
