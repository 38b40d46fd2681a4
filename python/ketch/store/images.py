"""Images and their names: creation, lookups, tagging, and removal with
docker's rules (the images, image_layers, image_blobs, tags and repo_digests
tables)."""

from __future__ import annotations

import time

from ..errors import ConflictError, ImageNotFound, ReferenceError_
from ..fastjson import loads
from ..models.ids import host_arch, short_id
from ..records import field, record
from ..reference import Reference, parse
from . import Store

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from ..models.system import Pruned


@record()
class Image:
    id: str
    created: str | None
    size: int
    added: float
    parent: str | None
    tags: list[str] = field(default_factory=list)  # full names: domain/path:tag
    digests: list[tuple[str, str]] = field(default_factory=list)  # (repo, digest)

    @property
    def short_id(self) -> str:
        return short_id(self.id)


def _row_to_image(store: Store, row: Any) -> Image:
    img = Image(row["id"], row["created"], row["size"], row["added"], row["parent"])
    img.tags = [
        r["name"] for r in store.db.query("SELECT name FROM tags WHERE image_id=? ORDER BY tagged DESC", (img.id,))
    ]
    img.digests = [
        (r["repo"], r["digest"])
        for r in store.db.query("SELECT repo, digest FROM repo_digests WHERE image_id=?", (img.id,))
    ]
    return img


def list_images(store: Store) -> list[Image]:
    rows = store.db.query("SELECT * FROM images ORDER BY COALESCE(created, '') DESC, added DESC")
    return [_row_to_image(store, r) for r in rows]


def get(store: Store, image_id: str) -> Image:
    rows = store.db.query("SELECT * FROM images WHERE id=?", (image_id,))
    if not rows:
        raise ImageNotFound(f"No such image: {image_id}")
    return _row_to_image(store, rows[0])


def lookup(store: Store, name: str) -> tuple[Image, Reference | None]:
    """Finds an image by reference (`busybox`, `host/repo:tag`, `repo@sha256:..`)
    or by id (`sha256:<hex>`, or a unique prefix of the hex), as docker does."""
    ref: Reference | None = None
    try:
        ref = parse(name)
    except ReferenceError_:
        ref = None
    if ref is not None:
        if ref.digest:
            rows = store.db.query("SELECT image_id FROM repo_digests WHERE repo=? AND digest=?", (ref.name, ref.digest))
        else:
            rows = store.db.query("SELECT image_id FROM tags WHERE name=?", (str(ref),))
        if rows:
            return get(store, rows[0]["image_id"]), ref
    hexpart = name[7:] if name.startswith("sha256:") else name
    if hexpart and all(c in "0123456789abcdef" for c in hexpart) and len(hexpart) <= 64:
        rows = store.db.query("SELECT id FROM images WHERE id LIKE ?", (f"sha256:{hexpart}%",))
        if len(rows) == 1:
            return get(store, rows[0]["id"]), None
        if len(rows) > 1:
            raise ConflictError(f"multiple IDs found with provided prefix: {hexpart}")
    # docker names what it looked for: the reference with its tag (`busybox:latest`)
    raise ImageNotFound(f"No such image: {ref.familiar() if ref is not None else name}")


def config(store: Store, image_id: str) -> dict[str, Any]:
    """An image's config, its shape checked (a store may hold one recorded before the checks)."""
    from ..models.config import check_config

    return check_config(loads(store.content.read(image_id)), image_id)


_read_config = config  # for create_image, whose argument of that name hides it


@record(frozen=True)
class LayerBlob:
    """A layer's blob in content/: its descriptor, and its diff id when it is
    known without its image's config (a layer made here: commit, build)."""

    digest: str
    size: int
    media_type: str = "application/vnd.oci.image.layer.v1.tar"  # plain: how docker keeps the layers it makes
    diff_id: str | None = None


