#!/usr/bin/env bash
# Create (or reuse) a local virtual environment with medmat and everything it needs.
# torch==2.13.0 is installed first so that pip takes the CPU build and never a multi-GB
# CUDA build; torchvision is never installed (it breaks transformers' model imports here).
# Usage: scripts/setup.sh [--browser]   (--browser also installs Debian chromium for report tests)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MEDMAT_VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
fi
"$VENV/bin/python" -m pip install -q -e ".[all]"
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
      || echo "setup: could not install chromium; browser tests will be skipped" >&2
  else
    echo "setup: not root, chromium not installed; browser tests will be skipped" >&2
  fi
fi
