"""The store's metadata in SQLite (WAL): the whole schema and its migrations.
Every change is one transaction. The SQL lives in this package only: db (the
schema), images, layers, containers, blobs."""

from __future__ import annotations

import os
import time
from _thread import _local as _thread_local  # threading.local itself: threading is 1 ms of `ketch ps`
from _weakref import ref as _weak  # weakref.ref itself: the weakref module is 1 ms of `ketch ps`

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    import sqlite3
else:
    try:
        # The C module the sqlite3 package re-exports (the same classes and
        # errors): the package adds date adapters ketch does not use, and
        # imports datetime and collections for them (~3 ms of `ketch ps`).
        import _sqlite3 as sqlite3
    except ImportError:
        import sqlite3
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import NoReturn


# The schema, as numbered steps: `PRAGMA user_version` says how many a store
# has had. A store is brought up to date in one transaction when it is opened;
# a step is never edited once released: a change is a new step at the end.
# Step 1 is the schema as it was before it was versioned (its tables were made
# with IF NOT EXISTS on every open, some of them by the modules using them),
# so that a store made then takes it as it is.
_V1 = """
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id  TEXT NOT NULL,
    parent   TEXT,              -- chain id of the layer below, NULL at the bottom
    size     INTEGER NOT NULL   -- bytes of regular files in the layer
);
CREATE TABLE IF NOT EXISTS images (
    id        TEXT PRIMARY KEY, -- the config digest, as docker's image id
    parent    TEXT,             -- parent image id (builds), NULL otherwise
    created   TEXT,             -- the config's "created"
    size      INTEGER NOT NULL, -- sum of its layers' sizes
    added     REAL NOT NULL,    -- when it entered the store (unix time)
    manifest  TEXT              -- digest of an image manifest (in content/) naming its layer blobs
);
-- An image's layers, bottom first. A layer's reference count is the number
-- of rows naming it here: counted, never stored, so it cannot drift.
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
-- Blobs an image keeps alive in content/: config, manifests, compressed layers.
CREATE TABLE IF NOT EXISTS image_blobs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
);
CREATE INDEX IF NOT EXISTS image_blobs_digest ON image_blobs(digest);
CREATE TABLE IF NOT EXISTS tags (
    name     TEXT PRIMARY KEY,  -- domain/path:tag
    image_id TEXT NOT NULL REFERENCES images(id),
    tagged   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
-- The manifest digest each repository knows an image by (RepoDigests).
CREATE TABLE IF NOT EXISTS repo_digests (
    repo     TEXT NOT NULL,     -- domain/path
    digest   TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS repo_digests_image ON repo_digests(image_id);
CREATE TABLE IF NOT EXISTS containers (
    id        TEXT PRIMARY KEY,     -- 64 hex
    name      TEXT NOT NULL UNIQUE, -- without docker's leading "/"
    image_id  TEXT NOT NULL REFERENCES images(id),
    image     TEXT NOT NULL,        -- the image as the user named it
    config    TEXT NOT NULL,        -- JSON: what the process is started with
    created   REAL NOT NULL,
    state     TEXT NOT NULL,        -- created, running, exited
    pid       INTEGER,
    pid_start INTEGER,              -- the process's start time (/proc/PID/stat), against pid reuse
    exit_code INTEGER,
    started   REAL,
    finished  REAL
);
CREATE TABLE IF NOT EXISTS networks (
    name      TEXT PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE,
    subnet    TEXT NOT NULL,        -- e.g. 172.18.0.0/16
    gateway   TEXT NOT NULL,
    bridge    TEXT NOT NULL,
    next_ip   INTEGER NOT NULL,     -- where the next allocation starts (released ones wait their turn)
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    network   TEXT NOT NULL,
    ip        TEXT NOT NULL,
    container TEXT NOT NULL,
    PRIMARY KEY (network, ip)
);
CREATE TABLE IF NOT EXISTS ports (
    host_ip   TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    proto     TEXT NOT NULL,
    container TEXT NOT NULL,
    ip        TEXT NOT NULL,        -- the container's address
    port      INTEGER NOT NULL,     -- the container's port
    PRIMARY KEY (host_ip, host_port, proto)
);
-- Which repositories of a registry hold a blob (for cross-repository mounts on push).
CREATE TABLE IF NOT EXISTS blob_repos (
    registry TEXT NOT NULL,
    digest   TEXT NOT NULL,
    repo     TEXT NOT NULL,
    PRIMARY KEY (registry, digest, repo)
);
-- The gzipped form of a plain layer blob, made when an image built here is pushed.
CREATE TABLE IF NOT EXISTS gzipped (
    plain  TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    size   INTEGER NOT NULL
);
"""


def _v1(c: sqlite3.Connection) -> None:
    for statement in _statements(_V1):
        c.execute(statement)
    columns = {r[1] for r in c.execute("PRAGMA table_info(images)")}
    if "manifest" not in columns:  # stores made before images had a manifest
        c.execute("ALTER TABLE images ADD COLUMN manifest TEXT")


def _v2(c: sqlite3.Connection) -> None:
    """networks.user_subnet: whether `network create` was given --subnet
    (docker takes --ip only on such a network). The networks made before
    were taking --ip: they keep doing so."""
    c.execute("ALTER TABLE networks ADD COLUMN user_subnet INTEGER NOT NULL DEFAULT 0")
    c.execute("UPDATE networks SET user_subnet=1")


def _v3(c: sqlite3.Connection) -> None:
    """networks.labels: `network create --label` (and the Engine API's Labels), a JSON object."""
    c.execute("ALTER TABLE networks ADD COLUMN labels TEXT NOT NULL DEFAULT '{}'")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3]
