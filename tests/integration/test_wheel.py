"""The release wheel installs and runs where there is no Rust toolchain:
scripts/release.sh's wheel (abi3, manylinux when zig links it, ketch-monitor
inside and static) into a fresh venv, with a PATH that has no cargo or
rustc, then `ketch import` of a busybox root and `ketch run --rm` of it
(with --init too: the init is the wheel's ketch-monitor). Dependencies come
from PyPI. The wheel is built once per session (dist/'s is used when it is
newer than every source file, as after scripts/setup.sh)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.imagekit import busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root

pytestmark = requires_root

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["rust", "python/ketch", "Cargo.toml", "Cargo.lock", "pyproject.toml", "rust/build.rs"]


def _newest_source() -> float:
    newest = 0.0
    for s in SOURCES:
        p = REPO / s
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        for f in files:
            if f.name == "ketch-monitor" or f.suffix in (".so", ".pyc"):
                continue  # build outputs
            newest = max(newest, f.stat().st_mtime)
    return newest


def _fresh(out: Path) -> Path | None:
    wheels = sorted(out.glob("ketch-*.whl"), key=lambda w: w.stat().st_mtime)
    if wheels and wheels[-1].stat().st_mtime >= _newest_source():
        return wheels[-1]
    return None


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (found := _fresh(REPO / "dist")) is not None:
        return found
    if shutil.which("cargo") is None:
        pytest.skip("no wheel in dist/ newer than the sources, and no cargo to build one (scripts/release.sh)")
    out = tmp_path_factory.mktemp("dist")
    p = subprocess.run(["bash", str(REPO / "scripts/release.sh"), str(out)], capture_output=True, text=True)
    if p.returncode != 0 or (found := _fresh(out)) is None:
        pytest.skip(f"scripts/release.sh could not build the wheel: {p.stderr.strip()[-2000:]}")
    return found


def _no_cargo_path() -> str:
    keep = [
        d
        for d in os.environ.get("PATH", "").split(":")
        if d and not any(os.path.exists(os.path.join(d, tool)) for tool in ("cargo", "rustc", "rustup"))
    ]
    return ":".join(keep or ["/usr/bin:/bin"])


def _interpreter(path: Path) -> bool:
    """Whether the ELF file has a PT_INTERP header (is dynamically linked)."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "a 64-bit ELF"
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    path = _no_cargo_path()
    env = {**os.environ, "PATH": path}
    env.pop("PYTHONPATH", None)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    p = subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", "--only-binary", ":all:", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


def test_wheel_is_abi3_manylinux_and_carries_a_static_monitor(wheel: Path, tmp_path: Path) -> None:
    # ketch-0.1.0-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl: every CPython >= 3.11
    tags = wheel.name.removesuffix(".whl").split("-")
    assert tags[2:4] == ["cp311", "abi3"], wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "ketch/ketch-monitor" in names and "ketch/_native.abi3.so" in names
        z.extract("ketch/ketch-monitor", tmp_path)
        z.extract("ketch/_native.abi3.so", tmp_path)
        mode = z.getinfo("ketch/ketch-monitor").external_attr >> 16
    assert mode & 0o111, "ketch-monitor is executable in the wheel"
    assert not _interpreter(tmp_path / "ketch/ketch-monitor"), "ketch-monitor is static"
    so = (tmp_path / "ketch/_native.abi3.so").read_bytes()
    assert b".symtab" not in so, "the extension is stripped"
    m = re.search(r"manylinux_2_(\d+)_", tags[4])
    if m:  # no extension symbol newer than the glibc the tag promises
        needed = {int(v) for v in re.findall(rb"GLIBC_2\.(\d+)", so)}
        assert max(needed) <= int(m.group(1)), sorted(needed)


def test_wheel_runs_a_container_without_cargo(installed: Path, ketch: Ketch, tmp_path: Path) -> None:
    ketch_bin = installed / "bin/ketch"
    native = subprocess.run(
        [str(installed / "bin/python"), "-c", "import ketch._native as n, os; print(os.path.dirname(n.__file__))"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": _no_cargo_path()},
    ).stdout.strip()
    assert native.startswith(str(installed)), native  # the wheel's, not the tree's
    assert os.access(os.path.join(native, "ketch-monitor"), os.X_OK)
    # The test's store, run root and cgroup parent (the fixture cleans them up).
    env = {**{k: v for k, v in ketch.env.items() if k != "PYTHONPATH"}, "PATH": _no_cargo_path()}
    assert shutil.which("cargo", path=env["PATH"]) is None and shutil.which("rustc", path=env["PATH"]) is None
    tar = tmp_path / "busybox.tar"
    tar.write_bytes(tar_bytes(busybox_entries()))

    def wheel_ketch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ketch_bin), *args], capture_output=True, text=True, env=env, timeout=120)

    r = wheel_ketch("import", str(tar), "lab/wheel-busybox")
    assert r.returncode == 0, r.stderr
    r = wheel_ketch("run", "--rm", "lab/wheel-busybox", "sh", "-c", "echo hello from the wheel; exit 3")
    assert (r.returncode, r.stdout) == (3, "hello from the wheel\n"), r.stderr
    r = wheel_ketch("run", "--rm", "--init", "lab/wheel-busybox", "ps", "-o", "pid,args")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].split(None, 1) == ["1", "/sbin/docker-init -- ps -o pid,args"]
    assert wheel_ketch("ps", "-a", "-q").stdout == ""


def test_no_extension_is_built_without_the_monitor() -> None:
    """rust/build.rs fails the extension's build (every path to a wheel goes
    through it) when ketch-monitor cannot be made, rather than shipping a
    package that cannot start a container. Here its link is made to fail
    (KETCH_MONITOR_RUSTFLAGS), in a target dir of its own under target/ (kept:
    the first run builds the C dependencies, ~1-2 minutes; later ones take seconds)."""
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("no cargo: nothing to build")
    monitor = REPO / "python/ketch/ketch-monitor"
    before = monitor.read_bytes() if monitor.exists() else None
    env = {
        **os.environ,
        "CARGO_TARGET_DIR": str(REPO / "target/test-no-monitor"),
        "KETCH_MONITOR_RUSTFLAGS": "-C no-such-option",
    }
    p = subprocess.run(
        [cargo, "build", "--release", "--features", "python", "--lib"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert p.returncode != 0
    assert "ketch-monitor could not be built" in p.stderr, p.stderr[-3000:]
    assert "no package is made without it" in p.stderr
    # what was there before is as it was
    assert (monitor.read_bytes() if monitor.exists() else None) == before
