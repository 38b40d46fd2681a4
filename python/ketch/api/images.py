"""Image routes: pull (`/images/create`), list, inspect, history, tag,
delete, push, save (`get`), load, search, and `/auth`.

Pull and push answer with dockerd's chunked JSON progress; the stream
starts only with the first event that follows the registry's first answer,
so a missing image or a refused login is an ordinary error answer (the CLI
prints `Error response from daemon: ...`), and an error after that is a
last `{"error": ...}` line in the stream, as dockerd writes it."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from typing import Any

from .http import HTTPError
from .router import Call
from .util import filter_list, prune_filters

MAX_ARCHIVE = 64 << 30  # an image archive's upload (`load`): beyond, 413


def registry_auth(call: Call, domain: str) -> Any:
    """The store, with the X-Registry-Auth credentials (base64url JSON:
    username, password or identitytoken) for `domain` when given: used for
    this request alone, written nowhere."""
    raw = call.req.headers.get("x-registry-auth", "")
    if not raw.strip():
        return call.store
    doc = decode_auth(raw)
    user, password = str(doc.get("username") or ""), str(doc.get("password") or "")
    token = str(doc.get("identitytoken") or "")
    if not (user or token):
        return call.store
    import copy

    store = copy.copy(call.store)  # the same database and files; other settings
    store.settings = call.store.settings.with_auth(domain, user, password, token)
    return store


def decode_auth(raw: str) -> dict[str, Any]:
    raw = raw.strip()
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        doc = json.loads(text)
    except (binascii.Error, ValueError):
        raise HTTPError(400, "invalid X-Registry-Auth header: not base64url-encoded JSON") from None
    if not isinstance(doc, dict):
        raise HTTPError(400, "invalid X-Registry-Auth header: not a JSON object")
    return doc


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def progress_doc(ev: object) -> dict[str, Any] | None:
    """One pull or push event as dockerd's JSON message (None: none is sent)."""
    from ..registry import progress as p

    layer_status: dict[type, str] = {
        p.LayerExists: "Already exists", p.LayerStarted: "Pulling fs layer", p.LayerVerifying: "Verifying Checksum",
        p.LayerDownloaded: "Download complete", p.LayerExtracting: "Extracting", p.LayerExtracted: "Pull complete",
        p.LayerPreparing: "Preparing", p.LayerPushed: "Pushed", p.LayerAlreadyPushed: "Layer already exists",
    }  # fmt: skip
    status = layer_status.get(type(ev))
    if status is not None:
        return {"status": status, "progressDetail": {}, "id": _short(ev.layer)}  # type: ignore[attr-defined]
    if isinstance(ev, p.LayerProgress):
        detail = {"current": ev.current, "total": ev.total} if ev.total else {"current": ev.current}
        return {"status": "Downloading", "progressDetail": detail, "id": _short(ev.layer)}
    if isinstance(ev, p.LayerMounted):
        return {"status": f"Mounted from {ev.source}", "progressDetail": {}, "id": _short(ev.layer)}
    if isinstance(ev, p.PullingFrom):
        return {"status": f"Pulling from {ev.repo}", "id": ev.ident}
    if isinstance(ev, p.Digest):
        return {"status": f"Digest: {ev.digest}"}
    if isinstance(ev, p.Pulled):
        word = "Downloaded newer image" if ev.downloaded else "Image is up to date"
        return {"status": f"Status: {word} for {ev.name}"}
    if isinstance(ev, p.PushingTo):
        return {"status": f"The push refers to repository [{ev.name}]"}
    if isinstance(ev, p.ManifestPushed):
        return {"status": f"{ev.tag}: digest: {ev.digest} size: {ev.size}"}
    return None


