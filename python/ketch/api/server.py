"""`ketch system service`: the Engine API on a unix socket, one thread per
connection over one `Store`. Daemonless: the service is one more face over
the library; what it makes (containers under their monitors, images,
networks) is what `ketch ps` and `ketch images` show, and outlives it.

The socket is made mode 0660 (group from `--group`), so a user who may not
open it never reaches ketch; under systemd's socket activation
(`LISTEN_FDS`) the unit decides. `--time` ends the service after that many
seconds with no connection open (0: never)."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .http import Closed, Connection, HTTPError, Request
from .router import Call, Router, status_of

DEFAULT_SOCKET = "/run/ketch/docker.sock"
MAX_CONNECTIONS = 512  # beyond: the one idle longest is closed, else the new one


class Service:
    """What every connection shares: the store, the routes, the counts the
    idle timer reads, and state that spans requests (attaches waiting for
    their container's start, exec instances)."""

    def __init__(self, store: Any, debug: bool = False) -> None:
        self.store = store
        self.router = Router()
        self.debug = debug
        self.lock = threading.Lock()
        self.active = 0
        self.last = time.monotonic()
        self.state: dict[str, Any] = {}  # per area: streams' pending attaches, exec instances ...
        self.stopping = threading.Event()
        self.conns: set[Connection] = set()

    def admit(self) -> bool:
        """Whether one more connection may be served: below the cap, or once
        the connection that has waited longest for a request (a kept-alive
        one gone quiet, or one that never sent a whole head) was ended for
        it. Streams, attaches and requests being served are never ended so."""
        with self.lock:
            if self.active < MAX_CONNECTIONS:
                self.active += 1
                return True
            waiting = sorted((since, id(c), c) for c in self.conns if (since := c.waiting) is not None)
            for _, _, c in waiting:
                if c.evict():  # else a request came on it meanwhile: it is served
                    self.conns.discard(c)
                    self.active += 1
                    return True
            return False

    def area(self, name: str, make: Any) -> Any:
        """The shared state of one area of the API, made on first use."""
        with self.lock:
            if name not in self.state:
                self.state[name] = make()
            return self.state[name]

    def serve_connection(self, sock: socket.socket) -> None:
        conn = Connection(sock)
        with self.lock:
            self.conns.add(conn)
        try:
            while conn.keep:
                req: Request | None = None
                try:
                    req = conn.read_request()
                    if req is None:
                        return
                    handler, params = self.router.find(req)
                    result = handler(Call(req, self, params))
                    if not conn.answered:
                        if result is None:
                            req.no_content()
                        else:
                            req.json_answer(result)
                except Closed:
                    return
                except Exception as e:  # every error is an answer while none was given
                    err = status_of(e)
                    if err.status >= 500 and self.debug and not isinstance(e, HTTPError):
                        traceback.print_exc()
                    if conn.answered:
                        return  # inside a stream or a hijack: the connection ends
                    conn.error(req, err)
                if conn.broken:
                    return
        except Closed:
            pass
        finally:
            conn.close()
            with self.lock:
                self.conns.discard(conn)
                self.active -= 1
                self.last = time.monotonic()


def _reap_monitors() -> None:
    """The monitors this service started (subprocess children it no longer
    holds) that have ended, waited for: a long-lived face would otherwise
    keep them as zombies. subprocess does this at its next Popen; a
    service may start none for a long time."""
    import subprocess

    cleanup = getattr(subprocess, "_cleanup", None)
    if cleanup is not None:
        cleanup()


class Workers:
    """The threads that serve connections: an idle one takes the next
    connection, else a new one is started; one idle for IDLE_WORKER seconds
    ends. Each keeps its database connection (the store's are per thread)
    from one client connection to the next: no thread, and no SQLite
    connection, is made per request, and their number is bounded by the
    most connections ever open at once."""

    IDLE_WORKER = 60.0

    def __init__(self, serve: Any) -> None:
        import queue

        self.serve = serve
        self.lock = threading.Lock()
        self.idle = 0
        self.queue: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()

    def take(self, sock: socket.socket) -> None:
        with self.lock:
            if self.idle > 0:
                self.idle -= 1
                self.queue.put(sock)
                return
        threading.Thread(target=self._work, args=(sock,), daemon=True).start()

    def _work(self, sock: socket.socket) -> None:
        import queue

        from ..store.db import close_all

        try:
            while True:
                self.serve(sock)
                with self.lock:
                    self.idle += 1
                try:
                    sock = self.queue.get(timeout=self.IDLE_WORKER)
                except queue.Empty:
                    with self.lock:
                        try:
                            sock = self.queue.get_nowait()  # handed over as the wait ended
                        except queue.Empty:
                            self.idle -= 1
                            return
        finally:
            close_all()  # this thread's database connections


def listener(path: str, group: str | None) -> socket.socket:
    """systemd's socket (LISTEN_FDS, fd 3) when activated, else `path` bound
    afresh: an old socket there is replaced only if no one answers on it;
    anything else at that path is refused."""
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and int(os.environ.get("LISTEN_FDS", "0") or 0) >= 1:
        for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(k, None)
        s = socket.socket(fileno=3)
        os.set_inheritable(3, False)
        return s
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise UsageError(f"{path} exists and is not a socket: remove it or give another --socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(p)  # nothing listens: a stale socket of an earlier service
        else:
            raise UsageError(f"{path}: a service already listens there")
        finally:
            probe.close()
    gid = -1
    if group:
        import grp

        try:
            gid = grp.getgrnam(group).gr_gid if not group.isdigit() else int(group)
        except KeyError:
            raise UsageError(f"--group {group}: no such group") from None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)  # no moment at which the socket is open to others
    try:
        s.bind(path)
    finally:
        os.umask(old)
    os.chown(path, -1, gid)
    os.chmod(path, 0o660)
    s.listen(128)
    return s


def serve(
    store: Any, path: str = DEFAULT_SOCKET, idle: float = 0.0, group: str | None = None, ready: Any = None
) -> None:
    """Serves until interrupted or, with `idle` > 0, until that many seconds
    passed with no connection open."""
    import signal

    service = Service(store, debug=bool(os.environ.get("KETCH_DEBUG")))
    workers = Workers(service.serve_connection)
    s = listener(path, group)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: service.stopping.set())  # systemd's stop: the socket goes
    bound = s.getsockname() or path
    if ready is not None:
        ready(bound)
    try:
        s.settimeout(min(idle, 1.0) if idle > 0 else 1.0)
        while not service.stopping.is_set():
            try:
                c, _ = s.accept()
            except TimeoutError:
                _reap_monitors()
                with service.lock:
                    quiet = service.active == 0 and time.monotonic() - service.last >= idle
                if idle > 0 and quiet:
                    return
                continue
            c.settimeout(None)
            if not service.admit():
                c.close()
                continue
            workers.take(c)
    finally:
        s.close()
        if isinstance(bound, str) and bound == path and os.environ.get("LISTEN_FDS") is None:
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
            except FileNotFoundError:
                pass
