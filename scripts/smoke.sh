#!/usr/bin/env bash
# The main job on the embedded local stack: install, then the smoke
# certification (every conformance requirement plus pod kill, a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/harness certify --target local --profile smoke "$@"