class Progress:
    """A pull's or push's events written as dockerd's JSON stream, begun at
    the first event past `hold` (those are kept until then). A client that
    went away stops nothing: the work finishes and is recorded."""

    def __init__(self, call: Call, hold: tuple[type, ...] = ()) -> None:
        self.req = call.req
        self.hold = hold
        self.held: list[dict[str, Any]] = []
        self.out: Any = None
        self.gone = False
        self.lock = threading.Lock()

    def __call__(self, ev: object) -> None:
        doc = progress_doc(ev)
        if doc is not None:
            self.send(doc, held=isinstance(ev, self.hold))

    def send(self, doc: dict[str, Any], held: bool = False) -> None:
        with self.lock:
            if self.out is None and held:
                self.held.append(doc)
                return
            self._begin()
            self._write(doc)

    def _begin(self) -> None:
        if self.out is None:
            self.out = self.req.stream()
            for d in self.held:
                self._write(d)
            self.held = []

    def _write(self, doc: dict[str, Any]) -> None:
        if not self.gone:
            try:
                self.out.json(doc)
            except OSError:
                self.gone = True

    @property
    def started(self) -> bool:
        return self.out is not None

    def fail(self, e: Exception) -> None:
        """An error once the stream began: its last message."""
        from .router import status_of

        msg = status_of(e).message
        self.send({"errorDetail": {"message": msg}, "error": msg})

    def close(self) -> None:
        with self.lock:
            self._begin()
            if not self.gone:
                try:
                    self.out.close()
                except OSError:
                    self.gone = True


def _pull_ref(call: Call) -> str:
    image = call.req.arg("fromImage") or ""
    tag = call.req.arg("tag") or ""
    if not image:
        if call.req.arg("fromSrc"):
            raise HTTPError(
                501, "importing an image through the API (fromSrc) is not supported yet: use `ketch import`"
            )
        raise HTTPError(400, "fromImage or fromSrc is required")
    if tag:
        image += ("@" if tag.startswith("sha256:") else ":") + tag
    return image


def create(call: Call) -> None:
    """POST /images/create?fromImage=&tag=&platform=: a pull."""
    from ..reference import parse
    from ..registry import progress as p
    from ..registry.hosts import candidates
    from ..registry.pull import pull

    name = _pull_ref(call)
    parse(name)  # a bad reference is a 400 before anything else
    refs = candidates(name, call.store.settings)  # a short name: each search registry's (registries.conf)
    store = registry_auth(call, refs[0].domain)
    out = Progress(call, hold=(p.PullingFrom,))
    try:
        pull(store, refs, out, platform=call.req.arg("platform") or None)
    except Exception as e:
        if not out.started:
            _raise_not_401(e)
        out.fail(e)
    out.close()


def _raise_not_401(e: Exception) -> None:
    """A registry's refusal of a pull or push, answered as dockerd does (500):
    a 401 would make docker's CLI prompt for a login and ask again."""
    from ..errors import AuthError

    if isinstance(e, AuthError):
        raise HTTPError(500, str(e)) from e
    raise e


def _image_summary(call: Call, img: Any, rows: list[Any]) -> dict[str, Any]:
    from ..models.ids import parse_rfc3339
    from ..store.inspect import _labels

    created = parse_rfc3339(img.created)
    tags = [f"{r.repository}:{r.tag}" for r in rows if r.tag != "<none>"]
    digests = sorted({f"{r.repository}@{r.digest}" for r in rows if r.digest != "<none>" and r.repository != "<none>"})
    doc: dict[str, Any] = {
        "Containers": -1, "Created": int(created.timestamp()) if created else 0, "Id": img.id,
        "Labels": _labels(call.store, img) or None, "ParentId": img.parent or "", "RepoDigests": digests,
        "RepoTags": tags, "SharedSize": -1, "Size": img.size,
    }  # fmt: skip
    if call.req.api_version is not None and call.req.api_version < (1, 44):
        doc["VirtualSize"] = img.size
        if not tags:
            doc["RepoTags"] = ["<none>:<none>"]
        if not digests:
            doc["RepoDigests"] = ["<none>@<none>"]
    return doc


