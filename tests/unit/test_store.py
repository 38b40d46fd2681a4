"""The store on its own (no root needed): a store made before the schema was
versioned opens and upgrades in place, leftovers of killed writers go when a
store is opened (never a live writer's), the one way into content/blobs/
checks what it is given, and settings are read once, lazily."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ketch.errors import DigestMismatchError, KetchError
from ketch.store import Store
from ketch.store import db as dbmod

# The schema as the code before `PRAGMA user_version` made it (CREATE ... IF
# NOT EXISTS on every open; blob_repos and gzipped made by push when first
# used). Frozen here: it is what stores on disk have, whatever db.py becomes.
OLD_SCHEMA = """
CREATE TABLE layers (chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, parent TEXT, size INTEGER NOT NULL);
CREATE TABLE images (
    id TEXT PRIMARY KEY, parent TEXT, created TEXT, size INTEGER NOT NULL, added REAL NOT NULL{manifest});
CREATE TABLE image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, idx INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id), PRIMARY KEY (image_id, idx));
CREATE INDEX image_layers_chain ON image_layers(chain_id);
CREATE TABLE image_blobs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, digest TEXT NOT NULL,
    PRIMARY KEY (image_id, digest));
CREATE INDEX image_blobs_digest ON image_blobs(digest);
CREATE TABLE tags (name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id), tagged REAL NOT NULL);
CREATE INDEX tags_image ON tags(image_id);
CREATE TABLE repo_digests (
    repo TEXT NOT NULL, digest TEXT NOT NULL, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repo, digest));
CREATE INDEX repo_digests_image ON repo_digests(image_id);
CREATE TABLE containers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image_id TEXT NOT NULL REFERENCES images(id),
    image TEXT NOT NULL, config TEXT NOT NULL, created REAL NOT NULL, state TEXT NOT NULL, pid INTEGER,
    pid_start INTEGER, exit_code INTEGER, started REAL, finished REAL);
