"""The Dockerfile language as docker's reference describes it: parser
directives, comments, line continuations with the escape character, JSON
(exec) and shell forms, heredocs, flags (`--from=`, `--chown=`), and
variable substitution (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`)."""

from __future__ import annotations

import re

from ..errors import KetchError
from ..records import field, record

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip

# Instructions whose arguments get variable substitution (docker's list).
SUBSTITUTED = {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR", "ONBUILD"}


class DockerfileError(KetchError):
    pass


@record()
class Instruction:
    cmd: str  # upper case
    rest: str  # the arguments as written (continuations joined), flags removed
    line: int
    original: str  # as written, for `Step N/M : ...`
    flags: dict[str, str] = field(default_factory=dict)
    heredocs: list[tuple[str, str]] = field(default_factory=list)  # (name, body)

    def json_form(self) -> list[str] | None:
        from ..models.instructions import exec_form

        return exec_form(self.rest)


_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")


def parse(text: str, name: str = "Dockerfile") -> list[Instruction]:
    lines = text.splitlines()
    escape = "\\"
    i = 0
    # Parser directives: only at the very top, before any other line.
    seen: set[str] = set()
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m or m.group(1).lower() not in ("syntax", "escape", "check"):
            break
        key = m.group(1).lower()
        if key in seen:
            raise DockerfileError(
                f"dockerfile parse error on line {i + 1}: only one {key} parser directive can be used"
            )
        seen.add(key)
        if key == "escape":
            if m.group(2) not in ("\\", "`"):
                raise DockerfileError(f"invalid escape token '{m.group(2)}' does not match ` or \\")
            escape = m.group(2)
        i += 1
    out: list[Instruction] = []
    while i < len(lines):
        raw = lines[i]
        start = i + 1
        i += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        # Continuations: a line ending in the escape character goes on; comment
        # and empty lines inside a continued instruction are dropped.
        continuing = _continues(raw, escape)
        parts = [raw.rstrip()[:-1] if continuing else raw]
        while continuing and i < len(lines):
            nxt = lines[i]
            i += 1
            if nxt.strip().startswith("#") or not nxt.strip():
                continue  # comments and empty lines inside a continuation are dropped
            continuing = _continues(nxt, escape)
            parts.append(nxt.rstrip()[:-1] if continuing else nxt)
        joined = "".join(parts).strip()
        word, _, rest = joined.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        cmd = word.upper()
        if cmd not in INSTRUCTIONS:
            raise DockerfileError(f"dockerfile parse error line {start}: unknown instruction: {word}")
        rest = rest.strip()
        flags: dict[str, str] = {}
        if cmd in ("ADD", "COPY", "FROM", "RUN", "HEALTHCHECK"):
            while rest.startswith("--"):
                flag, _, rest = rest.partition(" ")
                k, _, v = flag[2:].partition("=")
                flags[k] = v
                rest = rest.strip()
        _check_flags(cmd, flags, start)
        heredocs: list[tuple[str, str]] = []
        if cmd in ("RUN", "COPY", "ADD") and "<<" in rest:
            for m in _HEREDOC.finditer(rest):
                strip_tabs, _, delim = m.group(1), m.group(2), m.group(3)
                body = []
                while i < len(lines) and lines[i] != delim and not (strip_tabs and lines[i].lstrip("\t") == delim):
                    body.append(lines[i].lstrip("\t") if strip_tabs else lines[i])
                    i += 1
                if i >= len(lines):
                    raise DockerfileError(f"dockerfile parse error line {start}: unterminated heredoc {delim}")
                i += 1
                heredocs.append((delim, "\n".join(body) + "\n"))
        if not rest and cmd not in ("RUN",) and not heredocs:
            raise DockerfileError(f"dockerfile parse error line {start}: {cmd} requires at least one argument")
        original = f"{word} " + " ".join(f"--{k}={v}" if v else f"--{k}" for k, v in flags.items())
        original = (original.rstrip() + " " + rest).strip()
        out.append(Instruction(cmd, rest, start, original, flags, heredocs))
    if not out:
        raise DockerfileError(f"the Dockerfile ({name}) cannot be empty")
    return out


def _check_flags(cmd: str, flags: dict[str, str], line: int) -> None:
    """Flag values that must be numbers, checked as the file is parsed (a
    value with a variable in it is checked once substituted)."""
    chmod = flags.get("chmod", "")
    if cmd in ("COPY", "ADD") and chmod and "$" not in chmod:
        if not re.fullmatch(r"[0-7]{1,5}", chmod) or int(chmod, 8) > 0o7777:
            raise DockerfileError(
                f"dockerfile parse error line {line}: invalid chmod parameter: '{chmod}'. "
                "it should be octal string and between 0 and 07777"
            )
    retries = flags.get("retries")
    if cmd == "HEALTHCHECK" and retries is not None:
        if not re.fullmatch(r"-?[0-9]{1,10}", retries) or int(retries) > (1 << 31) - 1:
            raise DockerfileError(
                f'dockerfile parse error line {line}: HEALTHCHECK --retries="{retries}": not a number of retries'
            )
        if int(retries) < 0:
            raise DockerfileError(f"dockerfile parse error line {line}: --retries cannot be negative ({retries})")


def _continues(line: str, escape: str) -> bool:
    s = line.rstrip()
    return s.endswith(escape) and not s.endswith(escape * 2)


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def substitute(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """Docker's variable substitution: `$VAR`, `${VAR}`, `${VAR:-default}`,
    `${VAR:+alternative}`; `\\$` is a literal dollar sign."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == escape and i + 1 < len(text) and text[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if c == "$":
            m = _VAR.match(text, i)
            if m:
                name = m.group(1) or m.group(4)
                op, word = m.group(2), m.group(3)
                value = env.get(name)
                if op == ":-":
                    out.append(value if value else substitute(word or "", env, escape))
                elif op == ":+":
                    out.append(substitute(word or "", env, escape) if value else "")
                else:
                    out.append(value or "")
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def words(text: str) -> list[str]:
    """Whitespace-separated words, quotes removed (COPY/ADD sources, ENV pairs)."""
    import shlex

    try:
        return shlex.split(text, posix=True)
    except ValueError as e:
        raise DockerfileError(f"dockerfile parse error: {e}: {text}") from None


def _duration(v: str) -> int:
    """docker's durations (`30s`, `1m30s`, `500ms`) in nanoseconds."""
    from ..models.ids import duration_ns

    try:
        total = duration_ns(v)
        if total < 0:
            raise ValueError(f"invalid duration {v!r}")
    except ValueError as e:
        raise DockerfileError(f"HEALTHCHECK: {e}") from None
    return total


def healthcheck(ins: Instruction) -> dict[str, Any]:
    """HEALTHCHECK [--interval= --timeout= --start-period= --retries=] CMD ... | NONE."""
    word, _, rest = ins.rest.strip().partition(" ")
    if word.upper() == "NONE":
        return {"Test": ["NONE"]}
    if word.upper() != "CMD":
        raise DockerfileError(f"dockerfile parse error line {ins.line}: HEALTHCHECK needs CMD or NONE")
    form = Instruction("CMD", rest, ins.line, "").json_form()
    hc: dict[str, Any] = {"Test": ["CMD", *form] if form is not None else ["CMD-SHELL", rest.strip()]}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod")):
        if flag in ins.flags:
            hc[key] = _duration(ins.flags[flag])
    if "retries" in ins.flags:
        hc["Retries"] = int(ins.flags["retries"])  # a count: the parser checked it
    return hc
