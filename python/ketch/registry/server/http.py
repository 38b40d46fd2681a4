"""The HTTP/1.1 side of the embedded registry, written strictly to RFC 9112
(why no HTTP library: see the package's docstring): a request's head read
and bounded (`read_head`), its body read only when a route asks for it
(`Exchange`), one timer per connection for every wait (`Deadline`)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .routes import Registry


class Error(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


ANONYMOUS = ""


@dataclass
class Limits:
    """What one request may cost the server (`ketch registry serve` flags)."""

    timeout: float = 30.0  # a request's head must arrive, and each body read or write progress, within it
    max_blob: int = 32 << 30  # one blob upload, all its chunks together
    max_connections: int = 1000  # beyond: 503 and closed, before anything is read
    max_head: int = 64 << 10  # request line and fields together (431 beyond)
    max_fields: int = 100  # (431 beyond)
    max_line: int = 8 << 10  # the request line (414 beyond)
    drain: int = 64 << 10  # an unread body up to this is read and dropped to keep the connection; beyond, it closes
    linger: float = 2.0  # after answering a body it did not read: seconds to drop what still arrives,
    linger_bytes: int = 1 << 20  # and at most this much of it


# While a body streams in, a connection may buffer up to twice this (not a
# head's 2 x 64 KiB): the transport then pauses and resumes reading every
# couple of megabytes, not after every 256 KiB recv (two epoll changes and a
# loop turn each: a sixth of a push's speed). The body is being consumed as
# it arrives; a connection that fails in a body is closed.
BODY_BUFFER = 1 << 20


def _buffer(reader: asyncio.StreamReader, limit: int) -> None:
    """What the reader may hold before it pauses the transport (and the
    longest line it reads): asyncio fixes it when the connection is made and
    offers no setter; where its attribute is missing, it stays as it was."""
    if hasattr(reader, "_limit"):
        reader._limit = limit


class BadRequest(Exception):
    """The request cannot be parsed: answered without routing, then the connection closes."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


# RFC 9110 5.6.2 token; the request target as visible ASCII (RFC 9112 3.2: no whitespace)
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_HOST = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%:\[\]-]*")  # RFC 3986 host [":" port]; no quote, no space
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?")
_REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable",
    417: "Expectation Failed", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
}  # fmt: skip

_NONE, _PENDING, _DONE, _BROKEN = range(4)  # the state of a request's body


