#!/usr/bin/env bash
# urisc's ONNX exports run in tract (a pure-Rust ONNX runtime) with urisc's logits: both
# architectures, logits and probability outputs, two input sizes through one file.
# Not in .ci/run: tract takes ~5 minutes to compile on 2 cores; run it when touching
# crates/urisc-nn/src/onnx. (python/ci.sh checks the same exports in ONNX Runtime.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p urisc-nn --features tract --test onnx_tract --locked "$@"
# `--engine onnx` through the binary (the CLI's `onnx` feature).
cargo test -p urisc-cli --features onnx --test onnx_engine --locked "$@"
