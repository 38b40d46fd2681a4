"""The HTTP/1.1 side of the Engine API socket, blocking, one thread per
connection (the library's calls block: a start, a wait, a log followed).
Read as strictly as the registry's server reads (registry/server/http.py):
a bounded head, Content-Length or chunked bodies (never both), bodies read
only when a route asks and bounded by what the route allows. Answers are
whole (`send`, `json`), chunked streams (`stream`), or a hijacked socket
(`hijack`: attach and exec, docker's `101 UPGRADED`)."""

from __future__ import annotations

import io
import json
import re
import select
import socket
import threading
import time
import typing
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEAD = 64 << 10  # request line and fields together
MAX_FIELDS = 100
HEAD_TIMEOUT = 300.0  # an idle kept-alive connection is closed after this (docker's CLI reconnects)
BODY_TIMEOUT = 60.0  # each read of a body must make progress within this
JSON_LIMIT = 8 << 20  # a JSON request body (a container's create document is a few KiB)

_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/1\.([01])")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?")
REASONS = {
    101: "UPGRADED", 200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    409: "Conflict", 411: "Length Required", 413: "Content Too Large", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}  # fmt: skip


class HTTPError(Exception):
    """An answer other than the route's: dockerd's JSON `{"message": ...}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Closed(Exception):
    """The client went, or broke the protocol so that the connection cannot go on."""


def _line(raw: bytes) -> bytes:
    raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if b"\r" in raw:
        raise HTTPError(400, "a bare CR in the request head")
    return raw


class Request:
    """One request read from `conn`: its head parsed; the body read on demand."""

    def __init__(self, conn: Connection, method: str, target: str, version: str, headers: dict[str, str]) -> None:
        self.conn, self.method, self.version, self.headers = conn, method, version, headers
        parts = urlsplit(target)
        self.path = unquote(parts.path)
        self.query: dict[str, list[str]] = parse_qs(parts.query, keep_blank_values=True)
        self.api_version: tuple[int, int] | None = None  # from the /v1.NN prefix (router.py)
        te = headers.get("transfer-encoding")
        cl = headers.get("content-length")
        if te is not None and cl is not None:
            raise HTTPError(400, "both Transfer-Encoding and Content-Length")  # RFC 9112 6.1: smuggling
        self.chunked = False
        self.length = 0
        if te is not None:
            if [c.strip().lower() for c in te.split(",")] != ["chunked"]:
                raise HTTPError(501, "only the chunked transfer coding is accepted")
            self.chunked = True
        elif cl is not None:
            if not re.fullmatch(r"[0-9]{1,18}", cl.strip()):
                raise HTTPError(400, "invalid Content-Length")
            self.length = int(cl)
        self.body_left = self.chunked or self.length > 0
        conn_tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        self.keep = "keep-alive" in conn_tokens if version == "HTTP/1.0" else "close" not in conn_tokens

    # the query, as dockerd reads it
    def arg(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[-1] if v else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def flag(self, name: str, default: bool = False) -> bool:
        """dockerd's httputils.BoolValue: absent -> default; "", "0", "no", "false", "none" -> False."""
        v = self.arg(name)
        if v is None:
            return default
        return v.strip().lower() not in ("", "0", "no", "false", "none")

    def integer(self, name: str, default: int | None = None) -> int | None:
        v = self.arg(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise HTTPError(400, f"invalid value for {name}: {v!r}") from None

    def json_arg(self, name: str) -> Any:
        """A query value holding JSON (filters, buildargs, labels); None when absent or empty."""
        v = self.arg(name)
        if not v:
            return None
        try:
            return json.loads(v)
        except ValueError:
            raise HTTPError(400, f"invalid JSON in {name}") from None

    # the body
    def chunks(self, limit: int) -> Iterator[bytes]:
        """The body as it arrives, at most `limit` bytes (413 beyond, before
        reading when the length is announced)."""
        if not self.body_left:
            return
        if not self.chunked and self.length > limit:
            raise HTTPError(413, f"request body larger than {limit} bytes")
        if self.headers.get("expect", "").lower() == "100-continue":
            self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.body_left = False
        self.conn.broken = True  # until the body has been read to its end
        f, total = self.conn.rfile, 0
        self.conn.timeout(BODY_TIMEOUT)
        try:
            if not self.chunked:
                n = self.length
                while n:
                    data = f.read1(min(n, 1 << 20))
                    if not data:
                        raise Closed("the body ended early")
                    n -= len(data)
                    yield data
            else:
                while True:
                    raw = f.readline(4096)
                    if not raw.endswith(b"\n"):
                        raise Closed("bad chunked encoding")
                    m = _CHUNK.fullmatch(_line(raw))
                    if not m:
                        raise HTTPError(400, "bad chunked encoding: chunk size")
                    size = int(m.group(1), 16)
                    if size == 0:
                        break
                    total += size
                    if total > limit:
                        raise HTTPError(413, f"request body larger than {limit} bytes")
                    while size:
                        data = f.read1(min(size, 1 << 20))
                        if not data:
                            raise Closed("the body ended early")
                        size -= len(data)
                        yield data
                    if _line(f.readline(4)) != b"":
                        raise HTTPError(400, "bad chunked encoding: no CRLF after a chunk")
                for _ in range(MAX_FIELDS + 1):  # trailers
                    raw = f.readline(MAX_HEAD)
                    if not raw.endswith(b"\n"):
                        raise Closed("bad chunked encoding")
                    if not _line(raw):
                        break
                else:
                    raise HTTPError(400, "too many trailer fields")
        except TimeoutError:
            raise Closed("the request body stalled") from None
        self.conn.broken = False

    def body(self, limit: int = JSON_LIMIT) -> bytes:
        return b"".join(self.chunks(limit))

    def json(self, limit: int = JSON_LIMIT) -> Any:
        """The body as JSON; {} when there is none (docker's clients post some calls empty)."""
        raw = self.body(limit)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise HTTPError(400, f"invalid JSON body: {e}") from None

    # answers
    def send(self, status: int, body: bytes = b"", content_type: str | None = None, **headers: str) -> None:
        h = dict(headers)
        if content_type:
            h["Content-Type"] = content_type
        if status not in (204, 304):
            h["Content-Length"] = str(len(body))
        self.conn.answer(self, status, h, b"" if self.method == "HEAD" or status in (204, 304) else body)

    def json_answer(self, obj: Any, status: int = 200) -> None:
        self.send(status, json.dumps(obj).encode() + b"\n", "application/json")

    def no_content(self) -> None:
        self.send(204)

    def stream(self, content_type: str = "application/json", status: int = 200, **headers: str) -> ChunkedWriter:
        """A chunked answer written as it comes (pull progress, events, logs)."""
        h = {"Content-Type": content_type, "Transfer-Encoding": "chunked", **headers}
        self.conn.answer(self, status, h, b"")
        return ChunkedWriter(self.conn)

    def hijack(self, content_type: str = "application/vnd.docker.raw-stream") -> tuple[socket.socket, bytes]:
        """The connection handed over raw, as dockerd's attach and exec start
        do: `101 UPGRADED` when the client asked to upgrade, else `200` and
        the raw stream. The head goes alone in its own write (a client that
        reads the head by lines loses what follows in the same segment).
        The socket, and what the client already sent past the request (its
        first stdin, read into our buffer with the head)."""
        self.body()  # an exec start's small JSON body, read before the stream
        upgrade = "upgrade" in self.headers.get("connection", "").lower() and "upgrade" in self.headers
        if upgrade:
            head = (
                f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {content_type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            )
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n"
        self.conn.answered = True
        self.conn.keep = False
        self.conn.write(head.encode())
        self.conn.timeout(None)
        return self.conn.sock, self.conn.buffered()


class ChunkedWriter:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        conn.timeout(BODY_TIMEOUT)  # a client that stops reading is let go

    def write(self, data: bytes) -> None:
        if data:
            self.conn.write(b"%x\r\n%s\r\n" % (len(data), data))

    def json(self, obj: Any) -> None:
        self.write(json.dumps(obj).encode() + b"\n")

    def close(self) -> None:
        self.conn.write(b"0\r\n\r\n")


class Connection:
    """One client connection: requests read one after another."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rfile = typing.cast(io.BufferedReader, sock.makefile("rb", buffering=64 << 10))
        self.keep = True
        self.broken = False  # a body left half-read: the connection cannot carry another request
        self.answered = False
        self.waiting: float | None = None  # since when it waits for a request's head (monotonic)
        self.evicted = False
        self._lock = threading.Lock()  # `waiting` and `evicted` against evict() from the accepting thread

    def timeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (OSError, TimeoutError) as e:
            raise Closed(f"the client stopped reading: {e}") from None

    def buffered(self) -> bytes:
        """What the reader holds beyond what was parsed (nothing more is read from the socket)."""
        self.sock.setblocking(False)
        try:
            return self.rfile.read1(1 << 20) or b""
        except (BlockingIOError, TimeoutError, OSError):
            return b""
        finally:
            self.sock.setblocking(True)

    def gone(self) -> bool:
        """The client hung up (a stream's end: events, a wait, logs -f)."""
        try:
            p = select.poll()  # not select(): a service may hold more than 1024 fds
            p.register(self.sock, select.POLLIN | select.POLLHUP | select.POLLERR)
            ev = p.poll(0)
            if not ev:
                return False
            if ev[0][1] & (select.POLLHUP | select.POLLERR):
                return True
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def evict(self) -> bool:
        """Ends the connection (from another thread) if it still waits for a
        request: its reader sees the end of the stream, and a head it had
        read meanwhile is dropped, never served. Whether it was ended."""
        with self._lock:
            if self.waiting is None:
                return False
            self.evicted = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True

    def read_request(self) -> Request | None:
        """The next request's head; None when the client ended or stayed idle."""
        self.answered = False
        self.timeout(HEAD_TIMEOUT)
        with self._lock:
            if self.evicted:
                return None
            self.waiting = time.monotonic()
        req = None
        try:
            req = self._read_head()
        finally:
            with self._lock:
                self.waiting = None
                if self.evicted:
                    req = None
        return req

    def _read_head(self) -> Request | None:
        f = self.rfile
        try:
            raw = f.readline(MAX_HEAD)
            empty = 0
            while raw in (b"\r\n", b"\n") and empty < 4:
                empty += 1
                raw = f.readline(MAX_HEAD)
            if not raw:
                return None
            self.timeout(BODY_TIMEOUT)  # the rest of the head must follow
            if not raw.endswith(b"\n"):
                raise HTTPError(400, "request line too long or cut")
            m = _REQUEST_LINE.fullmatch(_line(raw))
            if not m:
                raise HTTPError(400, "malformed request line")
            size, headers = len(raw), dict[str, str]()
            while True:
                raw = f.readline(MAX_HEAD)
                if not raw.endswith(b"\n"):
                    raise HTTPError(431, "request head too large or cut")
                size += len(raw)
                if size > MAX_HEAD:
                    raise HTTPError(431, "request head too large")
                line = _line(raw)
                if not line:
                    break
                if len(headers) >= MAX_FIELDS:
                    raise HTTPError(431, "too many header fields")
                name, colon, value = line.partition(b":")
                if not colon or not _TOKEN.fullmatch(name):
                    raise HTTPError(400, "malformed header field")
                value = value.strip(b" \t")
                if _FIELD_BAD.search(value):
                    raise HTTPError(400, "control character in a header field")
                k, v = name.decode().lower(), value.decode("latin-1")
                headers[k] = headers[k] + ", " + v if k in headers else v
        except TimeoutError:
            return None
        except (OSError, ValueError):
            return None
        method, target = m.group(1).decode(), m.group(2).decode()
        if not target.startswith("/"):
            raise HTTPError(400, "request target not in origin form")
        return Request(self, method, target, "HTTP/1.0" if m.group(3) == b"0" else "HTTP/1.1", headers)

    def answer(self, req: Request, status: int, headers: dict[str, str], body: bytes) -> None:
        if self.answered:
            raise RuntimeError("answered twice")
        if req.body_left:  # not read: small ones are dropped to keep the connection, else it closes
            if not req.chunked and req.length <= 64 << 10:
                try:
                    for _ in req.chunks(64 << 10):
                        pass
                except (HTTPError, Closed):
                    self.keep = False
            else:
                self.keep = False
        if self.broken or not req.keep:
            self.keep = False
        h = {"Api-Version": API_VERSION, "Docker-Experimental": "false", "Ostype": "linux", "Server": SERVER, **headers}
        if not self.keep:
            h["Connection"] = "close"
        head = f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        self.answered = True
        self.write(head.encode("latin-1") + b"\r\n" + body)

    def error(self, req: Request | None, e: HTTPError) -> None:
        body = json.dumps({"message": e.message}).encode() + b"\n"
        if req is None or self.answered:
            if not self.answered:  # the head itself was bad: answered, then closed
                self.keep = False
                self.write(
                    f"HTTP/1.1 {e.status} {REASONS.get(e.status, 'Error')}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
            return
        req.send(e.status, body, "application/json")

    def close(self) -> None:
        try:
            self.rfile.close()
        finally:
            self.sock.close()


API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
MAX_API_VERSION = (1, 47)  # the newest prefix accepted
SERVER = "Docker/24.0.0-ketch (linux)"
