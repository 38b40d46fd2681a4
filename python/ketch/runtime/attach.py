"""`attach`: a face's stdio joined to a detached container through its
monitor's attach socket (rust/src/monitor/attach.rs has the protocol): the
container's output (stdout and stderr apart, or the pty's as stdout) from
now on, its stdin sent with -i, detach keys (docker's ctrl-p,ctrl-q) seen
here, the exit code when the process ends while attached. The library never
touches fds 0-2: the face hands its files as a `Stdio`.

`ketch start -a` and a foreground `run` that needs the monitor (a restart
policy, a healthcheck; for `start -a` also -t) take the same path with a
client socket the monitor is started with (`pair`), so that no output comes
before the client. The end of the face's stdin: `run -i` and `start -a -i`
close the container's stdin then (docker's StdinOnce, which `docker run -i`
sets); `attach` leaves it open (docker's for a `run -d -i` container), so a
later attach can still write to it. A detach (the keys, or the client
going) never closes it.

A container started before the monitor had the socket: its json-file log
followed (output only), as attach did before."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import KetchError, UsageError
from ..store import Store
from .inspect import LogEntry, logs
from .state import Container, container_dir, lookup
from .stdio import Stdio, _write_all

SOCKET = "attach.sock"
# the hello's flags and the frames' kinds (rust/src/monitor/attach.rs)
STDIN, STDOUT, STDERR = 1, 2, 4
K_STDIN, K_STDOUT, K_STDERR, K_EXIT, K_RESIZE, K_CLOSE_STDIN = 0, 1, 2, 3, 4, 5
HEADER = struct.Struct(">B3xI")
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_MAX_FRAME = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    """How an attach ended: the container's exit code, or a detach (None)."""

    exit_code: int | None

    @property
    def detached(self) -> bool:
        return self.exit_code is None


def detach_keys(spec: str | None) -> bytes:
    """docker's --detach-keys: comma-separated `ctrl-X` (X a letter or one of
    @[\\]^_) or single characters; the bytes that make the sequence."""
    spec = DEFAULT_DETACH_KEYS if spec is None else spec
    out = bytearray()
    for key in spec.split(","):
        k = key.strip()
        if len(k) == 1:
            out.append(ord(k))
        elif k.lower().startswith("ctrl-") and len(k) == 6:
            ch = k[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[ch])
            else:
                raise UsageError(f"Unknown character: '{k}'")
        else:
            raise UsageError(f"Unknown character: '{k}'")
    if not out:
        raise UsageError("Unknown character: ''")
    return bytes(out)


def connect(store: Store, c: Container, flags: int) -> socket.socket:
    """A connection to the container's attach socket, the hello sent. The
    socket is reached through the container's directory opened without
    following a symlink, and answers only if its end is root's or ours
    (SO_PEERCRED): a socket planted by someone else gets no stdin."""
    d = container_dir(store, c.id)
    try:
        dfd = os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise KetchError(f"cannot attach to {c.name}: {e.strerror}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{dfd}/{SOCKET}")
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid not in (0, os.geteuid()):
            raise KetchError(f"cannot attach to {c.name}: its attach socket is not the monitor's")
        sock.sendall(b"KA\x01" + bytes([flags]))
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(dfd)
    return sock


def pair(flags: int) -> tuple[socket.socket, tuple[int, int]]:
    """A client socket for a monitor about to start (`process.start_detached`'s
    `attached`): ours, and the monitor's end with the flags (close its end after the start)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return ours, (theirs.detach(), flags)  # close-on-exec; subprocess's pass_fds hands it to the monitor alone


def flags_for(c: Container, stdin: bool) -> int:
    """The hello's flags: stdout and stderr, and stdin when it is sent (the container has -i)."""
    return STDOUT | STDERR | (STDIN if stdin and c.config.get("open_stdin") else 0)


class _Keys:
    """docker's escape proxy: bytes that could begin the detach sequence are
    held until they do (a detach) or do not (they are sent)."""

    def __init__(self, keys: bytes) -> None:
        self.keys, self.held = keys, b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """What to send of `data`, and whether the sequence came (the rest is dropped then)."""
        out = bytearray()
        for b in data:
            self.held += bytes([b])
            if self.keys.startswith(self.held):
                if self.held == self.keys:
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
        return bytes(out), False


