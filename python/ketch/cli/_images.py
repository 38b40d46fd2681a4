"""Output of the image commands, in docker's formats."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import ImageNotFound, KetchError
from ..reference import parse
from ..store import Store
from ..store import images as imgs
from ._format import ago, ellipsis, human_size, table


def _split_repo_tag(full: str) -> tuple[str, str]:
    ref = parse(full)
    return ref.familiar_name, ref.tag or "<none>"


def images(store: Store, repository: str | None, all_: bool, quiet: bool, digests: bool, no_trunc: bool) -> None:
    want_repo = want_tag = None
    if repository:
        r = parse(repository, default_tag=False)
        want_repo, want_tag = r.name, r.tag
    all_images = imgs.list_images(store)
    parents = {i.parent for i in all_images if i.parent}
    rows: list[list[str]] = []
    for img in all_images:
        image_id = img.id if no_trunc else img.short_id
        entries: list[tuple[str, str, str]] = []  # repo (full), tag, digest
        digest_of = {repo: d for repo, d in img.digests}
        for t in img.tags:
            ref = parse(t)
            entries.append((ref.name, ref.tag or "<none>", digest_of.get(ref.name, "<none>")))
        tagged_repos = {e[0] for e in entries}
        for repo, d in img.digests:
            if repo not in tagged_repos:
                entries.append((repo, "<none>", d))
        if not entries:
            if img.id in parents and not all_ and not repository:
                continue
            if repository:
                continue
            entries.append(("<none>", "<none>", "<none>"))
        for repo, tag, d in entries:
            if want_repo and (repo != want_repo or (want_tag and tag != want_tag)):
                continue
            shown_repo = repo if repo == "<none>" else parse(repo + ":x").familiar_name
            row = [shown_repo, tag]
            if digests:
                row.append(d)
            row += [image_id, ago(img.created), human_size(img.size)]
            rows.append(row)
    if quiet:
        seen: list[str] = []
        for row in rows:
            i = row[3 if digests else 2]
            if i not in seen:
                seen.append(i)
        if seen:
            print("\n".join(seen))
        return
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    print(table([header, *rows]))


def history(store: Store, name: str, no_trunc: bool, quiet: bool) -> None:
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
    out = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    ids = []
    for i, (h, size) in enumerate(rows):
        owner = at_row.get(i)
        shown = (owner.id if no_trunc else owner.short_id) if owner is not None else "<missing>"
        ids.append(shown)
        by = h.get("created_by", "")
        by = by if no_trunc else ellipsis(by, 45)
        out.append([shown, ago(h.get("created")), by, human_size(size), h.get("comment", "")])
    if quiet:
        print("\n".join(ids))
        return
    print(table(out))


def inspect_one(store: Store, name: str) -> dict[str, Any]:
    img, _ = imgs.lookup(store, name)
    cfg = imgs.config(store, img.id)
    return {
        "Id": img.id,
        "RepoTags": [parse(t).familiar() for t in img.tags],
        "RepoDigests": [f"{parse(repo + ':x').familiar_name}@{d}" for repo, d in img.digests],
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


def inspect(store: Store, names: list[str]) -> int:
    out = []
    rc = 0
    for n in names:
        try:
            out.append(inspect_one(store, n))
        except ImageNotFound as e:
            print(f"Error: {e}", file=sys.stderr)
            rc = 1
    if "Variant" in (out[0] if out else {}) and out[0]["Variant"] is None:
        for o in out:
            if o.get("Variant") is None:
                o.pop("Variant", None)
    print(json.dumps(out, indent=4))
    if rc:
        raise _Silent(rc)
    return rc


class _Silent(KetchError):
    def __init__(self, code: int) -> None:
        super().__init__("")
        self.exit_code = code
