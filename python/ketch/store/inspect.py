"""What a face reads about images: docker's inspect document, the rows of
`history` and of `images`. Data only: the CLI words it as docker's tables,
the Engine API as its JSON."""

from __future__ import annotations

from ..errors import ImageNotFound
from ..records import record
from ..reference import parse
from . import images as imgs

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

    from . import Store


def _familiar_repo(repo: str) -> str:
    """A stored repository (`docker.io/library/busybox`) as docker shows it (`busybox`)."""
    return parse(repo + ":x").familiar_name


# docker's container.Config: the keys always shown (zero when the image has not set them), in its order;
# the others (ExposedPorts, Healthcheck, ArgsEscaped, StopSignal, Shell...) only when set
_CONFIG_KEYS: list[tuple[str, Any]] = [
    ("Hostname", ""), ("Domainname", ""), ("User", ""), ("AttachStdin", False), ("AttachStdout", False),
    ("AttachStderr", False), ("ExposedPorts", None), ("Tty", False), ("OpenStdin", False), ("StdinOnce", False),
    ("Env", None), ("Cmd", None), ("Healthcheck", None), ("ArgsEscaped", None), ("Image", ""), ("Volumes", None),
    ("WorkingDir", ""), ("Entrypoint", None), ("NetworkDisabled", None), ("MacAddress", None), ("OnBuild", None),
    ("Labels", None), ("StopSignal", None), ("StopTimeout", None), ("Shell", None),
]  # fmt: skip
_OMIT_EMPTY = {"ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress", "StopSignal",
               "StopTimeout", "Shell"}  # fmt: skip


def docker_config(given: dict[str, Any]) -> dict[str, Any]:
    """An image's config (or container_config) as docker's inspect shows it:
    every key of container.Config, docker's order, what the image has kept."""
    out = {}
    for key, zero in _CONFIG_KEYS:
        v = given.get(key, zero)
        if key in _OMIT_EMPTY and not v:
            continue
        out[key] = v
    out.update({k: v for k, v in given.items() if k not in out})
    return out


