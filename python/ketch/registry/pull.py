"""`ketch pull`: resolve a reference to one platform's manifest, fetch what
the store lacks, unpack layers in parallel (Rust, GIL released), then record
the image in one transaction."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import _native
from ..errors import KetchError, LayerError, ManifestInvalid, NoSpaceError, RegistryError
from ..models.config import check_config
from ..models.ids import host_arch, short_id
from ..models.image import ACCEPT, Descriptor, Index, Manifest, parse_document
from ..reference import Reference
from ..store import Store
from ..store import images as imgs
from ..store.layers import chain_ids, max_layer_bytes
from . import hosts, progress
from .client import RegistryClient

if TYPE_CHECKING:
    from ..store.leases import Lease

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def host_platform() -> str:
    arch = host_arch()
    return f"linux/{arch}" + ("/v7" if arch == "arm" else "")


@dataclass
class PullResult:
    image_id: str
    digest: str
    ref: Reference
    downloaded: bool


def _select(index: Index, want: str) -> str:
    os_, _, rest = want.partition("/")
    arch, _, variant = rest.partition("/")
    candidates = [m for m in index.manifests if m.platform and m.platform.os == os_ and m.platform.architecture == arch]
    if variant:
        exact = [m for m in candidates if m.platform and m.platform.variant == variant]
        candidates = exact or candidates
    if not candidates:
        have = ", ".join(
            f"{m.platform.os}/{m.platform.architecture}" + (f"/{m.platform.variant}" if m.platform.variant else "")
            for m in index.manifests
            if m.platform
        )
        raise KetchError(f"no matching manifest for {want} in the manifest list entries (has: {have or 'none'})")
    return candidates[0].digest


def _first_manifest(store: Store, ref: Reference, what: str) -> tuple[RegistryClient, bytes, str]:
    """The manifest of `ref` from the first endpoint that has it: its mirrors
    (registries.conf, daemon.json's for Docker Hub), then the registry itself,
    as docker asks them. A mirror that is down, lacks it or refuses us is
    skipped; one that answers a document whose digest is wrong fails the pull."""
    eps = hosts.endpoints(ref.domain, ref.path, store.settings)
    for i, ep in enumerate(eps):
        client = RegistryClient(ref.domain, store.settings, ep)
        try:
            body, ctype = client.manifest(ep.path, ref.ident, ACCEPT, what)
        except RegistryError:
            if i == len(eps) - 1:
                raise
            continue
        return client, body, ctype
    raise AssertionError("endpoints() always ends with the registry itself")


def _first_candidate(
    store: Store, refs: Sequence[Reference], emit: progress.OnPull
) -> tuple[Reference, str, RegistryClient, bytes, str]:
    """The first of a short name's candidates (hosts.candidates) whose
    registry has it, as podman tries them; when none has it, one error naming
    what each said."""
    failed: list[str] = []
    last: RegistryError | None = None
    for ref in refs:
        what = ref.familiar() if ref.domain != "docker.io" else str(ref)
        try:
            client, body, ctype = _first_manifest(store, ref, what)
        except RegistryError as e:
            failed.append(f"{ref.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            last = e
            continue
        emit(progress.PullingFrom(ref.ident, ref.path))
        return ref, what, client, body, ctype
    assert last is not None
    first = refs[0]
    short = first.path + (f":{first.tag}" if first.tag else "") + (f"@{first.digest}" if first.digest else "")
    raise type(last)(f"{short} is in none of the search registries: " + "; ".join(failed)) from None


def pull(
    store: Store,
    ref: Reference | Sequence[Reference],
    on_event: progress.OnPull | None = None,
    platform: str | None = None,
    quiet: bool = False,
) -> PullResult:
    """Pulls `ref` into `store`, telling `on_event` how it goes (typed
    events, registry/progress.py; none when `quiet`). A sequence is a short
    name's candidates (hosts.candidates): the first registry that has it is
    pulled from, and the result's `ref` says which."""
    emit = progress.serialised(None if quiet else on_event)
    if isinstance(ref, Reference) or len(ref) == 1:
        ref = ref if isinstance(ref, Reference) else ref[0]
        emit(progress.PullingFrom(ref.ident, ref.path))
        what = ref.familiar() if ref.domain != "docker.io" else str(ref)
        client, body, ctype = _first_manifest(store, ref, what)  # digest checked there
    else:
        ref, what, client, body, ctype = _first_candidate(store, ref, emit)
    repo = client.endpoint.path
    top_digest = _native.sha256_bytes(body)
    doc = parse_document(body, ctype)
    documents = [(top_digest, body)]
    if isinstance(doc, Index):
        mdigest = _select(doc, platform or host_platform())
        body, ctype = client.manifest(repo, mdigest, ACCEPT, f"{what} ({mdigest})")
        doc = parse_document(body, ctype)
        if not isinstance(doc, Manifest):
            raise ManifestInvalid(f"{mdigest} in the index of {what} is not an image manifest")
        documents.append((mdigest, body))
    manifest = doc
    assert isinstance(manifest, Manifest)

    from ..store.leases import Lease

    with Lease(store) as lease:
        # What this pull finds in the store is leased before it looks: `rmi` keeps it meanwhile.
        lease.add([manifest.config.digest, *(d for d, _ in documents), *(layer.digest for layer in manifest.layers)])
        try:
            result = _pull_image(store, client, ref, emit, what, documents, manifest, lease)
        finally:
            # What rmi (or a failed or killed pull) left in the trash goes now that
            # this pull makes no more files: in the background, never while they are made.
            store.layers.empty_trash()
    from ..store import events

    events.record(store, "image", "pull", ref.familiar(), {"name": ref.familiar_name})
    return result


def _pull_image(
    store: Store,
    client: RegistryClient,
    ref: Reference,
    emit: progress.OnPull,
    what: str,
    documents: list[tuple[str, bytes]],
    manifest: Manifest,
    lease: Lease,
) -> PullResult:
    """The rest of `pull`, once the image manifest is known (from `client`'s endpoint)."""
    repo = client.endpoint.path
    top_digest = documents[0][0]
    image_id = manifest.config.digest
    if store.content.has(image_id):
        config_bytes = store.content.read(image_id)
    else:
        config_bytes = client.blob_bytes(repo, image_id, manifest.config.size)  # bounded, digest checked
    try:
        config = check_config(json.loads(config_bytes), image_id)
    except ValueError as e:
        raise ManifestInvalid(f"image config {image_id} is not valid JSON: {e}") from e
    diff_ids: list[str] = list(config["rootfs"]["diff_ids"])
    if len(diff_ids) != len(manifest.layers):
        raise ManifestInvalid(f"image {what} has {len(manifest.layers)} layers but its config lists {len(diff_ids)}")
    chains = chain_ids(diff_ids)
    lease.add(chains)

    tagged = imgs.tagged(store, str(ref)) if ref.tag and not ref.digest else None
    up_to_date = (
        imgs.exists(store, image_id)
        and all(store.layers.exists(c) for c in chains)
        and (ref.digest is not None or tagged == image_id)
    )

    if not up_to_date:
        store.layers.clean_stale()  # what killed pulls left (their ingests went when the store was opened)
        max_bytes = max_layer_bytes(store)
        todo = []
        blobs_only: list[Descriptor] = []
        for i, (desc, diff_id, chain) in enumerate(zip(manifest.layers, diff_ids, chains, strict=True)):
            if store.layers.exists(chain):
                emit(progress.LayerExists(desc.digest))
                if not store.content.has(desc.digest):
                    blobs_only.append(desc)  # kept so that the image can be saved and pushed as it came
            else:
                todo.append((i, desc, diff_id, chain))
        st = os.statvfs(store.root)
        for desc in [d for _, d, _, _ in todo if not store.content.has(d.digest)] + blobs_only:
            if desc.size > st.f_bavail * st.f_frsize:  # it cannot fit: fail before any byte is fetched
                raise NoSpaceError(
                    f"no space left on device for the store at {store.root} (layer {short_id(desc.digest)} is "
                    f"{desc.size} bytes): free some space or choose another --root"
                )
        for _, desc, _, _ in todo:
            emit(progress.LayerStarted(desc.digest))

        def download(desc: Descriptor, pipe: int | None = None, unpacking: Future[str | None] | None = None) -> None:
            """Fetches a blob into the content store, copying it into `pipe`
            (the input of the `unpacking` layer) as it arrives; verifies it
            before it is committed. With an unpacker the bytes are hashed
            once, by it (it checks them against the digest, and fails the
            layer if they differ): the blob is committed after it, with its digest."""
            with store.content.ingest(desc.digest, desc.size, hashed=unpacking is None) as ing:
                last = 0.0

                def write(chunk: bytes) -> None:
                    nonlocal last, pipe
                    ing.write(chunk)
                    if pipe is not None:
                        view = memoryview(chunk)
                        try:
                            while view:
                                view = view[os.write(pipe, view) :]
                        except BrokenPipeError:
                            # The unpacker stopped reading: it failed (raise its error
                            # here) or found the layer made by another pull meanwhile.
                            assert unpacking is not None
                            unpacking.result()
                            os.close(pipe)
                            pipe = None
                    now = time.monotonic()
                    if now - last > 0.1:
                        last = now
                        emit(progress.LayerProgress(desc.digest, ing.size, desc.size))

                try:
                    client.blob(repo, desc.digest, write, desc.size)  # stops as soon as it is longer
                finally:
                    if pipe is not None:
                        os.close(pipe)
                emit(progress.LayerVerifying(desc.digest))
                # None: the unpacker read nothing (the layer was there), and commit reads the file.
                ing.commit(unpacking.result() if unpacking is not None else None)

        def fetch_and_unpack(item: tuple[int, Descriptor, str, str]) -> None:
            i, desc, diff_id, chain = item
            short = short_id(desc.digest)
            parent = chains[i - 1] if i else None
            try:
                if store.content.has(desc.digest):
                    emit(progress.LayerExtracting(desc.digest))
                    path = store.content.path(desc.digest)
                    store.layers.create(chain, diff_id, parent, path, desc.digest, max_bytes, record=False)
                else:
                    # Unpack while downloading: the bytes go to the blob file and,
                    # through a pipe, to the unpacker (Rust, on its own thread).
                    r, w = os.pipe2(os.O_CLOEXEC)
                    try:
                        fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
                    except OSError:
                        pass
                    with ThreadPoolExecutor(max_workers=1) as one:
                        # Its row comes with the image's (create_image: one transaction for all).
                        unpacking = one.submit(
                            store.layers.create, chain, diff_id, parent, r, desc.digest, max_bytes, False
                        )
                        download(desc, w, unpacking)
                        unpacking.result()
                    emit(progress.LayerDownloaded(desc.digest))
            except LayerError as e:
                raise LayerError(f"layer {short}: {e}") from e
            except NoSpaceError as e:
                raise NoSpaceError(
                    f"no space left on device for the store at {store.root} (layer {short}): "
                    "free some space or choose another --root"
                ) from e
            emit(progress.LayerExtracted(desc.digest))

        if todo or blobs_only:
            with (
                store.layers.flushing(),
                ThreadPoolExecutor(max_workers=min(len(todo) + len(blobs_only), 4)) as pool,
            ):
                futures = [pool.submit(fetch_and_unpack, t) for t in todo]
                futures += [pool.submit(download, d) for d in blobs_only]
                errors = [f.exception() for f in futures]
            for err in errors:
                if err is not None:
                    raise err

        for digest, body in documents:
            store.content.write(body, digest)
        layers = [imgs.LayerBlob(d.digest, d.size, d.mediaType) for d in manifest.layers]
        imgs.create_image(
            store,
            config_bytes,
            layers,
            tag=ref if ref.tag and not ref.digest else None,
            repo_digest=(ref.name, top_digest),
            manifest=documents[-1][0],
            keep=[d for d, _ in documents],
            max_bytes=max_bytes,
        )
        from ..store.blobs import remember

        # a later push to another repository mounts them
        remember(store, ref.domain, ref.path, sorted({d for d, _ in documents} | {x.digest for x in layers}))

    emit(progress.Digest(top_digest))
    emit(progress.Pulled(ref.familiar(), not up_to_date))
    return PullResult(image_id, top_digest, ref, not up_to_date)
