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
echo "setup: ready (.venv/bin/harness)"
