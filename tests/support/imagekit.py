"""Builds images offline (from Debian's busybox-static) and pushes them to a
registry over the distribution API, for the tests and the benchmarks."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import subprocess
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

BUSYBOX = "/bin/busybox"
APPLETS = (
    "sh echo cat ls true false sleep httpd id env mkdir rm hostname grep wc mount head tail ps touch sed "
    "kill pwd nc wget uname chmod ln cp mv stat dd date"
).split()

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Entry:
    name: str
    kind: str = "file"  # file, dir, symlink, hardlink, fifo, char, block, whiteout, opaque
    data: bytes = b""
    link: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)
    device: tuple[int, int] = (0, 0)  # char and block: (major, minor)


def tar_bytes(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            name = e.name
            if e.kind == "whiteout":
                d, _, base = name.rpartition("/")
                name = (d + "/" if d else "") + ".wh." + base
            elif e.kind == "opaque":
                name = name.rstrip("/") + "/.wh..wh..opq"
            ti = tarfile.TarInfo(name)
            ti.mode = e.mode
            ti.uid, ti.gid = e.uid, e.gid
            ti.mtime = 1_700_000_000
            if e.xattrs:
                ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            data = None
            if e.kind in ("file", "whiteout", "opaque"):
                ti.type = tarfile.REGTYPE
                ti.size = len(e.data)
                data = io.BytesIO(e.data)
            elif e.kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = e.mode if e.mode != 0o644 else 0o755
            elif e.kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e.link
            elif e.kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = e.link
            elif e.kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            elif e.kind in ("char", "block"):
                ti.type = tarfile.CHRTYPE if e.kind == "char" else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = e.device
            tf.addfile(ti, data)
    return buf.getvalue()


def busybox_entries() -> list[Entry]:
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    out = [
        Entry("bin/", "dir"),
        Entry("bin/busybox", data=bb, mode=0o755),
        Entry("etc/", "dir"),
        Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n"),
        Entry("etc/group", data=b"root:x:0:\nweb:x:1000:\n"),
        Entry("tmp/", "dir", mode=0o1777),
        Entry("root/", "dir", mode=0o700),
    ]
    out += [Entry(f"bin/{a}", "symlink", link="busybox") for a in APPLETS]
    return out


def compress(tar: bytes, how: str) -> tuple[bytes, str]:
    """(blob, OCI media type) for `gzip`, `zstd` or `plain`."""
    if how == "gzip":
        return gzip.compress(tar, compresslevel=6, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd":
        blob = subprocess.run(["zstd", "-q", "-c", "-3"], input=tar, capture_output=True, check=True).stdout
        return blob, "application/vnd.oci.image.layer.v1.tar+zstd"
    return tar, "application/vnd.oci.image.layer.v1.tar"


@dataclass
class Image:
    config: bytes
    manifest: bytes
    media_type: str
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def id(self) -> str:
        return sha256(self.config)


def build(
    layers: list[tuple[bytes, str]],
    arch: str = "amd64",
    cmd: list[str] | None = None,
    oci: bool = True,
    diff_ids: list[str] | None = None,
    history: list[dict[str, object]] | None = None,
) -> Image:
    """An image from (tar, compression) layers. `diff_ids` overrides the true ones (to test mismatches)."""
    blobs: dict[str, bytes] = {}
    descs = []
    for tar, how in layers:
        blob, mt = compress(tar, how)
        if not oci:
            mt = "application/vnd.docker.image.rootfs.diff.tar.gzip"
        blobs[sha256(blob)] = blob
        descs.append({"mediaType": mt, "digest": sha256(blob), "size": len(blob)})
    config = {
        "architecture": arch,
        "os": "linux",
        "created": "2026-11-01T10:00:00.123456789Z",
        "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids or [sha256(t) for t, _ in layers]},
        "history": history
        or [{"created": "2026-11-01T10:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))],
    }
    cfg = json.dumps(config, separators=(",", ":")).encode()
    blobs[sha256(cfg)] = cfg
    mt = OCI_MANIFEST if oci else DOCKER_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json"
            if oci
            else "application/vnd.docker.container.image.v1+json",
            "digest": sha256(cfg),
            "size": len(cfg),
        },
        "layers": descs,
    }
    return Image(cfg, json.dumps(manifest, indent=3).encode(), mt, blobs)


class Registry:
    """A client just good enough to fill a registry (answers Basic and Bearer challenges with `creds`)."""

    def __init__(self, base: str, creds: tuple[str, str] | None = None) -> None:
        self.base = base.rstrip("/")
        self.creds = creds
        self.auth: str | None = None

    def _basic(self) -> str:
        assert self.creds, "the registry wants credentials"
        return "Basic " + base64.b64encode(f"{self.creds[0]}:{self.creds[1]}".encode()).decode()

    def _authorize(self, challenge: str, scope: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic":
            self.auth = self._basic()
            return
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        q = urllib.parse.urlencode({"service": params.get("service", ""), "scope": scope})
        req = urllib.request.Request(f"{params['realm']}?{q}", headers={"Authorization": self._basic()})
        self.auth = "Bearer " + json.loads(urllib.request.urlopen(req, timeout=30).read())["token"]

    def _req(self, method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        for _ in range(2):
            h = dict(headers or {})
            if self.auth:
                h["Authorization"] = self.auth
            req = urllib.request.Request(url, data=data, method=method, headers=h)
            try:
                return urllib.request.urlopen(req, timeout=60)
            except urllib.error.HTTPError as e:
                if e.code != 401 or not self.creds:
                    raise
                repo = url.split("/v2/", 1)[1].rsplit("/blobs/", 1)[0].rsplit("/manifests/", 1)[0]
                self._authorize(e.headers.get("WWW-Authenticate", ""), f"repository:{repo}:pull,push")
        raise AssertionError("unauthorized twice")

    def has_blob(self, repo: str, digest: str) -> bool:
        try:
            self._req("HEAD", f"{self.base}/v2/{repo}/blobs/{digest}")
            return True
        except urllib.error.HTTPError:
            return False

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        if self.has_blob(repo, digest):
            return digest
        r = self._req("POST", f"{self.base}/v2/{repo}/blobs/uploads/", b"")
        loc = r.headers["Location"]
        if loc.startswith("/"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        self._req("PUT", f"{loc}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
        return digest

    def push_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> None:
        self._req("PUT", f"{self.base}/v2/{repo}/manifests/{ref}", body, {"Content-Type": media_type})

    def push(self, repo: str, tag: str, image: Image) -> Image:
        for blob in image.blobs.values():
            self.push_blob(repo, blob)
        self.push_manifest(repo, tag, image.manifest, image.media_type)
        return image

    def push_index(self, repo: str, tag: str, images: dict[str, Image]) -> bytes:
        manifests = []
        for plat, img in images.items():
            self.push(repo, img.digest, img)
            os_, arch = plat.split("/")[:2]
            manifests.append(
                {
                    "mediaType": img.media_type,
                    "digest": img.digest,
                    "size": len(img.manifest),
                    "platform": {"os": os_, "architecture": arch},
                }
            )
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
        self.push_manifest(repo, tag, body, OCI_INDEX)
        return body
