"""`ketch build`."""

from typing import Annotated

import typer

from . import _shared
from ._shared import command, store

Many = list[str] | None


@command("build")
def build(
    path: Annotated[str, typer.Argument(metavar="PATH | URL | -")],
    tag: Annotated[Many, typer.Option("-t", "--tag", help="Name and optionally a tag (name:tag)")] = None,
    file: Annotated[
        str | None, typer.Option("-f", "--file", help="Name of the Dockerfile (default: PATH/Dockerfile)")
    ] = None,
    build_arg: Annotated[Many, typer.Option("--build-arg", help="Set build-time variables")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use cache when building the image")] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Suppress the build output and print image ID on success")
    ] = False,
    target: Annotated[str | None, typer.Option("--target", help="Set the target build stage to build")] = None,
    label: Annotated[Many, typer.Option("--label", help="Set metadata for an image")] = None,
    pull: Annotated[bool, typer.Option("--pull", help="Always attempt to pull a newer version of the image")] = False,
    network: Annotated[
        str | None,
        typer.Option("--network", help="Networking mode for the RUN instructions (default: the default bridge)"),
    ] = None,
    iidfile: Annotated[str | None, typer.Option("--iidfile", help="Write the image ID to the file")] = None,
) -> None:
    """Build an image from a Dockerfile"""
    from ._build import build_parsed

    build_parsed(dict(locals()))


_builder = _shared.group("builder", "Manage builds")


@_shared.subcommand(_builder, "prune")
def builder_prune(
    all_: Annotated[
        bool, typer.Option("-a", "--all", help="Remove all unused build cache, not just dangling ones")
    ] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not prompt for confirmation")] = False,
) -> int:
    """Remove build cache"""
    from ..store.buildcache import prune
    from ._format import human_size

    if not force and not _shared.confirm(f"WARNING! This will remove {'all' if all_ else 'all dangling'} build cache."):
        return 0
    r = prune(store(), all_)
    if r.deleted:
        _shared.out("\n".join(["Deleted build cache objects:", *r.deleted, ""]))
    _shared.out(f"Total reclaimed space: {human_size(r.reclaimed, 4)}")
    return 0
