#!/usr/bin/env bash
# The Python module's CI: a fresh virtual environment, `pip install ./python` (maturin builds
# crates/urisc-py with cargo, profile `wheel`: release without debug info), then pytest on python/tests.
# Comparisons with the CLI use $URISC_BIN, the newest of target/{release,debug}/urisc, or `urisc` on PATH
# (also under $CARGO_TARGET_DIR; `cargo test --workspace` leaves target/debug/urisc behind);
# without one they are skipped.
# VENV=DIR keeps the environment somewhere (default: a temporary folder, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
venv="${VENV:-}"
if [ -z "$venv" ]; then
  venv=$(mktemp -d)
  trap 'rm -rf "$venv"' EXIT
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# onnxruntime: tests/test_onnx.py runs urisc's ONNX exports in it (a 16 MB wheel).
"$venv/bin/python" -m pip install --quiet ./python pytest numpy onnxruntime==1.32.0
# From outside the source tree, so `import urisc` is the installed module.
cd "$root/python/tests"
"$venv/bin/python" -m pytest -q -p no:cacheprovider .
