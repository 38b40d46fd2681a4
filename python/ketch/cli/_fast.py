"""The fast path: docker's forms of the commands typed all day, parsed
before Typer and Click are imported (importing them costs more than the
work of `ps` on a small store, and a fifth of a `run`).

`parse` reads `[--root DIR] ps|images|run|build ARGS...` (`ps` and `images` also
as `container ls|list|ps` and `image ls`) and `--help`/`-h` alone, exactly
as the Typer path reads them: first cli/_flags' rewriting of docker's
syntax (`normalize_args`, which _flags runs too), then Click's parser
(`click_parse`: long and short options, combined short flags `-aq`, a
value attached `--format=X` `-n3` or next, repeated options), then Click's
types (text, integers, decimals). Whatever it does not read the way Click
would (an option it does not know, a help flag, `--`, a missing or surplus
argument, a value Click would refuse or convert otherwise) returns None,
and the Typer path parses the same arguments, errors and all. The commands
then run the same code (`_lists`, `_run`, `_build.build_parsed`): the output is the same byte for
byte (tests/unit/test_fast_path.py runs both paths).

`run`'s flags are many and still growing: their table (`_run_table.py`)
is written from Typer's own command by scripts/update_fast.py, as the help
text is (`_help.py`), and each is used only while the sources it was made
from are unchanged (their CRCs).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# docker's boolean flag values (`--all=false`), as cli/_flags reads them
BOOL = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}


def normalize_args(
    args: list[str], takes_value: set[str], booleans: dict[str, tuple[str, str | None]], interspersed: bool
) -> list[str]:
    """docker's syntax as Click reads it: `-x=value` is `-x value` for the short
    options that take a value (`takes_value`); `--flag=true|false` is the flag
    given or not (`booleans`: flag -> what `=true` and `=false` become). Stops
    at `--`, and at the first positional unless the command takes options
    between its positionals (`interspersed`): run's and exec's rest is the
    container's."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            out.extend(args[i:])
            break
        name, eq, value = a.partition("=")
        if len(a) > 2 and a[0] == "-" and a[1] != "-" and a[2] == "=" and a[:2] in takes_value:
            out.extend([a[:2], a[3:]])
        elif eq and name in booleans and value.lower() in BOOL:
            yes, no = booleans[name]
            chosen = yes if BOOL[value.lower()] else no
            if chosen is not None:
                out.append(chosen)
        elif not a.startswith("-") and not interspersed:
            out.extend(args[i:])
            break
        else:
            out.append(a)
            if a in takes_value and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        i += 1
    return out


class Spec:
    """One command's options as Click has them: option name -> parameter,
    for flags and for options that take a value (`many`: repeatable, kept
    in order; `ints`, `floats`: converted as Click's INT and FLOAT); its
    positionals' parameters (`rest`: the last takes all that is left), and
    whether options may come between them."""

    def __init__(
        self,
        flags: dict[str, str],
        values: dict[str, str],
        many: tuple[str, ...] = (),
        ints: tuple[str, ...] = (),
        floats: tuple[str, ...] = (),
        positionals: tuple[str, ...] = (),
        rest: bool = False,
        interspersed: bool = True,
    ) -> None:
        self.flags, self.values, self.many, self.ints, self.floats = flags, values, many, ints, floats
        self.positionals, self.rest, self.interspersed = positionals, rest, interspersed


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
# `build`'s options (cli/build.py; tests/unit/test_fast_path.py checks they are Click's)
BUILD = Spec(
    flags={"--no-cache": "no_cache", "-q": "quiet", "--quiet": "quiet", "--pull": "pull"},
    values={
        "-t": "tag", "--tag": "tag", "-f": "file", "--file": "file", "--build-arg": "build_arg", "--target": "target",
        "--label": "label", "--network": "network", "--iidfile": "iidfile",
    },
    many=("tag", "build_arg", "label"),
    positionals=("path",),
)  # fmt: skip
BUILD_DEFAULTS: dict[str, object] = {
    "tag": (), "file": None, "build_arg": (), "no_cache": False, "quiet": False, "target": None,
    "label": (), "pull": False, "network": None, "iidfile": None,
}  # fmt: skip
SPECS = {"ps": PS, "images": IMAGES}
# docker's management-group names of the same commands (the same callbacks in Typer's tree)
ALIASES = {("container", "ls"): "ps", ("container", "list"): "ps", ("container", "ps"): "ps", ("image", "ls"): "images"}


def _number(value: str, decimal: bool) -> int | float | None:
    """`value` as Click's INT (or FLOAT) converts it, when it is plain digits
    (`-12`, and `1.5` for a decimal); None for anything else."""
    digits = value[1:] if value[:1] == "-" else value
    whole, dot, frac = digits.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (dot and not (decimal and frac.isascii() and frac.isdigit())):
        return None
    try:
        return float(value) if decimal else int(value)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits): Click refuses it too
        return None


