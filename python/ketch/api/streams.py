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
from typing import Any

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
    if stream and c.state == "running":
        try:
            monitor = at.connect(call.store, c, flags)
        except (FileNotFoundError, ConnectionRefusedError):
            monitor = None  # a monitor without an attach socket: the log is followed instead
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


def _send_logs(call: Call, c: Any, client: socket.socket, tty: bool, want_out: bool, want_err: bool) -> None:
    from ..runtime.inspect import logs

    for e in logs(call.store, c.id):
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
    while True:
        rd = [monitor] + ([client] if reading_client and len(tomon) < (1 << 20) else [])
        try:
            ready, wr, _ = select.select(rd, [monitor] if tomon else [], [], 1.0)
        except InterruptedError:
            continue
        if wr:
            try:
                n = monitor.send(tomon)
                tomon = tomon[n:]
            except OSError:
                return
        if client in ready:
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
        if monitor in ready:
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


ROUTES = [
    ("POST", "/containers/{id}/attach", attach),
    ("POST", "/containers/{id}/resize", resize),
]
