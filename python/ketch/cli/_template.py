"""Go's text/template as docker's `--format` uses it: a small, safe engine.

`render(template, data)` runs a template on plain data (dicts, lists,
strings, numbers, bools, None) and `Row`s (docker's per-row contexts);
`table(fmt, rows, header)` is docker's formatter (`table ...` with its
headers, tabwriter-aligned, or one rendered line per row).

Safe by construction: a field is a key of a dict (never a Python
attribute), the only callables are this module's functions and the
`Method`s a face puts in a `Row`; recursion, evaluation steps and output are
bounded (TemplateError past them).

Supported: text and `{{ }}` actions with `{{-`/`-}}` trim markers and
`{{/* comments */}}`; `.`, `.A.B`, `$`, `$x`, `$x.A`, `(pipeline).A`; string
("..." and `...`), char, number, bool and nil constants; pipelines with `|`;
`$x := ...`, `$x = ...`; if/else if/else, range (lists, dicts by sorted key,
ints; `$i, $e :=`; else; break, continue), with/else with; define, template,
block; Go's functions and, or, not, len, index, slice, print, printf,
println, eq, ne, lt, le, gt, ge, html, js, urlquery; docker's json, split,
join, title, lower, upper, pad, truncate."""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import KetchError
from ._format import go_quote

MAX_OUTPUT = 16 << 20  # characters one render may write
MAX_VALUE = 1 << 20  # characters (or elements) of a value a function makes
MAX_STEPS = 2_000_000  # nodes one render may evaluate (a range of ranges ends here)
MAX_COLUMNS = 200  # a table's columns (tabwriter recurses once per column)
MAX_DEPTH = 64  # nesting of actions, parentheses and template calls


class TemplateError(KetchError):
    """A template that does not parse or fails to run: Go's message."""


# -- values -------------------------------------------------------------------


class _NoValue:
    """Go's invalid value: a missing map key, printed `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


class Method:
    """A computed field of a `Row`: called with the template's arguments
    (`{{.Label "k"}}`), with none when read as a field. `arity` is how many it takes."""

    __slots__ = ("fn", "arity")

    def __init__(self, fn: Callable[..., Any], arity: int = 0) -> None:
        self.fn = fn
        self.arity = arity


class Row(Mapping[str, Any]):
    """One of docker's row contexts (`*formatter.ContainerContext`): named
    fields (values or `Method`s, computed when read). A field it lacks is an
    error, as on a Go struct; `{{json .}}` is every field taking no argument,
    keys sorted (docker marshals the context as a map)."""

    def __init__(self, type_name: str, fields: dict[str, Any], strict: bool = True) -> None:
        self.type_name = type_name
        self._fields = fields
        self.strict = strict  # False: a missing field is `<no value>` (docker's header map)

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def plain(self) -> dict[str, Any]:
        out = {}
        for k in sorted(self._fields):
            v = self._fields[k]
            if isinstance(v, Method):
                if v.arity:
                    continue
                v = v.fn()
            out[k] = v
        return out


class GoMap(dict[str, Any]):
    """A dict that is a Go map in docker's types (labels, ports...): a
    missing key is `<no value>` even where a struct's would be an error."""


# -- lexing and parsing ----------------------------------------------------------


class Node:
    """A parsed piece of a template: where it starts and its source (as Go's
    errors quote it). Plain classes: a dataclass each costs start-up time."""

    __slots__ = ("pos", "text")

    def __init__(self, pos: int, text: str) -> None:
        self.pos = pos
        self.text = text


class Text(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, text: str, value: str = "") -> None:
        super().__init__(pos, text)
        self.value = value


class Field(Node):
    __slots__ = ("names",)

    def __init__(self, pos: int, text: str, names: list[str] | None = None) -> None:
        super().__init__(pos, text)
        self.names: list[str] = names if names is not None else []


class Var(Node):
    __slots__ = ("name", "names")

    def __init__(self, pos: int, text: str, name: str = "", names: list[str] | None = None) -> None:
        super().__init__(pos, text)
        self.name = name
        self.names: list[str] = names if names is not None else []


class Dot(Node):
    __slots__ = ()


class Const(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, text: str, value: Any = None) -> None:
        super().__init__(pos, text)
        self.value = value


class Ident(Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, text: str, name: str = "") -> None:
        super().__init__(pos, text)
        self.name = name


class Chain(Node):
    __slots__ = ("node", "names")

    def __init__(self, pos: int, text: str, node: Any = None, names: list[str] | None = None) -> None:
        super().__init__(pos, text)
        self.node = node
        self.names: list[str] = names if names is not None else []


class Command(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int, text: str, args: list[Any] | None = None) -> None:
        super().__init__(pos, text)
        self.args: list[Any] = args if args is not None else []


class Pipe(Node):  # `=` rather than `:=` for assign
    __slots__ = ("decl", "assign", "cmds")

    def __init__(
        self,
        pos: int,
        text: str,
        decl: list[str] | None = None,
        assign: bool = False,
        cmds: list[Command] | None = None,
    ) -> None:
        super().__init__(pos, text)
        self.decl: list[str] = decl if decl is not None else []
        self.assign = assign
        self.cmds: list[Command] = cmds if cmds is not None else []


class Action(Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, text: str, pipe: Pipe | None = None) -> None:
        super().__init__(pos, text)
        self.pipe = pipe


