#!/usr/bin/env bash
# Install, then run the project's tests (unit, integration, conformance, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p reports
exec .venv/bin/pytest -q --junitxml=reports/junit.xml "$@"
