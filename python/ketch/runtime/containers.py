"""Container life cycle: create (state on disk and in the db), start in the
foreground, list, remove.

    <root>/containers/<id>/upper, work   the container's copy-on-write layer
    <root>/containers/<id>/rootfs        where its root is mounted, in its own mount namespace only
    <root>/containers/<id>/hosts, hostname, resolv.conf
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _native
from ..errors import ConflictError, ContainerNotFound, KetchError, SpawnError
from ..store import Store
from ..store import images as imgs
from . import cgroups, spec

_ADJ = "admiring brave clever dreamy eager festive gallant happy jolly keen lucid modest nifty serene".split()
_NAMES = "babbage curie darwin euler fermi galois hopper lovelace noether pascal ritchie shannon turing wozniak".split()


@dataclass
class Container:
    id: str
    name: str
    image_id: str
    image: str
    config: dict[str, Any]
    created: float
    state: str
    pid: int | None
    pid_start: int | None
    exit_code: int | None
    started: float | None
    finished: float | None

    @property
    def short_id(self) -> str:
        return self.id[:12]


def _dir(store: Store, cid: str) -> Path:
    return store.root / "containers" / cid


def _row(r: Any) -> Container:
    return Container(
        r["id"],
        r["name"],
        r["image_id"],
        r["image"],
        json.loads(r["config"]),
        r["created"],
        r["state"],
        r["pid"],
        r["pid_start"],
        r["exit_code"],
        r["started"],
        r["finished"],
    )


def _proc_start(pid: int) -> int | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(data.rpartition(")")[2].split()[19])


def _alive(c: Container) -> bool:
    return c.pid is not None and c.pid_start is not None and _proc_start(c.pid) == c.pid_start


def reconcile(store: Store, c: Container) -> Container:
    """A container recorded as running whose process is gone (its watcher was
    killed) is exited: never shown as running forever."""
    if c.state == "running" and not _alive(c):
        with store.db.write() as db:
            db.execute(
                "UPDATE containers SET state='exited', exit_code=COALESCE(exit_code, 137), finished=? WHERE id=?",
                (time.time(), c.id),
            )
        c.state, c.exit_code = "exited", c.exit_code if c.exit_code is not None else 137
    return c


def list_containers(store: Store) -> list[Container]:
    rows = store.db.query("SELECT * FROM containers ORDER BY created DESC")
    return [reconcile(store, _row(r)) for r in rows]


def lookup(store: Store, ref: str) -> Container:
    """By name (with or without docker's leading /), full id or unique id prefix."""
    name = ref.lstrip("/")
    rows = store.db.query("SELECT * FROM containers WHERE name=? OR id=?", (name, ref))
    if not rows and ref and all(ch in "0123456789abcdef" for ch in ref):
        rows = store.db.query("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",))
        if len(rows) > 1:
            raise KetchError(f"multiple IDs found with provided prefix: {ref}")
    if not rows:
        raise ContainerNotFound(f"No such container: {ref}")
    return reconcile(store, _row(rows[0]))


def _random_name(store: Store) -> str:
    for _ in range(100):
        name = f"{random.choice(_ADJ)}_{random.choice(_NAMES)}"
        if not store.db.query("SELECT 1 FROM containers WHERE name=?", (name,)):
            return name
    return f"{random.choice(_ADJ)}_{random.choice(_NAMES)}{random.randint(1, 999)}"