def list_(call: Call) -> list[dict[str, Any]]:
    """GET /images/json?all=&filters=&filter=: one summary per image."""
    from ..store.inspect import image_rows

    filters = filter_list(call.req)
    if call.req.arg("filter"):  # the old API's name filter
        filters.append(f"reference={call.req.arg('filter')}")
    by_id: dict[str, tuple[Any, list[Any]]] = {}
    for row in image_rows(call.store, None, call.req.flag("all"), filters):
        by_id.setdefault(row.image.id, (row.image, []))[1].append(row)
    out = [_image_summary(call, img, rows) for img, rows in by_id.values()]
    out.sort(key=lambda d: d["Created"], reverse=True)
    return out


def inspect(call: Call) -> dict[str, Any]:
    from ..store.inspect import image_inspect

    return image_inspect(call.store, call.params["name"])


def history(call: Call) -> list[dict[str, Any]]:
    from ..models.ids import parse_rfc3339
    from ..reference import parse
    from ..store.inspect import history as entries

    out = []
    for e in entries(call.store, call.params["name"]):
        when = parse_rfc3339(e.created) if e.created else None
        out.append({
            "Id": e.image.id if e.image is not None else "<missing>",
            "Created": int(when.timestamp()) if when else 0,
            "CreatedBy": e.created_by,
            "Tags": [parse(t).familiar() for t in e.image.tags] if e.image is not None else None,
            "Size": e.size,
            "Comment": e.comment,
        })  # fmt: skip
    return out


def tag(call: Call) -> None:
    """POST /images/{name}/tag?repo=&tag=: 201, no body."""
    from ..store.images import tag as do_tag

    repo = call.req.arg("repo") or ""
    if not repo:
        raise HTTPError(400, "repository name is required")
    t = call.req.arg("tag") or ""
    do_tag(call.store, call.params["name"], f"{repo}:{t}" if t else repo)
    call.req.send(201)


def delete(call: Call) -> list[dict[str, str]]:
    """An image name removed (`force`: even in use): what was untagged, then what was deleted."""
    from ..store.images import remove

    report = remove(call.store, call.params["name"], call.req.flag("force"))
    return [{"Untagged": n} for n in report.untagged] + [{"Deleted": i} for i in report.deleted]


def push(call: Call) -> None:
    """POST /images/{name}/push?tag=: dockerd's progress, then the aux digest."""
    from ..reference import parse
    from ..registry import progress as p
    from ..registry.push import push as do_push

    name = call.params["name"]
    t = call.req.arg("tag") or ""
    ref = parse(f"{name}:{t}" if t else name)
    out = Progress(call, hold=(p.PushingTo,))
    seen: list[p.ManifestPushed] = []

    def on_event(ev: object) -> None:
        out(ev)
        if isinstance(ev, p.ManifestPushed):
            seen.append(ev)

    try:
        do_push(registry_auth(call, ref.domain), ref, on_event)
    except Exception as e:
        if not out.started:
            _raise_not_401(e)
        out.fail(e)
    else:
        for m in seen:
            out.send({"progressDetail": {}, "aux": {"Tag": m.tag, "Digest": m.digest, "Size": m.size}})
    out.close()


class _ChunkFile:
    """A file-like `write` onto a chunked answer (an archive), begun at the first write."""

    def __init__(self, call: Call, headers: dict[str, str] | None = None) -> None:
        self.req = call.req
        self.headers = headers or {}
        self.out: Any = None

    def write(self, data: bytes) -> int:
        if self.out is None:
            self.out = self.req.stream("application/x-tar", 200, **self.headers)
        self.out.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def end(self) -> None:
        if self.out is None:
            self.out = self.req.stream("application/x-tar", 200, **self.headers)
        self.out.close()


