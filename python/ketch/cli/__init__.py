"""The `ketch` command. Imports stay lazy: docker's forms of `ps`, `images`
and `run`, and `--help`, are read by _fast.py before Typer or Click is
imported, and end as the Typer path ends them (its exit codes, one line on
stderr); any other command loads Typer and the module of its noun only
(app.py's table), `ketch --help` on a narrow terminal every noun module;
each command imports what it uses when it runs."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    for fd in (0, 1, 2):
        # A closed 0, 1 or 2 (`ketch run ... >&-`) is /dev/null, or the next
        # file ketch opens (its database) would take its place.
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    args = list(sys.argv[1:] if argv is None else argv)
    from ._fast import parse

    try:
        fast = parse(args)
    except Exception:  # a form the fast path misreads is Typer's (its tests call parse itself)
        fast = None
    if fast is None:
        return typer_main(args)
    debug = False
    if fast.store:
        from ..config import Settings
        from . import _common

        _common.settings = Settings()  # this command's: --root and KETCH_* as they are now
        if fast.root:
            _common.settings.use_root(fast.root)
        debug = _common.settings.debug
    try:
        try:
            return fast.run()
        except EOFError:  # as the Typer path has it: Click's Abort
            print(file=sys.stderr)
            raise _Aborted() from None
        except KeyboardInterrupt:
            return 130
        except OSError as e:
            import errno

            if e.errno == errno.EPIPE:  # as Click's main has it: exit 1, the streams quiet
                _quiet_streams()
                sys.exit(1)
            raise
    except _Aborted:
        print("aborted", file=sys.stderr)
        return 130
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise
        return failed(e, debug)


def entry() -> None:
    """The `ketch` program: `main`, then the process ended at once. The
    interpreter's teardown (modules, objects, 20-40 ms of every command) is
    skipped; what it would do that matters is done first: atexit's functions
    (weakref finalizers among them), the stores' databases closed (their
    logs checkpointed), stdout and stderr flushed. While a thread that is
    not a daemon still runs, the process ends the usual way (it is joined)."""
    try:
        rc: object = main()
    except SystemExit as e:
        rc = e.code
    if rc is None:
        rc = 0
    elif not isinstance(rc, int):
        print(rc, file=sys.stderr)
        rc = 1
    threading = sys.modules.get("threading")  # not imported: no thread was started (0.7 ms of `ketch ps`)
    if threading is not None and any(
        t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()
    ):
        sys.exit(rc)
    import atexit

    atexit._run_exitfuncs()
    db = sys.modules.get("ketch.store.db")
    if db is not None:
        db.close_all()
        import gc

        gc.collect()  # a connection whose Database is gone lives on in a cycle (its statement cache): closed here
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: the fd was closed when the interpreter started
                stream.flush()
        except (OSError, ValueError):  # a reader gone (`ketch ps | head -0`), or closed: as Click's streams
            pass
    os._exit(rc & 0xFF)


class _Aborted(Exception):
    pass


class _Quiet:
    """A stream whose flush ignores a reader gone (`ketch ps | head -0`),
    as Click's wrapper of stdout and stderr does once it has seen EPIPE."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[attr-defined]
        except OSError:
            pass

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _quiet_streams() -> None:
    sys.stdout = _Quiet(sys.stdout)  # type: ignore[assignment]
    sys.stderr = _Quiet(sys.stderr)  # type: ignore[assignment]


def failed(e: BaseException, debug: bool) -> int:
    """An exception out of a command, worded as one line on stderr: its exit code.
    With KETCH_DEBUG the exception itself (its traceback)."""
    from ..errors import KetchError

    if isinstance(e, KetchError):
        if debug:
            raise e
        print(str(e), file=sys.stderr)
        return e.exit_code
    if isinstance(e, KeyboardInterrupt):
        return 130
    if isinstance(e, BrokenPipeError):
        return 0
    if isinstance(e, OSError):
        if debug:
            raise e
        print(f"error: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""), file=sys.stderr)
        return 1
    if not isinstance(e, Exception) or debug:
        raise e
    # a bug: still one line, the traceback with KETCH_DEBUG=1
    print(f"error: {type(e).__name__}: {e} (KETCH_DEBUG=1 shows the traceback)", file=sys.stderr)
    return 1


def typer_main(args: list[str]) -> int:
    """`args` parsed by Typer and Click: every command and form (the fast path's too)."""
    from ..config import Settings
    from . import _click as click
    from .app import load

    app = load(args)  # the module of the command named, or all of them
    from . import _common, _shared

    # this command's: --root and KETCH_* as they are now (one object, seen by both modules)
    _shared.settings = _common.settings = Settings()
    debug = _shared.settings.debug
    try:
        rv = app(args=args, prog_name="ketch", standalone_mode=False)
        return int(rv) if isinstance(rv, int) else 0
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
    except Exception as e:
        return failed(e, debug)
    except KeyboardInterrupt as e:
        return failed(e, debug)


def run() -> None:
    sys.exit(main())
