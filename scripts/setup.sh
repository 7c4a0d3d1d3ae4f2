#!/usr/bin/env bash
# Create .venv (once) and install the toolkit with every extra, at the versions in requirements/lock.txt
# (the ones the tests and figures were measured with; scripts/refresh-lock.sh moves them). Safe to run again:
# it reinstalls only when pyproject.toml or the lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
LOCK=requirements/lock.txt
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml "$LOCK" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet -c "$LOCK" --upgrade pip
    .venv/bin/python -m pip install --quiet -c "$LOCK" -e ".[dev]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
