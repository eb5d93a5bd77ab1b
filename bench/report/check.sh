#!/usr/bin/env bash
# Loads a `urisc bench run` report in a real headless browser (Debian's Chromium, driven by
# playwright-core), fails on any console error, page error or failed request (the page must
# load with no network), and takes a full-page screenshot.
#   bench/report/check.sh bench-results/isbi/report.html docs/results/isbi/report.png
# Installs what it needs: Debian's chromium (apt, as root) and playwright-core (npm, pinned by
# package-lock.json, into bench/report/node_modules).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
report="$(realpath "$1")"
shot="${2:-${report%.html}.png}"
if ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --silent --no-audit --no-fund)
fi
node "$here/check.mjs" "$report" "$(realpath -m "$shot")"
