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

from .auth import Auth
from .http import ANONYMOUS, BadRequest, Deadline, Error, Exchange, Head, Limits, read_head
from .routes import Registry
from .serve import run, serve
from .storage import DIGEST, MAX_MANIFEST, NAME, TAG, Storage, references, valid_digest, valid_name, valid_tag

__all__ = [
    "ANONYMOUS", "DIGEST", "MAX_MANIFEST", "NAME", "TAG", "Auth", "BadRequest", "Deadline", "Error", "Exchange",
    "Head", "Limits", "Registry", "Storage", "read_head", "references", "run", "serve", "valid_digest",
    "valid_name", "valid_tag",
]  # fmt: skip
