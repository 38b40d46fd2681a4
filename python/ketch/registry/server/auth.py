"""Who a request comes from and what they may do: htpasswd users (bcrypt,
checked off the event loop, successes cached), Docker Hub's token flow
(HS256 tokens this server signs and verifies), access rules."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .http import ANONYMOUS, Error, Exchange
from .storage import valid_name


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


class Auth:
    """The auth half of `Registry` (which see: modes and access rules)."""

    def __init__(self, root: Path, htpasswd: str | None, mode: str, access: str | None) -> None:
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
        self.token_ttl = 300  # seconds a token it issues lives (its expires_in)
        self._verified = _Verified(self.secret)
        self._checking: dict[bytes, asyncio.Future[bool]] = {}
        self._bcrypt: Any = None  # the executor bcrypt runs on, made on first use

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
                "exp": now + self.token_ttl,
                "access": access,
            }
        )
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": self.token_ttl, "issued_at": now})
        await x.send(200, {"Content-Type": "application/json"}, body.encode())
