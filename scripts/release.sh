#!/usr/bin/env bash
# Builds ketch's release artifacts into dist/ (or $1): one wheel for every
# CPython >= 3.11 of this platform (abi3), manylinux_2_17 (glibc 2.17 or
# newer) when zig can link it, stripped, with ketch-monitor inside (static;
# rust/build.rs builds it, and no wheel is made without it), and the sdist.
#
#   scripts/release.sh [OUT_DIR]        needs cargo; fetches maturin and ziglang from PyPI once
#
# The build tools live in a virtual environment of their own
# (target/release-tools), never in the one ketch is installed in.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
mkdir -p "$out"

# The oldest maturin that builds this: 1.9.4 is the first to build pyo3 0.30
# as an extension module (PYO3_BUILD_EXTENSION_MODULE; older ones link
# libpython and fail the manylinux check). 2 may change the config.
MATURIN='maturin>=1.9.4,<2'
tools=target/release-tools
PY=${PYTHON:-python3}
if [ ! -x "$tools/bin/maturin" ]; then
  "$PY" -m venv "$tools"
  "$tools/bin/pip" install -q --upgrade pip
  "$tools/bin/pip" install -q "$MATURIN"
  # zig links the extension against glibc 2.17's symbols (manylinux_2_17);
  # without it (offline) the wheel is tagged for this machine's glibc.
  "$tools/bin/pip" install -q ziglang || echo "release.sh: no ziglang: the wheel is tagged for this machine's glibc" >&2
fi
export PATH="$PWD/$tools/bin:$PATH"

args=(--release --strip --out "$out")
if "$tools/bin/python" -c 'import ziglang' 2>/dev/null; then
  args+=(--zig --compatibility manylinux_2_17)
fi
maturin build "${args[@]}"
# No wheel without the monitor: rust/build.rs fails the build without it,
# and this checks that maturin packed it.
for w in "$out"/ketch-*.whl; do
  "$tools/bin/python" - "$w" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
if "ketch/ketch-monitor" not in names:
    sys.exit(f"release.sh: {sys.argv[1]} has no ketch/ketch-monitor")
PY
done
maturin sdist --out "$out"
ls -l "$out"
