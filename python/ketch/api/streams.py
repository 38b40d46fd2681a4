"""Hijacked streams: `POST /containers/{id}/attach` (before or after the
start) and the start that serves the clients attached before it; resize.

The monitor's attach protocol (rust/src/monitor/attach.rs) frames output as
dockerd's stdcopy does (8-byte header, kind 1 stdout, 2 stderr), so a
non-tty container's frames go to the client as they come, but for the
monitor's exit frame (kind 3), which ends the stream; with a tty the
payloads go raw. The client's bytes are its stdin, framed for the monitor;
its half-close ends the container's stdin when the container was created
with StdinOnce, and the output is written on until the process exits."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import Any

from ..errors import KetchError
from .http import HTTPError
from .router import Call

PENDING_WAIT = 300.0  # an attach made before the start waits this long for it
_LOCK = threading.Lock()  # the table of pending attaches (Service.lock only makes it)


class Pending:
    """A client attached to a container not yet started: the monitor's end
    of its socket pair, handed over at the start."""

    def __init__(self, theirs: tuple[int, int]) -> None:
        self.theirs = theirs
        self.started = threading.Event()
        self.failed = False


def _pending(service: Any) -> dict[str, list[Pending]]:
    return service.area("attach", dict)


def start(service: Any, store: Any, c: Any) -> None:
    """Starts `c` under its monitor with the clients attached before it."""
    from ..runtime import process

    table = _pending(service)
    with _LOCK:
        waiting = table.pop(c.id, [])
    try:
        process.start_detached(store, c, attached=[p.theirs for p in waiting])
    except BaseException:
        for p in waiting:
            p.failed = True
        raise
    finally:
        for p in waiting:
            try:
                os.close(p.theirs[0])  # the monitor holds it now (or it failed)
            except OSError:
                pass
            p.started.set()


def attach(call: Call) -> None:
    """POST /containers/{id}/attach?stream=&stdin=&stdout=&stderr=&logs=&detachKeys=."""
    from ..runtime import attach as at
    from ..runtime.state import lookup

    req = call.req
    c = lookup(call.store, call.params["id"])
    want_in, want_out, want_err = req.flag("stdin"), req.flag("stdout"), req.flag("stderr")
    stream, logs = req.flag("stream"), req.flag("logs")
    keys = at.detach_keys(req.arg("detachKeys")) if want_in else None
    tty = bool(c.config.get("tty"))
    flags = (at.STDIN if want_in and c.config.get("open_stdin") else 0) | (at.STDOUT if want_out else 0)
    flags |= at.STDERR if want_err else 0
    if c.paused:
        raise HTTPError(409, "You cannot attach to a paused container, unpause it first")
    monitor: socket.socket | None = None
    pending: Pending | None = None
    follow_log = False
    if stream and c.state == "running":
        try:
            monitor = at.connect(call.store, c, flags)
        except (FileNotFoundError, ConnectionRefusedError):
            follow_log = True  # no monitor's attach socket (a foreground run): its log is followed instead
    elif stream:
        ours, theirs = at.pair(flags)
        pending = Pending(theirs)
        monitor = ours
        table = _pending(call.service)
        with _LOCK:
            table.setdefault(c.id, []).append(pending)
    media = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    try:
        client, early = req.hijack(media)
    except BaseException:
        _drop(call, c.id, pending, monitor)
        raise
    try:
        if logs:
            _send_logs(call, c, client, tty, want_out, want_err)
        if pending is not None and not _wait_start(call, c.id, pending):
            return
        if monitor is not None:
            from ..runtime.events import container as event

            event(call.store, c, "attach")
            relay(monitor, client, early, tty=tty, send_stdin=bool(flags & at.STDIN), keys=keys,
                  stdin_once=bool(c.config.get("stdin_once")))  # fmt: skip
        elif follow_log:
            _send_logs(call, c, client, tty, want_out, want_err, follow=True)
    finally:
        _drop(call, c.id, pending, monitor)
        _close(client)


def _wait_start(call: Call, cid: str, p: Pending) -> bool:
    """Waits for the container's start; False if it failed, never came, or
    the container was removed meanwhile (the client's stream then ends)."""
    from ..errors import ContainerNotFound
    from ..runtime.state import lookup

    deadline = PENDING_WAIT
    while deadline > 0 and not call.service.stopping.is_set():
        if p.started.wait(0.5):
            return not p.failed
        deadline -= 0.5
        try:
            lookup(call.store, cid)
        except ContainerNotFound:
            return False
    return False


def _drop(call: Call, cid: str, p: Pending | None, monitor: socket.socket | None) -> None:
    if p is not None:
        table = _pending(call.service)
        with _LOCK:
            waiting = table.get(cid, [])
            if p in waiting:
                waiting.remove(p)
                os.close(p.theirs[0])
            if not waiting:
                table.pop(cid, None)
    if monitor is not None:
        monitor.close()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _send_logs(
    call: Call, c: Any, client: socket.socket, tty: bool, want_out: bool, want_err: bool, follow: bool = False
) -> None:
    """The log so far as the stream's frames; with `follow`, from now on, until it stops or the client goes."""
    from ..runtime.inspect import logs

    if follow:
        entries = logs(call.store, c.id, follow=True, tail="0", stop=lambda: _hung_up(client))
    else:
        entries = logs(call.store, c.id)
    for e in entries:
        if (e.stream == "stderr" and not want_err) or (e.stream != "stderr" and not want_out):
            continue
        data = e.text.encode("utf-8", "surrogateescape")
        kind = 2 if e.stream == "stderr" else 1
        client.sendall(data if tty else bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data)


def relay(
    monitor: socket.socket,
    client: socket.socket,
    early: bytes,
    *,
    tty: bool,
    send_stdin: bool,
    keys: bytes | None,
    stdin_once: bool,
) -> None:
    """The monitor's frames to the client (stdcopy as they are, raw with a
    tty) until its exit frame; the client's bytes to the monitor as stdin
    frames until it half-closes (then, with `stdin_once`, the container's
    stdin is closed) or sends the detach keys (the stream ends; the
    container runs on)."""
    from ..runtime import attach as at

    matcher = at._Keys(keys) if keys else None
    reading_client = True
    inbuf = b""
    tomon = b""

    def from_client(data: bytes) -> bool:
        """Framed for the monitor; True when the detach keys came."""
        nonlocal tomon
        detach = False
        if matcher is not None:
            data, detach = matcher.feed(data)
        if data and send_stdin:
            tomon += at.HEADER.pack(at.K_STDIN, len(data)) + data
        return detach

    if early and from_client(early):
        return
    client.setblocking(True)
    monitor.setblocking(True)
    poll = _Poll()
    cfd, mfd = client.fileno(), monitor.fileno()
    while True:
        poll.want(cfd, IN if reading_client and len(tomon) < (1 << 20) else 0)
        poll.want(mfd, IN | (OUT if tomon else 0))
        ev = poll.wait(1000)
        if ev.get(cfd, 0) & HUP and not ev.get(cfd, 0) & IN:
            return  # the client hung up altogether
        if ev.get(mfd, 0) & OUT and tomon:
            try:
                n = monitor.send(tomon)
                tomon = tomon[n:]
            except OSError:
                return
        if ev.get(cfd, 0) & IN:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                reading_client = False  # stdin's end: the output goes on
                if stdin_once and send_stdin:
                    tomon += at.HEADER.pack(at.K_CLOSE_STDIN, 0)
            elif from_client(data):
                _flush(monitor, tomon)
                return
        if ev.get(mfd, 0) & (IN | HUP):
            try:
                data = monitor.recv(256 * 1024)
            except OSError:
                data = b""
            if not data:
                return
            inbuf += data
            out = bytearray()
            while len(inbuf) >= 8:
                kind, n = at.HEADER.unpack_from(inbuf)
                if len(inbuf) < 8 + n:
                    break
                frame, inbuf = inbuf[: 8 + n], inbuf[8 + n :]
                if kind == at.K_EXIT:
                    _send(client, bytes(out))
                    return
                if kind in (at.K_STDOUT, at.K_STDERR):
                    out += frame[8:] if tty else frame
            if out and not _send(client, bytes(out)):
                return


class _Poll:
    """select.poll over fds (select() cannot take an fd above 1024, and a
    busy service has them): `wait` gives {fd: revents}. A client whose
    reading side has ended is still watched for its hang-up (POLLHUP: both
    directions closed), so a stream whose client went away ends even while
    the container is quiet."""

    def __init__(self) -> None:
        self.p = select.poll()
        self.fds: dict[int, int] = {}

    def want(self, fd: int, events: int) -> None:
        if self.fds.get(fd) != events:
            if fd in self.fds:
                self.p.modify(fd, events)
            else:
                self.p.register(fd, events)
            self.fds[fd] = events

    def drop(self, fd: int) -> None:
        if fd in self.fds:
            del self.fds[fd]
            self.p.unregister(fd)

    def wait(self, timeout_ms: int | None = None) -> dict[int, int]:
        while True:
            try:
                return dict(self.p.poll(timeout_ms))
            except InterruptedError:
                continue


IN, OUT, HUP = select.POLLIN, select.POLLOUT, select.POLLHUP | select.POLLERR


def _hung_up(sock: socket.socket) -> bool:
    """The client closed both ways (a half-close, the end of its stdin, is not a hang-up)."""
    p = select.poll()
    p.register(sock, 0)
    return any(bits & HUP for _, bits in p.poll(0))


def _recv(sock: socket.socket) -> bytes:
    """What the client sent (b"": its end, or an error that is one)."""
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def _flush(sock: socket.socket, data: bytes) -> None:
    if data:
        sock.settimeout(1.0)
        try:
            sock.sendall(data)
        except OSError:
            pass


def resize(call: Call) -> None:
    """POST /containers/{id}/resize?h=&w=."""
    from ..runtime.attach import resize as do_resize

    h, w = call.req.integer("h", 0) or 0, call.req.integer("w", 0) or 0
    do_resize(call.store, call.params["id"], h, w)
    call.req.send(200, b"", "text/plain; charset=utf-8")


ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/containers/{id}/attach", attach),
    ("POST", "/containers/{id}/resize", resize),
]


