"""Static helper programs for images made offline, built with gcc."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def static_binary(tmp_path_factory: pytest.TempPathFactory, source: Path | str, what: str) -> bytes:
    """A static program built with gcc from `source` (a .c path, or C text),
    for images made offline; skips the test where gcc is missing."""
    if shutil.which("gcc") is None:
        pytest.skip(f"gcc is needed to build the static {what} (scripts/setup.sh installs it)")
    d = tmp_path_factory.mktemp("static")
    src = d / "prog.c"
    src.write_text(source.read_text() if isinstance(source, Path) else source)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "prog"), str(src)], check=True)
    return (d / "prog").read_bytes()