class Branch(Node):  # if, range, with
    __slots__ = ("kind", "pipe", "body", "other")

    def __init__(
        self,
        pos: int,
        text: str,
        kind: str = "",
        pipe: Pipe | None = None,
        body: list[Any] | None = None,
        other: list[Any] | None = None,
    ) -> None:
        super().__init__(pos, text)
        self.kind = kind
        self.pipe = pipe
        self.body: list[Any] = body if body is not None else []
        self.other = other


class Call(Node):  # {{template "name" pipeline}}
    __slots__ = ("name", "pipe")

    def __init__(self, pos: int, text: str, name: str = "", pipe: Pipe | None = None) -> None:
        super().__init__(pos, text)
        self.name = name
        self.pipe = pipe


class Jump(Node):  # break, continue
    __slots__ = ("kind",)

    def __init__(self, pos: int, text: str, kind: str = "") -> None:
        super().__init__(pos, text)
        self.kind = kind


_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<raw>`[^`]*`)
    |(?P<str>"(?:[^"\\\n]|\\.)*")
    |(?P<char>'(?:[^'\\\n]|\\.)+')
    |(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    |(?P<var>\$[A-Za-z0-9_]*)
    |(?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?))
    |(?P<declare>:=)
    |(?P<assign>=)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<dot>\.)
    |(?P<op>[()|,])
    """,
    re.VERBOSE,
)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}


def _unquote(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = s[i + 1]
        if n in _ESCAPES:
            out.append(_ESCAPES[n])
            i += 2
        elif n in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[n]
            digits = s[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif n in "01234567":
            digits = s[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError("invalid syntax")
    return "".join(out)


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.defines: dict[str, list[Any]] = {}
        self.ranges = 0  # range bodies being parsed (break and continue need one)

    def line(self, pos: int) -> int:
        return 1 + self.src.count("\n", 0, pos)

    def fail(self, pos: int, msg: str) -> TemplateError:
        return TemplateError(f"template: :{self.line(pos)}: {msg}")

    # the text/action split, with trim markers and comments
    def items(self) -> list[tuple[str, int, str]]:
        """("text", pos, s) and ("action", pos, inside) in order."""
        src, out, i = self.src, [], 0
        while True:
            j = src.find("{{", i)
            if j < 0:
                out.append(("text", i, src[i:]))
                return out
            text = src[i:j]
            k = j + 2
            if src.startswith("-", k) and k + 1 < len(src) and src[k + 1] in " \t\r\n":
                text = text.rstrip(" \t\r\n")
                k += 2
            out.append(("text", i, text))
            if src.startswith("/*", k):
                end = src.find("*/", k + 2)
                if end < 0:
                    raise self.fail(j, "unclosed comment")
                rest = end + 2
                trim = src.startswith(" -}}", rest)
                if not (src.startswith("}}", rest) or trim):
                    raise self.fail(j, "comment ends before closing delimiter")
                i = rest + (4 if trim else 2)
            else:
                end = self._close(k, j)
                trim = end > k and src[end - 1] == "-" and end - 1 > k and src[end - 2] in " \t\r\n"
                out.append(("action", k, src[k : end - 1 if trim else end]))
                i = end + 2
            if trim:
                n = i
                while n < len(src) and src[n] in " \t\r\n":
                    n += 1
                i = n
                out.append(("text", i, ""))

    def _close(self, k: int, start: int) -> int:
        """The `}}` that ends the action starting at k (not one inside a string)."""
        src, i = self.src, k
        while i < len(src):
            c = src[i]
            if src.startswith("}}", i):
                return i
            if c in "\"'`":
                close = src.find(c, i + 1) if c == "`" else self._end_quote(i, c)
                if close < 0:
                    raise self.fail(
                        start, "unterminated quoted string" if c != "`" else "unterminated raw quoted string"
                    )
                i = close + 1
                continue
            i += 1
        raise self.fail(start, "unclosed action")

    def _end_quote(self, i: int, q: str) -> int:
        src, j = self.src, i + 1
        while j < len(src):
            if src[j] == "\\":
                j += 2
                continue
            if src[j] == q:
                return j
            if src[j] == "\n":
                return -1
            j += 1
        return -1

    def parse(self) -> list[Any]:
        self.stream = self.items()
        self.at = 0
        body, end = self.list_(0)
        if end is not None:
            raise self.fail(end[0], f"unexpected {{{{{end[1]}}}}}")
        return body

    def list_(self, depth: int) -> tuple[list[Any], tuple[int, str, str] | None]:
        """Nodes up to an {{end}} or {{else ...}} (returned as (pos, keyword, rest))."""
        if depth > MAX_DEPTH:
            raise self.fail(0, "template nested too deeply")
        nodes: list[Any] = []
        while self.at < len(self.stream):
            kind, pos, s = self.stream[self.at]
            self.at += 1
            if kind == "text":
                if s:
                    nodes.append(Text(pos, s, s))
                continue
            toks = self.lex(s, pos)
            if not toks:
                raise self.fail(pos, "missing value for command")
            head = toks[0]
            word = head[2] if head[0] == "ident" else ""
            if word in ("end", "else"):
                if word == "end" and len(toks) > 1:
                    raise self.fail(pos, f"unexpected {toks[1][2]} in end")
                return nodes, (pos, word, s)
            if word in ("if", "range", "with"):
                nodes.append(self.branch(word, toks[1:], pos, s, depth))
            elif word in ("break", "continue"):
                if not self.ranges:
                    raise self.fail(pos, f"{{{{{word}}}}} outside {{{{range}}}}")
                nodes.append(Jump(pos, s.strip(), word))
            elif word in ("define", "block"):
                name, rest = self.name_of(toks[1:], pos, word)
                body, end = self.list_(depth + 1)
                if end is None or end[1] != "end":
                    raise self.fail(pos, "unexpected EOF")
                self.defines[name] = body
                if word == "block":
                    nodes.append(Call(pos, s.strip(), name, self.pipe(rest, pos) if rest else None))
            elif word == "template":
                name, rest = self.name_of(toks[1:], pos, word)
                nodes.append(Call(pos, s.strip(), name, self.pipe(rest, pos) if rest else None))
            else:
                nodes.append(Action(pos, s.strip(), self.pipe(toks, pos, decl_ok=True)))
        return nodes, None

    def name_of(self, toks: list[tuple[str, int, str]], pos: int, word: str) -> tuple[str, list[Any]]:
        if not toks or toks[0][0] not in ("str", "raw"):
            raise self.fail(pos, f"unexpected {toks[0][2] if toks else 'EOF'} in {word} clause")
        t = toks[0]
        return (t[2][1:-1] if t[0] == "raw" else _unquote(t[2][1:-1])), toks[1:]

    def branch(self, kind: str, toks: list[Any], pos: int, s: str, depth: int) -> Branch:
        if not toks:
            raise self.fail(pos, f"missing value for {kind}")
        node = Branch(pos, s.strip(), kind, self.pipe(toks, pos, decl_ok=True, range_=kind == "range"))
        self.ranges += kind == "range"
        node.body, end = self.list_(depth + 1)
        self.ranges -= kind == "range"
        if end is None:
            raise self.fail(pos, "unexpected EOF")
        if end[1] == "else":
            rest = self.lex(end[2], end[0])[1:]
            if rest:  # else if / else with: the rest of the chain is the else list
                word = rest[0][2] if rest[0][0] == "ident" else ""
                if word != kind or kind == "range":
                    raise self.fail(end[0], f"unexpected {rest[0][2]} in else")
                node.other = [self.branch(kind, rest[1:], end[0], end[2], depth + 1)]
                return node
            node.other, end = self.list_(depth + 1)
            if end is None:
                raise self.fail(pos, "unexpected EOF")
            if end[1] != "end":
                raise self.fail(end[0], "expected end; found {{else}}")
        return node

    def lex(self, s: str, base: int) -> list[tuple[str, int, str]]:
        toks, i = [], 0
        while i < len(s):
            m = _TOKEN.match(s, i)
            if m is None:
                raise self.fail(base + i, f"unexpected {s[i]!r} in command".replace("'", '"'))
            kind = m.lastgroup or ""
            if kind != "space":
                toks.append((kind, base + i, m.group()))
            i = m.end()
        return toks

    def pipe(self, toks: list[Any], pos: int, decl_ok: bool = False, range_: bool = False) -> Pipe:
        p = Pipe(pos, " ".join(t[2] for t in toks))
        # declarations: $x := / $x = / $i, $e :=
        if decl_ok and toks and toks[0][0] == "var":
            names, j = [toks[0][2]], 1
            if range_ and len(toks) > 3 and toks[1][2] == "," and toks[2][0] == "var":
                names, j = [toks[0][2], toks[2][2]], 3
            if j < len(toks) and toks[j][0] in ("declare", "assign"):
                p.decl, p.assign = names, toks[j][0] == "assign"
                toks = toks[j + 1 :]
        self.toks, self.ti = toks, 0
        p.cmds = self.commands(pos, 0)
        if self.ti < len(self.toks):
            raise self.fail(pos, f"unexpected {self.toks[self.ti][2]!r} in operand".replace("'", '"'))
        return p

    def commands(self, pos: int, depth: int) -> list[Command]:
        if depth > MAX_DEPTH:
            raise self.fail(pos, "template nested too deeply")
        cmds: list[Command] = []
        while True:
            args = []
            start = self.toks[self.ti][1] if self.ti < len(self.toks) else pos
            while self.ti < len(self.toks) and self.toks[self.ti][2] not in ("|", ")"):
                args.append(self.operand(depth))
            if not args:
                raise self.fail(pos, "missing value for command")
            if len(args) > 1 and isinstance(args[0], Const | Dot):
                raise self.fail(pos, f"can't give argument to non-function {args[0].text}")
            if cmds and isinstance(args[0], Const | Dot | Pipe):
                raise self.fail(pos, f"non executable command in pipeline stage {len(cmds) + 1}")
            cmds.append(Command(start, " ".join(a.text for a in args), args))
            if self.ti < len(self.toks) and self.toks[self.ti][2] == "|":
                self.ti += 1
                continue
            return cmds

    def operand(self, depth: int) -> Any:
        kind, pos, s = self.toks[self.ti]
        self.ti += 1
        end = pos + len(s)
        node: Any
        if kind == "field":
            return Field(pos, s, s[1:].split("."))
        if kind == "var":
            node = Var(pos, s, s, [])
        elif kind == "dot":
            node = Dot(pos, ".")
        elif kind in ("str", "raw", "char"):
            try:
                value: Any = s[1:-1] if kind == "raw" else _unquote(s[1:-1])
            except (ValueError, IndexError):
                raise self.fail(pos, f"invalid syntax: {s}") from None
            if kind == "char":
                if len(value) != 1:
                    raise self.fail(pos, f"malformed character constant: {s}")
                value = ord(value)
            node = Const(pos, s, value)
        elif kind == "num":
            node = Const(pos, s, self.number(s, pos))
        elif kind == "ident":
            if s in ("true", "false"):
                node = Const(pos, s, s == "true")
            elif s == "nil":
                node = Const(pos, s, None)
            elif s in _KEYWORDS:
                raise self.fail(pos, f"unexpected <{s}> in command")
            elif s not in FUNCS:
                raise self.fail(pos, f'function "{s}" not defined')
            else:
                node = Ident(pos, s, s)
        elif s == "(":
            inner = self.commands(pos, depth + 1)
            if self.ti >= len(self.toks) or self.toks[self.ti][2] != ")":
                raise self.fail(pos, "unclosed left paren")
            end = self.toks[self.ti][1] + 1
            self.ti += 1
            node = Pipe(pos, "(" + " | ".join(c.text for c in inner) + ")", [], False, inner)
        else:
            raise self.fail(pos, f"unexpected {s!r} in operand".replace("'", '"'))
        # a field chain right after: (x).A.B, $.A
        if self.ti < len(self.toks) and self.toks[self.ti][0] == "field" and self.toks[self.ti][1] == end:
            f = self.toks[self.ti]
            self.ti += 1
            if isinstance(node, Const | Ident):
                raise self.fail(pos, f"unexpected . after term {node.text!r}".replace("'", '"'))
            return Chain(pos, node.text + f[2], node, f[2][1:].split("."))
        return node

    def number(self, s: str, pos: int) -> int | float:
        try:
            t = s.replace("_", "")
            if re.fullmatch(r"[+-]?0[xXoObB].*", t):
                return int(t, 0)
            if re.fullmatch(r"[+-]?[0-9]+", t):
                return int(t, 10)
            return float(t)
        except ValueError:
            raise self.fail(pos, f"bad number syntax: {s!r}".replace("'", '"')) from None


