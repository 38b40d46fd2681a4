"""The shared fixtures: a real registry (Debian's docker-registry) for the
session, and ketch run as a command against a store of each test's own.
The helpers behind them live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.engine import Engine, start_engine, stop_engine
from support.ketch import Ketch
from support.registry import RunningRegistry, start_registry, stop_registry


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


@pytest.fixture
def engine(ketch: Ketch) -> Iterator[Engine]:
    """`ketch system service` on a socket of this test's own, over the `ketch` fixture's store."""
    e = start_engine(ketch)
    yield e
    stop_engine(e)
