"""The shared fixtures: a real registry (Debian's docker-registry) for the
session, and ketch run as a command against a store of each test's own.
The helpers behind them live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.ketch import KETCH, Ketch, Result, requires_root
from support.net import free_port
from support.registry import RunningRegistry, start_registry, stop_registry
from support.static import static_binary
from support.wait import wait_for

# Compatibility only: the old `from conftest import ...` of branches written
# before tests/support/. New code imports from support; shrink this to the
# fixtures' own imports once nothing imports conftest.
__all__ = [
    "KETCH", "Ketch", "Result", "RunningRegistry", "free_port", "requires_root", "start_registry", "static_binary",
    "stop_registry", "wait_for",
]  # fmt: skip


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    r = start_registry(tmp_path_factory.mktemp("registry"))
    yield r
    stop_registry(r)


@pytest.fixture
def ketch(tmp_path: Path) -> Iterator[Ketch]:
    k = Ketch(tmp_path / "store", tmp_path / "run")
    yield k
    k.clean_up()
