"""The registry client against a small misbehaving server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ketch.errors import DigestMismatchError, ManifestUnknown, UnreachableError
from ketch.registry.client import RegistryClient, is_insecure

BODY = b'{"schemaVersion":2}'


class Flaky:
    def __init__(self, failures: int, status: int = 503, announce: str | None = None) -> None:
        self.failures = failures
        self.announce = announce
        self.status = status
        self.seen: list[str] = []
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                flaky.seen.append(self.path)
                if flaky.failures > 0:
                    flaky.failures -= 1
                    body = b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}'
                    self.send_response(flaky.status)
                else:
                    body = BODY
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                    if flaky.announce:
                        self.send_header("Docker-Content-Digest", flaky.announce)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    f = Flaky(failures=2)
    yield f
    f.close()


def test_transient_failures_are_retried_with_backoff(flaky: Flaky) -> None:
    body, ctype = RegistryClient(flaky.addr).manifest("lab/x", "latest", "*/*", "x")
    assert body == BODY and ctype.startswith("application/vnd.oci")
    assert len(flaky.seen) == 3


def test_not_found_is_not_retried() -> None:
    f = Flaky(failures=5, status=404)
    try:
        with pytest.raises(ManifestUnknown, match="manifest for x not found: unavailable: try later"):
            RegistryClient(f.addr).manifest("lab/x", "latest", "*/*", "x")
        assert len(f.seen) == 1
    finally:
        f.close()


def test_unreachable_registry_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UnreachableError, match=f'Get "http://127.0.0.1:{port}/v2/lab/x/manifests/latest": '):
        RegistryClient(f"127.0.0.1:{port}").manifest("lab/x", "latest", "*/*", "x")


def test_plain_http_only_for_loopback_and_configured_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_insecure("127.0.0.1:5000") and is_insecure("localhost:5000") and is_insecure("[::1]:5000")
    assert not is_insecure("registry.example.com")
    monkeypatch.setenv("KETCH_INSECURE_REGISTRIES", "registry.example.com, other:5000")
    assert is_insecure("registry.example.com") and is_insecure("other:5000")
    assert RegistryClient("docker.io").host == "registry-1.docker.io"
    assert RegistryClient("docker.io").scheme == "https"


def test_manifest_must_match_the_digest_asked_for_or_announced() -> None:
    import hashlib

    good = "sha256:" + hashlib.sha256(BODY).hexdigest()
    other = "sha256:" + "0" * 64
    for announce, ident in ((other, "latest"), (None, other), (good, "latest")):
        f = Flaky(failures=0, announce=announce)
        try:
            client = RegistryClient(f.addr)
            if good in (announce, ident):
                assert client.manifest("lab/x", ident, "*/*", "x")[0] == BODY
            else:
                with pytest.raises(DigestMismatchError, match=f"expected {other}, got {good}"):
                    client.manifest("lab/x", ident, "*/*", "x")
        finally:
            f.close()


def test_one_parser_reads_a_registrys_error_body() -> None:
    from ketch.registry.client import error_detail, error_entries, error_summary

    two = b'{"errors": [{"code": "NAME_UNKNOWN", "message": "no repo"}, {"code": "DENIED", "message": "no"}]}'
    assert error_entries(two) == [{"code": "NAME_UNKNOWN", "message": "no repo"}, {"code": "DENIED", "message": "no"}]
    assert error_detail(two) == ("name unknown", "no repo")  # docker's wording: the first, lowercased
    assert error_summary(two) == "NAME_UNKNOWN: no repo; DENIED: no"  # push's: all of them
    for other in (b"<html>bad gateway</html>\n", b"[1, 2]", b'{"errors": "x"}'):
        assert error_entries(other) is None
        assert error_detail(other) == ("", other.decode().strip())
        assert error_summary(other) == other.decode()
    assert error_entries(b"") == error_entries(b"{}") == []
    assert error_detail(b"{}") == ("", "{}") and error_summary(b"{}") == ""
