"""atheris harness for the Dockerfile parser (run by benches/fuzz.sh; not a test).

Each input is a Dockerfile, decoded as the build context decodes it (UTF-8,
undecodable bytes replaced), and goes through what the builder does with the
text before any image is touched: `parse`, then per instruction the JSON
form, variable substitution of the arguments and flags (with ARG/ENV values
gathered on the way), `words` (ARG, COPY, ADD), the config changes (ENV,
LABEL, EXPOSE, USER, VOLUME, STOPSIGNAL), HEALTHCHECK's flags and ONBUILD's
trigger re-parsed.

The invariant: each input either goes through or raises a KetchError whose
message is one line. Any other exception, a multi-line message or an input
that takes longer than the budget (KETCH_FUZZ_BUDGET seconds, default 1) is
a finding. Findings are written beside libFuzzer's artifacts as
`finding-<Type>-<sha1>` (the input) and `.txt` (the traceback), one per
distinct (type, raising line), and fuzzing goes on; KETCH_FUZZ_STOP=1 makes a
finding a libFuzzer crash instead (for -minimize_crash). A real hang is
libFuzzer's -timeout.

    PYTHONPATH=python .venv/bin/python benches/fuzz_dockerfile.py CORPUS_DIR [SEED_DIR] \\
        -artifact_prefix=fuzz/artifacts/dockerfile/ -max_total_time=300 -dict=fuzz/dockerfile.dict
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["ketch"]):
    from ketch.builder import parser as dockerfile
    from ketch.builder.parser import healthcheck
    from ketch.errors import KetchError
    from ketch.models import instructions

BUDGET = float(os.environ.get("KETCH_FUZZ_BUDGET", "1"))
STOP = os.environ.get("KETCH_FUZZ_STOP") == "1"
CHANGES = ("ENV", "LABEL", "EXPOSE", "USER", "VOLUME", "STOPSIGNAL")


def _artifact_dir() -> Path:
    for a in sys.argv[1:]:
        if a.startswith("-artifact_prefix="):
            p = a.split("=", 1)[1]
            return Path(p) if p.endswith("/") else Path(p).parent
    return Path.cwd()


ARTIFACTS = _artifact_dir()
seen: set[tuple[str, str]] = set()


def exercise(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    env: dict[str, str] = {"HOME": "/root", "EMPTY": ""}
    config: dict[str, Any] = {}
    for ins in dockerfile.parse(text):
        ins.json_form()
        rest = dockerfile.substitute(ins.rest, env) if ins.cmd in dockerfile.SUBSTITUTED else ins.rest
        for value in ins.flags.values():
            dockerfile.substitute(value, env)
        if ins.cmd == "FROM":
            rest.split()
        elif ins.cmd == "ARG":
            for w in dockerfile.words(rest):
                k, sep, v = w.partition("=")
                env[k] = v if sep else env.get(k, "")
        elif ins.cmd in ("COPY", "ADD"):
            dockerfile.words(rest)
        elif ins.cmd == "HEALTHCHECK":
            healthcheck(ins)
        elif ins.cmd == "ONBUILD":
            dockerfile.parse(rest, "ONBUILD trigger")
        elif ins.cmd in ("CMD", "ENTRYPOINT"):
            instructions.command_form(rest)
        if ins.cmd in CHANGES:
            config = instructions.apply(config, f"{ins.cmd} {rest}")
            for e in config.get("Env") or []:
                k, _, v = e.partition("=")
                env[k] = v


def _record(kind: str, where: str, data: bytes, detail: str) -> None:
    key = (kind, where)
    if key in seen:
        return
    seen.add(key)
    name = f"finding-{kind}-{hashlib.sha1(data).hexdigest()[:12]}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(data)
    (ARTIFACTS / f"{name}.txt").write_text(f"{kind} at {where}\ninput: {data!r}\n\n{detail}")
    print(f"\n==== FINDING {kind} at {where}: input in {ARTIFACTS / name}", file=sys.stderr, flush=True)


def one_input(data: bytes) -> None:
    t0 = time.perf_counter()
    try:
        exercise(data)
    except KetchError as e:
        message = str(e)
        if "\n" in message or "\r" in message or not message.strip():
            _record("MultiLineError", type(e).__name__, data, repr(message))
            if STOP:
                raise
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        inner = next((f for f in reversed(tb) if "/ketch/" in f.filename), tb[-1])
        _record(type(e).__name__, f"{Path(inner.filename).name}:{inner.lineno}", data, traceback.format_exc())
        if STOP:
            raise
    elapsed = time.perf_counter() - t0
    if elapsed > BUDGET:
        _record("Slow", "budget", data, f"took {elapsed:.2f} s (budget {BUDGET} s)")
        if STOP:
            raise TimeoutError(f"input took {elapsed:.2f} s")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
