#!/usr/bin/env bash
# Sets up a fresh Debian machine for ketch: system packages, a virtual
# environment in .venv, and ketch built (maturin, release) and installed in it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # docker-registry: the reference registry the tests and the demo pull from;
  # busybox-static: the offline base image; zstd: zstd layers in the tests;
  # apache2-utils: htpasswd for the basic-auth registry.
  apt-get install -y -qq --no-install-recommends \
    docker-registry busybox-static zstd apache2-utils python3-venv ca-certificates gcc libc6-dev tini iptables conntrack >/dev/null
fi

# ketch-monitor: the detached-container monitor as a program of its own
# (~2 MB per idle container instead of an interpreter), and the static
# helper whose sealed in-memory copy becomes every container process
# (rust/src/process/reexec.rs): ketch starts no container without it. The wheel
# carries it beside the extension (pyproject.toml, tool.maturin.include).
# Linked statically (glibc's libc.a), which keeps its resident set at
# ~1.6 MB; a dynamic build where that is not possible.
if command -v cargo >/dev/null; then
  host=$(rustc -vV | sed -n 's/^host: //p')
  if RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release --features monitor-bin \
       --bin ketch-monitor --target "$host" 2>/dev/null; then
    install -m 0755 "target/$host/release/ketch-monitor" python/ketch/ketch-monitor
  else
    cargo build -q --release --features monitor-bin --bin ketch-monitor
    install -m 0755 target/release/ketch-monitor python/ketch/ketch-monitor
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q ".[test]"
echo "ketch installed: $(.venv/bin/ketch --help >/dev/null && echo .venv/bin/ketch)"