CREATE TABLE networks (
    name TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, subnet TEXT NOT NULL, gateway TEXT NOT NULL,
    bridge TEXT NOT NULL, next_ip INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE leases (network TEXT NOT NULL, ip TEXT NOT NULL, container TEXT NOT NULL, PRIMARY KEY (network, ip));
CREATE TABLE ports (
    host_ip TEXT NOT NULL, host_port INTEGER NOT NULL, proto TEXT NOT NULL, container TEXT NOT NULL,
    ip TEXT NOT NULL, port INTEGER NOT NULL, PRIMARY KEY (host_ip, host_port, proto));
{pushed}
"""
PUSHED = """
CREATE TABLE blob_repos(registry TEXT NOT NULL, digest TEXT NOT NULL, repo TEXT NOT NULL,
    PRIMARY KEY(registry, digest, repo));
CREATE TABLE gzipped(plain TEXT PRIMARY KEY, digest TEXT NOT NULL, size INTEGER NOT NULL);
"""
IMAGE = "sha256:" + "ab" * 32
CID = "c0" * 32


def old_store(root: Path, manifest_column: bool, pushed: bool) -> None:
    """A store as the code before versioning left it: one image, tagged, and one exited container."""
    root.mkdir()
    c = sqlite3.connect(root / "ketch.db", isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.executescript(
        OLD_SCHEMA.format(manifest=", manifest TEXT" if manifest_column else "", pushed=PUSHED if pushed else "")
    )
    c.execute("INSERT INTO images(id, created, size, added) VALUES (?,?,?,?)", (IMAGE, "2024-01-01T00:00:00Z", 5, 1.0))
    c.execute("INSERT INTO tags VALUES (?,?,?)", ("docker.io/library/busybox:latest", IMAGE, 1.0))
    config = {"argv": ["sh"], "env": [], "cwd": "/", "lowerdirs": []}
    c.execute(
        "INSERT INTO containers(id, name, image_id, image, config, created, state, exit_code) VALUES (?,?,?,?,?,?,?,?)",
        (CID, "old_one", IMAGE, "busybox", json.dumps(config), 2.0, "exited", 3),
    )
    if pushed:
        c.execute("INSERT INTO blob_repos VALUES ('r:5000', ?, 'lab/x')", (IMAGE,))
    c.close()


@pytest.mark.parametrize(("manifest_column", "pushed"), [(True, True), (True, False), (False, False)])
def test_a_store_made_before_versioning_opens_and_upgrades_in_place(
    tmp_path: Path, manifest_column: bool, pushed: bool
) -> None:
    from ketch.runtime import state
    from ketch.store import blobs
    from ketch.store import images as imgs

    root = tmp_path / "store"
    old_store(root, manifest_column, pushed)
    store = Store(root)
    assert store.db.query("PRAGMA user_version")[0][0] == dbmod.VERSION
    [img] = imgs.list_images(store)
    assert (img.id, img.tags) == (IMAGE, ["docker.io/library/busybox:latest"])
    assert imgs.lookup(store, "busybox")[0].id == IMAGE
    assert imgs.manifest_digest(store, IMAGE) is None  # the column is there, empty
    [c] = state.list_containers(store)
    assert (c.id, c.name, c.state, c.exit_code) == (CID, "old_one", "exited", 3)
    assert state.lookup(store, "old_one").id == CID
    assert blobs.sources(store, "r:5000", IMAGE, "lab/y") == (["lab/x"] if pushed else [])
    blobs.remember(store, "r:5000", "lab/z", [IMAGE])  # the tables push needs are there
    store.close()
    # Opened again: nothing left to do, the rows still there.
    again = Store(root)
    assert [i.id for i in imgs.list_images(again)] == [IMAGE]
    again.close()


def test_a_new_store_gets_the_whole_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    assert store.db.query("PRAGMA user_version")[0][0] == dbmod.VERSION
    tables = {r[0] for r in store.db.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"images", "layers", "containers", "tags", "blob_repos", "gzipped", "networks"} <= tables
    columns = {r[1] for r in store.db.query("PRAGMA table_info(images)")}
    assert "manifest" in columns


def test_a_store_from_a_newer_ketch_is_refused_in_one_line(tmp_path: Path) -> None:
    Store(tmp_path / "s").close()
    c = sqlite3.connect(tmp_path / "s" / "ketch.db", isolation_level=None)
    c.execute(f"PRAGMA user_version={dbmod.VERSION + 1}")
    c.close()
    with pytest.raises(KetchError, match="newer than this ketch knows"):
        Store(tmp_path / "s")


def test_opening_a_store_removes_dead_ingests_and_keeps_live_ones(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    ingest = store.content.ingest_dir
    dead = ingest / ("0" * 64 + "-" + "1" * 12)  # a killed writer's: no lock held on it
    dead.write_bytes(b"partial")
    old_tmp = ingest / "layer-abcdef012345"  # a killed commit's temporary layer, long ago
    old_tmp.write_bytes(b"x")
    os.utime(old_tmp, (1, 1))
    recent_tmp = ingest / "gzip-abcdef012345"  # maybe a live push's
    recent_tmp.write_bytes(b"x")
    with store.content.ingest(None) as live:
        live.write(b"hello")
        Store(tmp_path / "s").close()
        assert sorted(p.name for p in ingest.iterdir()) == sorted([live.path.name, recent_tmp.name])
        digest = live.commit()
    assert store.content.read(digest) == b"hello"


def test_commit_file_checks_size_and_digest_and_leaves_a_bad_file_to_its_writer(tmp_path: Path) -> None:
    from ketch import _native

    store = Store(tmp_path / "s")
    tmp = store.content.temp("layer-")
    tmp.write_bytes(b"content")
    good = _native.sha256_bytes(b"content")
    with pytest.raises(DigestMismatchError, match="size mismatch"):
        store.content.commit_file(tmp, good, 3)
    with pytest.raises(DigestMismatchError, match=f"expected sha256:{'0' * 64}, got {good}"):
        store.content.commit_file(tmp, "sha256:" + "0" * 64)
    with pytest.raises(DigestMismatchError):  # what its writer claims is checked too
        store.content.commit_file(tmp, good, digest="sha256:" + "1" * 64)
    assert tmp.exists() and not store.content.has(good)
    assert store.content.commit_file(tmp, good, 7) == good
    assert not tmp.exists() and store.content.read(good) == b"content"


def test_settings_are_read_lazily_once_and_root_wins(tmp_path: Path) -> None:
    from ketch.config import Settings

    env = {"KETCH_ROOT": str(tmp_path / "env"), "KETCH_MAX_LAYER_BYTES": "12"}
    s = Settings(environ=env)
    assert s.root == tmp_path / "env" and s.max_layer_bytes == 12
    env["KETCH_MAX_LAYER_BYTES"] = "13"
    assert s.max_layer_bytes == 12  # read once
    assert Settings(tmp_path / "flag", environ=env).root == tmp_path / "flag"
    d = Settings(environ={})
    assert (d.root, d.run_root, d.cgroup_root, d.cgroup_parent) == (
        Path("/var/lib/ketch"),
        Path("/run/ketch"),
        Path("/sys/fs/cgroup"),
        "ketch",
    )
    assert d.max_layer_bytes is None and d.default_network is None and not d.debug
    from ketch.errors import UsageError

    with pytest.raises(UsageError, match="KETCH_MAX_LAYER_BYTES=lots: not a number of bytes"):
        _ = Settings(environ={"KETCH_MAX_LAYER_BYTES": "lots"}).max_layer_bytes


def test_no_setting_is_read_at_import_and_root_is_not_written_to_the_environment(tmp_path: Path) -> None:
    """Importing every module reads no KETCH_* variable; `--root` reaches the
    store without being written into os.environ (where children would inherit it)."""
    code = (
        "import os, sys, importlib, pkgutil\n"
        "class Watch(dict):\n"
        "    def get(self, k, d=None):\n"
        "        if k.startswith('KETCH_'): print('READ', k)\n"
        "        return super().get(k, d)\n"
        "import ketch\n"
        "real = os.environ\n"
        "os.environ = Watch(real)\n"
        "for m in pkgutil.walk_packages(ketch.__path__, 'ketch.'):\n"
        "    importlib.import_module(m.name)\n"
        "os.environ = real\n"
        "from ketch.cli import main\n"
        f"rc = main(['--root', {str(tmp_path / 'flag')!r}, 'ps', '-a'])\n"
        "print('RC', rc, 'ENV', os.environ.get('KETCH_ROOT'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KETCH_ROOT"}
    env["KETCH_RUN_ROOT"] = str(tmp_path / "run")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "READ" not in out
    assert out.strip().splitlines()[-1] == "RC 0 ENV None"
    assert (tmp_path / "flag" / "ketch.db").exists()


def test_networks_made_before_user_subnet_keep_taking_ip(tmp_path: Path) -> None:
    """Step 2 (networks.user_subnet): a network of a store at step 1 keeps
    taking --ip (it was, whatever its subnet's origin); a new one records
    whether --subnet was given."""
    import ipaddress

    from ketch.models.network import Network
    from ketch.store import networks as nets

    root = tmp_path / "s"
    old_store(root, True, False)
    c = sqlite3.connect(root / "ketch.db", isolation_level=None)
    c.execute("INSERT INTO networks VALUES ('old', 'aa', '10.1.0.0/24', '10.1.0.1', 'k0', 2, 1.0)")
    c.execute("PRAGMA user_version=1")
    c.close()
    store = Store(root)
    assert store.db.query("PRAGMA user_version")[0][0] == dbmod.VERSION
    old = nets.by_name(store, "old")
    assert old is not None and old.user_subnet
    for name, given in (("picked", False), ("asked", True)):
        sub = ipaddress.IPv4Network("10.2.0.0/24" if given else "10.3.0.0/24")
        nets.insert(store, Network(name, name * 4, sub, sub[1], "k1", 2.0, given))
        got = nets.by_name(store, name)
        assert got is not None and got.user_subnet is given
    store.close()


def test_build_file_digests_are_read_for_the_sources_only(tmp_path: Path) -> None:
    """The digests a COPY's rebuild reuses: the rows of its source and what is
    under it, by path prefix (not a sibling whose name merely starts the same,
    not the rows of every other context ever built); the tables' check on a
    store that has them writes nothing."""
    from ketch.store import buildcache

    store = Store(tmp_path / "s")
    buildcache.ensure(store)
    rows = {p: (f"st-{i}", f"dg-{i}") for i, p in enumerate(
        ["/c/files", "/c/files/a", "/c/files/sub/b", "/c/files2/x", "/c/filesX", "/c/file", "/other/ctx/y", "/c/blob"]
    )}  # fmt: skip
    buildcache.save_file_digests(store, rows)
    got = buildcache.file_digests(store, ["/c/files", "/c/blob"])
    assert got == {p: rows[p] for p in ("/c/files", "/c/files/a", "/c/files/sub/b", "/c/blob")}
    assert set(buildcache.file_digests(store, ["/"])) == set(rows)  # a context at / holds every path
    assert buildcache.file_digests(store, ["/nowhere"]) == {}
    before = os.stat(store.root / "ketch.db-wal").st_size if (store.root / "ketch.db-wal").exists() else 0
    buildcache.ensure(store)  # the tables are there: a read, no transaction
    after = os.stat(store.root / "ketch.db-wal").st_size if (store.root / "ketch.db-wal").exists() else 0
    assert after == before
    store.close()