class Deadline:
    """A connection's time limit: each wait on it (a request head, a body
    read, an answer drained) ends within the time given, or raises
    TimeoutError, as `asyncio.timeout` would. One timer per connection,
    moved by storing a number: asyncio.timeout schedules and cancels one per
    wait, which cost a 256 MiB push a sixth of its speed (a timer per read)
    and every request two heap operations. The timer is re-armed only when
    it fires before the limit; waits do not nest."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.at: float | None = None  # loop time the current wait must end by; None: no wait
        self.timer: asyncio.TimerHandle | None = None
        self.expired = False
        self.cancelling = 0

    def __call__(self, seconds: float) -> Deadline:
        """`seconds` from now, for the wait about to begin (or, inside one, from now on)."""
        self.at = self.loop.time() + seconds
        if self.timer is None:
            self.timer = self.loop.call_at(self.at, self._fire)
        return self

    async def __aenter__(self) -> Deadline:
        self.cancelling = self.task.cancelling()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.at = None
        if self.expired:
            self.expired = False
            if self.task.uncancel() <= self.cancelling and kind is asyncio.CancelledError:
                raise TimeoutError from exc

    def _fire(self) -> None:
        self.timer = None
        if self.at is None:
            return
        if self.loop.time() < self.at:
            self.timer = self.loop.call_at(self.at, self._fire)
            return
        self.expired = True
        self.task.cancel()

    def close(self) -> None:
        self.at = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Head(NamedTuple):
    method: str
    target: str
    version: str
    fields: dict[str, str]
    length: int | None  # Content-Length
    chunked: bool
    expect: bool  # 100-continue


def _line(raw: bytes) -> bytes:
    """A head line without its terminator: CRLF, or a bare LF (RFC 9112 2.2
    lets a recipient accept it); any other CR is an error."""
    raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if b"\r" in raw:
        raise BadRequest(400, "a bare CR in the request head")
    return raw


async def read_head(reader: asyncio.StreamReader, limits: Limits, deadline: Deadline) -> Head | None:
    """One request's head, strictly (RFC 9112 2-7). None: the connection
    ended, or stayed idle, before a request began. The request line must
    arrive within the timeout, and the fields within the timeout after it
    (a slow client cannot hold the server by dripping them)."""
    fields: dict[str, str] = {}
    started = False
    try:
        async with deadline(limits.timeout):
            raw = await reader.readline()
            empty = 0
            while raw in (b"\r\n", b"\n") and empty < 4:  # RFC 9112 2.2: empty lines before a request are ignored
                empty += 1
                raw = await reader.readline()
            if not raw.endswith(b"\n"):
                if raw:
                    raise BadRequest(400, "the connection ended inside the request line")
                return None
            started = True
            deadline(limits.timeout)
            if len(raw) > limits.max_line:
                raise BadRequest(414, "request line too long")
            m = _REQUEST_LINE.fullmatch(_line(raw))
            if not m:
                raise BadRequest(400, "malformed request line")
            if m.group(3) != b"1":
                raise BadRequest(505, "only HTTP/1.x is spoken here")
            size, count = len(raw), 0
            while True:
                raw = await reader.readline()
                if not raw.endswith(b"\n"):
                    raise BadRequest(400, "the connection ended inside the request head")
                size += len(raw)
                if size > limits.max_head:
                    raise BadRequest(431, "request head too large")
                line = _line(raw)
                if not line:
                    break
                count += 1
                if count > limits.max_fields:
                    raise BadRequest(431, "too many header fields")
                name, colon, value = line.partition(b":")
                if not colon or not _TOKEN.fullmatch(name):
                    # RFC 9112 5.1 (no whitespace before the colon), 5.2 (no obs-fold: a line starting with SP)
                    raise BadRequest(400, "malformed header field")
                value = value.strip(b" \t")
                if _FIELD_VALUE_BAD.search(value):
                    raise BadRequest(400, "control character in a header field")
                k, v = name.decode().lower(), value.decode("latin-1")
                if k in fields:
                    if k == "host":
                        raise BadRequest(400, "more than one Host")
                    fields[k] += (", " if k != "cookie" else "; ") + v
                else:
                    fields[k] = v
    except TimeoutError:  # idle, or a request line dripped too slowly: closed without an answer
        if started:
            raise BadRequest(408, "the request head did not arrive in time") from None
        return None
    except ValueError:  # a line longer than the stream's limit
        raise BadRequest(431 if started else 414, "request head too large") from None
    method, target = m.group(1).decode(), m.group(2).decode()
    version = "HTTP/1.0" if m.group(4) == b"0" else "HTTP/1.1"
    if not (target.startswith("/") or re.match(r"https?://[^/?#]*(/|$)", target)):
        raise BadRequest(400, "request target not in origin or absolute form")
    if version == "HTTP/1.1" and "host" not in fields:
        raise BadRequest(400, "HTTP/1.1 request without Host")
    if not _HOST.fullmatch(fields.get("host", "")):
        raise BadRequest(400, "invalid Host")
    length: int | None = None
    chunked = False
    if "transfer-encoding" in fields:
        if "content-length" in fields:
            raise BadRequest(400, "both Transfer-Encoding and Content-Length")  # RFC 9112 6.1: smuggling
        if version == "HTTP/1.0":
            raise BadRequest(400, "Transfer-Encoding in an HTTP/1.0 request")
        codings = [c.strip().lower() for c in fields["transfer-encoding"].split(",")]
        if codings != ["chunked"]:
            raise BadRequest(501 if codings[-1] == "chunked" else 400, "only the chunked transfer coding is accepted")
        chunked = True
    elif "content-length" in fields:
        values = {v.strip() for v in fields["content-length"].split(",")}
        if len(values) != 1 or not re.fullmatch(r"[0-9]{1,18}", next(iter(values))):
            raise BadRequest(400, "invalid Content-Length")
        length = int(values.pop())
    expect = fields.get("expect", "").lower()
    if expect and expect != "100-continue":
        raise BadRequest(417 if version == "HTTP/1.1" else 400, "unsupported expectation")
    return Head(method, target, version, fields, length, chunked, expect == "100-continue" and version == "HTTP/1.1")


class Exchange:
    """One request and its answer: the body is read only when a route asks
    for it, bounded; an answer given without reading it keeps the
    connection only if the rest is small enough to drop."""

    def __init__(
        self, reg: Registry, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: Head, deadline: Deadline
    ) -> None:
        self.reg, self.reader, self.writer, self.deadline = reg, reader, writer, deadline
        self.method, self.target, self.version, self.headers, self.length, self.chunked, self.expect = head
        conn = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        self.keep = "keep-alive" in conn if self.version == "HTTP/1.0" else "close" not in conn
        self.body = _PENDING if (self.chunked or self.length) else _NONE
        self.answered = False
        self.user = ANONYMOUS
        self.grants: set[tuple[str, str]] | None = None

    @property
    def timeout(self) -> float:
        return self.reg.limits.timeout

    async def _read(self, n: int) -> bytes:
        try:
            async with self.deadline(self.timeout):
                return await self.reader.read(n)
        except TimeoutError:
            raise Error(408, "BLOB_UPLOAD_INVALID", "the request body stalled") from None

    async def _readline(self) -> bytes:
        try:
            async with self.deadline(self.timeout):
                raw = await self.reader.readline()
        except TimeoutError:
            raise Error(408, "BLOB_UPLOAD_INVALID", "the request body stalled") from None
        except ValueError:
            raise Error(400, "BLOB_UPLOAD_INVALID", "bad chunked encoding: line too long") from None
        if not raw.endswith(b"\n") or len(raw) > 4096:
            raise Error(400, "BLOB_UPLOAD_INVALID", "bad chunked encoding")
        try:
            return _line(raw)
        except BadRequest:
            raise Error(400, "BLOB_UPLOAD_INVALID", "bad chunked encoding: a bare CR") from None

    async def read_into(self, into: Any, limit: int) -> int:
        """The request body (Content-Length, or chunked as docker sends
        uploads) into `into` (anything with .write), at most `limit` bytes
        (413 beyond: before reading anything when the length is announced);
        its length."""
        if self.body != _PENDING:
            return 0
        if self.length is not None and self.length > limit:
            raise Error(413, "SIZE_INVALID", f"body larger than {limit} bytes")
        if self.expect:  # RFC 9110 10.1.1: only now that the request is accepted
            self.expect = False
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.body = _BROKEN  # until it has been read to its end
        total = 0
        _buffer(self.reader, BODY_BUFFER)

        async def take(n: int) -> None:
            nonlocal total
            while n:
                chunk = await self._read(min(n, 1 << 20))
                if not chunk:
                    raise Error(400, "BLOB_UPLOAD_INVALID", "the body ended early")
                total += len(chunk)
                into.write(chunk)
                n -= len(chunk)

        if self.chunked:
            while True:
                m = _CHUNK_LINE.fullmatch(await self._readline())
                if not m:
                    raise Error(400, "BLOB_UPLOAD_INVALID", "bad chunked encoding: chunk size")
                size = int(m.group(1), 16)
                if size == 0:
                    break
                if total + size > limit:
                    raise Error(413, "SIZE_INVALID", f"body larger than {limit} bytes")
                await take(size)
                end = await self._read(1)
                if end == b"\r":
                    end = await self._read(1)
                if end != b"\n":
                    raise Error(400, "BLOB_UPLOAD_INVALID", "bad chunked encoding: no CRLF after a chunk")
            trailers = 0
            while await self._readline():
                trailers += 1
                if trailers > self.reg.limits.max_fields:
                    raise Error(400, "BLOB_UPLOAD_INVALID", "too many trailer fields")
        else:
            await take(self.length or 0)
        self.body = _DONE
        _buffer(self.reader, self.reg.limits.max_head)
        return total

    async def _discard(self, n: int) -> bool:
        while n > 0:
            chunk = await self.reader.read(min(n, 1 << 16))
            if not chunk:
                return False
            n -= len(chunk)
        return True

    async def drain(self) -> None:
        """What was written goes out, within the timeout (a client that stops reading is let go)."""
        w = self.writer
        if not w.transport.get_write_buffer_size():
            return await w.drain()  # nothing queued: it cannot wait
        try:
            async with self.deadline(self.timeout):
                await w.drain()
        except TimeoutError:
            raise ConnectionError("the client stopped reading") from None

    async def send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        await self.write_head(
            status, {"Content-Length": str(len(body)), **headers}, b"" if self.method == "HEAD" else body
        )
        await self.drain()

    async def write_head(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        """The status line and fields. A body not read (an answer before it:
        401, 403, 404, 413...) is dropped here when small; otherwise the
        answer says the connection closes, and it does."""
        if self.body == _PENDING:
            small = not self.chunked and not self.expect and (self.length or 0) <= self.reg.limits.drain
            if small:
                try:
                    async with self.deadline(self.timeout):
                        ok = await self._discard(self.length or 0)
                except TimeoutError:
                    ok = False
                self.body = _DONE if ok else _BROKEN
            if self.body != _DONE:
                self.keep = False
        elif self.body == _BROKEN:
            self.keep = False
        h = {"Docker-Distribution-API-Version": "registry/2.0", **headers}
        if not self.keep:
            h["Connection"] = "close"
        elif self.version == "HTTP/1.0":
            h["Connection"] = "keep-alive"  # ab -k speaks HTTP/1.0 keep-alive: the answer must say so
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        self.answered = True
        self.writer.write(head.encode("latin-1") + b"\r\n" + body)  # one write: one send(2) for a small answer

    async def error(self, e: Error) -> None:
        body = json.dumps({"errors": [{"code": e.code, "message": e.message, "detail": e.detail}]}).encode()
        await self.send(e.status, {"Content-Type": "application/json"}, body)
