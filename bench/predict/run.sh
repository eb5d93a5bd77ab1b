#!/usr/bin/env bash
# Full-section inference benchmark (issue 5): `urisc predict` vs the same U-Net in PyTorch run
# the conventional way, and in ONNX Runtime's CPU provider (exported from that PyTorch network,
# when the venv has onnxruntime: bench/onnx/setup.sh), same machine, same threads, one run. Not
# part of CI.
#   bench/frameworks/setup_torch.sh      # once: PyTorch + numpy + pillow in a venv (PyPI)
#   TTAS="1 8" bench/predict/run.sh       # from the repository root
#   SIZE=4096x4096 TTAS=8 bench/predict/run.sh   # a smaller synthetic section
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}
TTAS=${TTAS:-1 8}
SIZE=${SIZE:-9959x9958}
MODEL=${MODEL:-models/default/best.safetensors}
OUT=${OUT:-target/bench-predict}
PY=${PY:-bench/frameworks/.venv/bin/python}
[ -x "$PY" ] || PY=bench/onnx/.venv/bin/python
ENGINES=torch
if "$PY" -c 'import onnxruntime' 2>/dev/null; then ENGINES="torch ort"; fi
cargo build --release --locked
URISC=target/release/urisc
SECTION=$OUT/synth-$SIZE/images/section.png
[ -f "$SECTION" ] || $URISC synth section --size "$SIZE" --out "$OUT/synth-$SIZE"
# The same tiling as urisc predict's defaults for this model, at the section's own resolution
# (--scale 1: the synthetic section records 2 nm/pixel, and urisc would otherwise predict it at the
# model's 4 nm, a quarter of the pixels the peers process).
TILE=$($URISC model info "$MODEL" | awk '/^tile size:/ {print $3}')
WIDTH=$($URISC model info "$MODEL" | sed -n 's/.*base width \([0-9]*\).*/\1/p')
LOG=bench/predict/results/run-$(date -u +%Y%m%d-%H%M%S).log
mkdir -p bench/predict/results
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), threads $THREADS, section $SIZE, tile $TILE, overlap 64, batch 4" | tee "$LOG"
echo "cpu flags: $(grep -m1 -o -w 'avx512f\|avx2\|fma\|amx_tile\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')" | tee -a "$LOG"
for tta in $TTAS; do
  /usr/bin/time -f "urisc wall %e s, peak RSS %M KiB" \
    env RAYON_NUM_THREADS=$THREADS $URISC predict --model "$MODEL" "$SECTION" --out "$OUT/tta$tta" \
    --tta "$tta" --tile "$TILE" --overlap 64 --batch 4 --scale 1 --force 2>&1 | grep -E "urisc (predict: .*MPixel|wall)" | tee -a "$LOG"
  for engine in $ENGINES; do
    echo -n "$engine tta $tta: " | tee -a "$LOG"
    TORCH_THREADS=$THREADS $PY bench/predict/torch_sliding_window.py "$SECTION" "$WIDTH" "$TILE" 64 4 "$tta" "$engine" | tee -a "$LOG"
  done
done
echo "log: $LOG"
