"""The `ketch` program ends its process at once (cli.entry, os._exit) once
main is done: what the interpreter's teardown would have done that matters
must still happen. No root needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENTRY = "import sys; from ketch.cli import entry; sys.argv[0] = 'ketch'; entry()"
MAIN = "import sys; from ketch.cli import main; sys.argv[0] = 'ketch'; sys.exit(main())"


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)


def test_a_write_is_checkpointed_before_the_process_ends(tmp_path: Path) -> None:
    """The database's log is folded back and removed, as on a full teardown:
    the last command's commit is on disk, not only in the log's pages."""
    r = _run(ENTRY, "--root", str(tmp_path), "volume", "create", "v1")
    assert (r.returncode, r.stdout, r.stderr) == (0, "v1\n", "")
    assert (tmp_path / "ketch.db").exists()
    assert not (tmp_path / "ketch.db-wal").exists()
    assert _run(ENTRY, "--root", str(tmp_path), "volume", "ls", "-q").stdout == "v1\n"


def test_exit_codes_and_output_are_mains(tmp_path: Path) -> None:
    for args in (["nosuch"], ["--help"], ["ps", "--bogus"], ["volume", "inspect", "nope"], ["ps", "-a"]):
        a, b = _run(ENTRY, "--root", str(tmp_path), *args), _run(MAIN, "--root", str(tmp_path), *args)
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args
    assert _run(ENTRY, "--root", str(tmp_path), "nosuch").returncode == 1


def test_a_reader_gone_is_quiet(tmp_path: Path) -> None:
    """`ketch --help | head -0`: no traceback, no 'Exception ignored' line."""
    p = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "--root", str(tmp_path), "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_a_closed_stdout_at_start_is_no_error(tmp_path: Path) -> None:
    """fd 1 closed before the interpreter starts (sys.stdout is None): main's exit code, no traceback."""
    r = subprocess.run(
        [sys.executable, "-c", ENTRY, "--root", str(tmp_path), "volume", "inspect", "nope"],
        capture_output=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