def image_inspect(store: Store, name: str) -> dict[str, Any]:
    """`docker image inspect NAME`: its document, as the Engine API has it
    (`Variant` only when the image's config has one)."""
    img, _ = imgs.lookup(store, name)
    cfg = imgs.config(store, img.id)
    doc: dict[str, Any] = {
        "Id": img.id,
        "RepoTags": [parse(t).familiar() for t in sorted(img.tags)],
        "RepoDigests": [f"{_familiar_repo(repo)}@{d}" for repo, d in img.digests],
        "Parent": img.parent or "",
        "Comment": next((h.get("comment", "") for h in reversed(cfg.get("history") or []) if h.get("comment")), ""),
        "Created": cfg.get("created", ""),
        "Container": cfg.get("container", ""),
        "ContainerConfig": docker_config(cfg.get("container_config") or {}),
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": docker_config(cfg.get("config") or {}),
        "Architecture": cfg.get("architecture", ""),
        "Variant": cfg.get("variant", None),
        "Os": cfg.get("os", ""),
        "Size": img.size,
        "VirtualSize": img.size,  # docker 20.10's: the same as Size since layers are not shared in the count
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


@record(frozen=True)
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


@record(frozen=True)
class ImageRow:
    """One row of `docker images`: an image under one of its names (repository
    and tag as docker shows them, `<none>` for none) and that repository's digest."""

    repository: str
    tag: str
    digest: str
    image: imgs.Image


_IMAGE_FILTERS = ("dangling", "label", "before", "since", "reference", "until")


@record(frozen=True)
class ImageFilter:
    """docker images -f, parsed: values by key (a key's values ORed, the keys
    ANDed; label values ANDed, as docker's MatchKVList)."""

    values: dict[str, list[str]]
    dangling: bool | None  # dangling=true: untagged only; false: tagged only


def parse_image_filters(filters: list[str]) -> ImageFilter:
    from ..errors import KetchError
    from ..models.filters import parse as parse_args

    values = parse_args(filters, _IMAGE_FILTERS)
    dangling = None
    if "dangling" in values:
        got = set(values["dangling"])
        false, true = bool(got & {"0", "false"}), bool(got & {"1", "true"})
        if false == true:
            raise KetchError(f"invalid filter 'dangling=[{' '.join(values['dangling'])}]'")
        dangling = true
    for pattern in values.get("reference", []):
        path_match(pattern, "")  # a bad pattern fails before anything is listed
    return ImageFilter(values, dangling)


class _BadPattern(Exception):
    pass


def path_match(pattern: str, name: str) -> bool:
    """Go's path.Match (docker's reference= filter): `*` and `?` stop at `/`,
    `[...]` classes (`^` negates), `\\` escapes. Each star commits to its
    chunk's first match, as Go's does: linear in the name, whatever the
    pattern (a regex would backtrack). KetchError for a malformed pattern."""
    from ..errors import KetchError

    try:
        return _match(pattern, name)
    except _BadPattern:
        raise KetchError("syntax error in pattern") from None


def _match(pattern: str, name: str) -> bool:
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing * takes the rest, but no /
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        found = False
        i = 0
        while star and i < len(name) and name[i] != "/":
            rest = _match_chunk(chunk, name[i + 1 :])
            if rest is not None and (pattern or not rest):
                name, found = rest, True
                break
            i += 1
        if found:
            continue
        while pattern:  # the rest must still be well-formed
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern, star = pattern[1:], True
    in_range, i = False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> str | None:
    """What is left of `s` after `chunk` matched its start, or None."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            match, ranges = False, 0
            while True:
                if chunk.startswith("]") and ranges:
                    chunk = chunk[1:]
                    break
                lo, chunk = _class_char(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _class_char(chunk[1:])
                if lo <= r <= hi:
                    match = True
                ranges += 1
            if match == negated:
                failed = True
        elif c == "?":
            if not failed:
                failed = s[0] == "/"
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern()
                c = chunk[0]
            if not failed:
                failed = c != s[0]
                s = s[1:]
            chunk = chunk[1:]
    return None if failed else s


def _class_char(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise _BadPattern()
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern()
    if len(chunk) < 2:
        raise _BadPattern()
    return chunk[0], chunk[1:]


def _created(img: imgs.Image) -> float | None:
    from ..models.ids import parse_rfc3339

    t = parse_rfc3339(img.created)
    return t.timestamp() if t else None


def _labels(store: Store, img: imgs.Image) -> dict[str, str]:
    return dict((imgs.config(store, img.id).get("config") or {}).get("Labels") or {})


def image_rows(
    store: Store, repository: str | None = None, all_: bool = False, filters: list[str] | None = None
) -> list[ImageRow]:
    """`docker images [REPOSITORY[:TAG]] [-f ...]`: a row per name of each
    image; an untagged image that is another's parent only with `all_`.
    Filters: dangling=true|false, label=KEY or KEY=VALUE, before= and since=
    (an image: those created before or after it), until= (a time or a
    duration ago: those created before it), reference= (a glob on the
    name as docker matches it: busybox, busybox:latest, docker.io/library/busybox[:latest])."""
    from ..models.filters import match_labels

    f = parse_image_filters(list(filters or []))
    want_repo = want_tag = None
    if repository:
        r = parse(repository, default_tag=False)
        want_repo, want_tag = r.name, r.tag
    before = min((_created(imgs.lookup(store, v)[0]) or 0.0 for v in f.values.get("before", [])), default=None)
    if "until" in f.values:
        import time

        from ..errors import KetchError
        from ..models.filters import parse_time

        try:
            until = min(parse_time(v, time.time()) for v in f.values["until"])
        except KetchError as e:
            raise KetchError(f"invalid value for 'until' filter: {e}") from None
        before = until if before is None else min(before, until)
    since = max((_created(imgs.lookup(store, v)[0]) or 0.0 for v in f.values.get("since", [])), default=None)
    patterns = f.values.get("reference", [])
    all_images = imgs.list_images(store)
    parents = {i.parent for i in all_images if i.parent}
    out: list[ImageRow] = []
    for img in all_images:
        if before is not None or since is not None:
            when = _created(img)
            if when is None or (before is not None and not when < before) or (since is not None and not when > since):
                continue
        if "label" in f.values and not match_labels(f.values["label"], _labels(store, img)):
            continue
        if f.dangling is True and (img.tags or img.id in parents):
            continue
        if f.dangling is False and not (img.tags or img.digests):
            continue
        entries: list[tuple[str, str, str]] = []  # repo (full), tag, digest
        digest_of = {repo: d for repo, d in img.digests}
        for t in sorted(img.tags):  # docker's reference store lists an image's names in lexical order
            ref = parse(t)
            if patterns and not _named(ref.name, ref.tag, patterns):
                continue
            entries.append((ref.name, ref.tag or "<none>", digest_of.get(ref.name, "<none>")))
        tagged_repos = {parse(t).name for t in img.tags}
        entries += [
            (repo, "<none>", d)
            for repo, d in img.digests
            if repo not in tagged_repos and (not patterns or _named(repo, None, patterns))
        ]
        if not entries:
            if repository or patterns or (img.id in parents and not all_):
                continue
            entries.append(("<none>", "<none>", "<none>"))
        for repo, tag, d in entries:
            if want_repo and (repo != want_repo or (want_tag and tag != want_tag)):
                continue
            out.append(ImageRow(repo if repo == "<none>" else _familiar_repo(repo), tag, d, img))
    return out


def _named(repo: str, tag: str | None, patterns: list[str]) -> bool:
    """docker's reference= match: the name as it shows it, with its tag, and in full."""
    familiar = _familiar_repo(repo)
    targets = [familiar, repo] + ([f"{familiar}:{tag}", f"{repo}:{tag}"] if tag else [])
    return any(path_match(p, t) for p in patterns for t in targets)


def containers_using(store: Store) -> dict[str, int]:
    """How many containers each image has (docker's Containers of `images`)."""
    from . import containers as rows_

    counts: dict[str, int] = {}
    for r in rows_.every(store):
        counts[r["image_id"]] = counts.get(r["image_id"], 0) + 1
    return counts
