"""Container names: docker's rule for a given one, and a random
adjective_scientist for a container without."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from ..errors import KetchError

ADJECTIVES = "admiring brave clever dreamy eager festive gallant happy jolly keen lucid modest nifty serene".split()
SCIENTISTS = (
    "babbage curie darwin euler fermi galois hopper lovelace noether pascal ritchie shannon turing wozniak".split()
)

_NAME = r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$"  # compiled at the first check: a run without --name needs none


def check(name: str) -> str:
    """A name as given (docker's leading / allowed), without that slash; else an error."""
    if not re.fullmatch(_NAME, name):  # fullmatch: `$` would take a trailing newline
        raise KetchError(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def _pick(words: list[str]) -> str:
    # os.urandom rather than `random`/`secrets`: their imports cost ~7 ms of every run
    return words[int.from_bytes(os.urandom(4)) % len(words)]


def random_name(taken: Callable[[str], bool]) -> str:
    """adjective_scientist, one not `taken`; after 100 tries, with a number."""
    for _ in range(100):
        name = f"{_pick(ADJECTIVES)}_{_pick(SCIENTISTS)}"
        if not taken(name):
            return name
    return f"{_pick(ADJECTIVES)}_{_pick(SCIENTISTS)}{1 + int.from_bytes(os.urandom(2)) % 999}"
