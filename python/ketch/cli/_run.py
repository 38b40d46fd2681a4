"""`ketch run` once its flags are parsed, by Typer (containers.run, also as
`create`) or by the fast path (cli/_fast.py, which needs no Typer): the
parameters as Click's context holds them."""

from __future__ import annotations

from . import _common
from ._common import out, store, terminal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# run's parameters that are not the new container's options
RUN_ONLY = ("image", "args", "rm", "detach", "pull_policy")


def run(params: dict[str, Any], info_name: str = "run") -> int:
    """Pulls the image if the policy says so, creates the container and,
    unless this is `create`, runs it (in the background with -d)."""
    from ..errors import KetchError
    from ..images import ensure_image, local_name
    from ..runtime import launch
    from ._pull import print_pull

    # the parameters are named as the runtime's options are: all but run's own go to it
    opts = launch.options(_common.settings, **{k: v for k, v in params.items() if k not in RUN_ONLY})
    s = store()
    image, rm = params["image"], params["rm"]
    try:
        ensure_image(s, image, params["pull_policy"], print_pull)
        c = launch.create(s, local_name(s, image), list(params["args"] or []), opts, rm)
    except KetchError as e:
        if e.exit_code == 1 and info_name == "run":  # docker run: what fails before the container runs: 125
            e.exit_code = 125
        raise
    if info_name == "create":
        out(c.id)
        return 0
    if params["detach"]:
        launch.start_detached(s, c, rm)
        out(c.id)
        return 0
    return launch.run_foreground(s, c, terminal(), params["tty"], params["interactive"], rm)
