"""A container's stdin, stdout and stderr without -t: pipes that ketch
relays, never the caller's own files (the caller's terminal would let the
container type into the user's shell with TIOCSTI; a redirected stdout
would let it reopen and read or truncate the user's file through
/proc/self/fd). With -t the container has a pty of its own (tty.py).

    io = Pipes(interactive=True, stdio=Stdio(0, 1, 2))   # before the spawn: the face's files
    pid = spawn(..., stdio=io.child)
    io.started()                      # the container holds its ends now
    code = wait_forwarding(pid, io.relay)
"""

from __future__ import annotations

import errno
import os
import select
from collections.abc import Callable

from ..records import record


def _write_all(fd: int, data: bytes) -> bool:
    """False once the reader is gone (a closed pipe: `ketch run ... | head -1`).
    A destination left non-blocking by whoever started ketch is waited for."""
    try:
        while data:
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:
                select.select([], [fd], [])
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


@record(frozen=True)
class Stdio:
    """The files a face hands the runtime for a container's stdio: the CLI
    its own 0, 1 and 2; the Engine API its connection's. The library has
    none of its own."""

    stdin: int
    stdout: int
    stderr: int


class JsonFileLog:
    """docker's json-file log of an attached container (what the monitor
    writes for a detached one, rust/src/monitor/log.rs): one JSON line per
    line of output, `{"log": ..., "stream": "stdout"|"stderr", "time": RFC 3339 with nanoseconds}`;
    a line longer than 16 KiB, or one left without its newline at the end, as
    docker's copier cuts it. Appended to `path` (made 0640 if missing)."""

    MAX_LINE = 16 << 10

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640)
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, data: bytes, stream: str) -> None:
        buf = self._partial[stream] + data
        lines = buf.split(b"\n")
        self._partial[stream] = lines.pop()
        out = [line + b"\n" for line in lines]
        while len(self._partial[stream]) >= self.MAX_LINE:
            out.append(self._partial[stream][: self.MAX_LINE])
            self._partial[stream] = self._partial[stream][self.MAX_LINE :]
        self._emit(out, stream)

    def _emit(self, pieces: list[bytes], stream: str) -> None:
        import json
        import time

        if not pieces:
            return
        ns = time.time_ns()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
        text = "".join(
            json.dumps(
                {"log": p.decode("utf-8", errors="replace"), "stream": stream, "time": stamp},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
            for p in pieces
        )
        _write_all(self._fd, text.encode())

    def close(self) -> None:
        for stream, rest in self._partial.items():
            self._emit([rest] if rest else [], stream)
        self._partial = {"stdout": b"", "stderr": b""}
        os.close(self._fd)


class Pipes:
    """Three pipes for a container process. With `interactive` (-i) the
    face's stdin is copied to the container's; without it the container
    reads an empty pipe (end of file at once, as /dev/null). Its stdout and
    stderr are copied to the face's `stdio`, or, with `sink`, handed to it
    as (data, 1 or 2) instead (a build's RUN)."""

    def __init__(
        self,
        interactive: bool = False,
        stdio: Stdio | None = None,
        sink: Callable[[bytes, int], None] | None = None,
        log: str | None = None,
    ) -> None:
        if (stdio is None) == (sink is None):
            raise ValueError("Pipes relays to a face's stdio or to a sink: one of them")
        self._sink = sink
        self._log = JsonFileLog(log) if log else None  # docker keeps an attached container's output too
        self._fds: list[int] = []
        in_r, self._in_w = self._pipe()
        out_r, out_w = self._pipe()
        err_r, err_w = self._pipe()
        self.child = (in_r, out_w, err_w)
        self._streams = {out_r: "stdout", err_r: "stderr"}
        self._src = stdio.stdin if interactive and stdio is not None else None
        self._outs = {out_r: stdio.stdout, err_r: stdio.stderr} if stdio is not None else {out_r: 1, err_r: 2}
        if self._src is None:
            self._close(self._in_w)
        else:
            os.set_blocking(self._in_w, False)

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe2(os.O_CLOEXEC)
        self._fds += [r, w]
        return r, w

    def _close(self, fd: int) -> None:
        if fd in self._fds:
            self._fds.remove(fd)
            os.close(fd)

    def started(self) -> None:
        """The container holds its ends: ours go, so its exit is our end of file."""
        for fd in self.child:
            self._close(fd)

    def close(self) -> None:
        for fd in list(self._fds):
            self._close(fd)
        if self._log is not None:
            self._log.close()
            self._log = None

    def relay(self, pid: int) -> None:
        """Copies until the process `pid` (our child) has ended, then what
        its pipes still hold. Signals are handled between calls (PEP 475)."""
        pidfd = os.pidfd_open(pid)
        pending = b""
        src = self._src
        try:
            while self._outs:
                reading = list(self._outs) + [pidfd]
                if src is not None and not pending:
                    reading.append(src)
                writing = [self._in_w] if pending else []
                ready, can_write, _ = select.select(reading, writing, [])
                for fd in ready:
                    if fd == pidfd:
                        self._drain()
                        return
                    if fd == src:
                        try:
                            data = os.read(src, 65536)
                        except BlockingIOError:  # a non-blocking stdin: select said so too early
                            continue
                        if data:
                            pending = data
                        else:  # end of the caller's input: the container's too
                            src = None
                            self._close(self._in_w)
                    else:
                        self._copy(fd)
                if can_write and pending:
                    try:
                        pending = pending[os.write(self._in_w, pending) :]
                    except BlockingIOError:
                        pass
                    except BrokenPipeError:  # the container closed its stdin
                        pending, src = b"", None
                        self._close(self._in_w)
        finally:
            os.close(pidfd)
            self.close()

    def _copy(self, fd: int) -> bool:
        """One read from a container pipe to its destination; False at its end."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        if not data:
            del self._outs[fd]
            self._close(fd)
            return False
        if self._log is not None:
            self._log.write(data, self._streams[fd])
        if self._sink is not None:
            self._sink(data, self._outs[fd])
        elif not _write_all(self._outs[fd], data):
            self._outs[fd] = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            self._fds.append(self._outs[fd])
        return True

    def _drain(self) -> None:
        """After the process: what is in the pipes now, without waiting for
        processes it left behind (an exec'd shell's background job)."""
        for fd in list(self._outs):
            os.set_blocking(fd, False)
            try:
                while self._copy(fd):
                    pass
            except OSError as e:
                if e.errno != errno.EAGAIN:
                    raise
