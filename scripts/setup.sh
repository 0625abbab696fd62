#!/usr/bin/env bash
# Install everything the harness needs on a Debian machine: Prometheus,
# Chromium and kubectl from Debian, a virtualenv with the pinned Python dependencies.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian"
  $sudo apt-get update -qq
  # --no-install-recommends: Prometheus alone, not 377 MB of exporters
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# kubectl renders the Kubernetes reference stack's kustomize overlays in the
# tests; without it those tests are skipped (they say so), nothing else needs it.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup: installing kubernetes-client (kubectl) from Debian"
  [ ${#need_apt[@]} -gt 0 ] || $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null \
    || echo "setup: warning: kubectl could not be installed; the overlay rendering tests will be skipped" >&2
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "setup: Python >= 3.11 is required (found $("$PYTHON" --version))" >&2; exit 1; }
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
# The Allure 3 command line (`harness report allure`) from the npm registry,
# into this project's node_modules/ (pinned by package.json and package-lock.json),
# never globally. Without Node >= 20 everything else still works.
if [ ! -x node_modules/.bin/allure ]; then
  if command -v npm >/dev/null 2>&1 && node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' 2>/dev/null; then
    echo "setup: installing the Allure command line (npm ci, into node_modules/)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null \
      || echo "setup: warning: npm ci failed; 'harness report allure' will say how to install it" >&2
  else
    echo "setup: warning: Node >= 20 with npm not found; 'harness report allure' needs it (apt-get install nodejs npm)" >&2
  fi
fi
echo "setup: ready (.venv/bin/harness)"
