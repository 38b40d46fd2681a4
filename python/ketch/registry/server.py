"""`ketch registry serve`: an OCI distribution registry (pull, push,
content discovery, content management) on asyncio streams.

Why no framework, and why no HTTP library (h11 was weighed): the server
speaks a small, fixed set of routes; blob bodies go out with
`loop.sendfile` (os.sendfile: no copy through Python) and come in in the
transport's own reads, hashed once at the end by the Rust sha256. h11
would put every body byte through its Python receive buffer and every
response through its writer (no sendfile without bypassing its state
machine), for a parser whose surface here is four things: the request
line, the fields, Content-Length and chunked framing. That parser is
written strictly to RFC 9112 instead (see `read_head` and
`Exchange.read_into`; the malformed cases of the RFC are tests), and
every request is bounded: the head in size, field count and time, the
body in size and in time between reads. Credentials are decided before a
body is read.

Storage (a filesystem backend; an object store would implement the same
few calls): `blobs/sha256/<hex>`, uploads under `_uploads/<uuid>`, and per
repository `repositories/<name>/` with `_layers/<digest>` (a blob is
visible to a repository only once linked), `_manifests/revisions/<digest>`
(its media type), `_manifests/tags/<tag>` and `_referrers/<subject>/<digest>`.
Every blob is verified against its digest before it becomes visible, and
no name, tag or digest becomes part of a path before it matched its
grammar (`fullmatch`: `$` would let a trailing newline through).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import urllib.parse
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..models import media

# The distribution spec's grammar (used with fullmatch only).
NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME = 255
MAX_MANIFEST = 4 << 20
MANIFEST_TYPES = {*media.MANIFEST_TYPES, *media.INDEX_TYPES}


def valid_digest(d: object) -> bool:
    return isinstance(d, str) and DIGEST.fullmatch(d) is not None


def valid_name(n: object) -> bool:
    return isinstance(n, str) and len(n) <= MAX_NAME and NAME.fullmatch(n) is not None


def valid_tag(t: object) -> bool:
    return isinstance(t, str) and TAG.fullmatch(t) is not None


class Error(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def _digest_error(d: object) -> Error:
    return Error(400, "DIGEST_INVALID", "invalid digest", {"digest": str(d)[:200]})


class Storage:
    """The filesystem backend. Every name and digest is checked against its
    grammar here too, whatever the caller checked: these become paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = str(root)
        for d in ("blobs/sha256", "_uploads", "repositories"):
            (root / d).mkdir(parents=True, exist_ok=True)

    def blob_file(self, digest: str) -> str:
        """The blob's path, as a string: the routes a client hits all day
        (manifest and blob GETs) build theirs without pathlib (~1 us a join)."""
        if not valid_digest(digest):
            raise _digest_error(digest)
        return f"{self.base}/blobs/sha256/{digest[7:]}"

    def repo_dir(self, name: str) -> str:
        if not valid_name(name):
            raise Error(400, "NAME_INVALID", "invalid repository name", {"name": str(name)[:300]})
        return f"{self.base}/repositories/{name}"

    def blob(self, digest: str) -> Path:
        return Path(self.blob_file(digest))

    def repo(self, name: str) -> Path:
        return Path(self.repo_dir(name))

    def linked(self, name: str, digest: str) -> bool:
        blob = self.blob_file(digest)  # validates, before the digest names the link
        return os.path.exists(f"{self.repo_dir(name)}/_layers/{digest}") and os.path.exists(blob)

    def link(self, name: str, digest: str) -> None:
        self.blob_file(digest)  # validates
        d = self.repo(name) / "_layers"
        d.mkdir(parents=True, exist_ok=True)
        (d / digest).touch()

    def adopt(self, tmp: Path, digest: str) -> None:
        """A verified file becomes the blob (atomically)."""
        os.replace(tmp, self.blob(digest))

    def describe(self, name: str, description: str | None, stars: int | None, official: bool) -> None:
        """Search metadata kept by the operator."""
        self.repo(name)  # validates
        meta = self.root / "_meta"
        meta.mkdir(exist_ok=True)
        f = meta / (name.replace("/", "%2F") + ".json")
        cur = json.loads(f.read_text()) if f.exists() else {}
        if description is not None:
            cur["description"] = description
        if stars is not None:
            cur["star_count"] = stars
        cur["is_official"] = official or cur.get("is_official", False)
        f.write_text(json.dumps(cur))

    def meta(self, name: str) -> dict[str, Any]:
        f = self.root / "_meta" / (name.replace("/", "%2F") + ".json")
        try:
            return dict(json.loads(f.read_text()))
        except (OSError, ValueError, TypeError):
            return {}

    def repositories(self) -> list[str]:
        return sorted(
            str(p.parent.parent.relative_to(self.root / "repositories"))
            for p in (self.root / "repositories").glob("**/_manifests/revisions")
        )

    def gc(self, upload_age: float = 24 * 3600) -> tuple[int, int]:
        """Blobs no manifest of any repository references go; so do uploads
        untouched for `upload_age` seconds. (Run it while nothing pushes.)"""
        import time

        keep: set[str] = set()
        for rev in (self.root / "repositories").glob("**/_manifests/revisions/*"):
            if not valid_digest(rev.name):
                continue
            keep.add(rev.name)
            try:
                doc = json.loads(self.blob(rev.name).read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict):  # whatever it names that is a digest stays (leniently: this deletes)
                descs: list[Any] = [doc.get("config"), doc.get("subject")]
                for k in ("layers", "manifests"):
                    if isinstance(doc.get(k), list):
                        descs += doc[k]
                keep.update(d["digest"] for d in descs if isinstance(d, dict) and valid_digest(d.get("digest")))
        removed = 0
        for b in (self.root / "blobs" / "sha256").iterdir():
            if f"sha256:{b.name}" not in keep:
                b.unlink()
                removed += 1
        for link in (self.root / "repositories").glob("**/_layers/*"):
            if link.name not in keep:
                link.unlink()
        stale = 0
        now = time.time()
        for u in (self.root / "_uploads").iterdir():
            if now - u.stat().st_mtime > upload_age:
                u.unlink()
                stale += 1
        return removed, stale

    def upload(self, uid: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", uid):
            raise Error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        return self.root / "_uploads" / uid


def references(doc: object) -> list[tuple[str, str]]:
    """What a manifest names, as (digest, "blob" or "manifest"), each digest
    checked before anyone makes a path of it: an index names manifests, an
    image manifest its config and layers. A malformed one is MANIFEST_INVALID."""

    def bad(why: str, detail: Any = None) -> Error:
        return Error(400, "MANIFEST_INVALID", f"manifest invalid: {why}", detail)

    def digest_of(desc: object, where: str) -> str:
        if not isinstance(desc, dict):
            raise bad(f"{where} is not a descriptor")
        d = desc.get("digest")
        if not valid_digest(d):
            raise bad(f"{where} has an invalid digest", {"digest": str(d)[:200]})
        return str(d)

    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    if "manifests" in doc:
        ms = doc["manifests"]
        if not isinstance(ms, list):
            raise bad("manifests is not a list")
        return [(digest_of(m, f"manifests[{i}]"), "manifest") for i, m in enumerate(ms)]
    layers = doc.get("layers", [])
    if not isinstance(layers, list):
        raise bad("layers is not a list")
    named = [(digest_of(doc.get("config"), "config"), "blob")]
    return named + [(digest_of(x, f"layers[{i}]"), "blob") for i, x in enumerate(layers)]


def _slurp(path: str, limit: int) -> bytes:
    """A small file's bytes, at most `limit` of them, in four system calls
    (Path.read_bytes costs several microseconds more: an io object, a buffer)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, min(os.fstat(fd).st_size, limit))
    finally:
        os.close(fd)


def _digest_of(path: Path) -> str:
    from .. import _native

    return _native.sha256_file(path)[0]


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


class _Verified:
    """Credentials bcrypt said yes to, for `ttl` seconds, at most `size` of
    them. Keyed by an HMAC (a per-server secret) of the whole "user:password"
    (a user name cannot hold ':'), so a wrong password is never a hit and no
    password is kept; only a successful check is stored."""

    def __init__(self, secret: bytes, ttl: float = 300.0, size: int = 1024) -> None:
        self.secret, self.ttl, self.size = secret, ttl, size
        self.ok: OrderedDict[bytes, float] = OrderedDict()

    def key(self, raw: bytes) -> bytes:
        import hmac

        return hmac.new(self.secret, raw, hashlib.sha256).digest()

    def hit(self, key: bytes, now: float) -> bool:
        until = self.ok.get(key)
        if until is None:
            return False
        if until < now:
            del self.ok[key]
            return False
        self.ok.move_to_end(key)
        return True

    def add(self, key: bytes, now: float) -> None:
        self.ok[key] = now + self.ttl
        self.ok.move_to_end(key)
        while len(self.ok) > self.size:
            self.ok.popitem(last=False)


def _checkpw(pw: bytes, hashed: bytes) -> bool:
    import bcrypt

    try:
        # htpasswd writes $2y$ (the same algorithm); bcrypt looks at 72 bytes at most, as apache's does
        return bool(bcrypt.checkpw(pw[:72], hashed.replace(b"$2y$", b"$2b$", 1)))
    except ValueError:  # a malformed hash in the htpasswd file
        return False


class Registry:
    """Auth modes: open (nothing given), `basic` (an htpasswd file), and
    `token` (Docker Hub's flow: a 401 names this server's /token endpoint,
    which checks the htpasswd user and issues a signed, expiring token
    scoped to repository:NAME:ACTIONS). Access rules (a JSON file of
    repository patterns -> users allowed to pull and to push; `*` is
    anyone, anonymous too) decide what each user may do; a repository a
    user may not pull is left out of the catalog and answers as unknown."""

    def __init__(
        self, root: Path, htpasswd: str | None = None, mode: str = "basic", access: str | None = None,
        limits: Limits | None = None,
    ) -> None:  # fmt: skip
        self.store = Storage(root)
        self.limits = limits or Limits()
        self.users: dict[str, bytes] = {}
        if htpasswd:
            for line in Path(htpasswd).read_text().splitlines():
                user, sep, hashed = line.strip().partition(":")
                if sep and user:
                    self.users[user] = hashed.encode()
        self.mode = mode if (self.users or access) else "open"
        self.rules: list[tuple[str, dict[str, list[str]]]] = []
        if access:
            data = json.loads(Path(access).read_text())
            self.rules = [(pat, rule) for pat, rule in (data.get("repositories") or {}).items()]
        secret = root / "_token_secret"
        if not secret.exists():
            secret.write_bytes(os.urandom(32))
            secret.chmod(0o600)
        self.secret = secret.read_bytes()
        self.scheme = "http"  # https once serve() has a TLS context
        self.rate = 0.0  # requests per second per client address; 0: no limit
        self._buckets: dict[str, tuple[float, float]] = {}
        self.connections = 0
        self._verified = _Verified(self.secret)
        self._checking: dict[bytes, asyncio.Future[bool]] = {}
        self._bcrypt: Any = None  # the executor bcrypt runs on, made on first use

    def _admit(self, w: asyncio.StreamWriter) -> bool:
        """A token bucket per client address (`--rate`), a second's worth deep."""
        import time

        peer = (w.get_extra_info("peername") or ("?",))[0]
        now = time.monotonic()
        if len(self._buckets) > 10000:  # forget the addresses whose bucket has refilled
            self._buckets = {p: b for p, b in self._buckets.items() if b[0] + (now - b[1]) * self.rate < self.rate}
        tokens, last = self._buckets.get(peer, (self.rate, now))
        tokens = min(self.rate, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[peer] = (tokens, now)
            return False
        self._buckets[peer] = (tokens - 1, now)
        return True

    # -- who, and what they may do ------------------------------------------------

    async def _basic_user(self, cred: str) -> str | None:
        """The user whose Basic credentials these are, or None. bcrypt (~250 ms
        at cost 12) runs off the event loop, on two threads of its own (a
        flood of wrong passwords cannot take the threads uploads hash on),
        once per credentials at a time, and a success is remembered for a
        while (`_Verified`): a client's every request does not pay it."""
        import base64
        import time

        try:
            raw = base64.b64decode(cred, validate=True)
            user, sep, pw = raw.decode().partition(":")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return None
        hashed = self.users.get(user)
        if hashed is None or not sep:
            return None
        key = self._verified.key(raw)
        if self._verified.hit(key, time.monotonic()):
            return user
        fut = self._checking.get(key)
        if fut is None:
            if self._bcrypt is None:
                from concurrent.futures import ThreadPoolExecutor

                self._bcrypt = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ketch-bcrypt")
            fut = asyncio.get_running_loop().run_in_executor(self._bcrypt, _checkpw, pw.encode(), hashed)
            self._checking[key] = fut

            def done(f: asyncio.Future[bool]) -> None:
                self._checking.pop(key, None)
                if not f.cancelled() and f.exception() is None and f.result():
                    self._verified.add(key, time.monotonic())

            fut.add_done_callback(done)
        # shielded: one client going away does not cancel the check others wait for
        return user if await asyncio.shield(fut) else None

    def allowed(self, user: str, repo: str, action: str) -> bool:
        """Access rules: the first pattern that matches the repository decides;
        without rules, any authenticated user (or anyone, when open) may do anything."""
        import fnmatch

        for pat, rule in self.rules:
            if fnmatch.fnmatchcase(repo, pat):
                who = rule.get(action) or []
                return "*" in who or (user != ANONYMOUS and (user in who or "+" in who))
        return self.mode == "open" or user != ANONYMOUS

    async def identify(self, headers: dict[str, str]) -> tuple[str, set[tuple[str, str]] | None]:
        """(user, token grants: (repo, action) pairs, or None outside token mode)."""
        scheme, _, cred = headers.get("authorization", "").partition(" ")
        if self.mode == "token" and scheme.lower() == "bearer":
            claims = self._verify(cred.strip())
            if claims is None:
                return ANONYMOUS, set()
            try:
                grants = {
                    (a["name"], act)
                    for a in claims.get("access", [])
                    if a.get("type") == "repository"
                    for act in a["actions"]
                }
            except (KeyError, TypeError, AttributeError):
                return ANONYMOUS, set()
            return str(claims.get("sub", ANONYMOUS)), grants
        if self.mode == "basic" and scheme.lower() == "basic":
            return await self._basic_user(cred.strip()) or ANONYMOUS, None
        return ANONYMOUS, set() if self.mode == "token" else None

    def permits(self, x: Exchange, repo: str, action: str) -> bool:
        """May the client of this request do `action` on `repo`?"""
        if x.grants is not None:
            return (repo, action) in x.grants
        return self.allowed(x.user, repo, action)

    def challenge(self, host: str, repo: str | None, action: str) -> dict[str, str]:
        if self.mode == "token":
            scope = f',scope="repository:{repo}:{"pull,push" if action == "push" else "pull"}"' if repo else ""
            realm = f"{self.scheme}://{host}/token"
            return {"WWW-Authenticate": f'Bearer realm="{realm}",service="ketch-registry"{scope}'}
        return {"WWW-Authenticate": 'Basic realm="ketch-registry"'}

    # -- tokens (HS256 JWTs) ---------------------------------------------------------

    def _sign(self, claims: dict[str, Any]) -> str:
        import base64
        import hmac

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64(json.dumps(claims).encode())
        sig = hmac.new(self.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64(sig)}"

    def _verify(self, token: str) -> dict[str, Any] | None:
        import base64
        import hmac
        import time

        try:
            head, body, sig = token.split(".")
            want = hmac.new(self.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            got = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
            if not hmac.compare_digest(want, got):
                return None
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            if claims.get("aud") != "ketch-registry" or float(claims.get("exp", 0)) < time.time():
                return None
        except (ValueError, TypeError, AttributeError):
            return None
        return dict(claims)

    async def token(self, x: Exchange, q: dict[str, str]) -> None:
        """The token endpoint: Basic credentials (or none: anonymous), the
        scopes asked for cut down to what the access rules allow."""
        import time

        scheme, _, cred = x.headers.get("authorization", "").partition(" ")
        user = ANONYMOUS
        if scheme.lower() == "basic":
            found = await self._basic_user(cred.strip())
            if found is None:
                raise Error(401, "UNAUTHORIZED", "invalid username or password")
            user = found
        access = []
        for scope in q.get("scope", "").split(" "):
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository" and valid_name(parts[1]):
                granted = [a for a in parts[2].split(",") if a in ("pull", "push") and self.allowed(user, parts[1], a)]
                access.append({"type": "repository", "name": parts[1], "actions": granted})
        now = int(time.time())
        tok = self._sign(
            {
                "iss": "ketch-registry",
                "sub": user,
                "aud": "ketch-registry",
                "iat": now,
                "exp": now + 300,
                "access": access,
            }
        )
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300, "issued_at": now})
        await x.send(200, {"Content-Type": "application/json"}, body.encode())

    # -- HTTP plumbing ---------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.limits.max_connections:
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            writer.close()
            return
        self.connections += 1
        x: Exchange | None = None
        deadline = Deadline()
        try:
            while True:
                try:
                    head = await read_head(reader, self.limits, deadline)
                except BadRequest as e:
                    body = json.dumps({"errors": [{"code": "UNSUPPORTED", "message": e.why}]}).encode()
                    status = f"{e.status} {_REASONS.get(e.status, 'Error')}"
                    writer.write(
                        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                        "Connection: close\r\n\r\n".encode()
                        + body
                    )
                    await self._linger(reader, writer, deadline)
                    break
                if head is None:
                    break
                x = Exchange(self, reader, writer, head, deadline)
                try:
                    await self.dispatch(x)
                except Error as e:
                    if x.answered:  # the head went out already: nothing else can be said
                        break
                    await x.error(e)
                if not x.keep:
                    if x.body in (_PENDING, _BROKEN):
                        await self._linger(reader, writer, deadline)
                    break
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception as e:  # a bug: one line, a 500 if nothing was said yet, and the connection closes
            print(f"ketch registry: {x.method if x else '?'} {x.target[:200] if x else ''}: {e!r}", file=sys.stderr)
            if x is not None and not x.answered:
                x.keep = False
                try:
                    await x.error(Error(500, "UNKNOWN", "internal error"))
                except Exception:
                    pass
        finally:
            deadline.close()
            self.connections -= 1
            writer.close()

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: Deadline) -> None:
        """Before closing on a body it did not read: the answer is sent and
        the sending side shut, then what still arrives is dropped for a
        moment, so the client reads the answer rather than a reset (RFC 9112
        9.6). Dropped a piece at a time: nothing accumulates; bounded in
        time and bytes: a client that does not listen is not worth more."""
        try:
            async with deadline(self.limits.linger):
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
                left = self.limits.linger_bytes
                while left > 0 and (piece := await reader.read(1 << 16)):
                    left -= len(piece)
        except (TimeoutError, ConnectionError, OSError):
            pass

    # -- routes ----------------------------------------------------------------

    async def dispatch(self, x: Exchange) -> None:
        u = urllib.parse.urlsplit(x.target)
        q = dict(urllib.parse.parse_qsl(u.query))
        path = urllib.parse.unquote(u.path)
        sock = x.writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        host = x.headers.get("host") or f"{sock[0]}:{sock[1]}"
        if self.rate and not self._admit(x.writer):
            body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "too many requests"}]}).encode()
            return await x.send(429, {"Content-Type": "application/json", "Retry-After": "1"}, body)
        if path == "/token" and self.mode == "token":
            return await self.token(x, q)
        # The repository's name is checked before anything else sees it (auth, paths, headers).
        m = re.fullmatch(r"/v2/(.+)/(blobs|manifests|tags|referrers)/(.*)", path, re.DOTALL)
        if m and not valid_name(m.group(1)):
            raise Error(400, "NAME_INVALID", "invalid repository name", {"name": m.group(1)[:300]})
        x.user, x.grants = await self.identify(x.headers)
        if path in ("/v2", "/v2/"):
            if self.mode != "open" and x.user == ANONYMOUS and not self.rules:
                return await self._deny(x, 401, self.challenge(host, None, "pull"))
            return await x.send(200, {"Content-Type": "application/json"}, b"{}")
        if path == "/v2/_catalog":
            names = [
                n
                for n in self.store.repositories()
                if valid_name(n) and (self.permits(x, n, "pull") or self.allowed(x.user, n, "pull"))
            ]
            return await self.page(x, q, "repositories", names, {}, "/v2/_catalog")
        if path == "/v1/search":
            return await self.search(x, q, lambda n: valid_name(n) and self.allowed(x.user, n, "pull"))
        if not m:
            raise Error(404, "NOT_FOUND", "no such route")
        name, kind, rest = m.groups()
        if self.mode != "open":
            action = "pull" if x.method in ("GET", "HEAD") else "push"
            if not self.permits(x, name, action):
                status = 401 if x.user == ANONYMOUS or self.mode == "token" else 403
                return await self._deny(x, status, self.challenge(host, name, action))
        if kind == "tags" and rest == "list":
            tags_dir = self.store.repo(name) / "_manifests" / "tags"
            if not (self.store.repo(name) / "_manifests").exists():
                raise Error(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": name})
            tags = sorted(p.name for p in tags_dir.iterdir()) if tags_dir.exists() else []
            return await self.page(x, q, "tags", tags, {"name": name}, f"/v2/{name}/tags/list")
        if kind == "blobs" and (rest == "uploads" or rest.startswith("uploads/")):
            return await self.uploads(x, name, rest[len("uploads") :].strip("/"), q)
        if kind == "blobs":
            return await self.blob(x, name, rest)
        if kind == "manifests":
            return await self.manifest(x, name, rest)
        if kind == "referrers":
            return await self.referrers(x, name, rest, q)
        raise Error(404, "NOT_FOUND", "no such route")

    async def _deny(self, x: Exchange, status: int, challenge: dict[str, str]) -> None:
        """401/403, answered before any body is read (one not read closes the connection)."""
        code, msg = (
            ("UNAUTHORIZED", "authentication required")
            if status == 401
            else ("DENIED", "requested access to the resource is denied")
        )
        body = json.dumps({"errors": [{"code": code, "message": msg}]}).encode()
        await x.send(status, {"Content-Type": "application/json", **challenge}, body)

    def _count(self, q: dict[str, str], key: str, default: int) -> int:
        v = q.get(key)
        if v is None or v == "":
            return default
        if not re.fullmatch(r"[0-9]{1,9}", v):
            raise Error(400, "PAGINATION_NUMBER_INVALID", f"invalid {key}", {key: v[:50]})
        return int(v)

    async def search(self, x: Exchange, q: dict[str, str], visible: Any) -> None:
        """Docker Hub's /v1/search: repositories whose name or description holds the query."""
        term = q.get("q", "").lower()
        n = max(1, min(self._count(q, "n", 25), 100))
        page = max(1, self._count(q, "page", 1))
        hits: list[dict[str, Any]] = []
        for name in filter(visible, self.store.repositories()):
            m = self.store.meta(name)
            if term in name.lower() or term in str(m.get("description", "")).lower():
                try:
                    stars = int(m.get("star_count", 0))
                except (TypeError, ValueError):
                    stars = 0
                hits.append(
                    {
                        "name": name,
                        "description": str(m.get("description", "")),
                        "star_count": stars,
                        "is_official": bool(m.get("is_official", False)),
                        "is_automated": False,
                    }
                )
        hits.sort(key=lambda h: (-h["star_count"], h["name"]))
        body = {
            "num_pages": max(1, -(-len(hits) // n)),
            "num_results": len(hits),
            "page": page,
            "page_size": n,
            "query": q.get("q", ""),
            "results": hits[(page - 1) * n : page * n],
        }
        await x.send(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    async def page(
        self, x: Exchange, q: dict[str, str], key: str, items: list[str], extra: dict[str, str], base: str
    ) -> None:
        """`n` and `last` pagination with a Link header to the next page."""
        if "last" in q:
            items = [i for i in items if i > q["last"]]
        headers = {"Content-Type": "application/json"}
        if q.get("n"):
            n = self._count(q, "n", 0)
            if 0 < n < len(items):
                headers["Link"] = f'<{base}?n={n}&last={urllib.parse.quote(items[n - 1])}>; rel="next"'
            items = items[:n]
        await x.send(200, headers, json.dumps({**extra, key: items}).encode())

    async def blob(self, x: Exchange, name: str, digest: str) -> None:
        if not valid_digest(digest):
            raise _digest_error(digest)
        if x.method == "DELETE":
            if not self.store.linked(name, digest):
                raise Error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
            (self.store.repo(name) / "_layers" / digest).unlink()
            return await x.send(202, {})
        if x.method not in ("GET", "HEAD"):
            raise Error(405, "UNSUPPORTED", "the operation is unsupported")
        if not self.store.linked(name, digest):
            raise Error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        try:
            f = open(self.store.blob_file(digest), "rb")  # noqa: SIM115 (closed below, after the await)
        except FileNotFoundError:
            raise Error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest}) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            start, end, status = 0, size - 1, 200
            mm = re.fullmatch(r"bytes=(\d{1,18})-(\d{0,18})", x.headers.get("range", ""))
            if mm:
                start = int(mm.group(1))
                end = min(int(mm.group(2)) if mm.group(2) else size - 1, size - 1)
                if start > end:
                    raise Error(416, "BLOB_UNKNOWN", "requested range not satisfiable")
                status = 206
            h = {
                "Content-Type": "application/octet-stream",
                "Docker-Content-Digest": digest,
                "Content-Length": str(end - start + 1),
                "Accept-Ranges": "bytes",
            }
            if status == 206:
                h["Content-Range"] = f"bytes {start}-{end}/{size}"
            await x.write_head(status, h)
            await x.drain()
            if x.method == "GET":
                # In pieces, each to be sent within the timeout (a client that stops
                # reading is let go), sized to a quarter of it at the rate the last
                # one went: a fast client gets the blob in two calls, a slow one in
                # pieces it can take in time.
                loop = asyncio.get_running_loop()
                offset, left, piece = start, end - start + 1, 8 << 20
                while left > 0:
                    n = min(left, piece)
                    t0 = loop.time()
                    try:
                        async with x.deadline(self.limits.timeout):
                            await loop.sendfile(x.writer.transport, f, offset, n)
                    except TimeoutError:
                        raise ConnectionError("the client stopped reading") from None
                    rate = n / max(loop.time() - t0, 1e-3)
                    piece = int(min(1 << 30, max(1 << 20, rate * self.limits.timeout / 4)))
                    offset += n
                    left -= n

    async def uploads(self, x: Exchange, name: str, uid: str, q: dict[str, str]) -> None:
        st = self.store
        if "digest" in q and not valid_digest(q["digest"]):
            raise _digest_error(q["digest"])
        if x.method == "POST" and not uid:
            mount, source = q.get("mount"), q.get("from")
            if mount is not None and not valid_digest(mount):
                raise _digest_error(mount)
            if source is not None and not valid_name(source):
                raise Error(400, "NAME_INVALID", "invalid repository name", {"name": source[:300]})
            # A mount needs the right to pull the source (a 202 otherwise, as when the
            # source lacks the blob: the answer says nothing of a repository one may not read).
            if mount and source and self.permits(x, source, "pull") and st.linked(source, mount):
                st.link(name, mount)
                loc = f"/v2/{name}/blobs/{mount}"
                return await x.send(201, {"Location": loc, "Docker-Content-Digest": mount})
            new = uuid.uuid4().hex
            path = st.upload(new)
            if "digest" not in q:
                path.touch()
                return await x.send(202, self._upload_headers(name, new, 0))
            try:  # a single POST with the whole blob
                with open(path, "wb") as f:
                    await x.read_into(f, self.limits.max_blob)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            return await self.finish(x, name, new, q["digest"])
        path = st.upload(uid)
        if not path.exists():
            raise Error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {"uuid": uid})
        size = path.stat().st_size
        if x.method == "GET":
            return await x.send(204, self._upload_headers(name, uid, size))
        if x.method == "DELETE":
            path.unlink()
            return await x.send(204, {})
        if x.method not in ("PATCH", "PUT"):
            raise Error(405, "UNSUPPORTED", "the operation is unsupported")
        if x.method == "PUT" and "digest" not in q:
            raise Error(400, "DIGEST_INVALID", "digest missing")
        cr = x.headers.get("content-range")
        if cr and x.method == "PATCH":
            mm = re.fullmatch(r"(?:bytes )?(\d{1,18})-(\d{1,18})", cr)
            if not mm or int(mm.group(1)) != size:
                raise Error(416, "BLOB_UPLOAD_INVALID", "chunk out of order", {"expected": size})
        with open(path, "ab") as f:
            try:
                await x.read_into(f, max(0, self.limits.max_blob - size))
            except BaseException:
                f.truncate(size)  # the upload is as it was before this request
                raise
        if x.method == "PATCH":
            return await x.send(202, self._upload_headers(name, uid, path.stat().st_size))
        return await self.finish(x, name, uid, q["digest"])

    def _upload_headers(self, name: str, uid: str, size: int) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{uid}",
            "Range": f"0-{max(size - 1, 0)}",
            "Docker-Upload-UUID": uid,
        }

    async def finish(self, x: Exchange, name: str, uid: str, digest: str) -> None:
        """Verified, then visible: the upload becomes the blob only if its content has the digest."""
        path = self.store.upload(uid)
        if not valid_digest(digest):
            path.unlink(missing_ok=True)
            raise _digest_error(digest)
        actual = await asyncio.to_thread(_digest_of, path)
        if actual != digest:
            path.unlink(missing_ok=True)
            raise Error(400, "DIGEST_INVALID", "provided digest did not match uploaded content", {"digest": digest})
        self.store.adopt(path, digest)
        self.store.link(name, digest)
        loc = f"/v2/{name}/blobs/{digest}"
        await x.send(201, {"Location": loc, "Docker-Content-Digest": digest})

    def _check_ref(self, ref: str) -> None:
        """A manifest reference is a digest or a tag, checked before any path is made of it."""
        if valid_digest(ref):
            return
        if ":" in ref:
            raise _digest_error(ref)
        if not valid_tag(ref):
            raise Error(400, "TAG_INVALID", "manifest tag did not match URI", {"tag": ref[:200]})

    def _resolve(self, name: str, ref: str) -> str:
        self._check_ref(ref)
        repo = self.store.repo_dir(name)
        if valid_digest(ref):
            if not os.path.exists(f"{repo}/_manifests/revisions/{ref}"):
                raise Error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"digest": ref})
            return ref
        try:
            digest = _slurp(f"{repo}/_manifests/tags/{ref}", 4096).decode("ascii", "replace").strip()
        except FileNotFoundError:
            raise Error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"tag": ref}) from None
        if not valid_digest(digest):
            raise Error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"tag": ref})
        return digest

    async def manifest(self, x: Exchange, name: str, ref: str) -> None:
        repo = self.store.repo(name)
        self._check_ref(ref)
        if x.method in ("GET", "HEAD"):
            digest = self._resolve(name, ref)
            try:
                media = _slurp(f"{self.store.repo_dir(name)}/_manifests/revisions/{digest}", 4096).decode().strip()
                body = _slurp(self.store.blob_file(digest), MAX_MANIFEST)
            except FileNotFoundError:
                raise Error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"digest": digest}) from None
            h = {"Content-Type": media, "Docker-Content-Digest": digest}
            return await x.send(200, h, body)
        if x.method == "DELETE":
            if valid_digest(ref):
                self._resolve(name, ref)
                (repo / "_manifests" / "revisions" / ref).unlink()
                for t in list((repo / "_manifests" / "tags").glob("*")):
                    if t.read_text().strip() == ref:
                        t.unlink()
            else:
                self._resolve(name, ref)
                (repo / "_manifests" / "tags" / ref).unlink()
            return await x.send(202, {})
        if x.method != "PUT":
            raise Error(405, "UNSUPPORTED", "the operation is unsupported")
        if (x.length or 0) > MAX_MANIFEST:
            raise Error(413, "SIZE_INVALID", f"manifest larger than {MAX_MANIFEST} bytes")
        buf = bytearray()

        class Collect:
            def write(self, data: bytes) -> None:
                buf.extend(data)

        try:
            await x.read_into(Collect(), MAX_MANIFEST)
        except Error as e:
            if e.status == 413:
                raise Error(413, "SIZE_INVALID", f"manifest larger than {MAX_MANIFEST} bytes") from None
            raise
        body = bytes(buf)
        media = x.headers.get("content-type", "").split(";")[0].strip()
        try:
            doc = json.loads(body)
        except ValueError:
            raise Error(400, "MANIFEST_INVALID", "manifest invalid: not JSON") from None
        if not isinstance(doc, dict):
            raise Error(400, "MANIFEST_INVALID", "manifest invalid: not a JSON object")
        declared = doc.get("mediaType")
        if declared is not None and not isinstance(declared, str):
            raise Error(400, "MANIFEST_INVALID", "manifest invalid: mediaType is not a string")
        media = media or declared or ""
        if media not in MANIFEST_TYPES or (declared and declared != media):
            raise Error(400, "MANIFEST_INVALID", f"manifest invalid: media type {media[:100]!r}")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if valid_digest(ref) and ref != digest:
            raise Error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        named = references(doc)  # every digest checked before it names a path
        subject = doc.get("subject")
        if subject is not None and not (isinstance(subject, dict) and valid_digest(subject.get("digest"))):
            raise Error(400, "MANIFEST_INVALID", "manifest invalid: subject is not a descriptor")
        # every blob (or, for an index, every manifest) it names must be here first
        missing = [
            d
            for d, kind in named
            if not (
                (repo / "_manifests" / "revisions" / d).exists() if kind == "manifest" else self.store.linked(name, d)
            )
        ]
        if missing:
            raise Error(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", {"digest": missing[0]})
        tmp = self.store.upload(uuid.uuid4().hex)
        tmp.write_bytes(body)
        self.store.adopt(tmp, digest)
        self.store.link(name, digest)
        rev = repo / "_manifests" / "revisions"
        rev.mkdir(parents=True, exist_ok=True)
        (rev / digest).write_text(media)
        if not valid_digest(ref):
            tags = repo / "_manifests" / "tags"
            tags.mkdir(parents=True, exist_ok=True)
            (tags / ref).write_text(digest)
        h = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
        if isinstance(subject, dict):
            d = repo / "_referrers" / subject["digest"]
            d.mkdir(parents=True, exist_ok=True)
            config = doc.get("config")
            artifact = doc.get("artifactType") or (config.get("mediaType", "") if isinstance(config, dict) else "")
            desc = {
                "mediaType": media,
                "digest": digest,
                "size": len(body),
                "artifactType": artifact,
                "annotations": doc.get("annotations") or {},
            }
            (d / digest).write_text(json.dumps(desc))
            h["OCI-Subject"] = subject["digest"]
        await x.send(201, h)

    async def referrers(self, x: Exchange, name: str, digest: str, q: dict[str, str]) -> None:
        if not valid_digest(digest):
            raise _digest_error(digest)
        d = self.store.repo(name) / "_referrers" / digest
        descs = [json.loads(p.read_text()) for p in sorted(d.iterdir())] if d.exists() else []
        h = {"Content-Type": media.OCI_INDEX}
        if "artifactType" in q:
            descs = [i for i in descs if i.get("artifactType") == q["artifactType"]]
            h["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": descs}
        await x.send(200, h, json.dumps(body).encode())


async def serve(
    addr: str,
    root: Path,
    ready: Any = None,
    htpasswd: str | None = None,
    tls: tuple[str, str] | None = None,
    auth: str = "basic",
    access: str | None = None,
    upload_ttl: float = 3600.0,
    rate: float = 0.0,
    limits: Limits | None = None,
) -> None:
    import resource

    host, _, port = addr.rpartition(":")
    root.mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = limits.max_connections + 64  # a descriptor per connection, and the files a request opens
    if soft < want and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    reg = Registry(root, htpasswd, auth, access, limits)
    reg.rate = rate
    ctx = None
    if tls:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
    reg.scheme = "https" if ctx else "http"
    # The stream's limit bounds one head line (and what is buffered per
    # connection); bodies are read in what the transport delivers.
    server = await asyncio.start_server(
        reg.handle, host or "127.0.0.1", int(port), limit=limits.max_head, ssl=ctx,
        ssl_handshake_timeout=limits.timeout if ctx else None, backlog=1024,
    )  # fmt: skip

    async def expire() -> None:
        """Abandoned upload sessions go after `upload_ttl` seconds untouched."""
        import time

        while True:
            await asyncio.sleep(max(0.5, min(upload_ttl / 2, 600)))
            now = time.time()
            for u in list((root / "_uploads").iterdir()):
                try:
                    if now - u.stat().st_mtime > upload_ttl:
                        u.unlink()
                except FileNotFoundError:
                    pass

    expiry = asyncio.create_task(expire())
    bound = server.sockets[0].getsockname()
    if ready is not None:
        ready(f"{bound[0]}:{bound[1]}")
    async with server:
        try:
            await server.serve_forever()
        finally:
            expiry.cancel()
            if reg._bcrypt is not None:
                reg._bcrypt.shutdown(wait=False, cancel_futures=True)


def run(addr: str, root: Path, **options: Any) -> None:
    """Serves until interrupted; `options` are serve()'s (htpasswd, tls, auth, access, upload_ttl, rate, limits)."""

    def ready(where: str) -> None:
        print(f"ketch registry listening on {where}, storing in {root}", file=sys.stderr, flush=True)

    try:
        asyncio.run(serve(addr, root, ready, **options))
    except KeyboardInterrupt:
        pass
