"""`ketch build`'s text, from the builder's events: docker's legacy builder
lines, byte for byte (tests/integration/test_build.py checks real builds)."""

from __future__ import annotations

import os

import pytest

from ketch.builder import events as ev
from ketch.cli._build import BuildPrinter
from ketch.images import NotFoundLocally, PullLine
from ketch.registry.progress import PullingFrom

A = "sha256:" + "a1" * 32
B = "sha256:" + "b2" * 32
C = "c3" * 32


def _events() -> list[object]:
    return [
        NotFoundLocally("lab/base:latest"),
        PullLine(PullingFrom("latest", "lab/base")),
        ev.StepStarted(1, 3, "FROM lab/base"),
        ev.StepDone(A),
        ev.TriggersRunning(2),
        ev.StepStarted(2, 3, "ARG X"),
        ev.StepDone(None),
        ev.StepStarted(3, 3, "RUN echo hi"),
        ev.ContainerStarted(C),
        ev.StepOutput(b"hi\n", 1),
        ev.StepOutput(b"oops\n", 2),
        ev.ContainerRemoved(C),
        ev.StepDone(B),
        ev.CacheHit(B),
        ev.Built(B),
        ev.Tagged("lab/x:latest"),
    ]


def test_events_as_docker_prints_them(capfd: pytest.CaptureFixture[str]) -> None:
    p = BuildPrinter()
    for e in _events():
        p(e)
    out, err = capfd.readouterr()
    assert out == (
        "Step 1/3 : FROM lab/base\n ---> a1a1a1a1a1a1\n# Executing 2 build triggers\n"
        "Step 2/3 : ARG X\n ---> Running in scratch\n"
        f"Step 3/3 : RUN echo hi\n ---> Running in {C[:12]}\nhi\nRemoving intermediate container {C[:12]}\n"
        " ---> b2b2b2b2b2b2\n ---> Using cache\n"
        "Successfully built b2b2b2b2b2b2\nSuccessfully tagged lab/x:latest\n"
    )
    assert err == "Unable to find image 'lab/base:latest' locally\nlatest: Pulling from lab/base\noops\n"
    p(ev.TriggersRunning(1))
    assert capfd.readouterr().out == "# Executing 1 build trigger\n"


def test_quiet_prints_the_id_and_a_failed_steps_output(capfd: pytest.CaptureFixture[str]) -> None:
    p = BuildPrinter(quiet=True)
    for e in _events():
        p(e)
    out, err = capfd.readouterr()
    assert out == B + "\n"
    assert err == "Unable to find image 'lab/base:latest' locally\nlatest: Pulling from lab/base\n"
    p(ev.ContainerStarted(C))
    p(ev.StepOutput(b"only this step\n", 1))
    p(ev.StepOutput(b"\xffbad\n", 2))
    p.failed()
    assert capfd.readouterr() == ("", "only this step\n\ufffdbad\n")


def test_a_run_output_reader_gone_drops_the_rest() -> None:
    r, w = os.pipe()
    os.close(r)
    p = BuildPrinter()
    p._write(w, b"x")  # EPIPE: no exception, later output dropped
    p._write(w, b"y")
    os.close(w)
