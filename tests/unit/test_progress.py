"""Pull and push events (registry/progress.py) in docker's words, byte for
byte: the plain lines docker prints when its output is not a terminal
(/work/shared/reference's transcripts), and the terminal's redrawn rows."""

from __future__ import annotations

import io

from ketch.cli._progress import TerminalReporter
from ketch.registry import progress as p

A = "sha256:99e8da16db04" + "0" * 52
B = "sha256:558ca62529b8" + "1" * 52
TOP = "sha256:" + "ab" * 32


def _render(events: list[object], tty: bool) -> str:
    out = io.StringIO()
    rep = TerminalReporter(out, tty=tty)
    for ev in events:
        rep(ev)
    return out.getvalue()


PULL = [
    p.PullingFrom("latest", "lab/python"),
    p.LayerExists(B),
    p.LayerStarted(A),
    p.LayerProgress(A, 1024, 2048),
    p.LayerVerifying(A),
    p.LayerDownloaded(A),
    p.LayerExtracted(A),
    p.Digest(TOP),
    p.Pulled("127.0.0.1:5055/lab/python:latest", True),
]


def test_pull_events_as_dockers_plain_lines() -> None:
    assert _render(PULL, tty=False) == (
        "latest: Pulling from lab/python\n"
        "558ca62529b8: Already exists\n"
        "99e8da16db04: Pulling fs layer\n"
        "99e8da16db04: Verifying Checksum\n"
        "99e8da16db04: Download complete\n"
        "99e8da16db04: Pull complete\n"
        f"Digest: {TOP}\n"
        "Status: Downloaded newer image for 127.0.0.1:5055/lab/python:latest\n"
    )
    again = [p.PullingFrom("v1", "lab/python"), p.Digest(TOP), p.Pulled("lab/python:v1", False)]
    assert _render(again, tty=False) == (
        f"v1: Pulling from lab/python\nDigest: {TOP}\nStatus: Image is up to date for lab/python:v1\n"
    )


def test_pull_events_on_a_terminal_keep_one_row_per_layer() -> None:
    bar = "[" + "=" * 25 + ">" + " " * 24 + "]  1.024kB/2.048kB"
    assert _render([*PULL[:4], p.LayerExtracting(B), *PULL[4:]], tty=True) == (
        "latest: Pulling from lab/python\n"
        "558ca62529b8: Already exists\n"
        "99e8da16db04: Pulling fs layer\n"
        f"\x1b[1A\r\x1b[2K99e8da16db04: Downloading {bar}\x1b[1B\r"
        "\x1b[2A\r\x1b[2K558ca62529b8: Extracting\x1b[2B\r"
        "\x1b[1A\r\x1b[2K99e8da16db04: Verifying Checksum\x1b[1B\r"
        "\x1b[1A\r\x1b[2K99e8da16db04: Download complete\x1b[1B\r"
        "\x1b[1A\r\x1b[2K99e8da16db04: Pull complete\x1b[1B\r"
        f"Digest: {TOP}\n"
        "Status: Downloaded newer image for 127.0.0.1:5055/lab/python:latest\n"
    )


def test_push_events_as_dockers_lines_on_a_terminal_too() -> None:
    d1, d2, d3 = ("sha256:" + c * 64 for c in "123")
    events = [
        p.PushingTo("127.0.0.1:5055/other/pushme"),
        p.LayerPreparing(d1),
        p.LayerPreparing(d2),
        p.LayerPreparing(d3),
        p.LayerMounted(d2, "lab/pushme"),
        p.LayerAlreadyPushed(d1),
        p.LayerPushed(d3),
        p.ManifestPushed("v2", TOP, 1234),
    ]
    want = (
        "The push refers to repository [127.0.0.1:5055/other/pushme]\n"
        "111111111111: Preparing\n"
        "222222222222: Preparing\n"
        "333333333333: Preparing\n"
        "222222222222: Mounted from lab/pushme\n"
        "111111111111: Layer already exists\n"
        "333333333333: Pushed\n"
        f"v2: digest: {TOP} size: 1234\n"
    )
    assert _render(events, tty=False) == want
    assert _render(events, tty=True) == want
