#!/usr/bin/env bash
# Sets up a fresh Debian machine for ketch: system packages, a virtual
# environment in .venv, and ketch's release wheel (scripts/release.sh: the
# abi3 extension and the static ketch-monitor, into dist/) installed in it
# with the test tools. The wheel needs cargo to be built, nothing to be run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # docker-registry: the reference registry the tests and the demo pull from;
  # busybox-static: the offline base image; zstd: zstd layers in the tests;
  # apache2-utils: htpasswd for the basic-auth registry; gcc, libc6-dev: the
  # C parts of the build and the static ketch-monitor (glibc's libc.a);
  # iptables: NAT and published ports. (No tini: ketch-monitor is --init's
  # init; no conntrack: a removed UDP port's flows go by ctnetlink.)
  # docker-compose: the Engine API's compose 1.29 test (on Debian's docker-py).
  apt-get install -y -qq --no-install-recommends \
    docker-registry busybox-static zstd apache2-utils python3-venv ca-certificates gcc libc6-dev iptables \
    docker-compose >/dev/null
  # docker.io for its docker 20.10 client alone (the Engine API's tests): its
  # dockerd is never started here, so no service may start while it installs.
  if ! command -v /usr/bin/docker >/dev/null; then
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
    fi
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null || echo "setup: docker.io not installed (its tests skip)"
    [ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
bash scripts/release.sh dist >/dev/null
wheel=$(ls -t dist/ketch-*.whl | head -n 1)
# The same version as an earlier build: replaced, then its dependencies and the test tools.
.venv/bin/pip install -q --force-reinstall --no-deps "$wheel"
.venv/bin/pip install -q "$wheel[test]"
echo "ketch installed: $(.venv/bin/ketch --help >/dev/null && echo .venv/bin/ketch)"
