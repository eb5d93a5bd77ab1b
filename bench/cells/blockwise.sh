#!/usr/bin/env bash
# Block-wise cells (`urisc cells --watershed descent --block N`) against the whole-section descent
# run on one 9959 × 9958 probability map (the shipped model's maps of slices 16–19, mirrored and
# tiled, as bench/cells/peer.sh makes it): time, peak memory, and byte-identical label images.
#   bash bench/cells/blockwise.sh [WORKDIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-/tmp/urisc-cells-blockwise}"
mkdir -p "$work"
[ -x "$repo/target/release/urisc" ] || (cd "$repo" && cargo build --release --locked)
urisc="$repo/target/release/urisc"
venv="$work/venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "numpy==2.4.6" "pillow==12.0.0"
fi
"$urisc" predict "$repo"/data/isbi2012/images/1{6,7,8,9}.png --out "$work/bin" --probabilities "$work/prob" --force
"$venv/bin/python" - "$work" <<'PY'
import sys, numpy as np
from PIL import Image
w = sys.argv[1]
tiles = [np.asarray(Image.open(f"{w}/prob/{k}.png")) for k in (16, 17, 18, 19)]
row = lambda k: np.concatenate([tiles[(k + j) % 4] if j % 2 == 0 else tiles[(k + j) % 4][:, ::-1] for j in range(20)], axis=1)
big = np.concatenate([row(k) if k % 2 == 0 else row(k)[::-1] for k in range(20)], axis=0)[:9959, :9958]
Image.fromarray(big).save(f"{w}/section.png")
PY
echo "## machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
run() {
  local name=$1; shift
  echo "## $name"
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$urisc" cells "$work/section.png" --out "$work/$name" --force "$@" 2>&1 | tail -2
}
run flood
run descent --watershed descent
run descent-block-2048 --watershed descent --block 2048
run descent-block-1000 --watershed descent --block 1000
echo "## same labels?"
for b in 2048 1000; do
  cmp "$work/descent/section.tif" "$work/descent-block-$b/section.tif" && echo "blocks of $b: identical to the whole-section descent run"
done
