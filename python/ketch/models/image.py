"""OCI / Docker v2 schema 2 manifests, indexes (manifest lists) and their
descriptors. Parsing checks that a document's media type and content agree."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ManifestInvalid
from .media import (  # noqa: F401 (re-exported: the models' vocabulary)
    ACCEPT,
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    SCHEMA1,
)


class Platform(BaseModel):
    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = Field(default=None, alias="os.version")


class Descriptor(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    mediaType: str
    digest: str = Field(pattern=r"^sha256:[a-f0-9]{64}$")
    size: int = Field(ge=0)
    platform: Platform | None = None
    annotations: dict[str, str] | None = None
    urls: list[str] | None = None


class Manifest(BaseModel):
    schemaVersion: int
    mediaType: str | None = None
    config: Descriptor
    layers: list[Descriptor]
    annotations: dict[str, str] | None = None


class Index(BaseModel):
    schemaVersion: int
    mediaType: str | None = None
    manifests: list[Descriptor]


def layer_media_type(head: bytes) -> str:
    """The OCI media type of a layer blob, from its first bytes."""
    if head.startswith(b"\x1f\x8b"):
        return OCI_LAYER_GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return OCI_LAYER_ZSTD
    return OCI_LAYER


def oci_manifest(config: tuple[str, int], layers: list[tuple[str, int, str]]) -> bytes:
    """An OCI image manifest for a config (digest, size) and layers (digest, size, media type)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config[0], "size": config[1]},
        "layers": [{"mediaType": mt, "digest": d, "size": s} for d, s, mt in layers],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_document(data: bytes, content_type: str) -> Manifest | Index:
    """Parses a manifest or index; rejects one whose declared type and shape disagree."""
    content_type = content_type.split(";", 1)[0].strip()
    try:
        raw: Any = json.loads(data)
    except ValueError as e:
        raise ManifestInvalid(f"manifest is not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ManifestInvalid("manifest is not a JSON object")
    declared = raw.get("mediaType")
    if content_type in SCHEMA1 or declared in SCHEMA1 or raw.get("schemaVersion") == 1:
        raise ManifestInvalid("image manifest schema 1 is not supported: push the image again with a current client")
    if (
        declared
        and content_type
        and content_type not in ("application/json", "text/plain")
        and declared != content_type
    ):
        raise ManifestInvalid(f"manifest media type {declared} does not match the Content-Type {content_type}")
    kind = declared or content_type
    is_index = "manifests" in raw
    is_manifest = "config" in raw or "layers" in raw
    if kind in INDEX_TYPES and not is_index or kind in MANIFEST_TYPES and not is_manifest or is_index and is_manifest:
        raise ManifestInvalid(f"manifest content does not match its media type {kind}")
    if kind not in INDEX_TYPES + MANIFEST_TYPES:
        if is_index:
            kind = OCI_INDEX
        elif is_manifest:
            kind = OCI_MANIFEST
        else:
            raise ManifestInvalid(f"unsupported manifest media type {kind!r}")
    try:
        doc: Manifest | Index = Index.model_validate(raw) if kind in INDEX_TYPES else Manifest.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ManifestInvalid(f"invalid manifest: {where}: {first['msg']}") from e
    doc.mediaType = kind
    if isinstance(doc, Manifest):
        for layer in doc.layers:
            if layer.mediaType not in LAYER_TYPES:
                raise ManifestInvalid(f"unsupported layer media type {layer.mediaType}")
    return doc