class Template:
    """A parsed template: its source, its nodes and the templates it defines."""

    __slots__ = ("source", "body", "defines")

    def __init__(self, source: str, body: list[Any], defines: dict[str, list[Any]]) -> None:
        self.source = source
        self.body = body
        self.defines = defines


def parse(source: str) -> Template:
    """A template parsed (TemplateError with Go's message if it does not)."""
    p = _Parser(source)
    body = p.parse()
    _check_vars(p, body, [{"$"}])
    return Template(source, body, p.defines)


def _check_vars(p: _Parser, nodes: list[Any], scopes: list[set[str]]) -> None:
    """Go rejects an undefined variable at parse time."""

    def pipe(x: Pipe | None, declare: bool = True) -> None:
        if x is None:
            return
        for c in x.cmds:
            for a in c.args:
                arg(a)
        if x.decl:
            if x.assign:
                for n in x.decl:
                    if not any(n in s for s in scopes):
                        raise p.fail(x.pos, f'undefined variable "{n}"')
            elif declare:
                scopes[-1].update(x.decl)

    def arg(a: Any) -> None:
        if isinstance(a, Var) and not any(a.name.split(".")[0] in s for s in scopes):
            raise p.fail(a.pos, f'undefined variable "{a.name.split(".")[0]}"')
        if isinstance(a, Chain):
            arg(a.node)
        if isinstance(a, Pipe):
            pipe(a)

    for n in nodes:
        if isinstance(n, Action):
            pipe(n.pipe)
        elif isinstance(n, Call):
            pipe(n.pipe)
        elif isinstance(n, Branch):
            scopes.append(set())
            pipe(n.pipe)
            _check_vars(p, n.body, scopes)
            scopes.pop()
            if n.other is not None:
                scopes.append(set())
                _check_vars(p, n.other, scopes)
                scopes.pop()


