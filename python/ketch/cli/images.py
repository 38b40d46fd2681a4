"""The image commands: pull, push, images, rmi, tag, history, image
inspect, import, save, load (each also under `ketch image`)."""

import sys
from typing import Annotated

import typer

from ._shared import Silent, command, documents, each, image_group, out, store, subcommand
from .options import Format, InspectFormat, NoTrunc, PruneUntil

Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Suppress verbose output")]
QuietIds = Annotated[bool, typer.Option("-q", "--quiet", help="Only show image IDs")]
Names = Annotated[list[str], typer.Argument(metavar="IMAGE [IMAGE...]")]


@command("pull", "pull")
def pull(
    name: Annotated[str, typer.Argument(metavar="NAME[:TAG|@DIGEST]")],
    quiet: Quiet = False,
    platform: Annotated[
        str | None, typer.Option("--platform", help="Set platform if server is multi-platform capable")
    ] = None,
) -> None:
    """Download an image from a registry"""
    from ..reference import parse
    from ..registry.hosts import candidates
    from ..registry.pull import pull as do_pull

    ref = parse(name, default_tag=False)
    if not ref.tag and not ref.digest:
        if not quiet:
            out("Using default tag: latest")
        name += ":latest"
    s = store()
    refs = candidates(name, s.settings)  # a short name: each search registry's (registries.conf)
    if not quiet:  # TerminalReporter prints docker's plain lines when stdout is no terminal
        from ._progress import TerminalReporter

        ref = do_pull(s, refs, TerminalReporter(), platform=platform).ref
    else:
        ref = do_pull(s, refs, out, platform=platform, quiet=quiet).ref
    print(str(ref) if ref.domain == "docker.io" else ref.familiar())


@command("images", "ls")
def images(
    repository: Annotated[str | None, typer.Argument(metavar="[REPOSITORY[:TAG]]")] = None,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show all images (default hides intermediate images)")] = (
        False
    ),
    quiet: QuietIds = False,
    digests: Annotated[bool, typer.Option("--digests", help="Show digests")] = False,
    no_trunc: NoTrunc = False,
    filter_: Annotated[
        list[str] | None, typer.Option("-f", "--filter", help="Filter output based on conditions provided")
    ] = None,
    format_: Format = None,
) -> None:
    """List images"""
    from ._lists import images as listing

    listing(repository, all_, quiet, digests, no_trunc, filter_, format_)


@command("rmi", "rm")
def rmi(
    names: Names, force: Annotated[bool, typer.Option("-f", "--force", help="Force removal of the image")] = False
) -> int:
    """Remove one or more images"""
    from ..store.images import remove

    s = store()

    def one(name: str) -> list[str]:
        report = remove(s, name, force)
        return [f"Untagged: {n}" for n in report.untagged] + [f"Deleted: {i}" for i in report.deleted]

    return each(names, one)


