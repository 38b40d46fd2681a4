"""What a registry client spends on SSL contexts: building one (the system's
CA bundle loaded) per connection, as the client did, against the one shared
per process and TLS configuration (registry/hosts.ssl_context).

    PYTHONPATH=python:tests .venv/bin/python benches/ssl_context.py

It also fetches blobs from a `ketch registry serve --tls-cert` on 127.0.0.1
(certs.d holding its CA) on 4 threads, as a pull does, and counts the
connections made and the contexts built."""

from __future__ import annotations

import os
import ssl
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ketch.config import Settings
from ketch.registry import hosts
from ketch.registry.client import RegistryClient
from support.imagekit import Entry, Registry, build, tar_bytes
from support.pki import self_signed
from support.registry import serve_ketch, stop_served

N = 30


def main() -> None:
    t = time.perf_counter()
    for _ in range(N):
        ssl.create_default_context()
    per_build = (time.perf_counter() - t) / N * 1000
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        s = Settings(environ={"KETCH_CERTS_DIRS": str(tmp / "certs.d"), "KETCH_REGISTRIES_CONF": str(tmp / "x"),
                              "KETCH_DAEMON_JSON": str(tmp / "x")})  # fmt: skip
        hosts.ssl_context("registry.example", s)
        t = time.perf_counter()
        for _ in range(N):
            hosts.ssl_context("registry.example", s)
        per_lookup = (time.perf_counter() - t) / N * 1e6
        print(f"building a context: {per_build:.1f} ms (before: every new connection)")
        print(f"the shared context: {per_lookup:.1f} us per connection after one build per process")

        cert, key = self_signed(tmp / "pki", "server")
        plain, plain_addr = serve_ketch(tmp / "reg")
        layers = [(tar_bytes([Entry(f"f{i}", data=os.urandom(1 << 15))]), "gzip") for i in range(8)]
        img = Registry(f"http://{plain_addr}").push("lab/t", "v1", build(layers))
        stop_served(plain)
        proc, addr = serve_ketch(tmp / "reg", "--tls-cert", str(cert), "--tls-key", str(key))
        try:
            (tmp / "certs.d" / addr).mkdir(parents=True)
            (tmp / "certs.d" / addr / "ca.crt").write_bytes(cert.read_bytes())
            built = hosts.contexts_built
            client = RegistryClient(addr, s)
            made = 0
            real = client._conn

            def counting(scheme: str, host: str):  # type: ignore[no-untyped-def]
                nonlocal made
                if (scheme, host) not in client._conns.pool:
                    made += 1
                return real(scheme, host)

            client._conn = counting  # type: ignore[method-assign]
            digests = [d for d in img.blobs if d != "sha256:" + __import__("hashlib").sha256(img.config).hexdigest()]
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda dg: client.blob("lab/t", dg, lambda b: None), digests))
            n = hosts.contexts_built - built
            print(f"8 blobs on 4 threads over verified TLS: {made} connections, {n} context built "
                  f"(before: {made}, ~{made * per_build:.0f} ms of building)")  # fmt: skip
        finally:
            stop_served(proc)


if __name__ == "__main__":
    sys.exit(main())
