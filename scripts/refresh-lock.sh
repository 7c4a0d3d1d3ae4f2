#!/usr/bin/env bash
# Refresh requirements/lock.txt to the newest releases that pyproject.toml's ranges allow.
#
# The lock pins the development and test environment (scripts/setup.sh installs with `-c` it), so CI
# and a newcomer get the versions the results were measured with; pyproject.toml keeps ranges for
# apps that embed the runtime. This installs the toolkit with every extra into a throwaway venv, takes
# the newest versions, and writes down exactly what was installed. Then run `bash scripts/test.sh`
# (it installs the new lock into .venv) and commit the lock only if the tests pass.
#
# torch and torchvision stay held (HOLD) at the releases kept on this project's machines' disks: a
# newer torch is a multi-GB CUDA download. Set HOLD="" to lift the hold deliberately.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
HOLD=${HOLD-torch==2.14.1 torchvision==0.29.1}
LOCK=requirements/lock.txt

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' $HOLD > "$tmp/hold.txt"
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --upgrade pip
"$tmp/venv/bin/python" -m pip install --quiet --upgrade -c "$tmp/hold.txt" -e ".[dev]"
{
    echo "# The development and test environment, exactly: pip constraints for scripts/setup.sh (pip install -c)."
    echo "# Made by scripts/refresh-lock.sh with $("$tmp/venv/bin/python" -V) on $(uname -sm); refresh with that script."
    "$tmp/venv/bin/python" -m pip freeze --all --exclude-editable --exclude setuptools --exclude wheel
} > "$tmp/lock.txt"
mkdir -p "$(dirname "$LOCK")"
mv "$tmp/lock.txt" "$LOCK"
echo "wrote $LOCK ($(grep -vc '^#' "$LOCK") packages); now: bash scripts/test.sh"