def scratch_config() -> dict[str, Any]:
    """The config of an image with nothing in it (what FROM scratch starts from)."""
    arch = host_arch()
    return {"architecture": arch, "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}


def create_image(
    store: Store,
    config: bytes | dict[str, Any],
    layers: Sequence[LayerBlob] = (),
    *,
    parent: str | None = None,
    parent_config: dict[str, Any] | None = None,
    history: dict[str, Any] | None = None,
    author: str = "",
    tag: Reference | None = None,
    repo_digest: tuple[str, str] | None = None,
    manifest: str | None = None,
    keep: Iterable[str] = (),
    max_bytes: int | None = None,
) -> str:
    """Records a new image (every way one is made: pull, import, load,
    commit, build) and returns its id, the digest of its config.

    `config` is the image's config: bytes are kept as they are (a pulled or
    loaded image keeps its id), a dict is written compactly. With `history`
    it is only the config's "config" part, and the image is derived as docker
    commits: `parent_config` (the parent's, read from the store if not given;
    scratch without a parent) with `history` appended (an empty layer
    without `layers`), `author`, and the diff ids of `layers`.

    `layers` are the blobs of the layers it adds, bottom first, above the
    layers of `parent` (the image it was made from, recorded as its parent);
    each must be in content/, and is unpacked (bounded by `max_bytes`) unless
    it is extracted already. `manifest` is the digest of an image manifest in
    content/ naming them (a pulled one, kept as it came); without it one is
    written. The image keeps its config, manifest, layer blobs and `keep`
    alive; `tag` and `repo_digest` name it, all in one transaction."""
    from .. import _native
    from ..errors import KetchError
    from ..models.config import check_config
    from ..models.image import oci_manifest
    from .layers import chain_ids

    below: list[LayerBlob] = []
    if parent is not None:
        mdigest = manifest_digest(store, parent)
        if not mdigest:
            raise KetchError(f"the layers of image {short_id(parent)} are not in the store")
        below = [
            LayerBlob(x["digest"], int(x["size"]), str(x["mediaType"]))
            for x in loads(store.content.read(mdigest))["layers"]
        ]
    if history is not None:
        assert isinstance(config, dict)
        if parent_config is not None:
            base = parent_config
        else:
            base = _read_config(store, parent) if parent is not None else scratch_config()
        added = [x.diff_id for x in layers]
        if None in added:
            raise ValueError("create_image: a layer added to a derived image needs its diff id")
        config = {
            **{k: v for k, v in base.items() if k not in ("author", "container", "container_config")},
            "created": history["created"],
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [*base["rootfs"]["diff_ids"], *added]},
            "history": [*(base.get("history") or []), history if layers else {**history, "empty_layer": True}],
        }
        if author:
            config["author"] = author
    if isinstance(config, bytes):
        config_bytes = config
    else:
        import json

        config_bytes = json.dumps(config, separators=(",", ":")).encode()
    image_id = _native.sha256_bytes(config_bytes)
    doc = check_config(loads(config_bytes), image_id)
    diff_ids: list[str] = list(doc["rootfs"]["diff_ids"])
    everything = [*below, *layers]
    if len(diff_ids) != len(everything):
        raise KetchError(
            f"image {short_id(image_id)} has {len(everything)} layers but its config lists {len(diff_ids)}"
        )
    chains = chain_ids(diff_ids)
    for i in range(len(below), len(everything)):
        blob = everything[i]
        if not store.layers.present(chains[i]):
            below_chain = chains[i - 1] if i else None
            path = store.content.path(blob.digest)
            store.layers.create(chains[i], diff_ids[i], below_chain, path, blob.digest, max_bytes, record=False)
    store.content.write(config_bytes, image_id)
    if manifest is None:
        body = oci_manifest((image_id, len(config_bytes)), [(x.digest, x.size, x.media_type) for x in everything])
        manifest = store.content.write(body)
    created = doc.get("created")
    _record(
        store,
        image_id,
        created if isinstance(created, str) else None,
        chains,
        {x.digest for x in everything} | set(keep) | {image_id, manifest},
        tag,
        repo_digest,
        parent,
        manifest,
    )
    return image_id


def _record(
    store: Store,
    image_id: str,
    created: str | None,
    chains: list[str],
    blobs: set[str],
    tag: Reference | None,
    repo_digest: tuple[str, str] | None,
    parent: str | None,
    manifest: str,
) -> None:
    """The rows of an image whose layers and blobs are in the store, in one
    transaction, with those of its layers that have none yet (made for it
    without their row: `layers.create(record=False)`). Recorded again, an
    image keeps its place (`added`)."""
    unrecorded = store.layers.missing_rows(chains)
    now = time.time()
    with store.db.write() as c:
        store.layers.insert_rows(c, unrecorded)
        marks = ",".join("?" * len(chains))
        size = (
            sum(r[0] for r in c.execute(f"SELECT size FROM layers WHERE chain_id IN ({marks})", tuple(chains)))
            if chains
            else 0
        )
        c.execute(
            "INSERT OR IGNORE INTO images(id, parent, created, size, added, manifest) VALUES (?,?,?,?,?,?)",
            (image_id, parent, created, size, now, manifest),
        )
        c.execute("UPDATE images SET manifest=? WHERE id=?", (manifest, image_id))
        c.execute("DELETE FROM image_layers WHERE image_id=?", (image_id,))
        c.executemany(
            "INSERT INTO image_layers(image_id, idx, chain_id) VALUES (?,?,?)",
            [(image_id, i, ch) for i, ch in enumerate(chains)],
        )
        c.executemany(
            "INSERT OR IGNORE INTO image_blobs(image_id, digest) VALUES (?,?)", [(image_id, b) for b in blobs]
        )
        if tag is not None:
            c.execute("INSERT OR REPLACE INTO tags(name, image_id, tagged) VALUES (?,?,?)", (str(tag), image_id, now))
        if repo_digest is not None:
            c.execute(
                "INSERT OR REPLACE INTO repo_digests(repo, digest, image_id) VALUES (?,?,?)", (*repo_digest, image_id)
            )


