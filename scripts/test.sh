#!/usr/bin/env bash
# Install, then run the project's checks: ruff, mypy --strict on harness/, and the tests
# (unit, integration, conformance, resilience, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p reports
# Static checks first: a type error or lint finding fails the run as a test would.
.venv/bin/ruff check harness tests benchmarks loadprofiles
.venv/bin/python -m mypy
exec .venv/bin/pytest -q --junitxml=reports/junit.xml "$@"
