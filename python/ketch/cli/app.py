"""The Typer application: parse flags, call the library, print. No logic here."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ._flags import DockerCommand, DockerGroup

app = typer.Typer(
    cls=DockerGroup,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="A Docker-compatible container engine.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
image_app = typer.Typer(cls=DockerGroup, no_args_is_help=True, rich_markup_mode=None, help="Manage images")
app.add_typer(image_app, name="image")


def command(app_: typer.Typer = app, name: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return app_.command(name, cls=DockerCommand, **kw)  # type: ignore[arg-type]


@app.callback()
def _root(
    root: Annotated[
        str | None, typer.Option("--root", help="Store directory (default /var/lib/ketch, or KETCH_ROOT)")
    ] = None,
) -> None:
    if root:
        os.environ["KETCH_ROOT"] = root


def _store():  # type: ignore[no-untyped-def]
    from ..store import Store

    return Store()


# -- pull ------------------------------------------------------------------


def _pull(name: str, quiet: bool, platform: str | None) -> None:
    from ..reference import parse
    from ..registry.pull import pull

    ref = parse(name, default_tag=False)
    if not ref.tag and not ref.digest:
        if not quiet:
            print("Using default tag: latest", flush=True)
        ref = ref.with_tag("latest")
    store = _store()
    pull(store, ref, lambda line: print(line, flush=True), platform=platform, quiet=quiet)
    print(str(ref) if ref.domain == "docker.io" else ref.familiar())


Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Suppress verbose output")]
Platform = Annotated[str | None, typer.Option("--platform", help="Set platform if server is multi-platform capable")]


@command()
def pull(
    name: Annotated[str, typer.Argument(metavar="NAME[:TAG|@DIGEST]")], quiet: Quiet = False, platform: Platform = None
) -> None:
    """Download an image from a registry"""
    _pull(name, quiet, platform)


@command(image_app, "pull")
def image_pull(
    name: Annotated[str, typer.Argument(metavar="NAME[:TAG|@DIGEST]")], quiet: Quiet = False, platform: Platform = None
) -> None:
    """Download an image from a registry"""
    _pull(name, quiet, platform)


# -- images ----------------------------------------------------------------


def _images(repository: str | None, all_: bool, quiet: bool, digests: bool, no_trunc: bool) -> None:
    from . import _images as impl

    impl.images(_store(), repository, all_, quiet, digests, no_trunc)


All = Annotated[bool, typer.Option("-a", "--all", help="Show all images (default hides intermediate images)")]
Digests = Annotated[bool, typer.Option("--digests", help="Show digests")]
NoTrunc = Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")]
QuietIds = Annotated[bool, typer.Option("-q", "--quiet", help="Only show image IDs")]
Repo = Annotated[str | None, typer.Argument(metavar="[REPOSITORY[:TAG]]")]


@command()
def images(
    repository: Repo = None,
    all_: All = False,
    quiet: QuietIds = False,
    digests: Digests = False,
    no_trunc: NoTrunc = False,
) -> None:
    """List images"""
    _images(repository, all_, quiet, digests, no_trunc)


@command(image_app, "ls")
def image_ls(
    repository: Repo = None,
    all_: All = False,
    quiet: QuietIds = False,
    digests: Digests = False,
    no_trunc: NoTrunc = False,
) -> None:
    """List images"""
    _images(repository, all_, quiet, digests, no_trunc)


# -- rmi, tag, history, inspect -------------------------------------------

Force = Annotated[bool, typer.Option("-f", "--force", help="Force removal of the image")]
Names = Annotated[list[str], typer.Argument(metavar="IMAGE [IMAGE...]")]


def _rmi(names: list[str], force: bool) -> int:
    import sys

    from ..errors import KetchError
    from ..store.images import remove

    store = _store()
    rc = 0
    for n in names:
        try:
            for line in remove(store, n, force):
                print(line, flush=True)
        except KetchError as e:
            print(f"Error: {e}", file=sys.stderr)
            rc = 1
    return rc


@command()
def rmi(names: Names, force: Force = False) -> int:
    """Remove one or more images"""
    return _rmi(names, force)


@command(image_app, "rm")
def image_rm(names: Names, force: Force = False) -> int:
    """Remove one or more images"""
    return _rmi(names, force)


def _tag(source: str, target: str) -> None:
    from ..store.images import tag as do_tag

    do_tag(_store(), source, target)


@command()
def tag(
    source: Annotated[str, typer.Argument(metavar="SOURCE_IMAGE[:TAG]")],
    target: Annotated[str, typer.Argument(metavar="TARGET_IMAGE[:TAG]")],
) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"""
    _tag(source, target)


@command(image_app, "tag")
def image_tag(
    source: Annotated[str, typer.Argument(metavar="SOURCE_IMAGE[:TAG]")],
    target: Annotated[str, typer.Argument(metavar="TARGET_IMAGE[:TAG]")],
) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"""
    _tag(source, target)


Human = Annotated[bool, typer.Option("-H", "--human", help="Print sizes and dates in human readable format")]


@command()
def history(
    name: Annotated[str, typer.Argument(metavar="IMAGE")], no_trunc: NoTrunc = False, quiet: QuietIds = False
) -> None:
    """Show the history of an image"""
    from . import _images as impl

    impl.history(_store(), name, no_trunc, quiet)


@command(image_app, "history")
def image_history(
    name: Annotated[str, typer.Argument(metavar="IMAGE")], no_trunc: NoTrunc = False, quiet: QuietIds = False
) -> None:
    """Show the history of an image"""
    from . import _images as impl

    impl.history(_store(), name, no_trunc, quiet)


def _inspect(names: list[str]) -> int:
    from . import _images as impl

    return impl.inspect(_store(), names)


@command(image_app, "inspect")
def image_inspect(names: Names) -> int:
    """Display detailed information on one or more images"""
    return _inspect(names)


@command()
def inspect(names: Names) -> int:
    """Return low-level information on images"""
    return _inspect(names)
