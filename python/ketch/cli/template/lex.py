"""The lexer of Go's text/template: the text/action split (trim markers
and comments, a `}}` inside a string is not the end) and an action's tokens."""

from __future__ import annotations

import re

from .values import TemplateError

KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
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


def unquote(s: str) -> str:
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


class Lexer:
    """A template's source cut into text and actions, and an action into tokens;
    errors are Go's `template: :LINE: ...`."""

    def __init__(self, src: str) -> None:
        self.src = src

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
