"""The parser of Go's text/template: the parse tree's nodes, the parser
(Go's parse errors, nesting bounded) and its check of undefined variables."""

from __future__ import annotations

import re

from .funcs import FUNCS
from .lex import KEYWORDS, Lexer, unquote
from .values import MAX_DEPTH

TYPE_CHECKING = False  # typing is ~3 ms of `ps --format`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any


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


class _Parser(Lexer):
    def __init__(self, src: str) -> None:
        super().__init__(src)
        self.defines: dict[str, list[Any]] = {}
        self.ranges = 0  # range bodies being parsed (break and continue need one)

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
        return (t[2][1:-1] if t[0] == "raw" else unquote(t[2][1:-1])), toks[1:]

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
                value: Any = s[1:-1] if kind == "raw" else unquote(s[1:-1])
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
            elif s in KEYWORDS:
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