# -- printing, as Go's fmt does ----------------------------------------------------


def go_float(f: float) -> str:
    """fmt's %v of a float64 (strconv 'g', shortest)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    r = repr(f)
    mant, _, exp_s = r.partition("e")
    sign = "-" if mant.startswith("-") else ""
    mant = mant.lstrip("-")
    digits = mant.replace(".", "").lstrip("0")
    point = mant.index(".") if "." in mant else len(mant)
    lead = len(mant.replace(".", "")) - len(mant.replace(".", "").lstrip("0"))
    exp = (point - lead - 1) + (int(exp_s) if exp_s else 0)
    digits = digits.rstrip("0") or "0"
    if f == 0:
        return sign + "0"
    if exp < -4 or exp >= 6:  # strconv's 'g' at its shortest
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= len(digits) - 1:
        return sign + digits + "0" * (exp - len(digits) + 1)
    if exp >= 0:
        return sign + digits[: exp + 1] + "." + digits[exp + 1 :]
    return sign + "0." + "0" * (-exp - 1) + digits


def to_text(v: Any) -> str:
    """A value printed as Go's fmt.Sprint prints it."""
    if isinstance(v, str):
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "<nil>"
    if v is NO_VALUE:
        return "<no value>"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, Row):
        return "{" + " ".join(to_text(x) for x in v.plain().values()) + "}"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{to_text(k)}:{to_text(v[k])}" for k in sorted(v, key=str)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(to_text(x) for x in v) + "]"
    if isinstance(v, Method):
        return to_text(v.fn()) if not v.arity else "<method>"
    return "<?>"


def _jsonable(v: Any) -> Any:
    if isinstance(v, Row):
        return {k: _jsonable(x) for k, x in v.plain().items()}
    if isinstance(v, GoMap):
        return {k: _jsonable(v[k]) for k in sorted(v)}
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, Method):
        return _jsonable(v.fn()) if not v.arity else None
    if v is NO_VALUE:
        return None
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return None


