"""What the CLI's commands share that needs no Typer (the fast path of
`ps` and `images` runs them before Click is imported): the running
command's settings and store, docker's way with several arguments, inspect's
documents, and its wording of errors on stderr. `_shared` re-exports them
beside the Typer application."""

from __future__ import annotations

import sys

from ..config import Settings
from ..errors import KetchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..runtime.stdio import Stdio
    from ..store import Store

# The running command's settings (--root, then the KETCH_* variables, read when
# first used); main() makes them anew for each command.
settings = Settings()


def store() -> Store:
    from ..store import Store

    return Store(settings=settings)


def terminal() -> Stdio:
    """The CLI's own stdin, stdout and stderr: what a foreground container is attached to."""
    from ..runtime.stdio import Stdio

    return Stdio(0, 1, 2)


def out(line: object = "") -> None:
    """One line on stdout, flushed (the next may come from a child process)."""
    print(line, flush=True)


def error(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def each(names: list[str], act: Callable[[str], object], prefix: str = "Error: ") -> int:
    """Runs `act` on each name as docker does for several arguments: the lines
    it returns printed (else the name itself), an error printed and counted,
    the others still done; 1 if any failed."""
    rc = 0
    for n in names:
        try:
            result = act(n)
            for line in result if isinstance(result, list) else [n]:
                out(line)
        except KetchError as e:
            error(f"{prefix}{e}")
            rc = 1
    return rc


def documents(
    names: list[str], get: Callable[[Store, str], object], missing: type[KetchError], format_: str | None = None
) -> int:
    """docker's inspect: the documents of those found, as one JSON array
    (`json`: compact), or each run through the Go template `format_`; each
    name not found (`missing`) an error line, each document the template
    fails on its error (after the output, as docker's); 1 if any. A template
    that does not parse: exit 64 before anything is looked up."""
    import json

    template = None
    if format_ and format_ != "json":
        from .template import TemplateError, parse

        try:
            template = parse(format_)
        except TemplateError as e:
            e.args = (f"template parsing error: {e}",)
            e.exit_code = 64
            raise
    s = store()
    docs = []
    rc = 0
    for n in names:
        try:
            docs.append(get(s, n))
        except missing as e:
            error(f"Error: {e}")
            rc = 1
    if template is None:
        print(json.dumps(docs, indent=None if format_ else 4, separators=(",", ":") if format_ else None))
        return rc
    from .template import TemplateError, execute, go_maps

    text, failed = [], []
    for d in docs:
        try:
            text.append(execute(template, go_maps(d), missing_error=True) + "\n")
        except TemplateError as e:
            failed.append(f"template parsing error: {e}")
    sys.stdout.write("".join(text) or "\n")
    sys.stdout.flush()
    for msg in failed:
        error(msg)
    return 1 if failed else rc


def daemon_error(e: KetchError) -> KetchError:
    """An error the engine found, worded as docker's CLI words its daemon's
    (`Error response from daemon: ...`); a usage error stays as it is."""
    from ..errors import UsageError

    if isinstance(e, UsageError):
        return e
    worded = KetchError(f"Error response from daemon: {e}")
    worded.exit_code = e.exit_code
    return worded


class Silent(KetchError):
    """Ends the command with `code`, its errors already printed."""

    def __init__(self, code: int) -> None:
        super().__init__("")
        self.exit_code = code


def confirm(warning: str) -> bool:
    """docker's prompt before a prune: `warning`, the question, a y on stdin."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