@contextlib.contextmanager
def _forwarding(pid: int | None, on: bool) -> Iterator[None]:
    """docker's --sig-proxy: SIGINT, SIGTERM and SIGHUP go to the container's process."""
    old = {}
    if on and pid is not None:

        def relay(signum: int, _frame: object) -> None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            old[s] = signal.signal(s, relay)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def relay(
    sock: socket.socket,
    stdio: Stdio,
    *,
    send_stdin: bool,
    tty: bool = False,
    keys: bytes | None = None,
    stdin_once: bool = False,
) -> int | None:
    """Copies frames from the monitor to `stdio` and (with `send_stdin`)
    `stdio.stdin` to the monitor until the exit frame (its code), the detach
    keys (None) or the connection's end (-1: the monitor went without an
    exit). With `stdin_once` the end of `stdio.stdin` closes the container's
    stdin; with `tty` the face's terminal is in raw mode meanwhile and its
    size kept in step."""
    from . import tty as term

    sock.setblocking(False)
    src: int | None = stdio.stdin if send_stdin else None
    matcher = _Keys(keys) if keys else None
    inbuf = b""
    outbuf = b""
    outs = {K_STDOUT: stdio.stdout, K_STDERR: stdio.stderr}
    lost: set[int] = set()

    def resize() -> None:
        nonlocal outbuf
        if tty and os.isatty(stdio.stdout):
            import fcntl
            import termios

            try:
                rows, cols, _, _ = term.WINSZ.unpack(
                    fcntl.ioctl(stdio.stdout, termios.TIOCGWINSZ, term.WINSZ.pack(0, 0, 0, 0))
                )
            except OSError:
                return
            outbuf += HEADER.pack(K_RESIZE, 4) + struct.pack(">HH", rows, cols)

    old_winch = signal.signal(signal.SIGWINCH, lambda *_: resize()) if tty else None
    resize()
    raw = term.raw(src) if tty and src is not None else contextlib.nullcontext()
    try:
        with raw:
            while True:
                reading = [sock] + ([src] if src is not None and len(outbuf) < _MAX_FRAME else [])
                try:
                    ready, can_write, _ = select.select(reading, [sock] if outbuf else [], [])
                except InterruptedError:
                    continue
                if can_write and outbuf:
                    try:
                        outbuf = outbuf[sock.send(outbuf) :]
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        return -1
                if sock in ready:
                    try:
                        data = sock.recv(256 * 1024)
                    except BlockingIOError:
                        data = None
                    except ConnectionResetError:
                        data = b""
                    if data == b"":
                        return -1
                    if data:
                        inbuf += data
                        while len(inbuf) >= 8:
                            kind, n = HEADER.unpack_from(inbuf)
                            if len(inbuf) < 8 + n:
                                break
                            payload, inbuf = inbuf[8 : 8 + n], inbuf[8 + n :]
                            if kind == K_EXIT:
                                return int(struct.unpack(">i", payload)[0])
                            fd = outs.get(kind)
                            if fd is not None and fd not in lost and not _write_all(fd, payload):
                                lost.add(fd)  # the face's reader is gone: the container is not stopped for it
                if src is not None and src in ready:
                    try:
                        data = os.read(src, 65536)
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        if e.errno != errno.EIO:
                            raise
                        data = b""
                    if not data:
                        src = None
                        if stdin_once:
                            outbuf += HEADER.pack(K_CLOSE_STDIN, 0)
                        continue
                    detach = False
                    if matcher is not None:
                        data, detach = matcher.feed(data)
                    if data:
                        outbuf += HEADER.pack(K_STDIN, len(data)) + data
                    if detach:
                        _flush(sock, outbuf)
                        return None
    finally:
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)


def _flush(sock: socket.socket, data: bytes) -> None:
    """What stdin still had, sent before a detach (a second at most)."""
    sock.settimeout(1.0)
    with contextlib.suppress(OSError):
        sock.sendall(data)


