"""Content-addressed blobs: written to ingest/, verified, then renamed into
blobs/sha256/<hex> by `ContentStore.commit_file`, the only way in. Nothing
half-written is ever under a final name."""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from types import TracebackType

from .. import _native
from ..errors import DigestMismatchError, KetchError, NoSpaceError

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _hex(digest: str) -> str:
    """The hex part of a sha256 digest; anything else (a path among them) is refused."""
    algo, _, hexpart = str(digest).partition(":")
    if algo != "sha256" or not _HEX64.fullmatch(hexpart):
        raise KetchError(f"unsupported digest {str(digest)[:80]!r}")
    return hexpart


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# An ingest's file name: the digest expected (or "unknown"), a random part.
_INGEST_NAME = re.compile(r"(?:[0-9a-f]{64}|unknown)-[0-9a-f]{12}")
# The temporary files of save, commit and push, which hold no lock.
_TEMP_PREFIXES = ("save-", "layer-", "gzip-")


class Ingest:
    """A blob being written. `commit()` checks size and digest, fsyncs and
    renames it into place; leaving the `with` block without a commit removes it.
    Its file stays flock'ed while it is open: a free lock marks the leftover
    of a killed writer, which `ContentStore.clean_ingest` removes. Without
    `hashed` its writer hashes the bytes elsewhere (a pull's unpacker reads
    the same stream) and hands the digest to `commit`."""

    def __init__(
        self, store: ContentStore, expected: str | None, expected_size: int | None, hashed: bool = True
    ) -> None:
        import uuid

        self.store = store
        self.expected = expected
        self.expected_size = expected_size
        name = _hex(expected) if expected else "unknown"
        while True:
            self.path = store.ingest_dir / f"{name}-{uuid.uuid4().hex[:12]}"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            # A cleaner may have seen the file before this lock: it then removed it.
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        self.file = os.fdopen(fd, "wb")  # closed in commit/abort, after the rename/unlink
        self.hasher = _native.Sha256() if hashed else None
        self.size = 0

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as e:
            if e.errno == 28:
                raise NoSpaceError(f"no space left on device writing {self.path.parent}") from e
            raise
        if self.hasher is not None:
            self.hasher.update(data)
        self.size += len(data)

    def commit(self, digest: str | None = None) -> str:
        """Returns the blob's digest (checked against the expected one, if
        any): its own hash's, else `digest` (what hashed the same bytes as
        they were written, e.g. the unpacker), else the file is read."""
        self.file.flush()
        if self.hasher is not None:
            digest = self.hasher.digest()
        # still locked while it is renamed: no cleaner takes it meanwhile
        actual = self.store.commit_file(self.path, self.expected, self.expected_size, digest=digest)
        self.file.close()
        return actual

    def abort(self) -> None:
        if self.file.closed:
            return  # committed
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.file.close()

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_dir = root / "blobs" / "sha256"
        self.ingest_dir = root / "ingest"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.blob_dir / _hex(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def commit_file(
        self, tmp: Path, expected: str | None, expected_size: int | None = None, *, digest: str | None = None
    ) -> str:
        """Moves the file `tmp` (under ingest/) into blobs/ as the blob it
        holds, once it is durable (fsync) and its size and digest are the
        expected ones (None: whatever it is); returns its digest. `digest` is
        the one its writer computed as it wrote it (else it is read here).
        On a mismatch `tmp` stays where it is, for its writer to remove."""
        fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if expected_size is not None and size != expected_size:
            raise DigestMismatchError(f"size mismatch for {expected}: expected {expected_size} bytes, got {size}")
        actual = digest if digest is not None else _native.sha256_file(tmp)[0]
        if expected is not None and actual != expected:
            raise DigestMismatchError(f"digest mismatch: expected {expected}, got {actual}")
        final = self.path(actual)
        os.rename(tmp, final)
        fsync_dir(final.parent)
        return actual

    def temp(self, prefix: str) -> Path:
        """A name under ingest/ for a file that a writer other than `ingest`
        makes (Rust: a layer tar, a gzipped layer) before `commit_file`;
        `prefix` is one that `clean_ingest` knows."""
        import uuid

        assert prefix in _TEMP_PREFIXES
        return self.ingest_dir / f"{prefix}{uuid.uuid4().hex[:12]}"

    def ingest(self, expected: str | None, expected_size: int | None = None, hashed: bool = True) -> Ingest:
        return Ingest(self, expected, expected_size, hashed)

    def write(self, data: bytes, expected: str | None = None) -> str:
        digest = expected or _native.sha256_bytes(data)
        if not self.has(digest):
            with self.ingest(digest, len(data)) as ing:
                ing.write(data)
                ing.commit()
        return digest

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass

    def clean_ingest(self, older_than: float = 3600.0) -> None:
        """Removes the partial downloads of killed writers: ingests whose lock
        nobody holds (a live one holds its own until it is committed or
        removed), and the temporary files of save, commit and push
        (`save-`, `layer-`, `gzip-`) older than `older_than` seconds."""
        import time

        now = time.time()
        for p in self.ingest_dir.iterdir():
            if not _INGEST_NAME.fullmatch(p.name):
                try:
                    if p.name.startswith(_TEMP_PREFIXES) and now - p.stat().st_mtime > older_than:
                        p.unlink()
                except FileNotFoundError:
                    pass
                continue
            try:
                fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.stat(p).st_ino == os.fstat(fd).st_ino:
                    os.unlink(p)
            except OSError:
                pass  # held: a live ingest (or already gone)
            finally:
                os.close(fd)
