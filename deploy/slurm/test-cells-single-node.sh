#!/usr/bin/env bash
# Block-wise cells through a real scheduler on this one machine: a one-node Slurm cluster
# (single-node-cluster.sh), a synthetic 2000 × 1800 section's membrane probabilities, the five
# stages of `urisc cells-plan` submitted by deploy/slurm/urisc-cells.sh, and a check that the
# assembled label store equals single-process `urisc cells --watershed descent`, pixel for pixel.
#   deploy/slurm/test-cells-single-node.sh      (URISC=path/to/urisc to use another binary)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
urisc="${URISC:-$repo/target/release/urisc}"
[ -x "$urisc" ] || (cd "$repo" && cargo build --release --locked)
# shellcheck source=single-node-cluster.sh
source "$repo/deploy/slurm/single-node-cluster.sh"

cd "$work"
"$urisc" synth section --data "$repo/data/isbi2012" --size 2000x1800 --out syn --name section
"$urisc" predict syn/images/section.png --out bin --probabilities prob
"$urisc" cells prob/section.png --out whole --watershed descent --ome-zarr
"$urisc" cells-plan prob/section.png --out work --block 512 --blocks-per-task 2 | tee plan.txt
export URISC="$urisc"
started=$(date +%s)
"$repo/deploy/slurm/urisc-cells.sh" "$work/work" --cpus-per-task=1 --mem=1G --wait
echo "five stages in $(( $(date +%s) - started )) s"
sacct -n -X -o JobName%24,State,ExitCode 2>/dev/null | sort | uniq -c || true
# The staged store against the single-process labels (written as OME-Zarr too, other chunks).
python3 - "$work" <<'PY'
import gzip, json, pathlib, struct, sys
w = pathlib.Path(sys.argv[1])

def read(array):
    meta = json.loads((array / "zarr.json").read_text())
    h, wd = meta["shape"]
    c = meta["chunk_grid"]["configuration"]["chunk_shape"][0]
    out = [0] * (h * wd)
    for uy in range((h + c - 1) // c):
        for ux in range((wd + c - 1) // c):
            chunk = struct.unpack(f"<{c * c}I", gzip.decompress((array / f"c/{uy}/{ux}").read_bytes()))
            for r in range(min(c, h - uy * c)):
                out[(uy * c + r) * wd + ux * c:(uy * c + r) * wd + min(wd, ux * c + c)] = chunk[r * c:r * c + min(c, wd - ux * c)]
    return (h, wd), out

shape, staged = read(w / "work/cells.ome.zarr/0")
shape_whole, whole = read(w / "whole/section.ome.zarr/labels/cells/0")
if shape != shape_whole or staged != whole:
    diff = sum(a != b for a, b in zip(staged, whole))
    sys.exit(f"FAIL: {diff} pixels differ between the staged Slurm run and single-process urisc cells")
print(f"PASS: the Slurm stages' label store equals single-process urisc cells --watershed descent "
      f"({shape[0]}×{shape[1]}, {max(whole)} cells)")
PY
