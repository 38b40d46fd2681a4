"""`ketch import`: a root filesystem tarball (plain, gzip or zstd) becomes a
one-layer image, as `docker import` makes it."""

from __future__ import annotations

from typing import BinaryIO

from ..errors import KetchError, LayerError
from ..models.ids import host_arch, rfc3339
from ..models.image import layer_media_type
from ..reference import Reference
from . import Store
from .images import LayerBlob, create_image


def import_tarball(store: Store, src: BinaryIO, source_name: str, tag: Reference | None, message: str = "") -> str:
    """Stores the tarball read from `src` as a layer and records the image; returns its id."""
    from .archive import max_blob_bytes
    from .layers import max_layer_bytes
    from .leases import delete_unused_blobs

    max_bytes = max_layer_bytes(store)  # as a pull's layers: KETCH_MAX_LAYER_BYTES, else the free space
    with store.content.ingest(None) as ing:
        while chunk := src.read(1 << 20):
            ing.write(chunk)
            if ing.size > max_blob_bytes(max_bytes):
                raise LayerError(f"{source_name}: the tarball is larger than the limit of {max_bytes} bytes")
        if ing.size == 0:
            raise KetchError(f"{source_name}: the tarball is empty")
        digest = ing.commit()
    try:
        diff_id = store.layers.create_bottom(store.content.path(digest), digest, max_bytes)
    except LayerError as e:
        delete_unused_blobs(store, [digest])
        raise LayerError(f"{source_name}: {e}") from e
    except BaseException:
        delete_unused_blobs(store, [digest])
        raise
    now = rfc3339()
    config = {
        "architecture": host_arch(),
        "os": "linux",
        "created": now,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now, "comment": message or f"Imported from {source_name}"}],
    }
    blob = store.content.path(digest)
    with open(blob, "rb") as f:
        media_type = layer_media_type(f.read(4))
    image_id = create_image(store, config, [LayerBlob(digest, blob.stat().st_size, media_type, diff_id)], tag=tag)
    from . import events

    events.record(store, "image", "import", image_id, {"name": image_id})
    return image_id
