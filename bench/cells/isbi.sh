#!/usr/bin/env bash
# Cells from the shipped default model on the ISBI 2012 validation slices (16–19), scored against
# the GT cells, beside the connected components of the binary maps. Run from the repository root:
#   bash bench/cells/isbi.sh [OUT]
set -euo pipefail
out=${1:-/tmp/urisc-cells-isbi}
cargo build --release -p urisc-cli
urisc=${CARGO_TARGET_DIR:-target}/release/urisc
mkdir -p "$out/gt"
slices=(16 17 18 19)
for k in "${slices[@]}"; do cp "data/isbi2012/labels/$k.png" "$out/gt/"; done
"$urisc" predict $(for k in "${slices[@]}"; do printf "data/isbi2012/images/%s.png " "$k"; done) \
  --out "$out/binary" --probabilities "$out/prob" --force
"$urisc" cells "$out/prob" --out "$out/cells" --overlay-image data/isbi2012/images --force
echo "## connected components of the binary maps"
"$urisc" eval --pred "$out/binary" --gt "$out/gt" --metrics are,voi
echo "## cells"
"$urisc" eval --instances --pred "$out/cells" --gt "$out/gt"
