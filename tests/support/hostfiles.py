"""A module's view of one host file, moved to a file of the test's own."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest


def fake_host_file(monkeypatch: pytest.MonkeyPatch, module: ModuleType, host_path: str, fake: Path) -> Path:
    """`module`'s `Path(host_path)` is `fake` for the rest of the test (every other path as it is)."""
    monkeypatch.setattr(module, "Path", lambda p: fake if str(p) == host_path else Path(p))
    return fake