def go_json(v: Any) -> str:
    """docker's `json` function: encoding/json, no HTML escaping, no newline."""
    s = _json.dumps(_jsonable(v), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# -- the functions -----------------------------------------------------------------


class _Fail(Exception):
    """A function's error, reported as Go's `error calling NAME: ...`."""


def _truth(v: Any) -> bool:
    if isinstance(v, Method):
        v = v.fn() if not v.arity else v
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, Row):
        return True
    if isinstance(v, bool | int | float | str | list | tuple | Mapping):
        return bool(v)
    return True


def _len(v: Any) -> int:
    if isinstance(v, Row):
        raise _Fail(f"len of type {v.type_name}")
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, list | tuple | Mapping):
        return len(v)
    raise _Fail(f"len of type {_type(v)}")


def _type(v: Any) -> str:
    if isinstance(v, Row):
        return v.type_name
    return {
        str: "string",
        bool: "bool",
        int: "int",
        float: "float64",
        list: "[]interface {}",
        tuple: "[]interface {}",
        GoMap: "map[string]string",
    }.get(type(v), "map[string]interface {}" if isinstance(v, Mapping) else "interface {}")


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if v is None or v is NO_VALUE:
            if isinstance(k, str):
                v = ""  # a nil map of docker's types: the zero value
                continue
            raise _Fail("index of untyped nil")
        if isinstance(v, Mapping) and not isinstance(v, Row):
            if not isinstance(k, str):
                raise _Fail(f"value has type {_type(k)}; should be string")
            v = v[k] if k in v else ""
        elif isinstance(v, list | tuple | str):
            if not isinstance(k, int) or isinstance(k, bool):
                raise _Fail(f"cannot index slice/array with type {_type(k)}")
            if not 0 <= k < len(v):
                raise _Fail(f"index out of range: {k}")
            v = v[k] if not isinstance(v, str) else v.encode()[k]
        else:
            raise _Fail(f"can't index item of type {_type(v)}")
    return v


def _slice(v: Any, *idx: Any) -> Any:
    if not isinstance(v, str | list | tuple):
        raise _Fail(f"can't slice item of type {_type(v)}")
    if len(idx) > 2:
        raise _Fail("too many slice indexes: 3")
    for i in idx:
        if not isinstance(i, int) or isinstance(i, bool):
            raise _Fail(f"cannot index slice/array with type {_type(i)}")
    lo, hi = (list(idx) + [0, len(v)][len(idx) :])[:2]
    if not 0 <= lo <= hi <= len(v):
        raise _Fail(f"index out of range: {hi if hi > len(v) else lo}")
    return v[lo:hi]


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None or v is NO_VALUE:
        return "nil"
    raise _Fail("invalid type for comparison")


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise _Fail("missing argument for comparison")
    ka = _kind(a)
    for b in others:
        kb = _kind(b)
        if ka == "nil" or kb == "nil":
            if ka == kb:
                return True
            continue
        if ka != kb:
            raise _Fail("incompatible types for comparison")
        if a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka not in ("number", "string"):
        raise _Fail("incompatible types for comparison" if ka != kb else "invalid type for comparison")
    return bool(a < b)


def _sprint(args: tuple[Any, ...]) -> str:
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(to_text(a))
    return "".join(out)


_VERB = re.compile(r"%([-+# 0]*)(\*|[0-9]+)?(?:\.(\*|[0-9]+)?)?([a-zA-Z%])")


def _printf(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise _Fail(f"wrong type for value; expected string; got {_type(fmt)}")
    out, ai, i = [], 0, 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[i : m.start()])
        i = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        w = int(width) if width and width != "*" else 0
        p = int(prec) if prec and prec != "*" else (0 if prec == "" else None)
        if w > 10000 or (p or 0) > 10000:
            out.append("%!(BADWIDTH)")
            ai += 1
            continue
        a = args[ai]
        ai += 1
        if verb in "vs":
            s = to_text(a)
            if verb == "s" and p is not None:
                s = s[:p]
        elif verb == "q":
            s = go_quote(to_text(a)) if not isinstance(a, int) or isinstance(a, bool) else go_quote(chr(a))
        elif verb == "t" and isinstance(a, bool):
            s = to_text(a)
        elif verb in "dxXobc" and isinstance(a, int) and not isinstance(a, bool):
            s = chr(a) if verb == "c" else format(a, {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb])
            if "+" in flags and a >= 0 and verb == "d":
                s = "+" + s
        elif verb in "xX" and isinstance(a, str):
            s = a.encode().hex()
            s = s.upper() if verb == "X" else s
        elif verb in "feEgG" and isinstance(a, int | float) and not isinstance(a, bool):
            s = format(float(a), f".{6 if p is None else p}{verb}") if verb in "feE" else go_float(float(a))
        else:
            s = f"%!{verb}({_type(a)}={to_text(a)})"
        pad = w - len(s)
        if pad > 0:
            if "-" in flags:
                s = s + " " * pad
            elif "0" in flags and verb not in "sqv":
                neg = s.startswith(("-", "+"))
                s = (s[0] if neg else "") + "0" * pad + (s[1:] if neg else s)
            else:
                s = " " * pad + s
        out.append(s)
    out.append(fmt[i:])
    if ai < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_type(a)}={to_text(a)}" for a in args[ai:]) + ")")
    return "".join(out)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise _Fail(f"wrong type for value; expected string; got {_type(v)}")
    return v


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise _Fail(f"wrong type for value; expected int; got {_type(v)}")
    return v


