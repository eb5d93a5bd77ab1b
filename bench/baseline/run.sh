#!/usr/bin/env bash
# Issue 16's yardstick: the PyTorch U-Net baseline (bench/baseline/torch_isbi.py: the authors'
# recipe at width 16, trained on ISBI slices 00–15 for a wall-clock budget) against urisc models,
# every map scored by `urisc eval` on the validation slices 16–19, with and without 8× TTA.
#
#   bench/baseline/run.sh OUT [MODEL.safetensors ...]
#   MINUTES=10 WIDTH=16 SEEDS="1" THREADS=2 (defaults); STEPS=N trains N steps instead of MINUTES
#   (further seeds of a timed run at its step count, while the machine is busy)
#
# The PyTorch side runs in bench/onnx/.venv (bench/onnx/setup.sh: pinned torch 2.15, pillow).
# Prints one table (F1, ARE, V_rand, threshold) with the CPU's name; everything lands in OUT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: run.sh OUT [MODEL ...]}
shift
minutes=${MINUTES:-10}
width=${WIDTH:-16}
seeds=${SEEDS:-1}
threads=${THREADS:-2}
mkdir -p "$out"
out=$(cd "$out" && pwd)
"$root/bench/onnx/setup.sh" >/dev/null
py="$root/bench/onnx/.venv/bin/python"
(cd "$root" && cargo build --release --locked -q -p urisc-cli)
urisc="$root/target/release/urisc"
gt="$out/labels"
mkdir -p "$gt"
for n in 16 17 18 19; do cp "$root/data/isbi2012/labels/$n.png" "$gt/"; done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
flags=$(grep -m1 '^flags' /proc/cpuinfo | grep -o 'avx512f\|avx2\|amx_tile' | sort -u | tr '\n' ' ')
echo "CPU: $cpu ($flags), $threads threads" | tee "$out/cpu.txt"

score() { # NAME BINARY_DIR
  "$urisc" eval --pred "$2" --gt "$gt" --format json --out "$out/$1.eval.json" --force 2>/dev/null
  python3 - "$1" "$out/$1.eval.json" <<'PY' | tee -a "$out/table.md"
import json, sys
m = json.load(open(sys.argv[2]))["mean"]
print(f"| {sys.argv[1]} | {m['f1']:.4f} | {m['are']:.4f} | {m['vrand']:.4f} |")
PY
}

echo "| run | F1 | ARE | V_rand |" > "$out/table.md"
echo "|---|---:|---:|---:|" >> "$out/table.md"
for seed in $seeds; do
  run="$out/torch-w$width-seed$seed"
  if [ ! -f "$run/summary.json" ]; then
    TORCH_THREADS=$threads "$py" "$root/bench/baseline/torch_isbi.py" "$root/data/isbi2012" "$run" \
      --minutes "$minutes" ${STEPS:+--steps "$STEPS"} --width "$width" --seed "$seed" 2> "$run.log"
  fi
  for tta in tta1 tta8; do score "torch-w$width-seed$seed-$tta" "$run/$tta/binary"; done
done
images="$out/images"
mkdir -p "$images"
for n in 16 17 18 19; do cp "$root/data/isbi2012/images/$n.png" "$images/"; done
for model in "$@"; do
  name=$(basename "$(dirname "$model")")
  for tta in 1 8; do
    RAYON_NUM_THREADS=$threads "$urisc" predict --model "$model" --tta $tta --force \
      --out "$out/urisc-$name-tta$tta" "$images" 2>/dev/null
    score "urisc-$name-tta$tta" "$out/urisc-$name-tta$tta"
  done
done
