#!/usr/bin/env bash
# Handwriting-like fonts for `cnn-train --fonts DIR`: 29 faces of 28 Google Fonts families, from npm's
# @expo-google-fonts packages (each holds its faces as .ttf; SIL Open Font License or Apache 2.0), the regular
# weight of each. None is a typeface of the pages benchmark (benchmarks/pages.py, scripts/bench-fonts.sh), so the
# pages figures stay those of letters the model never saw. Versions are pinned: the same files on every rerun.
#
#   bash scripts/train-fonts.sh DIR
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: bash scripts/train-fonts.sh DIR   (a folder for the fonts; made if missing)" >&2
    exit 2
fi
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
PACKAGES="architects-daughter@0.4.1 caveat@0.4.2 coming-soon@0.4.1 covered-by-your-grace@0.4.1
dawning-of-a-new-day@0.1.0 delius@0.4.1 gloria-hallelujah@0.4.1 gochi-hand@0.4.2 handlee@0.2.3 homemade-apple@0.4.1
indie-flower@0.4.1 itim@0.4.1 just-another-hand@0.4.1 kalam@0.4.1 mali@0.4.1 nanum-pen-script@0.4.0 neucha@0.4.1
nothing-you-could-do@0.4.1 patrick-hand@0.4.1 permanent-marker@0.4.0 reenie-beanie@0.4.1 rock-salt@0.4.1
schoolbell@0.4.0 shadows-into-light@0.4.1 short-stack@0.4.1 sriracha@0.4.1 sue-ellen-francisco@0.4.1 zeyada@0.2.3"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for package in $PACKAGES; do
    npm pack --silent "@expo-google-fonts/$package" > /dev/null
done
for archive in *.tgz; do
    tar xzf "$archive" --wildcards --no-anchored '*_400Regular*.ttf'
done
find . -name '*_400Regular*.ttf' -exec cp {} "$DIR" \;
echo "$(find "$DIR" -maxdepth 1 -name '*.ttf' | wc -l) fonts in $DIR"
