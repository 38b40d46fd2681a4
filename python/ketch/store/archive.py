"""`ketch save` / `ketch load`: image archives as docker writes and reads them.

`save` writes what docker 25+ writes: an OCI image layout (`oci-layout`,
`index.json`, `blobs/sha256/...`) plus docker's `manifest.json` and
`repositories`, whose paths point into `blobs/`. Older docker (`docker load`
of 20.10) reads `manifest.json` alone; OCI tools read the layout.
`load` reads either form: a `manifest.json` (docker's, old `<id>/layer.tar`
paths included) or, without one, an OCI layout's `index.json`.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import _native
from ..errors import KetchError, LayerError
from ..models.config import check_config
from ..models.ids import short_id
from ..models.image import MANIFEST_TYPES, OCI_INDEX, OCI_LAYER, layer_media_type, oci_manifest
from ..reference import Reference, parse
from . import Store
from . import images as imgs


def _add(tf: tarfile.TarFile, name: str, data: bytes | None = None, path: str | None = None, size: int = 0) -> None:
    ti = tarfile.TarInfo(name)
    ti.mtime = 0
    ti.mode = 0o644
    if name.endswith("/"):
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(ti)
    elif data is not None:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        assert path is not None
        ti.size = size
        with open(path, "rb") as f:
            tf.addfile(ti, f)


def save(store: Store, names: list[str], out: IO[bytes]) -> None:
    """Writes the images named (references or ids) to `out` as one tar."""
    chosen: list[tuple[imgs.Image, list[str]]] = []  # image, familiar tags to write
    for n in names:
        img, ref = imgs.lookup(store, n)
        tags = [parse(t).familiar() for t in img.tags] if ref is None else ([ref.familiar()] if ref.tag else [])
        for i, (have, have_tags) in enumerate(chosen):
            if have.id == img.id:
                chosen[i] = (have, have_tags + [x for x in tags if x not in have_tags])
                break
        else:
            chosen.append((img, tags))
    temps: list[Path] = []
    try:
        _save(store, chosen, out, temps)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)
    from . import events

    for img, tags in chosen:
        events.record(store, "image", "save", img.id, {"name": tags[0] if tags else img.id})


def save_to_file(store: Store, names: list[str], path: str | os.PathLike[str]) -> None:
    """`docker save -o PATH`: the archive written beside PATH, made durable,
    then renamed: never a half-written archive under the name asked for."""
    tmp = f"{os.fspath(path)}.ketch-tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            save(store, names, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _save(store: Store, chosen: list[tuple[imgs.Image, list[str]]], out: IO[bytes], temps: list[Path]) -> None:
    written: set[str] = set()
    docker_manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    index: list[dict[str, Any]] = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        _add(tf, "blobs/")
        _add(tf, "blobs/sha256/")
        for img, tags in chosen:
            mdigest = imgs.manifest_digest(store, img.id)
            if not mdigest:
                raise KetchError(f"image {img.short_id} has no manifest in the store: pull or build it again")
            mbytes = store.content.read(mdigest)
            manifest = json.loads(mbytes)
            blobs: list[tuple[str, str]] = [
                (mdigest, str(store.content.path(mdigest))),
                (img.id, str(store.content.path(img.id))),
            ]
            layers: list[tuple[str, int, str]] = []
            for desc in manifest["layers"]:
                path = store.content.path(desc["digest"])
                if "zstd" in desc["mediaType"]:
                    # docker before 23 cannot read zstd layers: ship those as plain tars.
                    tmp = store.content.ingest_dir / f"save-{uuid.uuid4().hex}"
                    temps.append(tmp)
                    diff_id, size = _native.decompress_layer(path, tmp)
                    layers.append((diff_id, size, OCI_LAYER))
                    blobs.append((diff_id, str(tmp)))
                else:
                    layers.append((desc["digest"], desc["size"], desc["mediaType"]))
                    blobs.append((desc["digest"], str(path)))
            if [d for d, _, _ in layers] != [desc["digest"] for desc in manifest["layers"]]:
                mbytes = oci_manifest((img.id, store.content.path(img.id).stat().st_size), layers)
                mdigest = _native.sha256_bytes(mbytes)
                manifest = json.loads(mbytes)
                blobs[0] = (mdigest, "")
            for digest, blob_path in blobs:
                if digest in written:
                    continue
                if blob_path:
                    _add(tf, f"blobs/sha256/{digest[7:]}", path=blob_path, size=os.stat(blob_path).st_size)
                else:
                    _add(tf, f"blobs/sha256/{digest[7:]}", mbytes)
                written.add(digest)
            layer_digests = [d for d, _, _ in layers]
            docker_manifest.append(
                {
                    "Config": f"blobs/sha256/{img.id[7:]}",
                    "RepoTags": tags or None,
                    "Layers": [f"blobs/sha256/{d[7:]}" for d in layer_digests],
                }
            )
            for t in tags:
                repo, _, tag = t.rpartition(":")
                repositories.setdefault(repo, {})[tag] = img.id[7:]
            entry: dict[str, Any] = {
                "mediaType": manifest.get("mediaType", MANIFEST_TYPES[1]),
                "digest": mdigest,
                "size": len(mbytes),
            }
            for t in tags or [""]:
                d = dict(entry)
                if t:
                    full = str(parse(t))
                    d["annotations"] = {
                        "io.containerd.image.name": full,
                        "org.opencontainers.image.ref.name": full.rpartition(":")[2],
                    }
                index.append(d)
        _add(tf, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add(tf, "index.json", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}).encode())
        _add(tf, "manifest.json", json.dumps(docker_manifest).encode())
        if repositories:
            _add(tf, "repositories", json.dumps(repositories).encode())


MAX_DOCUMENT = 4 << 20  # bytes: a JSON member (manifest.json, index.json, a manifest) larger than this is refused


@dataclass(frozen=True)
class Loaded:
    """An image `load` recorded: its id, and the names the archive gave it
    (as docker shows them; none: docker names it by its id)."""

    image_id: str
    names: list[str]


def load(store: Store, src: IO[bytes]) -> list[Loaded]:
    """Reads an archive from `src` (a stream: one pass) and records its images.
    Every member goes to the content store as it is read (nothing is kept in
    memory but the JSON documents, read back with a bound); a member larger
    than a layer may be (KETCH_MAX_LAYER_BYTES, else the free space) stops it.
    Returns the images recorded, in the archive's order."""
    from .layers import max_layer_bytes
    from .leases import delete_unused_blobs

    files: dict[str, str] = {}  # member path -> blob digest
    ingested: set[str] = set()
    used: set[str] = set()
    max_bytes = max_layer_bytes(store)
    try:
        try:
            tf = tarfile.open(fileobj=src, mode="r|*")
        except tarfile.TarError as e:
            raise KetchError(f"invalid archive: {e}") from e
        with tf:
            for m in tf:
                if not m.isfile():
                    continue
                name = m.name.lstrip("./")
                if m.size > max_blob_bytes(max_bytes):
                    raise LayerError(f"invalid archive: {name} is {m.size} bytes, beyond the limit of {max_bytes}")
                f = tf.extractfile(m)
                assert f is not None
                with store.content.ingest(None) as ing:
                    while chunk := f.read(1 << 20):
                        ing.write(chunk)
                    digest = ing.commit()
                files[name] = digest
                ingested.add(digest)
        entries = _entries(store, files)
        out: list[Loaded] = []
        for config_digest, layer_digests, tags in entries:
            out.append(_load_image(store, config_digest, layer_digests, tags, max_bytes))
            used |= {config_digest, *layer_digests}  # recorded: kept by its image
    except tarfile.TarError as e:
        raise KetchError(f"invalid archive: {e}") from e
    finally:
        delete_unused_blobs(store, ingested - used)
    from . import events

    for loaded in out:
        events.record(store, "image", "load", loaded.image_id, {"name": loaded.image_id})
    return out


