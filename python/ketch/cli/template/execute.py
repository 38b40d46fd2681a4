"""Go's text/template run on data: fields of dicts and `Row`s only, the
functions of funcs.py, Go's exec errors; steps, output, values and depth bounded."""

from __future__ import annotations

from collections.abc import Mapping

from .funcs import FUNCS, HEADER_FUNCS, MIN_ARGS, Fail, go_type, to_text, truth
from .parse import (
    Action,
    Branch,
    Call,
    Chain,
    Command,
    Const,
    Dot,
    Field,
    Ident,
    Jump,
    Node,
    Pipe,
    Template,
    Text,
    Var,
    parse,
)
from .values import MAX_DEPTH, MAX_OUTPUT, MAX_STEPS, MAX_VALUE, NO_VALUE, GoMap, Method, Row, TemplateError

TYPE_CHECKING = False  # typing is ~3 ms of `ps --format`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

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
            if truth(v):
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
                if truth(v) == (name == "or"):
                    return v
            return v
        args = [self.arg(a, dot) for a in rest] + (list(final) if final else [])
        args = [self.final(a) for a in args]
        if arity is not None and len(args) != arity:
            raise self.fail(ident, f"wrong number of args for {name}: want {arity} got {len(args)}")
        if len(args) < MIN_ARGS.get(name, 0):
            raise self.fail(ident, f"wrong number of args for {name}: want at least 1 got 0")
        try:
            v = fn(*args)
        except Fail as e:
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
                raise self.fail(node, f"can't evaluate field {name} in type {go_type(v)}")
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
