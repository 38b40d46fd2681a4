"""`ketch registry serve`: an OCI distribution registry (pull, push,
content discovery, content management) on asyncio streams.

Why no framework: the server speaks a small, fixed set of routes, and a
hand-written HTTP/1.1 loop on asyncio streams starts in ~20 ms with nothing
to install; blob bodies go out with `loop.sendfile` (os.sendfile: no copy
through Python) and come in in 1 MiB reads, hashed as they arrive.

Storage (a filesystem backend; an object store would implement the same
few calls): `blobs/sha256/<hex>`, uploads under `_uploads/<uuid>`, and per
repository `repositories/<name>/` with `_layers/<digest>` (a blob is
visible to a repository only once linked), `_manifests/revisions/<digest>`
(its media type), `_manifests/tags/<tag>` and `_referrers/<subject>/<digest>`.
Every blob is verified against its digest before it becomes visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_MANIFEST = 4 << 20
MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


class Error(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


class Storage:
    """The filesystem backend."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for d in ("blobs/sha256", "_uploads", "repositories"):
            (root / d).mkdir(parents=True, exist_ok=True)

    def blob(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def repo(self, name: str) -> Path:
        return self.root / "repositories" / name

    def linked(self, name: str, digest: str) -> bool:
        return (self.repo(name) / "_layers" / digest).exists() and self.blob(digest).exists()

    def link(self, name: str, digest: str) -> None:
        d = self.repo(name) / "_layers"
        d.mkdir(parents=True, exist_ok=True)
        (d / digest).touch()

    def adopt(self, tmp: Path, digest: str) -> None:
        """A verified file becomes the blob (atomically)."""
        os.replace(tmp, self.blob(digest))

    def describe(self, name: str, description: str | None, stars: int | None, official: bool) -> None:
        """Search metadata kept by the operator."""
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
        except (OSError, ValueError):
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
            keep.add(rev.name)
            try:
                doc = json.loads(self.blob(rev.name).read_bytes())
            except (OSError, ValueError):
                continue
            keep.add(doc.get("config", {}).get("digest", ""))
            keep.update(x.get("digest", "") for x in doc.get("layers", []))
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


def _digest_of(path: Path) -> str:
    from .. import _native

    return _native.sha256_file(path)[0]


ANONYMOUS = ""


class Registry:
    """Auth modes: open (nothing given), `basic` (an htpasswd file), and
    `token` (Docker Hub's flow: a 401 names this server's /token endpoint,
    which checks the htpasswd user and issues a signed, expiring token
    scoped to repository:NAME:ACTIONS). Access rules (a JSON file of
    repository patterns -> users allowed to pull and to push; `*` is
    anyone, anonymous too) decide what each user may do; a repository a
    user may not pull is left out of the catalog and answers as unknown."""

    def __init__(self, root: Path, htpasswd: str | None = None, mode: str = "basic", access: str | None = None) -> None:
        self.store = Storage(root)
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

    def _admit(self, w: asyncio.StreamWriter) -> bool:
        """A token bucket per client address (`--rate`), a second's worth deep."""
        import time

        peer = (w.get_extra_info("peername") or ("?",))[0]
        now = time.monotonic()
        tokens, last = self._buckets.get(peer, (self.rate, now))
        tokens = min(self.rate, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[peer] = (tokens, now)
            return False
        self._buckets[peer] = (tokens - 1, now)
        return True

    # -- who, and what they may do ------------------------------------------------

    def _basic_user(self, cred: str) -> str | None:
        import base64

        try:
            user, _, pw = base64.b64decode(cred).decode().partition(":")
        except ValueError:
            return None
        hashed = self.users.get(user)
        if hashed is None:
            return None
        import bcrypt

        return user if bcrypt.checkpw(pw.encode(), hashed.replace(b"$2y$", b"$2b$", 1)) else None

    def allowed(self, user: str, repo: str, action: str) -> bool:
        """Access rules: the first pattern that matches the repository decides;
        without rules, any authenticated user (or anyone, when open) may do anything."""
        import fnmatch

        for pat, rule in self.rules:
            if fnmatch.fnmatchcase(repo, pat):
                who = rule.get(action) or []
                return "*" in who or (user != ANONYMOUS and (user in who or "+" in who))
        return self.mode == "open" or user != ANONYMOUS

    def identify(self, headers: dict[str, str]) -> tuple[str, set[tuple[str, str]] | None]:
        """(user, token grants: (repo, action) pairs, or None outside token mode)."""
        scheme, _, cred = headers.get("authorization", "").partition(" ")
        if self.mode == "token" and scheme.lower() == "bearer":
            claims = self._verify(cred.strip())
            if claims is None:
                return ANONYMOUS, set()
            grants = {
                (a["name"], act)
                for a in claims.get("access", [])
                if a.get("type") == "repository"
                for act in a["actions"]
            }
            return str(claims.get("sub", ANONYMOUS)), grants
        if self.mode == "basic" and scheme.lower() == "basic":
            return self._basic_user(cred.strip()) or ANONYMOUS, None
        return ANONYMOUS, set() if self.mode == "token" else None

    def may(self, headers: dict[str, str], repo: str, action: str) -> bool:
        user, grants = self.identify(headers)
        if grants is not None:
            return (repo, action) in grants
        return self.allowed(user, repo, action)

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
        except (ValueError, TypeError):
            return None
        if claims.get("aud") != "ketch-registry" or float(claims.get("exp", 0)) < time.time():
            return None
        return dict(claims)

    async def token(self, w: asyncio.StreamWriter, method: str, q: dict[str, str], headers: dict[str, str]) -> None:
        """The token endpoint: Basic credentials (or none: anonymous), the
        scopes asked for cut down to what the access rules allow."""
        import time

        scheme, _, cred = headers.get("authorization", "").partition(" ")
        user = ANONYMOUS
        if scheme.lower() == "basic":
            found = self._basic_user(cred.strip())
            if found is None:
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]})
                return await self.send(w, 401, {"Content-Type": "application/json"}, body.encode(), method)
            user = found
        access = []
        for scope in q.get("scope", "").split(" "):
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository":
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
        await self.send(w, 200, {"Content-Type": "application/json"}, body.encode(), method)

    # -- HTTP plumbing ---------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                version = line.decode("latin-1").rsplit(" ", 1)[-1].strip()
                conn = headers.get("connection", "").lower()
                keep = conn == "keep-alive" if version == "HTTP/1.0" else conn != "close"
                # ab -k speaks HTTP/1.0 keep-alive: the answer must say so (per connection)
                writer.ketch_keepalive = version == "HTTP/1.0" and keep  # type: ignore[attr-defined]
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                try:
                    await self.dispatch(method, target, headers, reader, writer)
                except Error as e:
                    await self._drain_body(headers, reader)
                    body = json.dumps({"errors": [{"code": e.code, "message": e.message, "detail": e.detail}]})
                    await self.send(writer, e.status, {"Content-Type": "application/json"}, body.encode(), method)
                if not keep:
                    break
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _drain_body(self, headers: dict[str, str], reader: asyncio.StreamReader) -> None:
        """Reads and drops a request body not read yet (so the connection can go on)."""
        if headers.pop(" consumed", None):
            return
        headers[" consumed"] = "1"
        if "chunked" in headers.get("transfer-encoding", "").lower():

            class Sink:
                def write(self, _: bytes) -> None:
                    pass

            try:
                headers.pop(" consumed", None)
                await self.read_body(headers, reader, Sink())
            except Error:
                pass
            return
        n = int(headers.get("content-length") or 0)
        if n and not reader.at_eof():
            try:
                await reader.readexactly(n)
            except asyncio.IncompleteReadError:
                pass

    async def send(
        self, w: asyncio.StreamWriter, status: int, headers: dict[str, str], body: bytes = b"", method: str = "GET"
    ) -> None:
        reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content"}.get(
            status, "Error"
        )
        h = {"Docker-Distribution-API-Version": "registry/2.0", "Content-Length": str(len(body)), **headers}
        if getattr(w, "ketch_keepalive", False):
            h["Connection"] = "keep-alive"
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        w.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
        await w.drain()

    async def read_body(
        self, headers: dict[str, str], reader: asyncio.StreamReader, into: Any, limit: int | None = None
    ) -> int:
        """The request body (Content-Length or chunked, as docker sends
        uploads) into `into` (anything with .write); its length."""
        headers[" consumed"] = "1"
        total = 0

        async def take(n: int) -> None:
            nonlocal total
            while n:
                chunk = await reader.read(min(n, 1 << 20))
                if not chunk:
                    raise Error(400, "BLOB_UPLOAD_INVALID", "the body ended early")
                total += len(chunk)
                if limit is not None and total > limit:
                    raise Error(413, "SIZE_INVALID", f"body larger than {limit} bytes")
                into.write(chunk)
                n -= len(chunk)

        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = await reader.readline()
                try:
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise Error(400, "BLOB_UPLOAD_INVALID", "bad chunked encoding") from None
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                await take(size)
                await reader.readline()  # the CRLF after each chunk
            return total
        await take(int(headers.get("content-length") or 0))
        return total

    # -- routes ----------------------------------------------------------------

    async def dispatch(
        self, method: str, target: str, headers: dict[str, str], r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        u = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(u.query))
        path = urllib.parse.unquote(u.path)
        host = headers.get("host", "127.0.0.1")
        if self.rate and not self._admit(w):
            await self._drain_body(headers, r)
            body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "too many requests"}]}).encode()
            return await self.send(w, 429, {"Content-Type": "application/json", "Retry-After": "1"}, body, method)
        if path == "/token" and self.mode == "token":
            return await self.token(w, method, q, headers)
        user, _ = self.identify(headers)
        if path in ("/v2", "/v2/"):
            if self.mode != "open" and user == ANONYMOUS and not self.rules:
                await self._deny(w, method, headers, r, 401, self.challenge(host, None, "pull"))
                return
            return await self.send(w, 200, {"Content-Type": "application/json"}, b"{}", method)
        if path == "/v2/_catalog":
            names = [
                n for n in self.store.repositories() if self.may(headers, n, "pull") or self.allowed(user, n, "pull")
            ]
            return await self.page(w, method, q, "repositories", names, {}, "/v2/_catalog")
        if path == "/v1/search":
            return await self.search(w, method, q, lambda n: self.allowed(user, n, "pull"))
        m0 = re.fullmatch(r"/v2/(.+)/(?:blobs|manifests|tags|referrers)/.*", path)
        if m0 and self.mode != "open":
            action = "pull" if method in ("GET", "HEAD") else "push"
            if not self.may(headers, m0.group(1), action):
                status = 401 if user == ANONYMOUS or self.mode == "token" else 403
                await self._deny(w, method, headers, r, status, self.challenge(host, m0.group(1), action))
                return
        m = re.fullmatch(r"/v2/(.+)/(blobs|manifests|tags|referrers)/(.*)", path)
        if not m:
            raise Error(404, "NOT_FOUND", "no such route")
        name, kind, rest = m.groups()
        if not NAME.match(name) or len(name) > 255:
            raise Error(400, "NAME_INVALID", "invalid repository name", {"name": name})
        if kind == "tags" and rest == "list":
            tags_dir = self.store.repo(name) / "_manifests" / "tags"
            if not (self.store.repo(name) / "_manifests").exists():
                raise Error(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": name})
            tags = sorted(p.name for p in tags_dir.iterdir()) if tags_dir.exists() else []
            return await self.page(w, method, q, "tags", tags, {"name": name}, f"/v2/{name}/tags/list")
        if kind == "blobs" and rest.startswith("uploads"):
            return await self.uploads(method, name, rest[len("uploads") :].strip("/"), q, headers, r, w)
        if kind == "blobs":
            return await self.blob(method, name, rest, headers, w)
        if kind == "manifests":
            return await self.manifest(method, name, rest, headers, r, w)
        if kind == "referrers":
            return await self.referrers(method, name, rest, q, w)
        raise Error(404, "NOT_FOUND", "no such route")

    async def _deny(
        self, w: asyncio.StreamWriter, method: str, headers: dict[str, str], r: asyncio.StreamReader, status: int,
        challenge: dict[str, str],
    ) -> None:  # fmt: skip
        await self._drain_body(headers, r)
        code, msg = (
            ("UNAUTHORIZED", "authentication required")
            if status == 401
            else ("DENIED", "requested access to the resource is denied")
        )
        body = json.dumps({"errors": [{"code": code, "message": msg}]}).encode()
        await self.send(w, status, {"Content-Type": "application/json", **challenge}, body, method)

    async def search(self, w: asyncio.StreamWriter, method: str, q: dict[str, str], visible: Any) -> None:
        """Docker Hub's /v1/search: repositories whose name or description holds the query."""
        term = q.get("q", "").lower()
        n = max(1, min(int(q.get("n") or 25), 100))
        page = max(1, int(q.get("page") or 1))
        hits = []
        for name in filter(visible, self.store.repositories()):
            m = self.store.meta(name)
            if term in name.lower() or term in str(m.get("description", "")).lower():
                hits.append(
                    {
                        "name": name,
                        "description": m.get("description", ""),
                        "star_count": int(m.get("star_count", 0)),
                        "is_official": bool(m.get("is_official", False)),
                        "is_automated": False,
                    }
                )
        hits.sort(key=lambda x: (-x["star_count"], x["name"]))
        body = {
            "num_pages": max(1, -(-len(hits) // n)),
            "num_results": len(hits),
            "page": page,
            "page_size": n,
            "query": q.get("q", ""),
            "results": hits[(page - 1) * n : page * n],
        }
        await self.send(w, 200, {"Content-Type": "application/json"}, json.dumps(body).encode(), method)

    async def page(
        self, w: asyncio.StreamWriter, method: str, q: dict[str, str], key: str, items: list[str],
        extra: dict[str, str], base: str,
    ) -> None:  # fmt: skip
        """`n` and `last` pagination with a Link header to the next page."""
        if "last" in q:
            items = [x for x in items if x > q["last"]]
        headers = {"Content-Type": "application/json"}
        if "n" in q:
            n = int(q["n"])
            if n < len(items):
                headers["Link"] = f'<{base}?n={n}&last={urllib.parse.quote(items[n - 1])}>; rel="next"'
            items = items[:n]
        await self.send(w, 200, headers, json.dumps({**extra, key: items}).encode(), method)

    async def blob(self, method: str, name: str, digest: str, headers: dict[str, str], w: asyncio.StreamWriter) -> None:
        if not DIGEST.match(digest):
            raise Error(400, "DIGEST_INVALID", "provided digest did not match uploaded content", {"digest": digest})
        if method == "DELETE":
            if not self.store.linked(name, digest):
                raise Error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
            (self.store.repo(name) / "_layers" / digest).unlink()
            return await self.send(w, 202, {}, b"", method)
        if method not in ("GET", "HEAD"):
            raise Error(405, "UNSUPPORTED", "the operation is unsupported")
        if not self.store.linked(name, digest):
            raise Error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        path = self.store.blob(digest)
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        rng = headers.get("range", "")
        mm = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
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
        reason = "OK" if status == 200 else "Partial Content"
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        w.write(head.encode())
        await w.drain()
        if method == "GET":
            with open(path, "rb") as f:
                await asyncio.get_running_loop().sendfile(w.transport, f, start, end - start + 1)

    async def uploads(
        self, method: str, name: str, uid: str, q: dict[str, str], headers: dict[str, str],
        r: asyncio.StreamReader, w: asyncio.StreamWriter,
    ) -> None:  # fmt: skip
        st = self.store
        if method == "POST" and not uid:
            if "mount" in q and "from" in q and DIGEST.match(q["mount"]) and NAME.match(q["from"]):
                if st.linked(q["from"], q["mount"]):
                    st.link(name, q["mount"])
                    loc = f"/v2/{name}/blobs/{q['mount']}"
                    return await self.send(w, 201, {"Location": loc, "Docker-Content-Digest": q["mount"]}, b"", method)
            new = uuid.uuid4().hex
            with open(st.upload(new), "wb") as f:
                if "digest" in q:  # a single POST with the whole blob
                    await self.read_body(headers, r, f)
            if "digest" in q:
                return await self.finish(name, new, q["digest"], w, method)
            return await self.send(w, 202, self._upload_headers(name, new, 0), b"", method)
        path = st.upload(uid)
        if not path.exists():
            await self._drain_body(headers, r)
            raise Error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {"uuid": uid})
        size = path.stat().st_size
        if method == "GET":
            return await self.send(w, 204, self._upload_headers(name, uid, size), b"", method)
        if method == "DELETE":
            path.unlink()
            return await self.send(w, 204, {}, b"", method)
        if method in ("PATCH", "PUT"):
            cr = headers.get("content-range")
            if cr and method == "PATCH":
                mm = re.fullmatch(r"(?:bytes )?(\d+)-(\d+)", cr)
                if not mm or int(mm.group(1)) != size:
                    await self._drain_body(headers, r)
                    raise Error(416, "BLOB_UPLOAD_INVALID", "chunk out of order", {"expected": size})
            with open(path, "ab") as f:
                await self.read_body(headers, r, f)
            if method == "PATCH":
                return await self.send(w, 202, self._upload_headers(name, uid, path.stat().st_size), b"", method)
            if "digest" not in q:
                raise Error(400, "DIGEST_INVALID", "digest missing")
            return await self.finish(name, uid, q["digest"], w, method)
        raise Error(405, "UNSUPPORTED", "the operation is unsupported")

    def _upload_headers(self, name: str, uid: str, size: int) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{uid}",
            "Range": f"0-{max(size - 1, 0)}",
            "Docker-Upload-UUID": uid,
        }

    async def finish(self, name: str, uid: str, digest: str, w: asyncio.StreamWriter, method: str) -> None:
        """Verified, then visible: the upload becomes the blob only if its content has the digest."""
        path = self.store.upload(uid)
        if not DIGEST.match(digest):
            path.unlink(missing_ok=True)
            raise Error(400, "DIGEST_INVALID", "invalid digest", {"digest": digest})
        actual = await asyncio.to_thread(_digest_of, path)
        if actual != digest:
            path.unlink(missing_ok=True)
            raise Error(400, "DIGEST_INVALID", "provided digest did not match uploaded content", {"digest": digest})
        self.store.adopt(path, digest)
        self.store.link(name, digest)
        loc = f"/v2/{name}/blobs/{digest}"
        await self.send(w, 201, {"Location": loc, "Docker-Content-Digest": digest}, b"", method)

    def _resolve(self, name: str, ref: str) -> str:
        repo = self.store.repo(name)
        if DIGEST.match(ref):
            if not (repo / "_manifests" / "revisions" / ref).exists():
                raise Error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"digest": ref})
            return ref
        if not TAG.match(ref):
            raise Error(400, "TAG_INVALID", "manifest tag did not match URI", {"tag": ref})
        t = repo / "_manifests" / "tags" / ref
        if not t.exists():
            raise Error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"tag": ref})
        return t.read_text().strip()

    async def manifest(
        self, method: str, name: str, ref: str, headers: dict[str, str], r: asyncio.StreamReader,
        w: asyncio.StreamWriter,
    ) -> None:  # fmt: skip
        repo = self.store.repo(name)
        if method in ("GET", "HEAD"):
            digest = self._resolve(name, ref)
            media = (repo / "_manifests" / "revisions" / digest).read_text().strip()
            body = self.store.blob(digest).read_bytes()
            h = {"Content-Type": media, "Docker-Content-Digest": digest}
            return await self.send(w, 200, h, body, method)
        if method == "DELETE":
            if DIGEST.match(ref):
                self._resolve(name, ref)
                (repo / "_manifests" / "revisions" / ref).unlink()
                for t in list((repo / "_manifests" / "tags").glob("*")):
                    if t.read_text().strip() == ref:
                        t.unlink()
            else:
                self._resolve(name, ref)
                (repo / "_manifests" / "tags" / ref).unlink()
            return await self.send(w, 202, {}, b"", method)
        if method != "PUT":
            raise Error(405, "UNSUPPORTED", "the operation is unsupported")
        n = int(headers.get("content-length") or 0)
        if n > MAX_MANIFEST:
            await self._drain_body(headers, r)
            raise Error(413, "SIZE_INVALID", f"manifest larger than {MAX_MANIFEST} bytes")
        buf = bytearray()

        class Collect:
            def write(self, data: bytes) -> None:
                buf.extend(data)

        await self.read_body(headers, r, Collect(), MAX_MANIFEST)
        body = bytes(buf)
        media = headers.get("content-type", "").split(";")[0].strip()
        try:
            doc = json.loads(body)
        except ValueError:
            raise Error(400, "MANIFEST_INVALID", "manifest invalid: not JSON") from None
        media = media or doc.get("mediaType", "")
        if media not in MANIFEST_TYPES or (doc.get("mediaType") and doc["mediaType"] != media):
            raise Error(400, "MANIFEST_INVALID", f"manifest invalid: media type {media!r}")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if DIGEST.match(ref) and ref != digest:
            raise Error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        # every blob (or, for an index, every manifest) it names must be here first
        if "manifests" in doc:
            missing = [
                d["digest"] for d in doc["manifests"] if not (repo / "_manifests" / "revisions" / d["digest"]).exists()
            ]
        else:
            named = [doc.get("config", {}).get("digest", "")] + [x["digest"] for x in doc.get("layers", [])]
            missing = [d for d in named if not self.store.linked(name, d)]
        if missing:
            raise Error(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", {"digest": missing[0]})
        tmp = self.store.upload(uuid.uuid4().hex)
        tmp.write_bytes(body)
        self.store.adopt(tmp, digest)
        self.store.link(name, digest)
        rev = repo / "_manifests" / "revisions"
        rev.mkdir(parents=True, exist_ok=True)
        (rev / digest).write_text(media)
        if not DIGEST.match(ref):
            if not TAG.match(ref):
                raise Error(400, "TAG_INVALID", "manifest tag did not match URI", {"tag": ref})
            tags = repo / "_manifests" / "tags"
            tags.mkdir(parents=True, exist_ok=True)
            (tags / ref).write_text(digest)
        h = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
        subject = doc.get("subject")
        if isinstance(subject, dict) and DIGEST.match(str(subject.get("digest", ""))):
            d = repo / "_referrers" / subject["digest"]
            d.mkdir(parents=True, exist_ok=True)
            desc = {
                "mediaType": media,
                "digest": digest,
                "size": len(body),
                "artifactType": doc.get("artifactType") or doc.get("config", {}).get("mediaType", ""),
                "annotations": doc.get("annotations") or {},
            }
            (d / digest).write_text(json.dumps(desc))
            h["OCI-Subject"] = subject["digest"]
        await self.send(w, 201, h, b"", "PUT")

    async def referrers(self, method: str, name: str, digest: str, q: dict[str, str], w: asyncio.StreamWriter) -> None:
        if not DIGEST.match(digest):
            raise Error(400, "DIGEST_INVALID", "invalid digest", {"digest": digest})
        d = self.store.repo(name) / "_referrers" / digest
        descs = [json.loads(p.read_text()) for p in sorted(d.iterdir())] if d.exists() else []
        h = {"Content-Type": "application/vnd.oci.image.index.v1+json"}
        if "artifactType" in q:
            descs = [x for x in descs if x.get("artifactType") == q["artifactType"]]
            h["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs}
        await self.send(w, 200, h, json.dumps(body).encode(), method)


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
) -> None:
    host, _, port = addr.rpartition(":")
    root.mkdir(parents=True, exist_ok=True)
    reg = Registry(root, htpasswd, auth, access)
    reg.rate = rate
    ctx = None
    if tls:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
    reg.scheme = "https" if ctx else "http"
    server = await asyncio.start_server(reg.handle, host or "127.0.0.1", int(port), limit=1 << 20, ssl=ctx)

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


def run(addr: str, root: Path, **options: Any) -> None:
    """Serves until interrupted; `options` are serve()'s (htpasswd, tls, auth, access, upload_ttl, rate)."""
    import sys

    def ready(where: str) -> None:
        print(f"ketch registry listening on {where}, storing in {root}", file=sys.stderr, flush=True)

    try:
        asyncio.run(serve(addr, root, ready, **options))
    except KeyboardInterrupt:
        pass
