#!/usr/bin/env bash
# Copies what people read of a finished `urisc bench run` folder (leaderboards, plots, report,
# overlays, training curves, context curves, run records; no weights or predictions) into a
# folder to commit, then checks the copied report in headless Chromium and screenshots it.
#   bench/report/publish.sh bench-results/isbi docs/results/isbi
set -euo pipefail
src="$1"; dest="$2"
mkdir -p "$dest"
cp "$src"/leaderboard.md "$src"/leaderboard.csv "$src"/leaderboard.json "$src"/report.html \
   "$src"/suite.toml "$dest"/
cp "$src"/bars-*.svg "$src"/bars-*.png "$dest"/
( cd "$src" && find runs train -maxdepth 3 \( -name overlay.png -o -name result.json \
    -o -name training-curves.svg -o -name log.jsonl -o -name config.toml \
    -o -path '*/attribution/context-curve.svg' -o -path '*/attribution/attribution.json' \) -print0 ) |
  while IFS= read -r -d '' f; do
    mkdir -p "$dest/$(dirname "$f")"
    cp "$src/$f" "$dest/$f"
  done
"$(dirname "$0")/check.sh" "$dest/report.html" "$dest/report.png"
