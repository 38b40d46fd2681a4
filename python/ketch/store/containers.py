"""The containers table: one row per container, its process's state
(created, running, exited) and the JSON it is started with. The life cycle
itself (what the rows mean, when they change) is the runtime's: containers (create,
remove), state (refresh), process (start)."""

from __future__ import annotations

from ..errors import ConflictError, ContainerNotFound, KetchError
from ..fastjson import loads
from . import Store

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any


def path(store: Store, cid: str) -> Path:
    """The container's directory: upper/, work/, rootfs/, its log and its /etc files."""
    from pathlib import Path

    return Path(dir_of(store, cid))


def dir_of(store: Store, cid: str) -> str:
    """`path`, as a str (the listings' form: no pathlib)."""
    return f"{store.dir}/containers/{cid}"


def _name_conflict(name: str, holder: str) -> ConflictError:
    return ConflictError(
        f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


def every(store: Store) -> list[sqlite3.Row]:
    """All rows, the newest first."""
    return store.db.query("SELECT * FROM containers ORDER BY created DESC")


def find(store: Store, ref: str) -> sqlite3.Row | None:
    """By name (with or without docker's leading /), full id or unique id prefix."""
    rows = store.db.query("SELECT * FROM containers WHERE name=? OR id=?", (ref.lstrip("/"), ref))
    if not rows and ref and all(ch in "0123456789abcdef" for ch in ref):
        rows = store.db.query("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",))
        if len(rows) > 1:
            raise KetchError(f"multiple IDs found with provided prefix: {ref}")
    return rows[0] if rows else None


def name_taken(store: Store, name: str) -> bool:
    return bool(store.db.query("SELECT 1 FROM containers WHERE name=?", (name,)))


def names(store: Store) -> dict[str, str]:
    """Every container's name, by id."""
    return {r["id"]: r["name"] for r in store.db.query("SELECT id, name FROM containers")}


def configs(store: Store) -> list[tuple[str, dict[str, Any]]]:
    """(id, config) of every container."""
    return [(r["id"], loads(r["config"])) for r in store.db.query("SELECT id, config FROM containers")]


def using_image(store: Store, image_id: str) -> str | None:
    """The id of a container made from the image, if any."""
    rows = store.db.query("SELECT id FROM containers WHERE image_id=? LIMIT 1", (image_id,))
    return rows[0]["id"] if rows else None


def insert(
    store: Store,
    cid: str,
    name: str | None,
    image_id: str,
    image: str,
    config: dict[str, Any],
    created: float,
    random_name: Callable[[], str],
) -> str:
    """Records a new container (state "created") under `name`, or one
    `random_name()` gives (under the same write lock: no other command takes
    it meanwhile); returns the name. A name in use is a ConflictError."""
    with store.db.write() as db:
        if name:
            taken = db.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()
            if taken:
                raise _name_conflict(name, taken[0])
        else:
            name = random_name()
        db.execute(
            "INSERT INTO containers(id, name, image_id, image, config, created, state) VALUES (?,?,?,?,?,?,?)",
            (cid, name, image_id, image, _dumps(config), created, "created"),
        )
    return name


def rename(store: Store, cid: str, new: str) -> None:
    with store.db.write() as db:
        taken = db.execute("SELECT id FROM containers WHERE name=?", (new,)).fetchone()
        if taken and taken[0] != cid:
            raise _name_conflict(new, taken[0])
        db.execute("UPDATE containers SET name=? WHERE id=?", (new, cid))


def set_running(store: Store, cid: str, pid: int, pid_start: int | None, started: float) -> None:
    with store.db.write() as db:
        db.execute(
            "UPDATE containers SET state='running', pid=?, pid_start=?, started=?, exit_code=NULL WHERE id=?",
            (pid, pid_start, started, cid),
        )


def set_exited(store: Store, cid: str, exit_code: int | None, finished: float, if_running: bool = False) -> bool:
    """Records the container's end. `if_running`: only over a row still
    running (what its monitor reported may arrive after another end was
    recorded). An `exit_code` of None keeps the one recorded, 137 without one
    (the process vanished: it was killed). Whether a row changed (the one
    who records an end is the one who reports it: its die event)."""
    with store.db.write() as db:
        if exit_code is None:
            cur = db.execute(
                "UPDATE containers SET state='exited', exit_code=COALESCE(exit_code, 137), finished=? WHERE id=?"
                + (" AND state='running'" if if_running else ""),
                (finished, cid),
            )
        else:
            cur = db.execute(
                "UPDATE containers SET state='exited', exit_code=?, finished=? WHERE id=?"
                + (" AND state='running'" if if_running else ""),
                (exit_code, finished, cid),
            )
        return cur.rowcount > 0


def set_config(store: Store, cid: str, config: str) -> None:
    """The JSON a container is started with, replaced (`update`'s new limits)."""
    with store.db.write() as db:
        db.execute("UPDATE containers SET config=? WHERE id=?", (config, cid))


def set_connected(store: Store, cid: str, network: str, entry: dict[str, Any] | None) -> dict[str, Any]:
    """One network of the container's `network connect` list (config key
    `connected`) set to `entry`, or dropped with None, read and written in
    one transaction: a concurrent `update` or connect loses nothing. The
    config as written."""
    with store.db.write() as db:
        row = db.execute("SELECT config FROM containers WHERE id=?", (cid,)).fetchone()
        if row is None:
            raise ContainerNotFound(f"No such container: {cid}")
        config = loads(row[0])
        connected = dict(config.get("connected") or {})
        if entry is None:
            connected.pop(network, None)
        else:
            connected[network] = entry
        config["connected"] = connected
        db.execute("UPDATE containers SET config=? WHERE id=?", (_dumps(config), cid))
        return config


def _dumps(config: dict[str, Any]) -> str:
    import json

    return json.dumps(config)


def delete(store: Store, cid: str) -> None:
    with store.db.write() as db:
        db.execute("DELETE FROM containers WHERE id=?", (cid,))
