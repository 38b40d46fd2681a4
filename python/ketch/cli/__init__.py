"""The `ketch` command. Imports stay lazy: a command loads Typer and the
module of its noun only (app.py's table), `ketch --help` every noun module;
each command imports what it uses when it runs."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    from ..config import Settings
    from ..errors import KetchError
    from . import _click as click
    from .app import load

    for fd in (0, 1, 2):
        # A closed 0, 1 or 2 (`ketch run ... >&-`) is /dev/null, or the next
        # file ketch opens (its database) would take its place.
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    args = list(sys.argv[1:] if argv is None else argv)
    app = load(args)  # the module of the command named, or all of them
    from . import _shared

    _shared.settings = Settings()  # this command's: --root and KETCH_* as they are now
    debug = _shared.settings.debug
    try:
        rv = app(args=args, prog_name="ketch", standalone_mode=False)
        return int(rv) if isinstance(rv, int) else 0
    except KetchError as e:
        if debug:
            raise
        print(str(e), file=sys.stderr)
        return e.exit_code
    except click.NoArgsIsHelp as e:
        e.show()  # the help text, as `ketch` alone prints it
        return 0
    except click.UsageError as e:
        if debug:
            raise
        cmd = e.ctx.command_path if e.ctx else "ketch"
        msg = e.format_message()
        if msg.startswith("No such command '"):
            name = msg.split("'")[1]
            print(f"{cmd}: '{name}' is not a {cmd} command.\nSee '{cmd} --help'", file=sys.stderr)
            return 1 if cmd == "ketch" else 125
        print(f"{msg}\nSee '{cmd} --help'.", file=sys.stderr)
        return 125
    except click.Exit as e:
        return e.exit_code
    except click.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        if debug:
            raise
        print(f"error: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""), file=sys.stderr)
        return 1
    except Exception as e:  # a bug: still one line, the traceback with KETCH_DEBUG=1
        if debug:
            raise
        print(f"error: {type(e).__name__}: {e} (KETCH_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def run() -> None:
    sys.exit(main())
