"""A small client for the distribution API (v2), on the standard library's
http.client: one keep-alive connection per thread and host, retries with
backoff on transient failures, and the Basic / Bearer auth challenges."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AuthError, DigestMismatchError, ManifestInvalid, ManifestUnknown, RegistryError, UnreachableError
from . import auth, hosts

if TYPE_CHECKING:
    from ..config import Settings

DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
RETRIES = 4
MAX_MANIFEST = 4 << 20  # bytes; a larger "manifest" is refused (while it is read, never after)
MAX_CONFIG = 8 << 20  # bytes; an image config larger than this is refused before it is fetched
MAX_BODY = 4 << 20  # bytes; any other answer read whole (errors, tokens, search results)
USER_AGENT = "ketch/0.1"


def is_insecure(domain: str, settings: Settings | None = None) -> bool:
    """Spoken to without TLS verification, then over plain http if TLS fails
    (docker's rule): loopback, and registries named insecure in daemon.json,
    registries.conf or KETCH_INSECURE_REGISTRIES (registry/hosts.py)."""
    if settings is None:
        from ..config import Settings

        settings = Settings()
    return hosts.is_insecure(domain, settings)


class _Fallback(Exception):
    """The https attempt to an insecure registry failed: plain http next."""


def _refused_handshake(e: Exception | None) -> bool:
    """A server that closed a TLS connection at once, or sent a certificate alert."""
    import ssl

    if isinstance(e, http.client.RemoteDisconnected | ConnectionResetError | ssl.SSLEOFError):
        return True
    return isinstance(e, ssl.SSLError) and any(
        w in str(e) for w in ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_UNKNOWN")
    )


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    resp: http.client.HTTPResponse | None = None
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class _Conns(threading.local):
    pool: dict[tuple[str, str], http.client.HTTPConnection] = field(default_factory=dict)


def read_bounded(r: http.client.HTTPResponse, limit: int) -> bytes | None:
    """The body of `r`, or None as soon as it proves larger than `limit`
    bytes (by its Content-Length, or while it is read: a body without one
    is never held whole). After None the rest is unread: close the connection."""
    if r.length is not None and r.length > limit:  # http.client's: Content-Length, 0 for HEAD and 204
        return None
    parts: list[bytes] = []
    total = 0
    while True:
        data = r.read(min(1 << 16, limit + 1 - total))
        if not data:
            return b"".join(parts)
        parts.append(data)
        total += len(data)
        if total > limit:
            return None


def error_entries(body: bytes | None) -> list[dict[str, object]] | None:
    """The `errors` of a distribution error body (`{"errors": [{"code": ..,
    "message": ..}, ..]}`), [] when it lists none; None when the body is not
    such a document (a proxy's HTML page, say). The one parser of them."""
    if not body:
        return []
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    errs = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(errs, list | None):
        return None
    return [e for e in errs or [] if isinstance(e, dict)]


def error_detail(body: bytes) -> tuple[str, str]:
    """(code, message) of the first error, the code lowercased as docker
    prints it; ("", the body's start) when it is no error document."""
    if errs := error_entries(body):
        return str(errs[0].get("code", "")).lower().replace("_", " "), str(errs[0].get("message", ""))
    return "", body.decode(errors="replace").strip()[:200]


def error_summary(body: bytes | None) -> str:
    """Every error as `CODE: message`, joined; the body's start when it is no error document."""
    errs = error_entries(body)
    if errs is None:
        return (body or b"").decode(errors="replace")[:200]
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs)


class RegistryClient:
    """One registry (or one of its mirrors: `endpoint`). Bearer tokens are kept
    per scope until shortly before their `expires_in` runs out, then fetched
    again; an identity token (docker's refresh token) is traded for them."""

    def __init__(self, domain: str, settings: Settings | None = None, endpoint: hosts.Endpoint | None = None) -> None:
        if settings is None:
            from ..config import Settings

            settings = Settings()
        self.settings = settings
        self.domain = domain
        if endpoint is None:
            endpoint = hosts.Endpoint(domain, "", hosts.is_insecure(domain, settings), False)
        self.endpoint = endpoint
        self.host = DOCKER_HUB_ENDPOINT if endpoint.host == "docker.io" else endpoint.host
        self.insecure = endpoint.insecure
        self.scheme = endpoint.scheme or "https"
        # An insecure registry: https without verification first, plain http if that fails;
        # TLS files in certs.d make it verified https (no fallback).
        self._skip_verify = self.insecure and not hosts.has_tls_config(self.host, settings)
        self._fallback = self._skip_verify and not endpoint.scheme
        self._conns = _Conns()
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, monotonic time to renew it by)
        self._challenge: str | None = None
        self._basic: str | None = None
        self._lock = threading.Lock()
        self._proxies: dict[tuple[str, str], hosts.Proxy | None] = {}
        self._creds: tuple[str, str] | None = None
        self._refresh_token: str | None = None
        self._looked_up = False  # credentials are looked up (a helper run) when a challenge asks for them

    def _lookup(self) -> None:
        if not self._looked_up:
            found = auth.lookup(self.endpoint.host, self.settings)
            with self._lock:
                if not self._looked_up:
                    self._creds = (found.username, found.password) if found and found.password else None
                    self._refresh_token = found.identity_token if found and found.identity_token else None
                    self._looked_up = True

    @property
    def creds(self) -> tuple[str, str] | None:
        self._lookup()
        return self._creds

    @creds.setter
    def creds(self, value: tuple[str, str] | None) -> None:
        self._creds, self._refresh_token, self._looked_up = value, None, True

    @property
    def refresh_token(self) -> str | None:
        self._lookup()
        return self._refresh_token

    @refresh_token.setter
    def refresh_token(self, value: str | None) -> None:
        self._lookup()
        self._refresh_token = value

    # -- transport ---------------------------------------------------------

    def _proxy(self, scheme: str, host: str) -> hosts.Proxy | None:
        key = (scheme, host)
        if key not in self._proxies:
            self._proxies[key] = hosts.proxy_for(scheme, host, self.settings)
        return self._proxies[key]

    def _conn(self, scheme: str, host: str) -> http.client.HTTPConnection:
        key = (scheme, host)
        c = self._conns.pool.get(key)
        if c is None:
            proxy = self._proxy(scheme, host)
            if scheme == "https":
                ctx = hosts.ssl_context(host, self.settings, not (host == self.host and self._skip_verify))
                if proxy:
                    c = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=60, context=ctx)
                    h = {"Proxy-Authorization": auth.basic_header(*proxy.auth.split(":", 1))} if proxy.auth else None
                    c.set_tunnel(host, headers=h)
                else:
                    c = http.client.HTTPSConnection(host, timeout=60, context=ctx)
            elif proxy:
                c = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
            else:
                c = http.client.HTTPConnection(host, timeout=60)
            self._conns.pool[key] = c
        return c

    def _reset(self) -> None:
        """Closes this thread's connections (after a response left half read)."""
        for c in self._conns.pool.values():
            c.close()
        self._conns.pool.clear()

    def _drop(self, c: http.client.HTTPConnection, scheme: str, netloc: str) -> None:
        c.close()
        self._conns.pool.pop((scheme, netloc), None)

    def _send(
        self, method: str, url: str, headers: dict[str, str], stream: bool, body: bytes | Path | None = None
    ) -> Response:
        u = urllib.parse.urlsplit(url)
        path = u.path + ("?" + u.query if u.query else "")
        proxy = self._proxy(u.scheme, u.netloc) if u.scheme == "http" else None
        if proxy:  # a forward proxy is asked for the whole URL
            path = f"http://{u.netloc}{path}"
        last: Exception | None = None
        for attempt in range(RETRIES):
            c = self._conn(u.scheme, u.netloc)
            try:
                h = {"User-Agent": USER_AGENT, **headers}
                if proxy and proxy.auth:
                    h["Proxy-Authorization"] = auth.basic_header(*proxy.auth.split(":", 1))
                if isinstance(body, Path):  # a blob: streamed from the file, opened anew on a retry
                    with open(body, "rb") as f:
                        h["Content-Length"] = str(os.fstat(f.fileno()).st_size)
                        c.request(method, path, body=f, headers=h)
                        r = c.getresponse()
                else:
                    if body is not None or method in ("PUT", "POST", "PATCH"):
                        h["Content-Length"] = str(len(body or b""))
                    c.request(method, path, body=body, headers=h)
                    r = c.getresponse()
            except (OSError, http.client.HTTPException) as e:
                self._drop(c, u.scheme, u.netloc)
                last = e
                if u.scheme == "https" and u.netloc == self.host and (self._fallback or self.scheme == "http"):
                    raise _Fallback(str(e)) from e  # (or another thread fell back meanwhile)
                if isinstance(e, ConnectionRefusedError | socket.gaierror) and attempt >= 1:
                    break
                time.sleep(0.2 * 2**attempt)
                continue
            if u.netloc == self.host:
                self._fallback = False  # it answered: this scheme it is
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if stream and r.status == 200:
                return Response(r.status, hdrs, r)
            try:
                data = read_bounded(r, MAX_BODY)
            except (OSError, http.client.HTTPException) as e:
                self._drop(c, u.scheme, u.netloc)
                raise UnreachableError(f'{method.title()} "{url}": {getattr(e, "strerror", None) or e}') from e
            if data is None:
                self._drop(c, u.scheme, u.netloc)  # the rest of the body is still on the wire
                raise RegistryError(f'{method.title()} "{url}": the answer is larger than {MAX_BODY} bytes')
            if r.status in (429, 502, 503, 504) and attempt < RETRIES - 1:
                time.sleep(0.5 * 2**attempt)
                continue
            return Response(r.status, hdrs, None, data)
        reason = getattr(last, "strerror", None) or str(last)
        if isinstance(last, socket.gaierror):
            reason = "no such host"
        elif u.scheme == "https" and _refused_handshake(last):
            reason = self._client_cert_hint(u.netloc, reason)
        raise UnreachableError(f'{method.title()} "{url}": {reason}')

    def _client_cert_hint(self, netloc: str, reason: str) -> str:
        """A TLS connection the registry dropped or refused with an alert: a
        registry that requires client certificates does that (Python's own
        server closes without its alert), so say which certificate was sent."""
        try:
            pairs = hosts.tls_files(netloc, self.settings)[1]
        except RegistryError:
            pairs = []
        if not pairs:
            return (
                f"the registry ended the TLS connection ({reason}); it may require a client certificate: "
                f"certs.d has no client.cert/client.key for {netloc}"
            )
        return (
            f"the registry ended the TLS connection ({reason}); it may not accept the client certificate {pairs[0][0]}"
        )

    # -- auth --------------------------------------------------------------

    def _authorize(self, challenge: str, scope: str) -> None:
        scheme, params = auth.parse_challenge(challenge)
        if scheme == "basic":
            if not self.creds:
                raise AuthError("no basic auth credentials")
            self._basic = auth.basic_header(*self.creds)
            return
        if scheme != "bearer" or "realm" not in params:
            raise AuthError(f"unsupported auth challenge from {self.domain}: {challenge[:200]}")
        self._challenge = challenge
        realm = params["realm"]
        if self.refresh_token:
            r = self._refresh(realm, params.get("service", ""), scope)
        else:
            q = {"service": params.get("service", "")}
            if scope:
                q["scope"] = scope
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(q)
            headers = {}
            if self.creds:
                headers["Authorization"] = auth.basic_header(*self.creds)
            r = self._send("GET", url, headers, stream=False)
        if r.status == 401:
            raise AuthError(
                f"unauthorized: authentication to {self.domain} failed: check your credentials (ketch login)"
            )
        if r.status != 200:
            raise AuthError(f"token request to {realm} failed with status {r.status}")
        try:
            body = json.loads(r.body)
            token = body.get("token") or body.get("access_token")
            expires = body.get("expires_in")
        except (ValueError, AttributeError):
            token, expires = None, None
        if not token or not isinstance(token, str):
            raise AuthError(f"token server {realm} gave no token")
        if isinstance(body.get("refresh_token"), str) and self.refresh_token:
            self.refresh_token = body["refresh_token"]
        # docker's default lifetime is 60 s; renewed a little before it ends
        ok = isinstance(expires, int | float) and not isinstance(expires, bool) and expires > 0
        life = float(expires) if ok else 60.0
        with self._lock:
            self._tokens[scope] = (token, time.monotonic() + life - min(5.0, life / 4))

    def _refresh(self, realm: str, service: str, scope: str) -> Response:
        """An identity token (docker's `identitytoken`) traded for an access token:
        the OAuth2 refresh_token grant, POSTed to the realm as docker does."""
        form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token or "", "service": service,
                "client_id": "ketch", "access_type": "offline"}  # fmt: skip
        if scope:
            form["scope"] = scope
        data = urllib.parse.urlencode(form).encode()
        return self._send("POST", realm, {"Content-Type": "application/x-www-form-urlencoded"}, False, data)

    def _token(self, scope: str) -> str | None:
        """A bearer token for `scope` that has not run out; one past its time is fetched again."""
        with self._lock:
            held = self._tokens.get(scope)
        if held is None:
            return None
        token, renew_by = held
        if time.monotonic() < renew_by:
            return token
        with self._lock:
            self._tokens.pop(scope, None)
        if self._challenge:
            self._authorize(self._challenge, scope)
            with self._lock:
                held = self._tokens.get(scope)
            return held[0] if held else None
        return None

    def request(
        self,
        method: str,
        path: str,
        scope: str,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        body: bytes | Path | None = None,
    ) -> Response:
        """A request to this registry, answering one auth challenge if asked
        (and one more when a token it held was refused: it ran out early).
        Redirects (blob storage) are followed without our credentials. An
        insecure registry that fails over https is asked again over http."""
        try:
            r, url = self._request(method, path, scope, headers, stream, body)
        except _Fallback:
            self.scheme, self._fallback = "http", False
            r, url = self._request(method, path, scope, headers, stream, body)
        hops = 0
        while r.status in (301, 302, 303, 307, 308) and hops < 5:
            loc = urllib.parse.urljoin(url, r.header("location"))
            url = loc
            r = self._send(method, loc, {k: v for k, v in (headers or {}).items()}, stream)
            hops += 1
        return r

    def _request(
        self, method: str, path: str, scope: str, headers: dict[str, str] | None, stream: bool,
        body: bytes | Path | None,
    ) -> tuple[Response, str]:  # fmt: skip
        url = f"{self.scheme}://{self.host}{path}"
        fresh = False
        for _ in range(3):
            h = dict(headers or {})
            token = self._token(scope)
            if token:
                h["Authorization"] = "Bearer " + token
            elif self._basic:
                h["Authorization"] = self._basic
            r = self._send(method, url, h, stream, body)
            if r.status == 401 and ("Authorization" not in h or (token and not fresh)):
                with self._lock:
                    self._tokens.pop(scope, None)
                self._authorize(r.header("www-authenticate"), scope)
                fresh = True
                continue
            break
        return r, url

    # -- API ---------------------------------------------------------------

    def manifest(self, repo: str, ident: str, accept: str, what: str) -> tuple[bytes, str]:
        """(body, content type) of a manifest or index; `what` names it in errors.
        The body is read with a bound of MAX_MANIFEST bytes; its sha256 must be
        the digest asked for, or the one the registry announces in Docker-Content-Digest."""
        r = self.request(
            "GET", f"/v2/{repo}/manifests/{ident}", f"repository:{repo}:pull", {"Accept": accept}, stream=True
        )
        if r.status == 404:
            code, msg = error_detail(r.body)
            detail = f"{code}: {msg}" if code else "manifest unknown"
            raise ManifestUnknown(f"manifest for {what} not found: {detail}")
        self._check(r, what, repo)
        try:
            body = read_bounded(self._stream(r, what), MAX_MANIFEST)
        except (OSError, http.client.HTTPException) as e:
            self._reset()
            raise UnreachableError(f"reading the manifest for {what} from {self.domain}: {e}") from e
        if body is None:
            self._reset()  # the rest is still on the wire
            raise ManifestInvalid(f"manifest for {what} is larger than {MAX_MANIFEST} bytes")
        actual = "sha256:" + hashlib.sha256(body).hexdigest()
        announced = r.header("docker-content-digest")
        for want in (
            ident if ident.startswith("sha256:") else None,
            announced if announced.startswith("sha256:") else None,
        ):
            if want and want != actual:
                raise DigestMismatchError(f"manifest digest mismatch for {what}: expected {want}, got {actual}")
        return body, r.header("content-type")

    def _stream(self, r: Response, what: str) -> http.client.HTTPResponse:
        if r.resp is None:  # a 2xx other than 200: no body to read
            raise RegistryError(f"{what}: registry {self.domain} answered {r.status} without content")
        return r.resp

    def blob(
        self, repo: str, digest: str, sink: Callable[[bytes], None], size: int | None = None, chunk: int = 1 << 20
    ) -> None:
        """Streams a blob into `sink`. With `size` (its descriptor's), the
        download stops and fails as soon as the registry sends more."""
        r = self.request("GET", f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull", stream=True)
        if r.status == 404:
            raise RegistryError(f"blob {digest} of {repo} not found on {self.domain}: blob unknown")
        self._check(r, digest, repo)
        resp = self._stream(r, digest)
        declared = r.header("content-length").strip()
        if size is not None and declared.isdigit() and int(declared) != size:
            self._reset()
            raise DigestMismatchError(
                f"size mismatch for {digest}: the registry sends {declared} bytes, its descriptor declares {size}"
            )
        got = 0
        while True:
            want = chunk if size is None else min(chunk, size - got + 1)  # one byte more shows a longer blob
            try:
                data = resp.read(want)
            except (OSError, http.client.HTTPException) as e:
                self._reset()
                raise UnreachableError(f"reading blob {digest} from {self.domain}: {e}") from e
            if not data:
                break
            got += len(data)
            if size is not None and got > size:
                self._reset()  # stop here: the rest never reaches the disk
                raise DigestMismatchError(
                    f"size mismatch for {digest}: the registry sends more than the {size} bytes its descriptor declares"
                )
            try:
                sink(data)  # its errors are the caller's, not the network's
            except BaseException:
                self._reset()  # the rest of this body is still on the wire
                raise

    def blob_bytes(self, repo: str, digest: str, size: int, limit: int = MAX_CONFIG) -> bytes:
        """A small blob (an image config) in memory: at most `size` bytes (its
        descriptor's) and `limit`, its digest checked."""
        if size > limit:
            raise ManifestInvalid(f"blob {digest} of {repo} is {size} bytes: more than the {limit} allowed")
        parts: list[bytes] = []
        self.blob(repo, digest, parts.append, size)
        data = b"".join(parts)
        if len(data) != size:
            raise DigestMismatchError(f"size mismatch for {digest}: expected {size} bytes, got {len(data)}")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise DigestMismatchError(f"digest mismatch: expected {digest}, got {actual}")
        return data

    def _check(self, r: Response, what: str, repo: str) -> None:
        if r.status in (200, 201, 202, 204):
            return
        code, msg = error_detail(r.body)
        if r.status == 401 or r.status == 403:
            raise AuthError(
                f"pull access denied for {repo}, repository does not exist or may require 'ketch login'"
                + (f": {code}: {msg}" if code else "")
            )
        raise RegistryError(
            f"{what}: registry {self.domain} answered {r.status}" + (f": {code}: {msg}" if code else "")
        )