# -- exec ---------------------------------------------------------------------------

MAX_EXECS = 4096  # exec instances remembered (the oldest ended ones are forgotten first)
MAX_EXEC_ARGS = 256 << 10  # bytes of an exec's Cmd and Env
EXEC_UNSTARTED = 300.0  # an exec created and never started is forgotten after this (as dockerd's)


class Exec:
    """An exec instance: made by exec create, run by exec start (once)."""

    def __init__(self, cid: str, body: dict[str, Any]) -> None:
        import secrets

        self.id = secrets.token_hex(32)
        self.cid = cid
        self.argv = list(body["Cmd"])
        self.env = list(body.get("Env") or [])
        self.workdir = body.get("WorkingDir") or None
        self.user = body.get("User") or None
        self.tty = bool(body.get("Tty"))
        self.stdin = bool(body.get("AttachStdin"))
        self.stdout = bool(body.get("AttachStdout"))
        self.stderr = bool(body.get("AttachStderr"))
        self.privileged = bool(body.get("Privileged"))
        self.detach_keys = body.get("DetachKeys") or None
        self.running = False
        self.started = False
        self.exit_code: int | None = None
        self.pid = 0
        self.master: int | None = None  # a tty exec's pty, for resize
        self.made = time.monotonic()

    def doc(self) -> dict[str, Any]:
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code, "ContainerID": self.cid,
            "ProcessConfig": {"tty": self.tty, "entrypoint": self.argv[0], "arguments": self.argv[1:],
                              "privileged": self.privileged, "user": self.user or ""},
            "OpenStdin": self.stdin, "OpenStdout": self.stdout, "OpenStderr": self.stderr,
            "CanRemove": False, "DetachKeys": self.detach_keys or "", "Pid": self.pid,
        }  # fmt: skip


