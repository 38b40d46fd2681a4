"""`logs --tail N` reads the log from its end: the same lines as reading it
all, whatever the block size, with or without a final newline."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.runtime.inspect import _last_lines


@pytest.mark.parametrize("final_newline", [True, False])
@pytest.mark.parametrize("block", [1, 7, 64, 1 << 16])
def test_the_last_lines_are_those_of_the_whole_file(tmp_path: Path, final_newline: bool, block: int) -> None:
    lines = [f'{{"log":"line {i} {"é" * (i % 5)}\\n","stream":"stdout"}}\n' for i in range(300)]
    text = "".join(lines) if final_newline else "".join(lines)[:-1]
    p = tmp_path / "log.json"
    p.write_text(text, encoding="utf-8")
    whole = text.splitlines(keepends=True)
    for n in (0, 1, 2, 17, 299, 300, 301, 10_000):
        with open(p, encoding="utf-8", errors="replace") as f:
            got = _last_lines(f, n, block)
            assert got == (whole[-n:] if n else []), (n, block)
            assert f.readline() == ""  # left at the end, where a follower goes on
            with open(p, "a", encoding="utf-8") as w:
                w.write("appended\n")
            assert f.readline() == "appended\n"
        p.write_text(text, encoding="utf-8")


def test_a_tail_of_a_big_log_reads_only_its_end(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    with open(p, "w") as f:
        for i in range(200_000):
            f.write(f'{{"log":"{i}\\n","stream":"stdout","time":"2026-12-03T00:00:00Z"}}\n')
    reads: list[int] = []
    import os

    real = os.pread

    def counting(fd: int, n: int, at: int) -> bytes:
        reads.append(n)
        return real(fd, n, at)

    os.pread = counting  # type: ignore[assignment]
    try:
        with open(p) as f:
            got = _last_lines(f, 3)
    finally:
        os.pread = real  # type: ignore[assignment]
    assert [x.split('"')[3] for x in got] == ["199997\\n", "199998\\n", "199999\\n"]
    assert sum(reads) <= 64 << 10  # one block of a ~12 MB file
