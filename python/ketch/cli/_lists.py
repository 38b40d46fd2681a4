"""The listings docker users type all day, `ps` and `images`: docker's
flags already parsed (by Typer in container_io.py and images.py, or by the
fast path in _fast.py before Click is imported), the rows read and printed.
Nothing here imports Typer or Click."""

from __future__ import annotations

import sys

from ._common import daemon_error, error, out, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..runtime.state import Container
    from ..store import Store
    from .template import Row


def _ports(s: Store, c: Container) -> str:
    """docker's PORTS: `0.0.0.0:32768->80/tcp` (the IPv6 side as `:::32768`)."""
    from ..runtime.listing import published_ports

    return ", ".join(
        f"{':::' if p.host_ip == '::' else p.host_ip + ':'}{p.host_port}->{p.port}/{p.proto}"
        for p in published_ports(s, c)
    )


# docker's ps --format fields (formatter.ContainerContext) and their column names
PS_HEADER = {
    "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
    "Labels": "LABELS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
}  # fmt: skip
PS_TYPE = "*formatter.ContainerContext"


def ps_fields(s: Store, c: Container, trunc: bool, with_size: bool) -> dict[str, Any]:
    """One container as docker's ps sees it (formatter.ContainerContext):
    each field a value or a function computing it when read (`Label` takes a name)."""
    import time

    from ..runtime import listing as ri
    from ._format import ellipsis, go_quote, go_time, human_duration, human_size

    def command() -> str:
        # an argument with a space as shlex.quote has it (a space is always quoted): no shlex, no re
        cmd = " ".join("'" + a.replace("'", "'\"'\"'") + "'" if " " in a else a for a in c.config["argv"])
        return go_quote(ellipsis(cmd, 20) if trunc else cmd)

    def labels() -> str:
        return ",".join(sorted(f"{k}={v}" for k, v in ri.labels(s, c).items()))

    def mounts() -> str:
        names = [m.name or m.source for m in ri.mounts(s, c)]
        return ",".join(ellipsis(n, 15) if trunc else n for n in names)

    def size() -> str:
        if not with_size:
            return "0B"
        from ..errors import KetchError
        from ..store.images import get

        rw = ri.size_rw(s, c)
        try:
            virtual = rw + get(s, c.image_id).size
        except KetchError:
            virtual = rw
        return f"{human_size(rw)} (virtual {human_size(virtual)})"

    return {
        "ID": c.short_id if trunc else c.id,
        "Image": c.image,
        "Command": command,
        "CreatedAt": lambda: go_time(c.created),
        "RunningFor": lambda: f"{human_duration(time.time() - c.created)} ago",
        "Ports": lambda: _ports(s, c),
        "State": "paused" if c.paused else c.state,
        "Status": lambda: ri.status_text(c),
        "Size": size,
        "Names": c.name,
        "Labels": labels,
        "Mounts": mounts,
        "LocalVolumes": lambda: str(sum(m.volume for m in ri.mounts(s, c))),
        "Networks": lambda: ",".join(ri.networks(s, c)),
        "Label": lambda k: ri.labels(s, c).get(k, ""),
    }


def ps_row(fields: dict[str, Any]) -> Row:
    """`ps_fields` as the template engine reads them."""
    from .template import Method, Row

    return Row(PS_TYPE, {k: Method(v, 1 if k == "Label" else 0) if callable(v) else v for k, v in fields.items()})