def _title(s: Any) -> str:
    s, out, prev = _str(s), [], " "
    for ch in s:
        sep = not (ch.isalnum() or ch == "_") if ord(ch) < 0x80 else ch.isspace()
        psep = not (prev.isalnum() or prev == "_") if ord(prev) < 0x80 else prev.isspace()
        out.append(ch.upper() if psep and not sep else ch)
        prev = ch
    return "".join(out)


def _join(v: Any, sep: Any) -> str:
    sep = _str(sep)
    if v is None or v is NO_VALUE:
        return ""
    if isinstance(v, list | tuple):
        return sep.join(to_text(x) for x in v)
    if isinstance(v, Mapping) and not isinstance(v, Row):
        return sep.join(sorted(to_text(x) for x in v.values()))
    raise _Fail(f"expected slice, got {_type(v)}")


def _split(s: Any, sep: Any) -> list[str]:
    s, sep = _str(s), _str(sep)
    if sep == "":
        return list(s)
    return s.split(sep)


def _html(*args: Any) -> str:
    s = _sprint(args)
    for a, b in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("\0", "\ufffd")):
        s = s.replace(a, b)
    return s


def _js(*args: Any) -> str:
    out = []
    for ch in _sprint(args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_sprint(args), safe="-_.~")


def _pad(s: Any, prefix: Any, suffix: Any) -> str:
    s, a, b = _str(s), _int(prefix), _int(suffix)
    if a > MAX_OUTPUT or b > MAX_OUTPUT:
        raise _Fail("padding too large")
    return "" if s == "" else " " * a + s + " " * b


def _truncate(s: Any, n: Any) -> str:
    s, n = _str(s), _int(n)
    return s if len(s) < n else s[: max(n, 0)]


def _not_fn(v: Any) -> bool:
    return not _truth(v)


# name -> (function, fixed arity or None for variadic); and/or are evaluated lazily
FUNCS: dict[str, tuple[Callable[..., Any], int | None]] = {
    "and": (lambda *a: a, None),
    "or": (lambda *a: a, None),
    "not": (_not_fn, 1),
    "len": (_len, 1),
    "index": (_index, None),
    "slice": (_slice, None),
    "print": (lambda *a: _sprint(a), None),
    "println": (lambda *a: " ".join(to_text(x) for x in a) + "\n", None),
    "printf": (_printf, None),
    "eq": (_eq, None),
    "ne": (lambda a, b: not _eq(a, b), 2),
    "lt": (_lt, 2),
    "le": (lambda a, b: _lt(a, b) or _eq(a, b), 2),
    "gt": (lambda a, b: not (_lt(a, b) or _eq(a, b)), 2),
    "ge": (lambda a, b: not _lt(a, b), 2),
    "html": (_html, None),
    "js": (_js, None),
    "urlquery": (_urlquery, None),
    "json": (go_json, 1),
    "split": (_split, 2),
    "join": (_join, 2),
    "title": (_title, 1),
    "lower": (lambda s: _str(s).lower(), 1),
    "upper": (lambda s: _str(s).upper(), 1),
    "pad": (_pad, 3),
    "truncate": (_truncate, 2),
}
_MIN_ARGS = {"index": 1, "slice": 1, "printf": 1, "eq": 1, "and": 1, "or": 1}

# docker's header functions: the column names stay as they are
HEADER_FUNCS: dict[str, tuple[Callable[..., Any], int | None]] = {
    **FUNCS,
    "json": (lambda v: v, 1),
    "split": (lambda v, _s: v, 2),
    "join": (lambda v, _s: v, 2),
    "title": (lambda v: v, 1),
    "lower": (lambda v: v, 1),
    "upper": (lambda v: v, 1),
    "truncate": (lambda v, _n: v, 2),
}


