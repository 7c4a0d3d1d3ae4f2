#!/usr/bin/env bash
# The typefaces benchmarks/pages.py prints its words in, from Debian's font packages. None of them is what training
# draws letters in (matplotlib's and OpenCV's own fonts), so the pages family measures letters the model never saw.
set -euo pipefail
bash "$(dirname "$0")/apt-get.sh" fonts-liberation2 fonts-urw-base35 fonts-humor-sans fonts-comic-neue \
    fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-bwht fonts-freefont-ttf
