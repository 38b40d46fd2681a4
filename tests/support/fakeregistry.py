"""A registry of the test's own on 127.0.0.1: the distribution API's GETs
over images held in memory, with hooks that let a test make it lie or
stall (a manifest or blob longer than declared, a layer sent slowly)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from support.imagekit import Image

# A hook gets the handler and the digest or tag asked for; True if it answered.
Hook = Callable[["Handler", str], bool]


class FakeRegistry(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, images: dict[str, Image]) -> None:
        """`images`: "repo:tag" -> image."""
        super().__init__(("127.0.0.1", 0), Handler)
        self.tags = {name: (img.manifest, img.media_type) for name, img in images.items()}
        self.manifests = {img.digest: (img.manifest, img.media_type) for img in images.values()}
        self.blobs = {d: b for img in images.values() for d, b in img.blobs.items()}
        self.manifest_hook: Hook | None = None
        self.blob_hook: Hook | None = None
        self.sent = 0  # bytes sent by Handler.stream
        self._thread: threading.Thread | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FakeRegistry:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeRegistry

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        if self.path == "/v2/":
            return self.answer(b"{}", "application/json")
        parts = self.path.split("/")  # "", "v2", repo..., kind, ref
        kind, ref, repo = parts[-2], parts[-1], "/".join(parts[2:-2])
        if kind == "manifests":
            if srv.manifest_hook and srv.manifest_hook(self, ref):
                return None
            found = srv.manifests.get(ref) or srv.tags.get(f"{repo}:{ref}")
            if found:
                return self.answer(*found)
        if kind == "blobs" and ref in srv.blobs:
            if srv.blob_hook and srv.blob_hook(self, ref):
                return None
            return self.answer(srv.blobs[ref], "application/octet-stream")
        self.send_error(404)

    def answer(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, chunks: Iterable[bytes], ctype: str, chunked: bool = True) -> None:
        """A body of unannounced length: chunked, or delimited by closing the
        connection. Stops quietly when the client hangs up; counts what it sent."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            for data in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                self.server.sent += len(data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