def exists(store: Store, image_id: str) -> bool:
    return bool(store.db.query("SELECT 1 FROM images WHERE id=?", (image_id,)))


def tagged(store: Store, name: str) -> str | None:
    """The id of the image a full tag (domain/path:tag) names, if any."""
    rows = store.db.query("SELECT image_id FROM tags WHERE name=?", (name,))
    return rows[0]["image_id"] if rows else None


def manifest_digest(store: Store, image_id: str) -> str | None:
    """The digest of the image manifest (in content/) naming the image's layer blobs, if it has one."""
    rows = store.db.query("SELECT manifest FROM images WHERE id=?", (image_id,))
    return rows[0]["manifest"] if rows and rows[0]["manifest"] else None


def set_manifest(store: Store, image_id: str, manifest: str, blobs: Iterable[str]) -> None:
    """Gives the image another manifest (its layers in another form, e.g. gzipped for a push), whose blobs it keeps."""
    with store.db.write() as c:
        c.executemany(
            "INSERT OR IGNORE INTO image_blobs(image_id, digest) VALUES (?,?)",
            [(image_id, d) for d in {*blobs, manifest}],
        )
        c.execute("UPDATE images SET manifest=? WHERE id=?", (manifest, image_id))


def blob_in_use(store: Store, digest: str) -> bool:
    """Whether an image keeps the blob."""
    return bool(store.db.query("SELECT 1 FROM image_blobs WHERE digest=? LIMIT 1", (digest,)))


def layer_chain(store: Store, image_id: str) -> list[str]:
    return [
        r["chain_id"]
        for r in store.db.query("SELECT chain_id FROM image_layers WHERE image_id=? ORDER BY idx", (image_id,))
    ]


def tag(store: Store, source: str, target: str) -> None:
    img, _ = lookup(store, source)
    ref = parse(target)
    if ref.digest:
        raise ReferenceError_("refusing to create a tag with a digest reference")
    with store.db.write() as c:
        c.execute("INSERT OR REPLACE INTO tags(name, image_id, tagged) VALUES (?,?,?)", (str(ref), img.id, time.time()))
    from . import events

    events.record(store, "image", "tag", img.id, {"name": ref.familiar()})


def children(store: Store, image_id: str) -> list[str]:
    """The images made on top of this one (builds, commits)."""
    return _children(store, image_id)


def _children(store: Store, image_id: str) -> list[str]:
    return [r["id"] for r in store.db.query("SELECT id FROM images WHERE parent=?", (image_id,))]