# -- execution -----------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    def __init__(self, t: Template, missing_error: bool, funcs: dict[str, Any]) -> None:
        self.t = t
        self.missing_error = missing_error
        self.funcs = funcs
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.depth = 0
        self.vars: list[tuple[str, Any]] = []

    def fail(self, node: Node, msg: str) -> TemplateError:
        pos = node.pos
        src = self.t.source
        line = 1 + src.count("\n", 0, pos)
        nl = src.rfind("\n", 0, pos)
        col = pos if nl < 0 else pos - nl - 1
        return TemplateError(f'template: :{line}:{col}: executing "" at <{node.text}>: {msg}')

    def write(self, s: str) -> None:
        self.size += len(s)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"template: output larger than {MAX_OUTPUT >> 20} MiB")
        self.out.append(s)

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateError("template: too many steps (a range too large?)")

    def walk(self, nodes: list[Any], dot: Any) -> None:
        for n in nodes:
            self.step()
            if isinstance(n, Text):
                self.write(n.value)
            elif isinstance(n, Action):
                assert n.pipe is not None
                v = self.pipe(n.pipe, dot)
                if not n.pipe.decl:
                    self.write(to_text(self.final(v)))
            elif isinstance(n, Branch):
                self.branch(n, dot)
            elif isinstance(n, Jump):
                raise _Break() if n.kind == "break" else _Continue()
            elif isinstance(n, Call):
                self.call(n, dot)

    def call(self, n: Call, dot: Any) -> None:
        body = self.t.defines.get(n.name)
        if body is None:
            raise self.fail(n, f'template: no such template "{n.name}"')
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(n, "exceeded maximum template depth")
        saved = self.vars
        self.vars = [("$", self.pipe(n.pipe, dot) if n.pipe else None)]
        try:
            self.walk(body, self.vars[0][1])
        finally:
            self.vars = saved
            self.depth -= 1

    def branch(self, n: Branch, dot: Any) -> None:
        mark = len(self.vars)
        try:
            assert n.pipe is not None
            if n.kind == "range":
                self.range_(n, dot)
                return
            v = self.final(self.pipe(n.pipe, dot, declare=n.kind != "range"))
            if _truth(v):
                self.walk(n.body, v if n.kind == "with" else dot)
            elif n.other is not None:
                self.walk(n.other, dot)
        finally:
            del self.vars[mark:]

    def range_(self, n: Branch, dot: Any) -> None:
        assert n.pipe is not None
        decl = n.pipe.decl
        v = self.final(self.pipe(Pipe(n.pipe.pos, n.pipe.text, [], False, n.pipe.cmds), dot))
        items: list[tuple[Any, Any]]
        if v is None or v is NO_VALUE:
            items = []
        elif isinstance(v, Row):
            raise self.fail(n, f"range can't iterate over {to_text(v)}")
        elif isinstance(v, Mapping):
            items = [(k, v[k]) for k in sorted(v, key=str)]
        elif isinstance(v, list | tuple):
            items = list(enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            if v > MAX_STEPS:
                raise TemplateError("template: too many steps (a range too large?)")
            items = [(i, i) for i in range(v)]
        else:
            raise self.fail(n, f"range can't iterate over {to_text(v)}")
        if not items:
            if n.other is not None:
                self.walk(n.other, dot)
            return
        mark = len(self.vars)
        for k, e in items:
            self.step()
            del self.vars[mark:]
            if len(decl) == 1:
                self.vars.append((decl[0], e))
            elif len(decl) == 2:
                self.vars += [(decl[0], k), (decl[1], e)]
            try:
                self.walk(n.body, e)
            except _Break:
                break
            except _Continue:
                continue

    def lookup(self, node: Node, name: str) -> Any:
        for k, v in reversed(self.vars):
            if k == name:
                return v
        raise self.fail(node, f"undefined variable: {name}")

    def pipe(self, p: Pipe, dot: Any, declare: bool = True) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH * 4:
            raise self.fail(p, "exceeded maximum template depth")
        try:
            v: Any = None
            first = True
            for c in p.cmds:
                v = self.command(c, dot, None if first else (v,))
                first = False
            if p.decl:
                if p.assign:
                    for i in range(len(self.vars) - 1, -1, -1):
                        if self.vars[i][0] == p.decl[0]:
                            self.vars[i] = (p.decl[0], v)
                            break
                elif declare:
                    self.vars.append((p.decl[0], v))
            return v
        finally:
            self.depth -= 1

    def command(self, c: Command, dot: Any, final: tuple[Any] | None) -> Any:
        self.step()
        head, rest = c.args[0], c.args[1:]
        if isinstance(head, Ident):
            return self.function(head, c, rest, dot, final)
        if isinstance(head, Field | Var | Chain):
            return self.field_chain(head, dot, rest, final)
        if rest or final:
            raise self.fail(head, f"can't give argument to non-function {head.text}")
        return self.arg(head, dot)

    def arg(self, a: Any, dot: Any) -> Any:
        if isinstance(a, Dot):
            return dot
        if isinstance(a, Const):
            return a.value
        if isinstance(a, Field | Var | Chain):
            return self.final(self.field_chain(a, dot, [], None))
        if isinstance(a, Pipe):
            return self.final(self.pipe(a, dot))
        if isinstance(a, Ident):
            return self.function(a, Command(a.pos, a.text, [a]), [], dot, None)
        raise self.fail(a, "unexpected operand")

    def final(self, v: Any) -> Any:
        return v.fn() if isinstance(v, Method) and not v.arity else v

    def function(self, ident: Ident, c: Command, rest: list[Any], dot: Any, final: tuple[Any] | None) -> Any:
        name = ident.name
        fn, arity = self.funcs[name]
        if name in ("and", "or"):
            vals = [lambda a=a: self.arg(a, dot) for a in rest] + ([lambda: final[0]] if final else [])
            if not vals:
                raise self.fail(ident, f"wrong number of args for {name}: want at least 1 got 0")
            v: Any = None
            for get in vals:
                v = self.final(get())
                if _truth(v) == (name == "or"):
                    return v
            return v
        args = [self.arg(a, dot) for a in rest] + (list(final) if final else [])
        args = [self.final(a) for a in args]
        if arity is not None and len(args) != arity:
            raise self.fail(ident, f"wrong number of args for {name}: want {arity} got {len(args)}")
        if len(args) < _MIN_ARGS.get(name, 0):
            raise self.fail(ident, f"wrong number of args for {name}: want at least 1 got 0")
        try:
            v = fn(*args)
        except _Fail as e:
            raise self.fail(c, f"error calling {name}: {e}") from None
        except RecursionError:
            raise self.fail(c, f"error calling {name}: value nested too deeply") from None
        if isinstance(v, str | list) and len(v) > MAX_VALUE:
            raise self.fail(c, f"error calling {name}: result longer than {MAX_VALUE}")
        return v

    def field_chain(self, node: Any, dot: Any, rest: list[Any], final: tuple[Any] | None) -> Any:
        if isinstance(node, Field):
            v, names = dot, node.names
        elif isinstance(node, Var):
            v, names = self.lookup(node, node.name), node.names
        else:
            v, names = self.arg(node.node, dot), node.names
        if not names:
            if rest or final:
                raise self.fail(node, f"can't give argument to non-function {node.text}")
            return v
        for i, name in enumerate(names):
            last = i == len(names) - 1
            v = self.final(v)
            if v is NO_VALUE:
                return NO_VALUE
            if isinstance(v, Row):
                if name not in v:
                    if not v.strict:
                        return NO_VALUE
                    raise self.fail(node, f"can't evaluate field {name} in type {v.type_name}")
                got = v[name]
                if isinstance(got, Method):
                    args = [self.final(self.arg(a, dot)) for a in rest] + (list(final) if final else []) if last else []
                    if len(args) != got.arity:
                        raise self.fail(node, f"wrong number of args for {name}: want {got.arity} got {len(args)}")
                    v = got.fn(*args)
                    if last:
                        return v
                    continue
                v = got
            elif isinstance(v, Mapping):
                if name in v:
                    v = v[name]
                elif self.missing_error and not isinstance(v, GoMap):
                    raise self.fail(node, f'map has no entry for key "{name}"')
                else:
                    v = NO_VALUE
            elif v is None:
                raise self.fail(node, f"nil pointer evaluating interface {{}}.{name}")
            else:
                raise self.fail(node, f"can't evaluate field {name} in type {_type(v)}")
        if rest or final:
            raise self.fail(node, f"{names[-1]} is not a method but has arguments")
        return v


def execute(t: Template, data: Any, missing_error: bool = False, header: bool = False) -> str:
    """The template run on `data` (TemplateError with Go's message if it fails)."""
    ex = _Exec(t, missing_error, HEADER_FUNCS if header else FUNCS)
    ex.vars = [("$", data)]
    try:
        ex.walk(t.body, data)
    except (_Break, _Continue):
        pass
    except RecursionError:
        raise TemplateError("template: value nested too deeply") from None
    return "".join(ex.out)


def render(template: str, data: Any, missing_error: bool = False) -> str:
    """`template` parsed and run on `data`."""
    return execute(parse(template), data, missing_error)


# keys whose values are Go maps in docker's inspect types (a missing key is `<no value>` there)
_MAP_KEYS = frozenset(
    {
        "Labels",
        "ExposedPorts",
        "Volumes",
        "Ports",
        "Networks",
        "PortBindings",
        "Sysctls",
        "Data",
        "Options",
        "DriverOpts",
    }
)


def go_maps(doc: Any, depth: int = 0) -> Any:
    """An inspect document with its Go maps marked (`GoMap`), as docker's typed
    documents have them: `{{.Config.Labels.nokey}}` is `<no value>`, `{{.Nokey}}` an error."""
    if depth > MAX_DEPTH:
        return doc
    if isinstance(doc, dict):
        return {k: GoMap(go_maps(v, depth + 1)) if k in _MAP_KEYS and isinstance(v, dict) else go_maps(v, depth + 1)
                for k, v in doc.items()}  # fmt: skip
    if isinstance(doc, list):
        return [go_maps(v, depth + 1) for v in doc]
    return doc


# -- docker's formatter: `table ...`, or one line per row ---------------------------------


def template_string(fmt: str) -> str:
    """docker's Format.templateString: `json` is `{{json .}}`, a `table` prefix
    dropped, spaces trimmed, `\\t` and `\\n` as written become tab and newline."""
    if fmt == "table":
        return ""
    if fmt == "json":
        return "{{json .}}"
    if fmt.startswith("table"):
        fmt = fmt[5:]
    return fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def header_label(name: Any) -> str:
    """docker's header for `{{.Label "com.example.some-key"}}`: `some key`."""
    return str(name).split(".")[-1].replace("-", " ").replace("_", " ")


def format_rows(fmt: str, rows: Sequence[Mapping[str, Any]], header: Mapping[str, str]) -> str:
    """docker's formatter.Context.Write: each row rendered and ended by a
    newline; for `table ...` the header first (the template run on the
    column names) and the whole aligned as text/tabwriter does it (minimum
    width 10, padding 3). A row is a `Row` (docker's context: a missing field
    is an error) or a plain dict. The text to print (each line ended by a
    newline; "" for no rows without a table). TemplateError as docker words
    it: `template parsing error: ...`."""
    try:
        t = parse(template_string(fmt))
        body = "".join(execute(t, r) + "\n" for r in rows)
    except TemplateError as e:
        raise TemplateError(f"template parsing error: {e}") from None
    if not fmt.startswith("table"):
        return body
    head = Row("header", {**header, "Label": Method(header_label, 1)}, strict=False)
    try:
        top = execute(t, head, header=True)
    except TemplateError:
        top = ""  # docker ignores a header the template fails on
    return tabwrite(top + "\n" + body)


def probe(fmt: str, empty: Row) -> None:
    """docker ps's check of a --format before it lists: the template parsed
    and run on an empty context (`failed to parse/execute template: ...`)."""
    try:
        t = parse(fmt)
    except TemplateError as e:
        raise TemplateError(f"failed to parse template: {e}") from None
    try:
        execute(t, empty)
    except TemplateError as e:
        raise TemplateError(f"failed to execute template: {e}") from None


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (padchar ' ', no flags): a cell is text ended by a
    tab; a column block (consecutive lines with a cell in that column) is as
    wide as its widest cell plus padding, at least minwidth."""
    lines = [line.split("\t") for line in text.split("\n")]
    if max(len(cells) for cells in lines) > MAX_COLUMNS:
        raise TemplateError(f"template parsing error: more than {MAX_COLUMNS} columns")
    widths: list[int] = []
    out: list[str] = []

    def emit(line0: int, line1: int) -> None:
        for cells in lines[line0:line1]:
            parts = []
            for j, c in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(c + " " * (widths[j] - len(c)))
                else:
                    parts.append(c)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            emit(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        emit(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out)
