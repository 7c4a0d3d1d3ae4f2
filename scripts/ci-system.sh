#!/usr/bin/env bash
# The system packages the tests need beyond Python, from Debian: Xvfb and xdotool for the live-window
# test (tests/test_show.py). Installs only what is missing; a no-op on a machine that has them.
set -euo pipefail
bash "$(dirname "$0")/apt-get.sh" xvfb xdotool
