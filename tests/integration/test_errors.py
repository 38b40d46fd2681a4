"""Bad input gives one line on stderr and a non-zero exit: no traceback, no
Python exception's name, nothing of a file that was not meant to be shown."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.imagekit import busybox_entries, sha256, tar_bytes
from support.ketch import KETCH, Ketch, Result, requires_root

pytestmark = requires_root

BB = "lab/bb:v1"
PASSWD_LINES = [line for line in Path("/etc/passwd").read_text().splitlines() if len(line) > 8]


def bad_config_archive(tmp: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A docker archive of a busybox image whose config `change` spoils."""
    layer = tar_bytes(busybox_entries())
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
        "history": [{"created_by": "test"}],
    }
    change(config)
    cfg = json.dumps(config).encode()
    manifest = [{"Config": f"{sha256(cfg)[7:]}.json", "RepoTags": ["lab/bad:v1"], "Layers": ["layer/layer.tar"]}]
    out = tmp / "bad.tar"
    with tarfile.open(out, "w") as tf:
        for name, data in (
            ("layer/layer.tar", layer),
            (f"{sha256(cfg)[7:]}.json", cfg),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return out


def config_case(change: Callable[[dict[str, Any]], None], then_run: bool = False) -> Callable[[Ketch, Path], Result]:
    def case(k: Ketch, tmp: Path) -> Result:
        r = k("load", "-i", str(bad_config_archive(tmp, change)))
        if then_run and r.rc == 0:
            r = k("run", "--rm", "lab/bad:v1", "true")
        return r

    return case


def set_config(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda c: c["config"].__setitem__(key, value)


def build_case(dockerfile: str) -> Callable[[Ketch, Path], Result]:
    def case(k: Ketch, tmp: Path) -> Result:
        ctx = tmp / "ctx"
        ctx.mkdir()
        (ctx / "f").write_text("f\n")
        (ctx / "Dockerfile").write_text(dockerfile.replace("BASE", BB))
        return k("build", "-q", "-t", "lab/built", str(ctx))

    return case


def serve_case(*args: str) -> Callable[[Ketch, Path], Result]:
    def case(k: Ketch, tmp: Path) -> Result:
        cmd = [KETCH, "registry", "serve", "--root", str(tmp / "reg"), *args]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=k.env, timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"registry serve {' '.join(args)} kept running")
        return Result(p.returncode, p.stdout, p.stderr)

    return case


def access_case(text: str) -> Callable[[Ketch, Path], Result]:
    def case(k: Ketch, tmp: Path) -> Result:
        (tmp / "access.json").write_text(text)
        return serve_case("--addr", "127.0.0.1:0", "--access", str(tmp / "access.json"))(k, tmp)

    return case


def with_container(*args: str) -> Callable[[Ketch, Path], Result]:
    def case(k: Ketch, tmp: Path) -> Result:
        k("run", "-d", "--name", "victim", BB, "sleep", "60", check=True)
        try:
            return k(*args)
        finally:
            k("rm", "-f", "victim")

    return case


def plain(*args: str) -> Callable[[Ketch, Path], Result]:
    return lambda k, tmp: k(*args)


CASES: dict[str, Callable[[Ketch, Path], Result]] = {
    "run -m nan": plain("run", "--rm", "-m", "nan", BB, "true"),
    "run -m inf": plain("run", "--rm", "-m", "inf", BB, "true"),
    "run --cpus nan": plain("run", "--rm", "--cpus", "nan", BB, "true"),
    "run -u 10^20": plain("run", "--rm", "-u", "99999999999999999999", BB, "true"),
    "run -u 2^32": plain("run", "--rm", "-u", "4294967296", BB, "id"),
    "run -u 0:2^32": plain("run", "--rm", "-u", "0:4294967296", BB, "id"),
    "kill -s 99": with_container("kill", "-s", "99", "victim"),
    "kill -s 0": with_container("kill", "-s", "0", "victim"),
    "logs --tail abc": with_container("logs", "--tail", "abc", "victim"),
    "serve --addr notanaddr": serve_case("--addr", "notanaddr"),
    "serve --addr port 70000": serve_case("--addr", "127.0.0.1:70000"),
    "serve --access not JSON": access_case("{not json"),
    "serve --access wrong shape": access_case('{"repositories": {"a/*": {"pull": "alice"}}}'),
    "HEALTHCHECK --retries=x": build_case("FROM BASE\nHEALTHCHECK --retries=x CMD true\n"),
    "HEALTHCHECK --retries=-1": build_case("FROM BASE\nHEALTHCHECK --retries=-1 CMD true\n"),
    "COPY --chmod=999z": build_case("FROM BASE\nCOPY --chmod=999z f /f\n"),
    "COPY --chmod=99999": build_case("FROM BASE\nCOPY --chmod=77777 f /f\n"),
    "config Env 5": config_case(set_config("Env", 5)),
    "config Cmd string": config_case(set_config("Cmd", "sh")),
    "config Entrypoint object": config_case(set_config("Entrypoint", {"a": 1})),
    "config ExposedPorts list": config_case(set_config("ExposedPorts", [])),
    "config Volumes string": config_case(set_config("Volumes", "/data")),
    "config Labels numbers": config_case(set_config("Labels", {"a": 1})),
    "config User number": config_case(set_config("User", 5)),
    "config WorkingDir list": config_case(set_config("WorkingDir", ["/"])),
    "config Healthcheck Retries string": config_case(set_config("Healthcheck", {"Test": ["NONE"], "Retries": "3"})),
    "config history string": config_case(lambda c: c.__setitem__("history", "none")),
    "config config list": config_case(lambda c: c.__setitem__("config", [])),
    "config diff_id path": config_case(lambda c: c["rootfs"].__setitem__("diff_ids", ["sha256:../../../../etc"])),
    "config User 2^32": config_case(set_config("User", "4294967296"), then_run=True),
    "import /etc/passwd": plain("import", "/etc/passwd", "lab/passwd"),
}

_EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|\bKeyError\b")


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line(ketch: Ketch, tmp_path: Path, name: str) -> None:
    ketch.import_busybox(BB)
    r = CASES[name](ketch, tmp_path)
    assert r.rc != 0, (r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err and not _EXCEPTION_NAME.search(r.err), r.err
    assert not [line for line in PASSWD_LINES if line in r.err or line in r.out], r.err
    assert ketch("ps", "-a", "-q").out == ""  # nothing was left running or created
