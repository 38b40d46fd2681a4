"""The registry's routes: `Registry` reads requests off a connection
(`handle`), dispatches them, and answers the distribution API's blob,
upload, manifest, tag, catalog and referrer routes and Docker Hub's search."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from ...models import media
from .auth import Auth
from .http import _BROKEN, _PENDING, _REASONS, ANONYMOUS, BadRequest, Deadline, Error, Exchange, Limits, read_head
from .storage import (
    MANIFEST_TYPES,
    MAX_MANIFEST,
    Storage,
    _digest_error,
    _digest_of,
    _slurp,
    references,
    valid_digest,
    valid_name,
    valid_tag,
)


class Registry(Auth):
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
        super().__init__(root, htpasswd, mode, access)
        self.rate = 0.0  # requests per second per client address; 0: no limit
        self._buckets: dict[str, tuple[float, float]] = {}
        self.connections = 0

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

    def _check_ref(self, ref: str, method: str = "PUT") -> None:
        """A manifest reference is a digest or a tag, checked before any path is made of it.
        A digest-shaped reference that is malformed is DIGEST_INVALID (400). Any other
        reference that is not a valid tag: a PUT is TAG_INVALID (400), the spec's code for a
        push; a read or delete of one asks for a manifest that cannot exist, and the
        distribution-spec (its conformance suite's `.INVALID_MANIFEST_NAME`) wants
        404 MANIFEST_UNKNOWN for that."""
        if valid_digest(ref):
            return
        if ":" in ref:
            raise _digest_error(ref)
        if not valid_tag(ref):
            if method != "PUT":
                raise Error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"tag": ref[:200]})
            raise Error(400, "TAG_INVALID", "manifest tag did not match URI", {"tag": ref[:200]})

    def _resolve(self, name: str, ref: str) -> str:
        self._check_ref(ref, "GET")
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
        if x.method not in ("GET", "HEAD", "DELETE", "PUT"):
            raise Error(405, "UNSUPPORTED", "the operation is unsupported")
        self._check_ref(ref, x.method)
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
