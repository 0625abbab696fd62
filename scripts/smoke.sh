#!/usr/bin/env bash
# The main job on the embedded local stack: install, then the smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/harness smoke "$@"