def click_parse(spec: Spec, args: list[str]) -> dict[str, object] | None:
    """`args` (normalized) read as Click's parser reads them: the options'
    values by parameter (repeated ones as lists), and the positionals by
    name (`rest`'s as a list); None where Click would fail or where this
    does not follow it."""
    params: dict[str, object] = {}

    def take(param: str, value: str) -> bool:
        if param in spec.ints or param in spec.floats:
            number = _number(value, param in spec.floats)
            if number is None:
                return False
            params[param] = number
        elif param in spec.many:
            params.setdefault(param, [])
            params[param].append(value)  # type: ignore[attr-defined]
        else:
            params[param] = value
        return True

    largs: list[str] = []
    rargs = list(args)
    while rargs:
        arg = rargs.pop(0)
        if arg == "--":
            return None
        if arg[:1] == "-" and len(arg) > 1:
            opt, eq, explicit = arg.partition("=")
            if opt.startswith("--") and (opt in spec.flags or opt in spec.values):
                if opt in spec.flags:
                    if eq:
                        return None  # Click: the option does not take a value
                    params[spec.flags[opt]] = True
                    continue
                if eq:
                    rargs.insert(0, explicit)
                if not rargs or not take(spec.values[opt], rargs.pop(0)):
                    return None
                continue
            if arg.startswith("--"):
                return None  # Click: no such option
            for i in range(1, len(arg)):  # `-aq`, `-an3`, `-n 3`
                opt = "-" + arg[i]
                if opt in spec.flags:
                    params[spec.flags[opt]] = True
                    continue
                if opt not in spec.values:
                    return None
                if i + 1 < len(arg):
                    rargs.insert(0, arg[i + 1 :])
                if not rargs or not take(spec.values[opt], rargs.pop(0)):
                    return None
                break
            continue
        if spec.interspersed:
            largs.append(arg)
        else:
            rargs.insert(0, arg)
            break
    positional = largs + rargs
    names = spec.positionals
    if spec.rest:
        if len(positional) < len(names) - 1:
            return None  # Click: a missing argument
        params.update(zip(names[:-1], positional, strict=False))
        params[names[-1]] = positional[len(names) - 1 :]
    elif len(positional) > len(names):
        return None  # Click: unexpected extra arguments
    else:
        params.update(zip(names, positional, strict=False))
    return params


def options(spec: Spec, args: list[str]) -> dict[str, object] | None:
    """The parameters `args` give a command of `spec`, as the Typer path reads them."""
    takes_value = {o for o in spec.values if len(o) == 2}
    booleans: dict[str, tuple[str, str | None]] = {o: (o, None) for o in spec.flags}
    return click_parse(spec, normalize_args(args, takes_value, booleans, spec.interspersed))


def unchanged(sources: dict[str, int]) -> bool:
    """Whether each of these modules of cli/ still has the CRC-32 it had
    when what the fast path keeps of it was written (scripts/update_fast.py)."""
    import zlib

    here = os.path.dirname(__file__)
    for name, crc in sources.items():
        try:
            with open(os.path.join(here, name), "rb") as f:
                if zlib.crc32(f.read()) != crc:
                    return False
        except OSError:
            return False
    return True


def run_spec() -> tuple[Spec, dict[str, object]] | None:
    """`run`'s Spec and its parameters' defaults from _run_table.py, while the
    sources it was written from are as they were (else None: Typer reads run)."""
    from . import _run_table as t

    if not unchanged(t.SOURCES):
        return None
    spec = Spec(t.FLAGS, t.VALUES, t.MANY, t.INTS, t.FLOATS, ("image", "args"), rest=True, interspersed=False)
    return spec, dict(t.DEFAULTS)


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
        from ._help import HELP, SOURCES, WIDTH

        if help_width() != WIDTH or not unchanged(SOURCES):
            return None
        return Fast(lambda: _show(HELP), store=False)
    if len(rest) >= 2 and (rest[0], rest[1]) in ALIASES:
        rest = [ALIASES[rest[0], rest[1]], *rest[2:]]
    if rest[:1] == ["run"]:
        return _run(rest[1:], root)
    if rest[:1] == ["build"]:
        return _build(rest[1:], root)
    if not rest or rest[0] not in SPECS:
        return None
    params = options(SPECS[rest[0]], rest[1:])
    if params is None:
        return None
    from . import _lists

    fn = _lists.ps if rest[0] == "ps" else _lists.images
    return Fast(lambda: fn(**params) or 0, root)  # type: ignore[arg-type, func-returns-value]


def run_params(args: list[str]) -> dict[str, object] | None:
    """`run ARGS`' parameters as Click's context holds them (repeated
    options' values and the command's as tuples, the rest their defaults),
    or None: the Typer path's."""
    table = run_spec()
    if table is None:
        return None
    spec, params = table
    given = options(spec, args)
    if given is None:
        return None
    params.update({k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
    return params


def _run(args: list[str], root: str | None) -> Fast | None:
    params = run_params(args)
    if params is None:
        return None
    from ._run import run

    return Fast(lambda: run(params), root)


def build_params(args: list[str]) -> dict[str, object] | None:
    """`build ARGS`' parameters as Click's context holds them, or None: the Typer path's."""
    given = options(BUILD, args)
    if given is None or "path" not in given:
        return None
    return BUILD_DEFAULTS | {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}


def _build(args: list[str], root: str | None) -> Fast | None:
    params = build_params(args)
    if params is None:
        return None
    from ._build import build_parsed

    return Fast(lambda: build_parsed(params) or 0, root)  # type: ignore[func-returns-value]


def _show(text: str) -> int:
    """Text on stdout, flushed, as Click's echo writes it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0
