"""The fast path: docker's simple forms of the commands typed all day,
parsed before Typer and Click are imported (importing them costs more than
the work of `ps` on a small store).

`parse` reads `[--root DIR] ps|images FLAGS...` (also as `container
ls|list|ps` and `image ls`) and `--help`/`-h` alone.
It understands only what it can read exactly as the Typer path does
(cli/_flags.normalize, then Click's parser): long and short flags, combined
short flags (`-aq`, `-an3`), a value attached (`--format=X`, `-n=3`, `-n3`)
or next, repeated `-f`, docker's `--flag=true|false`. Anything else (an
unknown option, a missing or dash-led value, `--`, a help flag after the
command, a surplus argument, a value Typer would refuse) returns None and
the Typer path parses the same arguments unchanged, errors and all. The
commands then run the same code (`_lists`), so the output is the same byte
for byte (tests/unit/test_fast_path.py compares both paths).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# docker's boolean flag values (`--all=false`), as cli/_flags reads them
BOOL = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}


class Spec:
    """One command's flags: option name -> parameter, for flags and for
    options that take a value (`many`: repeatable, `ints`: an integer)."""

    def __init__(
        self,
        flags: dict[str, str],
        values: dict[str, str],
        many: tuple[str, ...] = (),
        ints: tuple[str, ...] = (),
        positionals: tuple[str, ...] = (),
    ) -> None:
        self.flags, self.values, self.many, self.ints, self.positionals = flags, values, many, ints, positionals


PS = Spec(
    flags={
        "-a": "all_", "--all": "all_", "-q": "quiet", "--quiet": "quiet", "--no-trunc": "no_trunc",
        "-s": "size", "--size": "size", "-l": "latest", "--latest": "latest",
    },
    values={"-f": "filter_", "--filter": "filter_", "--format": "format_", "-n": "last", "--last": "last"},
    many=("filter_",),
    ints=("last",),
)  # fmt: skip
IMAGES = Spec(
    flags={
        "-a": "all_", "--all": "all_", "-q": "quiet", "--quiet": "quiet", "--digests": "digests",
        "--no-trunc": "no_trunc",
    },
    values={"-f": "filter_", "--filter": "filter_", "--format": "format_"},
    many=("filter_",),
    positionals=("repository",),
)  # fmt: skip
SPECS = {"ps": PS, "images": IMAGES}
# docker's management-group names of the same commands (the same callbacks in Typer's tree)
ALIASES = {("container", "ls"): "ps", ("container", "list"): "ps", ("container", "ps"): "ps", ("image", "ls"): "images"}


def options(spec: Spec, args: list[str]) -> dict[str, object] | None:
    """The parameters `args` give, as Typer would pass them; None when the
    Typer path must read them (see the module's note)."""
    params: dict[str, object] = {}
    positional: list[str] = []

    def take(param: str, value: str) -> bool:
        if param in spec.ints:
            if not (value.isascii() and value.isdigit()):
                return False
            params[param] = int(value)
        elif param in spec.many:
            params.setdefault(param, [])
            params[param].append(value)  # type: ignore[attr-defined]
        else:
            params[param] = value
        return True

    def flag(param: str, value: str | None) -> bool:
        """A flag, with docker's `=true|false` when `value` is given."""
        if value is None:
            params[param] = True
            return True
        if value.lower() not in BOOL:
            return False
        if BOOL[value.lower()]:
            params[param] = True
        return True  # `=false` is the flag not given (it has no --no- form)

    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            return None
        if a[:1] != "-" or len(a) == 1:
            positional.append(a)
            continue
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            if name in spec.flags:
                if not flag(spec.flags[name], value if eq else None):
                    return None
                continue
            if name not in spec.values:
                return None
            if not eq:
                if i >= len(args) or args[i].startswith("-"):
                    return None
                value = args[i]
                i += 1
            if not take(spec.values[name], value):
                return None
            continue
        if len(a) > 2 and a[2] == "=":  # `-n=3`, `-a=false`
            name, value = a[:2], a[3:]
            if name in spec.values:
                if not take(spec.values[name], value):
                    return None
            elif name not in spec.flags or not flag(spec.flags[name], value):
                return None
            continue
        j = 1
        while j < len(a):  # `-aq`, `-an3`, `-n 3`
            name = "-" + a[j]
            j += 1
            if name in spec.flags:
                params[spec.flags[name]] = True
                continue
            if name not in spec.values:
                return None
            if j < len(a):
                value = a[j:]
            elif i < len(args) and not args[i].startswith("-"):
                value = args[i]
                i += 1
            else:
                return None
            if not take(spec.values[name], value):
                return None
            break
    if len(positional) > len(spec.positionals):
        return None
    params.update(zip(spec.positionals, positional, strict=False))
    return params


def help_width() -> int:
    """The width Click wraps help text to (its HelpFormatter's default:
    the terminal's columns as shutil.get_terminal_size finds them, at most 80, less 2)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return max(min(columns, 80) - 2, 50)


class Fast:
    """What the fast path runs: `run()` gives the exit code; `root` is the
    --root given; `store` says whether it reads the store (and so needs the
    command's settings made first: the help text does not)."""

    def __init__(self, run: Callable[[], int], root: str | None = None, store: bool = True) -> None:
        self.run, self.root, self.store = run, root, store


def parse(args: list[str]) -> Fast | None:
    """What the fast path runs for `args`, or None: the Typer path's."""
    root: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--root" and i + 1 < len(args) and not args[i + 1].startswith("-"):
            root, i = args[i + 1], i + 2
        elif a.startswith("--root="):
            root, i = a[len("--root=") :], i + 1
        else:
            break
    rest = args[i:]
    if rest in (["--help"], ["-h"]):
        from ._help import HELP, WIDTH

        if help_width() != WIDTH:
            return None
        return Fast(lambda: _show(HELP), store=False)
    if len(rest) >= 2 and (rest[0], rest[1]) in ALIASES:
        rest = [ALIASES[rest[0], rest[1]], *rest[2:]]
    if not rest or rest[0] not in SPECS:
        return None
    params = options(SPECS[rest[0]], rest[1:])
    if params is None:
        return None
    from . import _lists

    fn = _lists.ps if rest[0] == "ps" else _lists.images
    return Fast(lambda: fn(**params) or 0, root)  # type: ignore[arg-type, func-returns-value]


def _show(text: str) -> int:
    """Text on stdout, flushed, as Click's echo writes it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0
