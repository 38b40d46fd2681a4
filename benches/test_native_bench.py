"""Micro benchmarks of the data plane (pytest-benchmark; off by default,
run with `.venv/bin/pytest benches --benchmark-enable`)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ketch import _native
from support.imagekit import Entry, tar_bytes

SIZE = 256 << 20


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("bench") / "blob"
    p.write_bytes(os.urandom(SIZE))
    return p


def test_sha256_native(benchmark, blob: Path) -> None:  # type: ignore[no-untyped-def]
    benchmark(_native.sha256_file, blob)


def test_sha256_hashlib(benchmark, blob: Path) -> None:  # type: ignore[no-untyped-def]
    def run() -> str:
        h = hashlib.sha256()
        with open(blob, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()

    benchmark(run)


def test_sha256sum(benchmark, blob: Path) -> None:  # type: ignore[no-untyped-def]
    benchmark(subprocess.run, ["sha256sum", str(blob)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 100 MB in 5,000 files of mixed compressibility."""
    entries = [Entry("d/", "dir")]
    for i in range(5000):
        data = (os.urandom(2000) + bytes(18000)) if i % 2 else (b"text line %d\n" % i) * 1500
        entries.append(Entry(f"d/f{i}", data=data))
    p = tmp_path_factory.mktemp("layer") / "layer.tar.gz"
    p.write_bytes(gzip.compress(tar_bytes(entries), 6))
    return p


def test_unpack_native(benchmark, layer: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    n = iter(range(1000))

    def run() -> None:
        out = tmp_path / f"u{next(n)}"
        _native.unpack_layer(layer, out)
        shutil.rmtree(out)

    benchmark(run)


def test_unpack_tar_xzf(benchmark, layer: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    n = iter(range(1000))

    def run() -> None:
        out = tmp_path / f"t{next(n)}"
        out.mkdir()
        subprocess.run(["tar", "-xzf", str(layer), "-C", str(out)], check=True)
        shutil.rmtree(out)

    benchmark(run)