VERSION = len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """The statements of `script` (executescript would commit the transaction)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out


RESERVE = 2 << 20  # bytes held back for the database, given up when the disk is (nearly) full


def _free(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _full(e: sqlite3.OperationalError) -> bool:
    """SQLite's ways of saying that a write found no room (the WAL index
    cannot grow: "disk I/O error"; the WAL cannot: "database or disk is full")."""
    return "disk is full" in str(e) or "disk I/O error" in str(e)


# Every Database of the process (weakly: id -> reference), so that a face ending
# the process at once (the CLI, by os._exit) can still close them first: `close_all`.
_opened: dict[int, _weak[Database]] = {}


def _track(d: Database) -> None:
    key = id(d)
    _opened[key] = _weak(d, lambda _r: _opened.pop(key, None))


def close_all() -> None:
    """Closes this thread's connection of every Database still open: the
    last close of a database checkpoints its log to disk, the durability the
    interpreter's own teardown gives when it collects them."""
    for r in list(_opened.values()):
        d = r()
        if d is not None:
            d.close()


class Database:
    """One connection per thread; writes are `BEGIN IMMEDIATE` transactions.

    A full disk must not wedge the store (`ps` and `rm -f` have to keep
    working to free it): a reserve file beside the database holds RESERVE
    bytes while there is room, and is deleted as soon as the free space drops
    below that, before SQLite needs it; it is made again once there is room."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)  # a str: the listings open it without importing pathlib
        self.dir = os.path.dirname(self.path) or "."
        self.reserve = self.path + ".reserve"
        self._local = _thread_local()
        _track(self)
        self._balance_reserve()
        # Two commands opening a new store at once race to set it up: switching
        # to WAL takes an exclusive lock that SQLite does not wait for.
        for attempt in range(100):
            try:
                self._setup()
                break
            except sqlite3.OperationalError as e:
                self._drop_conn()
                if _full(e) and self._release_reserve():
                    continue
                if "locked" not in str(e) or attempt == 99:
                    self._fail(e)
                time.sleep(0.05)

    def _balance_reserve(self) -> None:
        try:
            free = _free(self.dir)
        except OSError:
            return
        if free < RESERVE:
            self._release_reserve()
        elif free >= 4 * RESERVE and not os.path.exists(self.reserve):
            tmp = f"{self.reserve}.tmp-{os.getpid()}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                try:
                    os.posix_fallocate(fd, 0, RESERVE)
                finally:
                    os.close(fd)
                os.rename(tmp, self.reserve)
            except OSError:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass

    def _release_reserve(self) -> bool:
        """Gives the reserve's room to the database; whether there was one."""
        try:
            os.unlink(self.reserve)
            return True
        except FileNotFoundError:
            return False

    def _fail(self, e: sqlite3.OperationalError) -> NoReturn:
        """Raises `e`, as one line saying so when it is the disk that is full."""
        if _full(e) and _free(self.dir) < RESERVE:
            from ..errors import NoSpaceError

            raise NoSpaceError(
                f"no space left on device for the store at {self.dir}: "
                "free some space (ketch rm, ketch rmi) or choose another --root"
            ) from e
        raise e

    def _drop_conn(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def _setup(self) -> None:
        c = self.conn()
        if c.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            c.execute("PRAGMA journal_mode=WAL")
        if c.execute("PRAGMA user_version").fetchone()[0] == VERSION:
            return  # every open but the first after an upgrade: one read
        with self.write() as w:
            # Read again under the write lock: another command may have migrated meanwhile.
            have = w.execute("PRAGMA user_version").fetchone()[0]
            if have > VERSION:
                from ..errors import KetchError

                raise KetchError(
                    f"the store at {self.dir} has schema version {have}, newer than this ketch "
                    f"knows ({VERSION}): upgrade ketch"
                )
            for step in MIGRATIONS[have:]:
                step(w)
            w.execute(f"PRAGMA user_version={VERSION}")

    def conn(self) -> sqlite3.Connection:
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA foreign_keys=ON")
            c.row_factory = sqlite3.Row
            self._local.conn = c
        return c

    def write(self) -> _Write:
        """`with db.write() as c:` one BEGIN IMMEDIATE transaction on `c`,
        committed when the block ends, rolled back when it raises."""
        return _Write(self)

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn().execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            self._drop_conn()
            if not (_full(e) and self._release_reserve()):
                self._fail(e)
            return self.conn().execute(sql, args).fetchall()

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None


class _Write:
    """Database.write's transaction (a class, not contextlib's generator:
    contextlib brings collections and functools, ~2 ms of `ketch ps`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        db = self.db
        try:
            c = db.conn()
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            db._drop_conn()
            if not (_full(e) and db._release_reserve()):
                db._fail(e)
            c = db.conn()
            c.execute("BEGIN IMMEDIATE")
        self.c = c
        return c

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        db, c = self.db, self.c
        if t is not None:
            try:
                c.execute("ROLLBACK")
            except sqlite3.OperationalError:
                pass  # SQLite rolled back already (a full disk does that)
            if isinstance(e, sqlite3.OperationalError):
                db._release_reserve()  # the next transaction gets its room
                db._fail(e)
            return  # the exception goes on
        try:
            c.execute("COMMIT")
        except sqlite3.OperationalError as ce:
            try:
                c.execute("ROLLBACK")
            except sqlite3.OperationalError:
                pass
            db._release_reserve()
            db._fail(ce)
