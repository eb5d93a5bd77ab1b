#!/usr/bin/env bash
# urisc cells against the Python reference pipeline (bench/cells/peer.py) on one 9959 × 9958 probability
# map, in one run on the same machine: time, peak memory, and whether the cells are the same.
#   bash bench/cells/peer.sh [WORKDIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-/tmp/urisc-cells-peer}"
mkdir -p "$work"
[ -x "$repo/target/release/urisc" ] || (cd "$repo" && cargo build --release --locked)
urisc="$repo/target/release/urisc"
venv="$work/venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "scikit-image==0.26.0" "scipy==1.17.1" "tifffile==2026.3.3" "numpy==2.4.6" imageio
fi
py="$venv/bin/python"
# The shipped model's probability maps of slices 16–19, mirrored and tiled to 9959 × 9958.
"$urisc" predict "$repo"/data/isbi2012/images/1{6,7,8,9}.png --out "$work/bin" --probabilities "$work/prob" --force
"$py" - "$work" <<'PY'
import sys, numpy as np
from skimage import io
w = sys.argv[1]
tiles = [io.imread(f"{w}/prob/{k}.png") for k in (16, 17, 18, 19)]
row = lambda k: np.concatenate([tiles[(k + j) % 4] if j % 2 == 0 else tiles[(k + j) % 4][:, ::-1] for j in range(20)], axis=1)
big = np.concatenate([row(k) if k % 2 == 0 else row(k)[::-1] for k in range(20)], axis=0)[:9959, :9958]
io.imsave(f"{w}/section.png", big, check_contrast=False)
PY
echo "## machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "## urisc cells (no agglomeration, no boundaries: the peer's pipeline)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$urisc" cells "$work/section.png" --out "$work/urisc" \
  --merge-threshold 0 --no-boundaries --force
echo "## urisc cells (defaults: agglomeration at 0.5, boundaries)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$urisc" cells "$work/section.png" --out "$work/urisc-default" --force
echo "## Python reference (scipy EDT + Gaussian + regional maxima + scikit-image watershed)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$py" "$repo/bench/cells/peer.py" "$work/section.png" "$work/peer.npy"
echo "## same cells?"
"$py" "$repo/bench/cells/compare.py" "$work/urisc/section.tif" "$work/peer.npy"
