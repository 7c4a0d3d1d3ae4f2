#!/usr/bin/env bash
# The test command: set up if needed, then the fast test suite (pytest -m slow for the long ones).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