def _execs(service: Any) -> dict[str, Exec]:
    return service.area("exec", dict)


def _find_exec(call: Call) -> Exec:
    e = _execs(call.service).get(call.params["id"])
    if e is None:
        raise HTTPError(404, f"No such exec instance: {call.params['id']}")
    return e


def exec_create(call: Call) -> None:
    """POST /containers/{id}/exec: 201 {Id}."""
    from ..runtime.state import lookup

    body = call.req.json()
    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object")
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        body["Cmd"] = cmd = [cmd]
    if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
        raise HTTPError(400, "No exec command specified")
    env = body.get("Env")
    if env is not None and (not isinstance(env, list) or not all(isinstance(x, str) for x in env)):
        raise HTTPError(400, "Env must be a list of strings")
    body["Env"] = [x for x in env or [] if "=" in x]  # a bare NAME: the client's to fill, never the service's
    for key in ("User", "WorkingDir", "DetachKeys"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise HTTPError(400, f"{key} must be a string")
    if sum(len(x) for x in [*cmd, *body["Env"]]) > MAX_EXEC_ARGS:
        raise HTTPError(400, "the exec's command and environment are too large")
    c = lookup(call.store, call.params["id"])
    if c.state != "running":
        raise HTTPError(409, f"Container {c.id} is not running")
    if c.paused:
        raise HTTPError(409, f"Container {c.id} is paused, unpause the container before exec")
    e = Exec(c.id, body)
    table = _execs(call.service)
    with _LOCK:
        if len(table) >= MAX_EXECS // 2:
            now = time.monotonic()
            ended = [x for x in table.values() if x.started and not x.running]
            stale = [x for x in table.values() if not x.started and now - x.made > EXEC_UNSTARTED]
            for old in ended + stale:
                del table[old.id]
        if len(table) >= MAX_EXECS:
            raise HTTPError(503, "too many exec instances: start or forget some first")
        table[e.id] = e
    call.req.json_answer({"Id": e.id}, 201)


def exec_inspect(call: Call) -> dict[str, Any]:
    return _find_exec(call).doc()


def exec_resize(call: Call) -> None:
    import fcntl
    import struct
    import termios

    e = _find_exec(call)
    h, w = call.req.integer("h", 0) or 0, call.req.integer("w", 0) or 0
    if not (0 < h < 65536 and 0 < w < 65536):
        raise HTTPError(400, f"invalid terminal size: {h}x{w}")
    if e.master is None:
        raise HTTPError(409, f"exec {e.id} has no terminal to resize" if not e.tty else f"exec {e.id} is not running")
    try:
        fcntl.ioctl(e.master, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))
    except OSError as err:
        raise HTTPError(409, f"cannot resize exec {e.id}: {err.strerror}") from None
    call.req.send(200, b"", "text/plain; charset=utf-8")


