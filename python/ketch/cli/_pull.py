"""The pull policy's events (images.ensure_image) as docker's CLI prints
them, for run, create and build's FROM. A module of its own so that a run
of an image already in the store loads none of the pull's printer."""

import sys


def print_pull(ev: object) -> None:
    """The container's output owns stdout: the pull's lines go to stderr,
    as docker's do."""
    from ..images import NotFoundLocally, PullLine

    if isinstance(ev, NotFoundLocally):
        print(f"Unable to find image '{ev.ref}' locally", file=sys.stderr, flush=True)
    elif isinstance(ev, PullLine):
        from ._progress import TerminalReporter

        TerminalReporter(sys.stderr, tty=False)(ev.event)
