"""Pull and push progress (registry/progress.py's events) in docker's words:
plain lines when the output is not a terminal, and on a terminal one line per
layer, redrawn in place."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from ..models.ids import short_id as _short
from ..registry import progress as p
from ._format import human_size

BAR = 50

# a pull's layer events, as docker's status words; the first two only on a terminal
_DRAWN = {p.LayerProgress: "Downloading", p.LayerExtracting: "Extracting"}
_STATUS: dict[type, str] = {
    p.LayerExists: "Already exists",
    p.LayerStarted: "Pulling fs layer",
    p.LayerVerifying: "Verifying Checksum",
    p.LayerDownloaded: "Download complete",
    p.LayerExtracted: "Pull complete",
}


def bar(current: int, total: int | None) -> str:
    if not total:
        return ""
    n = min(BAR, int(BAR * current / total)) if total else 0
    fill = "=" * n + (">" if n < BAR else "") + " " * max(BAR - n - 1, 0)
    return f"[{fill}]  {human_size(current, 4)}/{human_size(total, 4)}"


# the other events, as docker's plain lines
_LINES: dict[type, Callable[[Any], str]] = {
    p.PullingFrom: lambda ev: f"{ev.ident}: Pulling from {ev.repo}",
    p.Digest: lambda ev: f"Digest: {ev.digest}",
    p.Pulled: lambda ev: (
        f"Status: {'Downloaded newer image' if ev.downloaded else 'Image is up to date'} for {ev.name}"
    ),
    p.PushingTo: lambda ev: f"The push refers to repository [{ev.name}]",
    p.LayerPreparing: lambda ev: f"{_short(ev.layer)}: Preparing",
    p.LayerPushed: lambda ev: f"{_short(ev.layer)}: Pushed",
    p.LayerMounted: lambda ev: f"{_short(ev.layer)}: Mounted from {ev.source}",
    p.LayerAlreadyPushed: lambda ev: f"{_short(ev.layer)}: Layer already exists",
    p.ManifestPushed: lambda ev: f"{ev.tag}: digest: {ev.digest} size: {ev.size}",
}


def plain(ev: object) -> str | None:
    """The line docker prints for `ev` when its output is not a terminal
    (None: it prints none, as for byte counts)."""
    if (status := _STATUS.get(type(ev))) is not None:
        return f"{_short(ev.layer)}: {status}"  # type: ignore[attr-defined]
    line = _LINES.get(type(ev))
    return line(ev) if line is not None else None


class TerminalReporter:
    """Renders pull and push events to `out` (stdout): on a terminal (`tty`, by
    default whether `out` is one) a pull's layers each keep one line, redrawn
    with their status and progress bar; otherwise docker's plain lines."""

    def __init__(self, out: TextIO | None = None, tty: bool | None = None) -> None:
        self.out = out or sys.stdout  # looked up now: a test may have replaced it
        self.tty = self.out.isatty() if tty is None else tty
        self.rows: dict[str, int] = {}  # layer -> the line it was first drawn on
        self.lines = 0  # lines written so far

    def __call__(self, ev: object) -> None:
        # pull and push call this one event at a time: no lock needed here
        if self.tty and (status := _STATUS.get(type(ev)) or _DRAWN.get(type(ev))) is not None:
            text = f"{_short(ev.layer)}: {status}"  # type: ignore[attr-defined]
            if isinstance(ev, p.LayerProgress) and ev.total:
                text += " " + bar(ev.current, ev.total)
            self._draw(_short(ev.layer), text)  # type: ignore[attr-defined]
        elif (line := plain(ev)) is not None:
            self.out.write(line + "\n")
            self.lines += 1
            self.out.flush()

    def _draw(self, short: str, text: str) -> None:
        if short not in self.rows:
            self.rows[short] = self.lines
            self.out.write(text + "\n")
            self.lines += 1
        else:
            up = self.lines - self.rows[short]
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        self.out.flush()
