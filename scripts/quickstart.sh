#!/usr/bin/env bash
# Sets everything up, then the main job: a local registry with a small base
# image made offline, `ketch pull` of it, `ketch images`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
