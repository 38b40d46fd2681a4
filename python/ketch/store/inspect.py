"""What a face reads about images: docker's inspect document, the rows of
`history` and of `images`. Data only: the CLI words it as docker's tables,
the Engine API as its JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ImageNotFound
from ..reference import parse
from . import images as imgs

if TYPE_CHECKING:
    from . import Store


def _familiar_repo(repo: str) -> str:
    """A stored repository (`docker.io/library/busybox`) as docker shows it (`busybox`)."""
    return parse(repo + ":x").familiar_name


def image_inspect(store: Store, name: str) -> dict[str, Any]:
    """`docker image inspect NAME`: its document, as the Engine API has it
    (`Variant` only when the image's config has one)."""
    img, _ = imgs.lookup(store, name)
    cfg = imgs.config(store, img.id)
    doc: dict[str, Any] = {
        "Id": img.id,
        "RepoTags": [parse(t).familiar() for t in img.tags],
        "RepoDigests": [f"{_familiar_repo(repo)}@{d}" for repo, d in img.digests],
        "Parent": img.parent or "",
        "Comment": next((h.get("comment", "") for h in reversed(cfg.get("history") or []) if h.get("comment")), ""),
        "Created": cfg.get("created", ""),
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": cfg.get("config", {}),
        "Architecture": cfg.get("architecture", ""),
        "Variant": cfg.get("variant", None),
        "Os": cfg.get("os", ""),
        "Size": img.size,
        "GraphDriver": {
            "Data": {
                "LowerDir": ":".join(str(store.layers.diff(c)) for c in reversed(imgs.layer_chain(store, img.id)))
            },
            "Name": "overlay2",
        },
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }
    if doc["Variant"] is None:
        del doc["Variant"]
    return doc


@dataclass(frozen=True)
class HistoryEntry:
    """One row of `docker history`, newest first. `image`: the image whose
    top this row is, when it is still in the store (else docker's <missing>)."""

    image: imgs.Image | None
    created: str | None
    created_by: str
    size: int
    comment: str


def history(store: Store, name: str) -> list[HistoryEntry]:
    """`docker history NAME`: the config's history, newest first, each row
    with the size of its layer (0 for an empty one)."""
    img, _ = imgs.lookup(store, name)
    cfg = imgs.config(store, img.id)
    layers = imgs.layer_chain(store, img.id)
    sizes = [store.layers.size(c) for c in layers]
    hist: list[dict[str, Any]] = cfg.get("history") or [{} for _ in layers]
    rows = []
    li = 0
    for h in hist:
        if h.get("empty_layer"):
            size = 0
        else:
            size = sizes[li] if li < len(sizes) else 0
            li += 1
        rows.append((h, size))
    rows.reverse()
    # As docker shows it: a row that is the top of an image still here (the
    # image itself, its parents: a build's steps, a commit's base) has its id.
    at_row: dict[int, imgs.Image] = {}
    cur: imgs.Image | None = img
    while cur is not None and len(at_row) < len(hist):
        n = len(imgs.config(store, cur.id).get("history") or [])
        at_row[len(hist) - n] = cur
        try:
            cur = imgs.get(store, cur.parent) if cur.parent else None
        except ImageNotFound:
            cur = None
    return [
        HistoryEntry(at_row.get(i), h.get("created"), h.get("created_by", ""), size, h.get("comment", ""))
        for i, (h, size) in enumerate(rows)
    ]


@dataclass(frozen=True)
class ImageRow:
    """One row of `docker images`: an image under one of its names (repository
    and tag as docker shows them, `<none>` for none) and that repository's digest."""

    repository: str
    tag: str
    digest: str
    image: imgs.Image


def image_rows(store: Store, repository: str | None = None, all_: bool = False) -> list[ImageRow]:
    """`docker images [REPOSITORY[:TAG]]`: a row per name of each image; an
    untagged image that is another's parent only with `all_`."""
    want_repo = want_tag = None
    if repository:
        r = parse(repository, default_tag=False)
        want_repo, want_tag = r.name, r.tag
    all_images = imgs.list_images(store)
    parents = {i.parent for i in all_images if i.parent}
    out: list[ImageRow] = []
    for img in all_images:
        entries: list[tuple[str, str, str]] = []  # repo (full), tag, digest
        digest_of = {repo: d for repo, d in img.digests}
        for t in img.tags:
            ref = parse(t)
            entries.append((ref.name, ref.tag or "<none>", digest_of.get(ref.name, "<none>")))
        tagged_repos = {e[0] for e in entries}
        entries += [(repo, "<none>", d) for repo, d in img.digests if repo not in tagged_repos]
        if not entries:
            if repository or (img.id in parents and not all_):
                continue
            entries.append(("<none>", "<none>", "<none>"))
        for repo, tag, d in entries:
            if want_repo and (repo != want_repo or (want_tag and tag != want_tag)):
                continue
            out.append(ImageRow(repo if repo == "<none>" else _familiar_repo(repo), tag, d, img))
    return out
