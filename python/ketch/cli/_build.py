"""`ketch build`'s output: the builder's events as docker's legacy builder
prints them (with -q: nothing but the image id, and a failed RUN's output)."""

from __future__ import annotations

import os
import select
import sys

from .. import images
from ..builder import events as ev

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from typing import IO, Any


class BuildPrinter:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._log: IO[bytes] | None = None  # -q: the running step's output, shown only if it fails
        self._gone: set[int] = set()  # streams whose reader went away (`ketch build . | head -1`)

    def __call__(self, e: Any) -> None:
        if isinstance(e, ev.StepOutput):
            if self.quiet:
                if self._log is not None:
                    self._log.write(e.data)
            else:
                self._write(e.stream, e.data)
        elif isinstance(e, ev.ContainerStarted) and self.quiet:
            import tempfile  # 1.3 ms: only for -q's RUN steps

            self.close()
            self._log = tempfile.TemporaryFile()
        elif isinstance(e, ev.Built) and self.quiet:
            print(e.image_id, flush=True)
        elif not self.quiet and (line := self._line(e)) is not None:
            print(line, flush=True)
        elif isinstance(e, images.NotFoundLocally | images.PullLine):
            from ._pull import print_pull

            print_pull(e)  # a FROM's pull: on stderr, -q or not, as `run` prints it

    @staticmethod
    def _line(e: Any) -> str | None:
        return ev.legacy_line(e)

    def _write(self, fd: int, data: bytes) -> None:
        """A RUN's bytes, unbuffered, to our stdout or stderr; dropped once
        the reader is gone (the step goes on, as docker's does)."""
        if fd in self._gone:
            return
        try:
            while data:
                try:
                    data = data[os.write(fd, data) :]
                except BlockingIOError:  # a destination left non-blocking by whoever started ketch
                    select.select([], [fd], [])
        except (BrokenPipeError, ConnectionResetError):
            self._gone.add(fd)

    def failed(self) -> None:
        """-q: a RUN failed; its output goes to stderr before the error."""
        if self._log is not None:
            self._log.seek(0)
            sys.stderr.write(self._log.read().decode(errors="replace"))
        self.close()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def build_parsed(params: dict[str, Any]) -> None:
    """`ketch build` once its flags are parsed, by Typer (build.py) or by the
    fast path (cli/_fast.py, which needs no Typer): the parameters by name."""
    from ..builder.builder import BuildFailed, Options
    from ..builder.builder import build as do_build
    from ..builder.state import build_args, labels
    from . import _common

    opts = Options(
        tags=list(params["tag"] or []),
        dockerfile=params["file"],
        build_args=build_args(list(params["build_arg"] or [])),
        no_cache=params["no_cache"],
        target=params["target"],
        labels=labels(list(params["label"] or [])),
        pull=params["pull"],
        network=params["network"] or _common.settings.default_network or "default",
    )
    printer = BuildPrinter(params["quiet"])
    try:
        image_id = do_build(_common.store(), params["path"], opts, printer)
    except BuildFailed:
        printer.failed()
        raise
    finally:
        printer.close()
    if params["iidfile"]:
        with open(params["iidfile"], "w") as f:
            f.write(image_id)
