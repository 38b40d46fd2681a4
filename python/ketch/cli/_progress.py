"""Docker's pull progress on a terminal: one line per layer, redrawn in place."""

from __future__ import annotations

import sys
from typing import TextIO

from ..registry.pull import Reporter
from ._format import human_size

BAR = 50


def bar(current: int, total: int | None) -> str:
    if not total:
        return ""
    n = min(BAR, int(BAR * current / total)) if total else 0
    fill = "=" * n + (">" if n < BAR else "") + " " * max(BAR - n - 1, 0)
    return f"[{fill}]  {human_size(current, 4)}/{human_size(total, 4)}"


class TerminalReporter(Reporter):
    def __init__(self, out: TextIO = sys.stdout) -> None:
        super().__init__(lambda text: None)
        self.out = out
        self.rows: dict[str, int] = {}  # layer -> the line it was first drawn on
        self.lines = 0  # lines written so far

    def line(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.lines += 1
            self.out.flush()

    def layer(self, short: str, status: str, current: int | None = None, total: int | None = None) -> None:
        text = f"{short}: {status}"
        if current is not None and total:
            text += " " + bar(current, total)
        with self._lock:
            if short not in self.rows:
                self.rows[short] = self.lines
                self.out.write(text + "\n")
                self.lines += 1
            else:
                up = self.lines - self.rows[short]
                self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
            self.out.flush()