@record(frozen=True)
class RemoveReport:
    """What `docker rmi NAME` did: the names it untagged (as docker shows
    them), then the images and layers it deleted (ids), in that order."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def remove(store: Store, name: str, force: bool = False) -> RemoveReport:
    """`docker rmi NAME`: the name goes; the image, its untagged parents and
    their layers too once nothing else names or uses them (the untag and
    delete events recorded)."""
    img, ref = lookup(store, name)
    images: list[str] = []
    report = _remove(store, img, ref, force, images)
    from . import events

    for _ in report.untagged:
        events.record(store, "image", "untag", img.id, {"name": img.id})
    for gone in images:
        events.record(store, "image", "delete", gone, {"name": gone})
    return report


def _remove(store: Store, img: Image, ref: Reference | None, force: bool, images: list[str]) -> RemoveReport:
    named = ref is not None and (ref.digest is not None or str(ref) in img.tags)
    from .containers import using_image

    user = using_image(store, img.id)
    if user and not (named and len(img.tags) > 1):
        what = f'repository reference "{ref.familiar()}"' if named and ref else img.short_id
        if not force or ref is None or not named:
            raise ConflictError(
                f"conflict: unable to {'remove' if named else 'delete'} {what} (must force) - "
                f"container {short_id(user)} is using its referenced image {img.short_id}"
            )
        # forced: the name goes, the image stays for its containers
        with store.db.write() as c:
            c.execute("DELETE FROM tags WHERE name=?", (str(ref),))
        return RemoveReport([ref.familiar()])
    if ref is not None and named:
        others = [t for t in img.tags if t != str(ref)]
        if others or _children(store, img.id):
            # Other names (or child images) still need it: only this name goes,
            # with the repository's digest references once its last tag is gone.
            out = [ref.familiar()]
            with store.db.write() as c:
                if ref.digest:
                    c.execute("DELETE FROM repo_digests WHERE repo=? AND digest=?", (ref.name, ref.digest))
                else:
                    c.execute("DELETE FROM tags WHERE name=?", (str(ref),))
                    if not any(parse(t).name == ref.name for t in others):
                        for repo, digest in img.digests:
                            if repo == ref.name:
                                out.append(Reference(ref.domain, ref.path).with_digest(digest).familiar())
                        c.execute("DELETE FROM repo_digests WHERE repo=? AND image_id=?", (ref.name, img.id))
            return RemoveReport(out)
    else:
        repos = {parse(t).name for t in img.tags}
        if len(repos) > 1 and not force:
            raise ConflictError(
                f"conflict: unable to delete {img.short_id} (must be forced) - "
                "image is referenced in multiple repositories"
            )
        if _children(store, img.id):
            raise ConflictError(
                f"conflict: unable to delete {img.short_id} (cannot be forced) - image has dependent child images"
            )
    untagged = [parse(t).familiar() for t in img.tags]
    for repo, digest in img.digests:
        domain, path = repo.split("/", 1)
        untagged.append(Reference(domain, path).with_digest(digest).familiar())
    return RemoveReport(untagged, _delete_image_chain(store, img.id, images))


def _delete_image_chain(store: Store, image_id: str, images: list[str]) -> list[str]:
    """Deletes the image, then its untagged parents that nothing else needs,
    then the layers and blobs that no remaining image uses: their ids (the
    images' also added to `images`)."""
    out: list[str] = []
    freed_layers: list[str] = []
    blobs: set[str] = set()
    current: str | None = image_id
    while current is not None:
        rows = store.db.query("SELECT parent FROM images WHERE id=?", (current,))
        parent = rows[0]["parent"] if rows else None
        chain = layer_chain(store, current)
        blobs |= {r["digest"] for r in store.db.query("SELECT digest FROM image_blobs WHERE image_id=?", (current,))}
        with store.db.write() as c:
            c.execute("DELETE FROM tags WHERE image_id=?", (current,))
            c.execute("DELETE FROM images WHERE id=?", (current,))
        out.append(current)
        images.append(current)
        for chain_id in reversed(chain):
            if chain_id not in freed_layers and not store.db.query(
                "SELECT 1 FROM image_layers WHERE chain_id=? LIMIT 1", (chain_id,)
            ):
                freed_layers.append(chain_id)
        if (
            parent is None
            or store.db.query("SELECT 1 FROM tags WHERE image_id=?", (parent,))
            or _children(store, parent)
        ):
            break
        current = parent
    from .leases import delete_unused_blobs, gc_lock, held

    with gc_lock(store):  # what a running pull has leased stays: it is about to be used
        protected = held(store)
        for chain_id in freed_layers:
            if chain_id in protected:
                continue
            store.layers.unlink(chain_id)  # into the trash
            out.append(chain_id)
    delete_unused_blobs(store, blobs)
    store.layers.empty_trash()  # in the background (store/trash.py)
    return out


def prune(store: Store, all_: bool = False, filters: list[str] | None = None) -> Pruned:
    """`image prune [--filter until=|label=|label!=]`: the dangling images
    (untagged; with `all_`, every image) that no container uses, no image
    derives from and the filters take (its config's Created and Labels),
    the newest first so that a parent freed by its child goes too; what was
    untagged and deleted, and the bytes of the layers freed."""
    import re

    from ..errors import KetchError
    from ..models.filters import PruneFilter, parse_time
    from ..models.system import Pruned
    from .containers import using_image

    f = PruneFilter(filters)

    def taken(img: Image) -> bool:
        if f.until is None and not f.labels and not f.spared:
            return True
        try:
            created = parse_time(re.sub(r"(\.\d{6})\d+", r"\1", img.created), 0) if img.created else None
        except KetchError:
            created = None
        return f.takes(created, (config(store, img.id).get("config") or {}).get("Labels"))

    untagged: list[str] = []
    deleted: list[str] = []
    reclaimed = 0
    progress = True
    while progress:
        progress = False
        for img in sorted(list_images(store), key=lambda i: i.added, reverse=True):
            if (img.tags and not all_) or using_image(store, img.id) or _children(store, img.id) or not taken(img):
                continue
            sizes = {ch: store.layers.size(ch) for ch in layer_chain(store, img.id)}
            try:
                report = remove(store, img.id, force=True)
            except KetchError:
                continue
            untagged += report.untagged
            deleted += report.deleted
            reclaimed += sum(sizes.get(x, 0) for x in report.deleted)
            progress = True
    from . import events

    events.record(store, "image", "prune", "", {"reclaimed": str(reclaimed)})
    return Pruned(deleted, reclaimed, untagged)