def max_blob_bytes(max_bytes: int) -> int:
    """The most a compressed layer of at most `max_bytes` can take: compression
    adds a little to incompressible data."""
    return max_bytes + max_bytes // 64 + (1 << 20)


def _entries(store: Store, files: dict[str, str]) -> list[tuple[str, list[str], list[str]]]:
    """(config digest, layer blob digests, tags) of each image in the archive."""

    def blob(path: str) -> str:
        path = path.lstrip("./")
        if path not in files:
            raise KetchError(f"invalid archive: {path} is missing")
        return files[path]

    def doc(path: str) -> Any:
        """A JSON member, read back from the store with a bound."""
        p = store.content.path(blob(path))
        if p.stat().st_size > MAX_DOCUMENT:
            raise KetchError(f"invalid archive: {path} is larger than {MAX_DOCUMENT} bytes")
        return json.loads(p.read_bytes())

    if "manifest.json" in files:
        try:
            data = doc("manifest.json")
            return [(blob(e["Config"]), [blob(p) for p in e["Layers"]], list(e.get("RepoTags") or [])) for e in data]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise KetchError(f"invalid archive: manifest.json: {e}") from e
    if "index.json" in files:
        out = []
        try:
            index = doc("index.json")
            for desc in index["manifests"]:
                m = doc(f"blobs/sha256/{desc['digest'][7:]}")
                if "manifests" in m:
                    raise KetchError("invalid archive: nested indexes are not supported yet")
                ann = desc.get("annotations") or {}
                name = ann.get("io.containerd.image.name")
                out.append((m["config"]["digest"], [layer["digest"] for layer in m["layers"]], [name] if name else []))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise KetchError(f"invalid archive: index.json: {e}") from e
        return out
    raise KetchError("invalid archive: it holds neither manifest.json nor index.json")


def _load_image(store: Store, config_digest: str, layer_digests: list[str], tags: list[str], max_bytes: int) -> Loaded:
    try:
        if store.content.path(config_digest).stat().st_size > MAX_DOCUMENT:
            raise KetchError(f"invalid archive: image config {config_digest} is larger than {MAX_DOCUMENT} bytes")
        config = check_config(json.loads(store.content.read(config_digest)), config_digest)
    except (ValueError, FileNotFoundError) as e:
        raise KetchError(f"invalid archive: image config {config_digest}: {e}") from e
    diff_ids: list[str] = list(config["rootfs"]["diff_ids"])
    if len(diff_ids) != len(layer_digests):
        raise LayerError(
            f"image {short_id(config_digest)} has {len(layer_digests)} layers but its config lists {len(diff_ids)}"
        )
    layers = []
    for digest in layer_digests:
        if not store.content.has(digest):
            raise KetchError(f"invalid archive: layer {digest} is missing")
        path = store.content.path(digest)
        with open(path, "rb") as f:
            layers.append(imgs.LayerBlob(digest, path.stat().st_size, layer_media_type(f.read(4))))
    imgs.create_image(store, store.content.read(config_digest), layers, max_bytes=max_bytes)
    refs: list[Reference] = [parse(t) for t in tags]
    for r in refs:
        imgs.tag(store, config_digest, str(r))
    return Loaded(config_digest, [r.familiar() for r in refs])
