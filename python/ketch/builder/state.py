"""What a build is asked for (Options) and what it carries from step to
step (Stage): plain data shared by the builder's modules."""

from __future__ import annotations

import os

from ..errors import KetchError
from ..records import field, record

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


class BuildFailed(KetchError):
    """A RUN that exited non-zero: the build stops with its code."""


@record()
class Options:
    tags: list[str] = field(default_factory=list)
    dockerfile: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    pull: bool = False
    network: str = "default"  # RUN on the default bridge, as docker's builder


def build_args(pairs: list[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`--build-arg K=V`, and `--build-arg K` for K's value in the caller's
    environment (left out when it has none), as docker reads them."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for a in pairs:
        k, sep, v = a.partition("=")
        if sep:
            out[k] = v
        elif k in env:
            out[k] = env[k]
    return out


def labels(pairs: list[str]) -> dict[str, str]:
    """`--label K=V` (`--label K`: an empty value)."""
    return dict(x.partition("=")[::2] for x in pairs)


@record()
class Stage:
    name: str | None
    image_id: str | None  # None: scratch, nothing yet
    config: dict[str, Any]
    args: dict[str, str] = field(default_factory=dict)
    shell: list[str] = field(default_factory=lambda: ["/bin/sh", "-c"])
    cmd_set: bool = False  # a CMD in this stage survives a later ENTRYPOINT

    def env(self) -> dict[str, str]:
        """What variables in its instructions see: its ARGs, then its image's ENV."""
        env = dict(self.args)
        for e in (self.config.get("config") or {}).get("Env") or []:
            k, _, v = e.partition("=")
            env[k] = v
        return env
