"""`ketch push`: an image's blobs and manifest to a registry, as docker
pushes them: a blob the repository has is not sent again, one another
repository of the same registry has is mounted from it, the rest go up in
one monolithic upload each (POST, then PUT with the digest)."""

from __future__ import annotations

import functools
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from ..errors import ImageNotFound, KetchError, RegistryError
from ..reference import Reference
from ..store import Store, blobs
from ..store import images as imgs
from . import hosts, progress
from .client import RegistryClient, error_summary

UPLOADS = 5  # layers pushed at once, as docker's max-concurrent-uploads
CHUNK = 16 << 20  # blobs above 2 chunks go up in PATCHes of this size


def _location(client: RegistryClient, loc: str) -> str:
    """An upload URL as a path on the registry (distribution answers absolute URLs)."""
    u = urllib.parse.urlsplit(loc)
    return u.path + ("?" + u.query if u.query else "")


def push(store: Store, ref: Reference, on_event: progress.OnPush | None = None) -> str:
    """Pushes the local image named `ref`, telling `on_event` how it goes
    (typed events, registry/progress.py); returns the manifest digest."""
    emit = progress.serialised(on_event)
    try:
        img, _ = imgs.lookup(store, str(ref))
    except ImageNotFound:
        raise ImageNotFound(f"An image does not exist locally with the tag: {ref.familiar_name}") from None
    manifest_digest = imgs.manifest_digest(store, img.id)
    if not manifest_digest:
        raise KetchError(f"image {img.short_id} has no manifest in the store (it was loaded without one)")
    body = store.content.read(manifest_digest)
    manifest = json.loads(body)
    if "layers" not in manifest:
        raise KetchError("only single-platform images can be pushed")
    if any(lay["mediaType"] in PLAIN for lay in manifest["layers"]):
        manifest_digest, body, manifest = _compressed(store, img.id, manifest)
    media_type = manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    own = hosts.endpoints(ref.domain, ref.path, store.settings)[-1]  # never a mirror; blocked is refused
    client = RegistryClient(ref.domain, store.settings, own)
    repo = own.path
    scope = f"repository:{repo}:pull,push"
    emit(progress.PushingTo(ref.familiar_name if ref.domain == "docker.io" else ref.name))
    config = imgs.config(store, img.id)
    diff_ids = config["rootfs"]["diff_ids"]
    layers = list(zip(manifest["layers"], diff_ids, strict=False))
    shown = {lay["digest"]: diff for lay, diff in layers}  # docker names a pushed layer by its diff id
    for lay, _ in reversed(layers):
        emit(progress.LayerPreparing(shown[lay["digest"]]))
    # Layers go up in parallel (docker's default is 5 at a time), each line
    # printed as its layer is done; the config once they all are.
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
        futures = {
            pool.submit(_blob, store, client, ref.domain, repo, scope, lay["digest"]): lay["digest"]
            for lay, _ in reversed(layers)
        }
        for fut in as_completed(futures):
            emit(fut.result()(shown[futures[fut]]))
    _blob(store, client, ref.domain, repo, scope, manifest["config"]["digest"])
    tag = ref.tag or "latest"
    r = client.request(
        "PUT", f"/v2/{repo}/manifests/{ref.digest or tag}", scope, {"Content-Type": media_type}, body=body
    )
    if r.status not in (200, 201):
        raise RegistryError(f"failed to push the manifest of {ref.familiar()}: {r.status} {error_summary(r.body)}")
    blobs.remember(store, ref.domain, repo, [lay["digest"] for lay, _ in layers] + [manifest["config"]["digest"]])
    emit(progress.ManifestPushed(tag, manifest_digest, len(body)))
    from ..store import events

    events.record(store, "image", "push", ref.familiar(), {"name": ref.familiar_name})
    return manifest_digest


PLAIN = ("application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar")


def _compressed(store: Store, image_id: str, manifest: dict[str, object]) -> tuple[str, bytes, dict[str, object]]:
    """The image with its plain layers gzipped (in parallel, in Rust), as
    docker compresses the layers it built when it pushes them: a new
    manifest, which becomes the image's; the config (the image id) stays."""
    from concurrent.futures import ThreadPoolExecutor

    from .. import _native
    from ..models.image import oci_manifest

    layers = list(manifest["layers"])  # type: ignore[call-overload]

    def one(lay: dict[str, object]) -> tuple[str, int, str]:
        digest, mt = str(lay["digest"]), str(lay["mediaType"])
        if mt not in PLAIN:
            return digest, int(lay["size"]), mt  # type: ignore[call-overload]
        known = blobs.gzipped(store, digest)
        if known and store.content.has(known[0]):
            return known[0], known[1], "application/vnd.oci.image.layer.v1.tar+gzip"
        tmp = store.content.temp("gzip-")
        try:
            gz, size = _native.gzip_layer(store.content.path(digest), tmp)
            store.content.commit_file(tmp, gz, size, digest=gz)
        finally:
            tmp.unlink(missing_ok=True)
        blobs.remember_gzipped(store, digest, gz, size)
        return gz, size, "application/vnd.oci.image.layer.v1.tar+gzip"

    with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
        descs = list(pool.map(one, layers))
    cfg = manifest["config"]
    body = oci_manifest((str(cfg["digest"]), int(cfg["size"])), descs)  # type: ignore[index]
    digest = store.content.write(body)
    imgs.set_manifest(store, image_id, digest, [d for d, _, _ in descs])
    return digest, body, json.loads(body)


Said = Callable[[str], progress.PushProgress]  # a layer's event, given its diff id


def _blob(store: Store, client: RegistryClient, registry: str, repo: str, scope: str, digest: str) -> Said:
    """Makes sure the repository has the blob; says how."""
    r = client.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope)
    if r.status == 200:
        return progress.LayerAlreadyPushed
    for source in blobs.sources(store, registry, digest, repo):
        r = client.request(
            "POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={urllib.parse.quote(source, safe='/')}", scope
        )
        if r.status == 201:
            return functools.partial(progress.LayerMounted, source=source)
        if r.status == 202:  # not mountable: the registry opened an upload instead
            return _upload(store, client, repo, scope, digest, r.header("location"))
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/", scope)
    if r.status != 202:
        raise RegistryError(f"failed to start an upload to {repo}: {r.status} {error_summary(r.body)}")
    return _upload(store, client, repo, scope, digest, r.header("location"))


def _upload(store: Store, client: RegistryClient, repo: str, scope: str, digest: str, location: str) -> Said:
    path = store.content.path(digest)
    if not path.exists():
        raise KetchError(f"blob {digest} is not in the store: pull the image again before pushing it")
    loc = _location(client, location)
    size = path.stat().st_size
    body: bytes | Path = path
    if size > 2 * CHUNK:
        # chunked: PATCHes in order, each acknowledged, then a PUT that closes it
        with open(path, "rb") as f:
            offset = 0
            while chunk := f.read(CHUNK):
                h = {"Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
                r = client.request("PATCH", loc, scope, h, body=chunk)
                if r.status != 202:
                    raise RegistryError(f"failed to upload {digest} to {repo}: {r.status} {error_summary(r.body)}")
                loc = _location(client, r.header("location") or loc)
                offset += len(chunk)
        body = b""
    sep = "&" if "?" in loc else "?"
    r = client.request(
        "PUT", f"{loc}{sep}digest={digest}", scope, {"Content-Type": "application/octet-stream"}, body=body
    )
    if r.status not in (201, 204):
        raise RegistryError(f"failed to upload {digest} to {repo}: {r.status} {error_summary(r.body)}")
    return progress.LayerPushed
