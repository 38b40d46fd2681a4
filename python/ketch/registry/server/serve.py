"""`ketch registry serve`: the server on an address until interrupted."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import UsageError
from .http import Limits
from .routes import Registry

if TYPE_CHECKING:
    import ssl


async def serve(
    addr: str,
    root: Path,
    ready: Any = None,
    htpasswd: str | None = None,
    tls: tuple[str, str] | None = None,
    tls_client_ca: str | None = None,
    auth: str = "basic",
    access: str | None = None,
    upload_ttl: float = 3600.0,
    rate: float = 0.0,
    limits: Limits | None = None,
) -> None:
    import resource

    ctx = tls_context(tls, tls_client_ca) if tls else None
    host, _, port = addr.rpartition(":")
    root.mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = limits.max_connections + 64  # a descriptor per connection, and the files a request opens
    if soft < want and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    reg = Registry(root, htpasswd, auth, access, limits)
    reg.rate = rate
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


def tls_context(tls: tuple[str, str], client_ca: str | None = None) -> ssl.SSLContext:
    """The server's SSL context: its certificate and key; with `client_ca`,
    a client must present a certificate that CA signed, or the handshake
    fails (docker's registry: `http.tls.clientcas`). A file that cannot be
    used is one UsageError naming it."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(*tls)
    except (OSError, ssl.SSLError) as e:
        raise UsageError(f"--tls-cert {tls[0]} / --tls-key {tls[1]}: {_why(e)}") from None
    if client_ca:
        try:
            ctx.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as e:
            raise UsageError(f"--tls-client-ca {client_ca}: {_why(e)}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _why(e: Exception) -> str:
    return getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e) or type(e).__name__


def run(addr: str, root: Path, **options: Any) -> None:
    """Serves until interrupted; `options` are serve()'s (htpasswd, tls, tls_client_ca, auth, access, upload_ttl,
    rate, limits)."""

    def ready(where: str) -> None:
        print(f"ketch registry listening on {where}, storing in {root}", file=sys.stderr, flush=True)

    try:
        asyncio.run(serve(addr, root, ready, **options))
    except KeyboardInterrupt:
        pass