class _ExecPipes:
    """The exec'd process's stdin, stdout and stderr pipes (exec_in's `io`)."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        in_r, self.in_w = self._pipe()
        self.out_r, out_w = self._pipe()
        self.err_r, err_w = self._pipe()
        self.child = (in_r, out_w, err_w)

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe2(os.O_CLOEXEC)
        self.fds += [r, w]
        return r, w

    def close_fd(self, fd: int) -> None:
        if fd in self.fds:
            self.fds.remove(fd)
            os.close(fd)

    def started(self) -> None:
        for fd in self.child:
            self.close_fd(fd)

    def close(self) -> None:
        for fd in list(self.fds):
            self.close_fd(fd)


def exec_start(call: Call) -> None:
    """POST /exec/{id}/start {Detach, Tty}: the connection hijacked and the
    process's stdio relayed (stdcopy frames unless Tty) until it exits; its
    ExitCode is recorded before the stream ends. Detach: 200 at once, the
    process waited for by a thread of the service."""
    e = _find_exec(call)
    body = call.req.json() if call.req.body_left else {}
    detach = bool(isinstance(body, dict) and body.get("Detach"))
    with _LOCK:
        if e.started:
            raise HTTPError(409, f"Error: Exec command {e.id} has already run")
        e.started = True
    if detach:
        pid, _ = _spawn_exec(call, e, None, detach=True)
        threading.Thread(target=_reap, args=(call, e, pid), daemon=True).start()
        call.req.send(200, b"", "application/json")
        return
    media = "application/vnd.docker.raw-stream" if e.tty else "application/vnd.docker.multiplexed-stream"
    client, early = call.req.hijack(media)  # first: a process that cannot start says so in the stream, as dockerd's
    pipes = _ExecPipes() if not e.tty else None
    master: int | None = None
    pid = 0
    try:
        try:
            pid, master = _spawn_exec(call, e, pipes, detach=False)
        except KetchError as err:
            text = (str(err) + "\r\n" if e.tty else str(err) + "\n").encode()
            _send(client, text if e.tty else _frame(2, text))
            return
        if master is not None:
            _relay_tty(client, early, master, pid, e)
        elif pipes is not None:
            _relay_pipes(client, early, pipes, pid, e)
        _reap(call, e, pid)
        pid = 0
    finally:
        if pid:  # the relay failed: the process is still waited for, by a thread of its own
            threading.Thread(target=_reap, args=(call, e, pid), daemon=True).start()
        if master is not None:
            e.master = None
            os.close(master)
        if pipes is not None:
            pipes.close()
        _close(client)


def _spawn_exec(call: Call, e: Exec, pipes: _ExecPipes | None, detach: bool) -> tuple[int, int | None]:
    from ..runtime.exec import exec_in

    try:
        pid, master = exec_in(
            call.store, e.cid, e.argv, env=e.env, workdir=e.workdir, user=e.user, tty=e.tty, detach=detach,
            io=pipes,  # type: ignore[arg-type]  # exec_in reads `child` and calls `started()`: all Pipes gives it
            exec_id=e.id,
        )  # fmt: skip
    except KetchError as err:
        e.exit_code = err.exit_code if err.exit_code in (126, 127) else 126  # docker's for an exec that cannot start
        raise
    e.pid, e.master, e.running = pid, master, True
    return pid, master


def _reap(call: Call, e: Exec, pid: int) -> int:
    """Waits for the exec'd process (the service's child); its exit code, recorded."""
    from ..runtime.exec import exec_died

    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:  # waited for elsewhere: its end seen through a pidfd, its code unknown
        import select

        try:
            fd = os.pidfd_open(pid)
        except OSError:  # gone already (or no fd to be had: it is let go as ended)
            fd = -1
        if fd >= 0:
            try:
                p = select.poll()
                p.register(fd, select.POLLIN)
                p.poll()
            finally:
                os.close(fd)
        e.running = False
        return -1
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code
    e.exit_code, e.running = code, False
    exec_died(call.store, e.cid, e.id, code)
    return code


def _frame(kind: int, data: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def _relay_pipes(client: socket.socket, early: bytes, pipes: _ExecPipes, pid: int, e: Exec) -> None:
    """The client's bytes to the process's stdin (its half-close: the end
    of the process's stdin), its stdout and stderr to the client as stdcopy
    frames, until it exited and its pipes are drained."""
    client.setblocking(True)
    outs = {pipes.out_r: 1, pipes.err_r: 2}
    want = {1: e.stdout, 2: e.stderr}
    stdin: int | None = pipes.in_w if e.stdin else None
    if stdin is None:
        pipes.close_fd(pipes.in_w)
    else:
        os.set_blocking(stdin, False)  # a process that does not read its stdin never stops its output's relay
    pending = early if stdin is not None else b""
    closing = False  # the client's half-close: stdin ends once `pending` is written
    pidfd = os.pidfd_open(pid)
    reading_client = stdin is not None
    poll = _Poll()
    cfd = client.fileno()
    try:
        while outs:
            for fd in outs:
                poll.want(fd, IN)
            poll.want(pidfd, IN)
            poll.want(cfd, IN if reading_client and len(pending) < (1 << 20) else 0)
            if stdin is not None:
                poll.want(stdin, OUT if pending else 0)
            ev = poll.wait()
            ready = [fd for fd, bits in ev.items() if bits & (IN | HUP) and fd != cfd]
            if ev.get(cfd, 0) & IN:
                ready.append(client)  # type: ignore[arg-type]
            writable = stdin is not None and ev.get(stdin, 0) & (OUT | HUP)
            if writable and stdin is not None:
                try:
                    pending = pending[os.write(stdin, pending) :]
                except BlockingIOError:
                    pass
                except OSError:  # the process closed its stdin
                    pending, closing = b"", True
            if stdin is not None and closing and not pending:
                poll.drop(stdin)
                pipes.close_fd(stdin)
                stdin = None
            if client in ready:
                data = _recv(client)
                if not data:
                    reading_client = False
                    closing = True
                    if stdin is not None and not pending:
                        poll.drop(stdin)
                        pipes.close_fd(stdin)
                        stdin = None
                else:
                    pending += data
            for fd in [f for f in ready if f in outs]:
                data = os.read(fd, 65536)
                if not data:
                    del outs[fd]
                    poll.drop(fd)
                elif want[outs[fd]] and not _send(client, _frame(outs[fd], data)):
                    want[outs[fd]] = False  # the client is gone: the process runs on to its end
            if pidfd in ready:
                for fd, kind in list(outs.items()):  # what the pipes hold now, without waiting for
                    os.set_blocking(fd, False)  # processes it left behind
                    while True:
                        try:
                            data = os.read(fd, 65536)
                        except BlockingIOError:
                            break
                        if not data:
                            break
                        if want[kind]:
                            _send(client, _frame(kind, data))
                return
    finally:
        os.close(pidfd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _relay_tty(client: socket.socket, early: bytes, master: int, pid: int, e: Exec) -> None:
    """A tty exec: the client's bytes to the pty, the pty's to the client, raw."""
    client.setblocking(True)
    if early and e.stdin:
        _write_all(master, early)
    pidfd = os.pidfd_open(pid)
    reading_client = e.stdin
    poll = _Poll()
    cfd = client.fileno()
    try:
        while True:
            poll.want(master, IN)
            poll.want(pidfd, IN)
            poll.want(cfd, IN if reading_client else 0)
            ev = poll.wait()
            ready = [fd for fd, bits in ev.items() if bits & (IN | HUP) and fd != cfd]
            if ev.get(cfd, 0) & IN:
                ready.append(client)  # type: ignore[arg-type]
            if client in ready:
                data = _recv(client)
                if not data:
                    reading_client = False
                else:
                    try:
                        _write_all(master, data)
                    except OSError:
                        reading_client = False
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the pty's other side is gone
                    data = b""
                if not data:
                    return
                if e.stdout and not _send(client, data):
                    e.stdout = False
            if pidfd in ready and master not in ready:
                return
    finally:
        os.close(pidfd)


ROUTES += [
    ("POST", "/containers/{id}/exec", exec_create),
    ("POST", "/exec/{id}/start", exec_start),
    ("POST", "/exec/{id}/resize", exec_resize),
    ("GET", "/exec/{id}/json", exec_inspect),
]