def create(
    store: Store,
    image_name: str,
    args: list[str],
    *,
    name: str | None = None,
    env: list[str] | None = None,
    workdir: str | None = None,
    user: str | None = None,
    entrypoint: str | None = None,
    hostname: str | None = None,
    network: str = "none",
    limits: cgroups.Limits | None = None,
) -> Container:
    img, _ = imgs.lookup(store, image_name)
    config = imgs.config(store, img.id)
    chains = imgs.layer_chain(store, img.id)
    lowerdirs = [str(store.layers.diff(c)) for c in reversed(chains)]
    if not lowerdirs:
        raise KetchError(f"image {image_name} has no layers to run")
    if network not in ("none", "host"):
        raise KetchError(f'network "{network}" is not supported yet: use --network none or --network host')
    icfg = config.get("config") or {}
    argv = spec.command(config, args, entrypoint)
    cid = secrets.token_hex(32)
    host = hostname or cid[:12]
    environment = spec.merge_env(list(icfg.get("Env") or []), list(env or []))
    environment.append(f"HOSTNAME={host}")
    cwd = workdir or icfg.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise KetchError(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    uid, gid, groups = spec.resolve_user(
        user if user is not None else icfg.get("User") or "", [Path(p) for p in lowerdirs]
    )
    name = name.lstrip("/") if name else None
    process = {
        "argv": argv,
        "env": environment,
        "cwd": cwd,
        "uid": uid,
        "gid": gid,
        "groups": groups,
        "hostname": host,
        "network": network,
        "lowerdirs": lowerdirs,
        "user": user or icfg.get("User") or "",
        "limits": vars(limits or cgroups.Limits()),
    }
    d = _dir(store, cid)
    now = time.time()
    with store.db.write() as db:
        if name:
            taken = db.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()
            if taken:
                raise ConflictError(
                    f'Conflict. The container name "/{name}" is already in use by container "{taken[0]}". '
                    "You have to remove (or rename) that container to be able to reuse that name."
                )
        else:
            name = _random_name(store)
        db.execute(
            "INSERT INTO containers(id, name, image_id, image, config, created, state) VALUES (?,?,?,?,?,?,?)",
            (cid, name, img.id, image_name, json.dumps(process), now, "created"),
        )
    try:
        for sub in ("upper", "work", "rootfs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "hostname").write_text(host + "\n")
        (d / "hosts").write_text(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        )
        (d / "resolv.conf").write_text(_resolv_conf())
    except BaseException:
        remove(store, cid, force=True)
        raise
    return lookup(store, cid)


def _resolv_conf() -> str:
    """The host's, less loopback nameservers (unreachable from a container), as docker does."""
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        lines = []
    out = [
        ln
        for ln in lines
        if not (
            ln.split()[:1] == ["nameserver"]
            and ln.split()[1:2]
            and (ln.split()[1].startswith("127.") or ln.split()[1] == "::1")
        )
    ]
    if not any(ln.startswith("nameserver") for ln in out):
        out += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(out) + "\n"


def start(store: Store, c: Container) -> int:
    """Starts the container's process; returns its pid. Exec failures raise
    SpawnError with docker's exit codes (127 not found, 126 not executable)."""
    p = c.config
    d = _dir(store, c.id)
    files = [
        (str(d / "hosts"), "/etc/hosts"),
        (str(d / "hostname"), "/etc/hostname"),
        (str(d / "resolv.conf"), "/etc/resolv.conf"),
    ]
    procs = cgroups.create(c.id, cgroups.Limits(**p.get("limits", {})))
    try:
        pid = _native.spawn(
            d / "rootfs",
            p["lowerdirs"],
            d / "upper",
            d / "work",
            p["hostname"],
            p["argv"],
            p["env"],
            p["cwd"],
            p["uid"],
            p["gid"],
            p["groups"],
            p["network"] != "host",
            files,
            _native.docker_caps(),
            procs,
        )
    except BaseException as e:
        cgroups.remove(c.id)
        if not isinstance(e, SpawnError):
            raise
        with store.db.write() as db:
            db.execute(
                "UPDATE containers SET state='exited', exit_code=?, finished=? WHERE id=?",
                (_exit_code(e), time.time(), c.id),
            )
        raise _describe(e, p["argv"][0]) from e
    with store.db.write() as db:
        db.execute(
            "UPDATE containers SET state='running', pid=?, pid_start=?, started=?, exit_code=NULL WHERE id=?",
            (pid, _proc_start(pid), time.time(), c.id),
        )
    return pid


def _exit_code(e: SpawnError) -> int:
    if e.stage == "exec":
        return 127 if e.errno == 2 else 126
    return 125


def _describe(e: SpawnError, cmd: str) -> KetchError:
    msg = str(e.args[2]).split(" (os error")[0].lower()
    if e.stage == "exec":
        text = f'exec: "{cmd}": stat {cmd}: {msg}' if e.errno == 2 else f'exec: "{cmd}": {msg}'
    else:
        text = f"{e.stage}: {msg}"
    err = KetchError(f"ketch: failed to start container process: {text}")
    err.exit_code = _exit_code(e)
    return err


def wait(store: Store, c: Container, pid: int) -> int:
    """Waits for the process, forwarding SIGINT/SIGTERM/SIGHUP to it, and records its exit."""
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.getsignal(s) for s in forwarded}

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in forwarded:
        signal.signal(s, forward)
    try:
        while (code := _native.wait(pid)) is None:
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    cgroups.remove(c.id)
    with store.db.write() as db:
        db.execute(
            "UPDATE containers SET state='exited', exit_code=?, finished=? WHERE id=?", (code, time.time(), c.id)
        )
    return code


def remove(store: Store, ref: str, force: bool = False) -> Container:
    c = lookup(store, ref)
    if c.state == "running":
        if not force:
            raise ConflictError(
                f"You cannot remove a running container {c.id}. Stop the container before attempting removal "
                "or force remove"
            )
        if c.pid is not None and _alive(c):
            os.kill(c.pid, signal.SIGKILL)
            for _ in range(100):
                if not _alive(c):
                    break
                time.sleep(0.01)
    cgroups.remove(c.id)
    shutil.rmtree(_dir(store, c.id), ignore_errors=True)
    with store.db.write() as db:
        db.execute("DELETE FROM containers WHERE id=?", (c.id,))
    return c
