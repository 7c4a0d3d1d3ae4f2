#!/usr/bin/env bash
# The system packages the tests need beyond Python, from Debian: Xvfb and xdotool for the live-window
# test (tests/test_show.py). Installs only what is missing, quietly; a no-op on a machine that has them.
set -euo pipefail
missing=()
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v xdotool >/dev/null || missing+=(xdotool)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "installed: ${missing[*]}"
fi
