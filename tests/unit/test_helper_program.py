"""ketch-monitor is found beside the extension or reported missing: no
silent fallback (runtime/process.py helper_status, helper_program), and
--init's default init is that same program (runtime/mounts.py)."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest

from ketch.errors import KetchError
from ketch.runtime import mounts, process


@pytest.fixture
def native_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake = types.SimpleNamespace(__file__=str(tmp_path / "_native.abi3.so"))
    monkeypatch.setattr(process, "_native", fake)
    return tmp_path


def test_missing_monitor_is_reported_and_refused(native_dir: Path) -> None:
    status = process.helper_status()
    assert status == process.HelperProgram(str(native_dir / "ketch-monitor"), False, "missing")
    with pytest.raises(KetchError, match=r"ketch-monitor is missing: ketch starts container processes only through it"):
        process.helper_program()
    with pytest.raises(KetchError, match="is missing"):
        mounts.init_binary(None)  # --init has no init without it either


def test_monitor_that_cannot_run_is_reported(native_dir: Path) -> None:
    program = native_dir / "ketch-monitor"
    program.write_bytes(b"\x7fELF")
    program.chmod(0o644)
    if os.access(program, os.X_OK):
        pytest.skip("root with CAP_DAC_OVERRIDE may execute anything")  # pragma: no cover
    assert process.helper_status().problem == "not executable"
    with pytest.raises(KetchError, match="is not executable"):
        process.helper_program()


def test_present_monitor_is_the_helper_and_the_init(native_dir: Path) -> None:
    program = native_dir / "ketch-monitor"
    program.write_bytes(b"\x7fELF")
    program.chmod(0o755)
    assert process.helper_status() == process.HelperProgram(str(program), True, None)
    assert process.helper_program() == str(program)
    assert mounts.init_binary(None) == str(program)
    other = native_dir / "tini-static"
    other.write_bytes(b"")
    assert mounts.init_binary(str(other)) == str(other)  # KETCH_INIT_PATH still wins