@command("tag", "tag")
def tag(
    source: Annotated[str, typer.Argument(metavar="SOURCE_IMAGE[:TAG]")],
    target: Annotated[str, typer.Argument(metavar="TARGET_IMAGE[:TAG]")],
) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"""
    from ..store.images import tag as do_tag

    do_tag(store(), source, target)


HISTORY_HEADER = {
    "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE",
    "Comment": "COMMENT",
}  # fmt: skip


@command("history", "history")
def history(
    name: Annotated[str, typer.Argument(metavar="IMAGE")],
    no_trunc: NoTrunc = False,
    quiet: QuietIds = False,
    format_: Format = None,
) -> None:
    """Show the history of an image"""
    from ..store.inspect import history as entries
    from ._format import ago, ellipsis, human_size, table

    rows = entries(store(), name)
    ids = [(e.image.id if no_trunc else e.image.short_id) if e.image else "<missing>" for e in rows]
    if quiet and (not format_ or format_ == "table"):  # docker: a custom format wins over -q
        print("\n".join(ids))
        return
    if format_ and format_ != "table":
        from ._format import timestamp
        from .template import Method, Row, format_rows

        def created_at(created: str | None) -> str:
            import datetime as dt

            t = int(timestamp(created) or 0)
            return dt.datetime.fromtimestamp(t).astimezone().isoformat().replace("+00:00", "Z")

        contexts = [
            Row(
                "*image.historyContext",
                {
                    "ID": i,
                    "CreatedSince": Method(lambda e=e: ago(e.created)),
                    "CreatedAt": Method(lambda e=e: created_at(e.created)),
                    "CreatedBy": (lambda by: by if no_trunc else ellipsis(by, 45))(e.created_by.replace("\t", " ")),
                    "Size": Method(lambda e=e: human_size(e.size)),
                    "Comment": e.comment,
                },
            )
            for i, e in zip(ids, rows, strict=True)
        ]
        sys.stdout.write(format_rows(format_, contexts, HISTORY_HEADER))
        return
    print(
        table(
            [
                ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
                *[
                    [i, ago(e.created), e.created_by if no_trunc else ellipsis(e.created_by, 45), human_size(e.size)]
                    + [e.comment]
                    for i, e in zip(ids, rows, strict=True)
                ],
            ],
            minwidth=10,
        )
    )


@subcommand(image_group(), "inspect")
def image_inspect(names: Names, format_: InspectFormat = None) -> int:
    """Display detailed information on one or more images"""
    from ..errors import ImageNotFound
    from ..store.inspect import image_inspect as document

    rc = documents(names, document, ImageNotFound, format_)
    if rc:
        raise Silent(rc)
    return rc


@command("import", "import")
def import_(
    source: Annotated[str, typer.Argument(metavar="file|-")],
    repository: Annotated[str | None, typer.Argument(metavar="[REPOSITORY[:TAG]]")] = None,
    message: Annotated[str, typer.Option("-m", "--message", help="Set commit message for imported image")] = "",
) -> None:
    """Import the contents from a tarball to create a filesystem image"""
    from ..reference import parse
    from ..store.importer import import_tarball

    tag = parse(repository) if repository else None  # bad names fail before anything is read
    s = store()
    if source == "-":
        image_id = import_tarball(s, sys.stdin.buffer, "-", tag, message)
    else:
        with open(source, "rb") as f:
            image_id = import_tarball(s, f, source, tag, message)
    print(image_id)


@command("save", "save")
def save(
    names: Names,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write to a file, instead of STDOUT")] = None,
) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)"""
    from ..store.archive import save as to_stream
    from ..store.archive import save_to_file

    if output is not None:
        save_to_file(store(), names, output)
        return
    if sys.stdout.isatty():
        from ..errors import UsageError

        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    to_stream(store(), names, sys.stdout.buffer)
    sys.stdout.buffer.flush()


@command("load", "load")
def load(
    input_: Annotated[
        str | None, typer.Option("-i", "--input", help="Read from tar archive file, instead of STDIN")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Load an image from a tar archive or STDIN"""
    from ..store.archive import load as do_load

    if input_ is None:
        if sys.stdin.isatty():
            from ..errors import UsageError

            raise UsageError("requested load from stdin, but stdin is empty")
        loaded = do_load(store(), sys.stdin.buffer)
    else:
        with open(input_, "rb") as f:
            loaded = do_load(store(), f)
    for image in [] if quiet else loaded:
        for line in [f"Loaded image: {n}" for n in image.names] or [f"Loaded image ID: {image.image_id}"]:
            out(line)


@command("push", "push")
def push(name: Annotated[str, typer.Argument(metavar="NAME[:TAG]")], quiet: Quiet = False) -> None:
    """Upload an image to a registry"""
    from ..reference import parse
    from ..registry.push import push as do_push
    from ._progress import TerminalReporter

    do_push(store(), parse(name), None if quiet else TerminalReporter(tty=False))


@subcommand(image_group(), "prune")
def image_prune(
    all_: Annotated[bool, typer.Option("-a", "--all", help="Remove all unused images, not just dangling ones")] = False,
    filter_: PruneUntil = None,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not prompt for confirmation")] = False,
) -> int:
    """Remove unused images"""
    from ..models.filters import PruneFilter
    from ..store.images import prune
    from ._format import human_size
    from ._shared import confirm

    PruneFilter(filter_)
    what = "all images without at least one container associated to them" if all_ else "all dangling images"
    if not force and not confirm(f"WARNING! This will remove {what}."):
        return 0
    r = prune(store(), all_, filter_)
    lines = [f"untagged: {x}" for x in r.untagged] + [f"deleted: {x}" for x in r.deleted]
    if lines:
        out("\n".join(["Deleted Images:", *lines, ""]))
    out(f"Total reclaimed space: {human_size(r.reclaimed, 4)}")
    return 0
