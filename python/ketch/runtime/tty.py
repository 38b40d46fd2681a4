"""A container's terminal: the face's terminal in raw mode, bytes relayed
to and from the pty the container owns, its size kept in step (SIGWINCH)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import termios
import tty as _tty
from collections.abc import Iterator

WINSZ = struct.Struct("HHHH")


def copy_size(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, WINSZ.pack(0, 0, 0, 0))
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


@contextlib.contextmanager
def raw(fd: int) -> Iterator[None]:
    """The caller's terminal in raw mode (keys, Ctrl-C included, go to the container)."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        _tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def relay(master: int, interactive: bool, stdin: int, stdout: int) -> None:
    """Copies the face's `stdin` to the pty (with -i; a terminal is put in
    raw mode meanwhile) and the pty to `stdout`, until the container's side
    of the pty is closed."""
    if os.isatty(stdout):
        copy_size(stdout, master)
    old = signal.signal(signal.SIGWINCH, lambda *_: copy_size(stdout, master) if os.isatty(stdout) else None)
    reading = [master] + ([stdin] if interactive else [])
    try:
        with raw(stdin) if interactive else contextlib.nullcontext():
            while True:
                try:
                    ready, _, _ = select.select(reading, [], [])
                except InterruptedError:
                    continue
                if master in ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError as e:
                        if e.errno == errno.EIO:  # the container closed its side
                            return
                        raise
                    if not data:
                        return
                    os.write(stdout, data)
                if stdin in ready:
                    data = os.read(stdin, 65536)
                    if not data:
                        reading.remove(stdin)  # EOF: keep showing output
                        os.write(master, b"\x04")  # ^D at the container's terminal
                        continue
                    os.write(master, data)
    finally:
        signal.signal(signal.SIGWINCH, old)