def resize(store: Store, ref: str, rows: int, cols: int) -> None:
    """A -t container's pty made `rows` x `cols` through its monitor (what
    the Engine API's resize asks); nothing for one without a pty."""
    c = lookup(store, ref)
    _check(c)
    if not (0 < rows < 65536 and 0 < cols < 65536):
        raise UsageError(f"invalid terminal size: {rows}x{cols}")
    try:
        sock = connect(store, c, 0)
    except (FileNotFoundError, ConnectionRefusedError):
        raise KetchError(f"cannot resize {c.name}: its monitor has no attach socket") from None
    with sock:
        sock.sendall(HEADER.pack(K_RESIZE, 4) + struct.pack(">HH", rows, cols))


def _check(c: Container) -> None:
    if c.state != "running":
        raise KetchError("You cannot attach to a stopped container, start it first")
    if c.paused:
        raise KetchError("You cannot attach to a paused container, unpause it first")


def attach(
    store: Store,
    ref: str,
    stdio: Stdio,
    *,
    stdin: bool = True,
    sig_proxy: bool = True,
    keys: str | None = None,
) -> Outcome:
    """`attach`: `stdio` joined to the running container until it exits (its
    code) or the detach keys come (a detach: it runs on). Its stdin is sent
    when the container has -i and `stdin`; with -t the output is the pty's.
    `attach` and `detach` events are recorded."""
    from .events import container as event

    c = lookup(store, ref)
    _check(c)
    seq = detach_keys(keys)
    tty = bool(c.config.get("tty"))
    flags = flags_for(c, stdin)
    try:
        sock = connect(store, c, flags)
    except (FileNotFoundError, ConnectionRefusedError):
        return Outcome(_follow_log(store, c, stdio, sig_proxy))
    event(store, c, "attach")
    with sock, _forwarding(c.pid, sig_proxy and not tty):
        code = relay(sock, stdio, send_stdin=bool(flags & STDIN), tty=tty, keys=seq if flags & STDIN else None)
    return _outcome(store, c, code)


def _outcome(store: Store, c: Container, code: int | None) -> Outcome:
    from .events import container as event
    from .inspect import wait_exit

    if code is None:
        event(store, c, "detach")
        return Outcome(None)
    if code < 0:  # the monitor went without saying: the row says
        return Outcome(wait_exit(store, c.id))
    return Outcome(code)


def run_attached(
    store: Store,
    c: Container,
    stdio: Stdio,
    start: Callable[[tuple[int, int]], int],
    *,
    interactive: bool,
    stdin_once: bool,
    sig_proxy: bool = True,
    keys: str | None = None,
) -> Outcome:
    """`start -a` and a foreground `run` under the monitor: `start(attached)`
    starts the container with a client socket of ours already served (and
    returns the container's pid); then as `attach`. With `stdin_once` (`run
    -i`, docker's StdinOnce) the end of the face's stdin closes the container's."""
    from .events import container as event

    seq = detach_keys(keys)
    tty = bool(c.config.get("tty"))
    flags = flags_for(c, interactive)
    ours, theirs = pair(flags)
    try:
        try:
            pid = start(theirs)
        finally:
            os.close(theirs[0])
        event(store, c, "attach")
        with _forwarding(pid, sig_proxy and not tty):
            code = relay(
                ours,
                stdio,
                send_stdin=bool(flags & STDIN),
                tty=tty,
                keys=seq if flags & STDIN else None,
                stdin_once=stdin_once,
            )
    finally:
        ours.close()
    return _outcome(store, c, code)


def _follow_log(store: Store, c: Container, stdio: Stdio, forward: bool) -> int:
    """A container whose monitor has no attach socket: its log followed from
    now on (output only) until it ends; its exit code."""
    from .inspect import wait_exit

    with _forwarding(c.pid, forward):
        for e in _entries(store, c):
            _write_all(stdio.stderr if e.stream == "stderr" else stdio.stdout, e.text.encode())
    return wait_exit(store, c.id)


def _entries(store: Store, c: Container) -> Iterator[LogEntry]:
    yield from logs(store, c.id, follow=True, tail="0")