def ps(
    all_: bool = False,
    quiet: bool = False,
    no_trunc: bool = False,
    filter_: list[str] | None = None,
    format_: str | None = None,
    size: bool = False,
    last: int = -1,
    latest: bool = False,
) -> None:
    """`ketch ps`: docker's ps output for these flags."""
    from ..errors import KetchError
    from ..runtime.listing import select
    from ._format import table

    if format_ and quiet:
        error("WARNING: Ignoring custom format, because both --format and --quiet are set.")
    if not format_ and not quiet:
        from ._format import config_format

        format_ = config_format("psFormat")  # docker's default from ~/.docker/config.json
    if format_ and not quiet:
        from .template import Method, Row, probe

        used: set[str] = set()

        def seen(name: str, arity: int = 0) -> Method:
            return Method(lambda *_a: used.add(name) or "", arity)  # type: ignore[func-returns-value]

        probe(format_, Row(PS_TYPE, {k: seen(k) for k in PS_HEADER} | {"Label": seen("Label", 1)}))
        size = size or "Size" in used
    s = store()
    limit = 1 if latest and last == -1 else last
    try:
        rows = select(s, all_ or limit > 0, list(filter_ or []))
    except KetchError as e:
        raise daemon_error(e) from None
    if limit > 0:
        rows = rows[:limit]
    if quiet:
        for c in rows:
            out(c.id if no_trunc else c.short_id)
        return
    fields = [ps_fields(s, c, not no_trunc, size) for c in rows]
    if format_ and format_ != "table":
        from .template import format_rows

        sys.stdout.write(format_rows(format_, [ps_row(f) for f in fields], PS_HEADER))
        return
    columns = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"] + (["Size"] if size else [])
    lines = [[PS_HEADER[k] for k in columns]]
    lines += [[str(f[k]() if callable(f[k]) else f[k]) for k in columns] for f in fields]
    print(table(lines, minwidth=10))


IMAGES_HEADER = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
}  # fmt: skip


def images(
    repository: str | None = None,
    all_: bool = False,
    quiet: bool = False,
    digests: bool = False,
    no_trunc: bool = False,
    filter_: list[str] | None = None,
    format_: str | None = None,
) -> None:
    """`ketch images`: docker's images output for these flags."""
    from ..errors import KetchError
    from ..store.inspect import image_rows
    from ._format import ago, go_time, human_size, table, timestamp

    try:
        rows = image_rows(store(), repository, all_, list(filter_ or []))
    except KetchError as e:
        raise daemon_error(e) from None
    if not format_ and not quiet:
        from ._format import config_format

        format_ = config_format("imagesFormat")  # docker's default from ~/.docker/config.json
    if quiet and (not format_ or format_ == "table"):  # docker: a custom format wins over -q
        ids = [r.image.id if no_trunc else r.image.short_id for r in rows]  # docker: one per row, as the table
        if ids:
            print("\n".join(ids))
        return
    if format_ and format_ != "table":
        from .template import Method, Row, format_rows

        fmt = format_ + (
            "\t{{.Digest}}" if format_.startswith("table") and digests and "{{.Digest}}" not in format_ else ""
        )
        shown = digests or "{{.Digest}}" in fmt
        contexts = [
            Row(
                "*formatter.imageContext",
                {
                    "ID": r.image.id if no_trunc else r.image.short_id,
                    "Repository": r.repository,
                    "Tag": r.tag,
                    "Digest": r.digest
                    if shown
                    else ("<none>" if r.tag != "<none>" or r.repository == "<none>" else ""),
                    "CreatedSince": Method(lambda r=r: "" if not r.image.created else ago(r.image.created)),
                    "CreatedAt": Method(lambda r=r: go_time(timestamp(r.image.created) or 0)),
                    "Size": Method(lambda r=r: human_size(r.image.size)),
                    "VirtualSize": Method(lambda r=r: human_size(r.image.size, 4)),  # docker's HumanSize
                    "Containers": "N/A",  # docker's: counted by `system df` only
                    "SharedSize": "N/A",
                    "UniqueSize": "N/A",
                },
            )
            for r in rows
        ]
        sys.stdout.write(format_rows(fmt, contexts, IMAGES_HEADER))
        return
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    lines = [
        [r.repository, r.tag, *([r.digest] if digests else [])]
        + [r.image.id if no_trunc else r.image.short_id, ago(r.image.created), human_size(r.image.size)]
        for r in rows
    ]
    print(table([header, *lines], minwidth=10))