def _save(call: Call, names: list[str]) -> None:
    from ..store import images as imgs
    from ..store.archive import save

    if not names:
        raise HTTPError(400, "no image names given")
    for n in names:
        imgs.lookup(call.store, n)  # a missing one is a 404, before the archive starts
    f = _ChunkFile(call)
    try:
        save(call.store, names, f)  # type: ignore[arg-type]
    except Exception:
        if f.out is None:
            raise
        call.req.conn.broken = True  # the archive is cut short: the client sees a broken stream
        raise
    f.end()


def get_one(call: Call) -> None:
    _save(call, [call.params["name"]])


def get_many(call: Call) -> None:
    _save(call, call.req.args("names"))


class _BodyFile:
    """The request's body as a readable stream (load's archive), in one pass."""

    def __init__(self, call: Call, limit: int) -> None:
        self.it = call.req.chunks(limit)
        self.buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            piece = next(self.it, None)
            if piece is None:
                break
            self.buf += piece
        if n < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def load(call: Call) -> None:
    """POST /images/load?quiet=: the archive in the body; dockerd's stream lines."""
    from ..store.archive import load as do_load

    loaded = do_load(call.store, _BodyFile(call, MAX_ARCHIVE))  # type: ignore[arg-type]
    out = call.req.stream()
    for image in loaded:
        for line in [f"Loaded image: {n}" for n in image.names] or [f"Loaded image ID: {image.image_id}"]:
            out.json({"stream": line + "\n"})
    out.close()


def prune(call: Call) -> dict[str, Any]:
    """POST /images/prune?filters=: dangling images (all unused with
    dangling=false), as until, label and label! take them."""
    from ..errors import KetchError
    from ..store.images import prune as do_prune
    from .util import refused

    all_, rest = prune_filters(call.req, "dangling", ("false", "0"))
    try:
        r = do_prune(call.store, all_, rest)
    except KetchError as e:
        raise refused(e) from None
    return {
        "ImagesDeleted": [{"Untagged": x} for x in r.untagged] + [{"Deleted": x} for x in r.deleted] or None,
        "SpaceReclaimed": r.reclaimed,
    }


def search(call: Call) -> list[dict[str, Any]]:
    from ..registry.search import search as do_search

    term = call.req.arg("term") or ""
    if not term:
        raise HTTPError(400, "a search term is required")
    limit = call.req.integer("limit", 25) or 25
    if not 1 <= limit <= 100:
        raise HTTPError(400, f"limit {limit} is outside the range of [1, 100]")
    return [
        {"name": r.name, "description": r.description, "star_count": r.star_count,
         "is_official": r.is_official, "is_automated": r.is_automated}
        for r in do_search(term, limit, filter_list(call.req), call.store.settings)
    ]  # fmt: skip


def auth(call: Call) -> dict[str, str]:
    """POST /auth: the credentials checked against the registry; kept nowhere
    (the client keeps them, as docker's does)."""
    from ..registry.login import check_login

    doc = call.req.json()
    if not isinstance(doc, dict):
        raise HTTPError(400, "the body must be a JSON object")
    server = str(doc.get("serveraddress") or "") or None
    check_login(server, str(doc.get("username") or ""), str(doc.get("password") or ""), call.store.settings)
    return {"Status": "Login Succeeded", "IdentityToken": ""}


ROUTES = [
    ("POST", "/images/create", create),
    ("GET", "/images/json", list_),
    ("GET", "/images/search", search),
    ("GET", "/images/get", get_many),
    ("POST", "/images/load", load),
    ("POST", "/images/prune", prune),
    ("POST", "/auth", auth),
    ("GET", "/images/{name:.+}/json", inspect),
    ("GET", "/images/{name:.+}/history", history),
    ("GET", "/images/{name:.+}/get", get_one),
    ("POST", "/images/{name:.+}/tag", tag),
    ("POST", "/images/{name:.+}/push", push),
    ("DELETE", "/images/{name:.+}", delete),
]
