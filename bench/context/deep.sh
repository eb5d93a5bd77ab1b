#!/usr/bin/env bash
# The context model and the ≈2 nm/px question, after bench/context/run.sh:
# - a deeper U-Net for 2× data (depth 6: receptive field 476 px instead of 236, the native
#   model's field in nanometres) trained on 512² crops (batch 1: the same pixels per step as
#   4 × 256²), two seeds, attributed like the others;
# - every 2× model and every native model resampled (`--pixel-size 2`: predicted at half scale)
#   scored on the 2× validation slices 16–19 (F1, adapted Rand error, V_rand).
#
#   bash bench/context/deep.sh            # ≈ 50 min on 2 cores; skips what is already there
set -euo pipefail
cd "$(dirname "$0")/../.."
URISC=${URISC:-target/release/urisc}
RUNS=${RUNS:-runs/context}

for s in 2012 1; do
  out="$RUNS/2x-d6-s$s"
  grep -q '"epoch":39,' "$out/log.jsonl" 2>/dev/null && continue
  again=()
  [ -f "$out/log.jsonl" ] && again=(--resume)
  "$URISC" train --config configs/default.toml --out "$out" "${again[@]}" \
    --set seed=$s --set data.path=../data/isbi2012-2x --set data.pixel_size_nm=2.0 \
    --set train.max_minutes=1000 --set model.depth=6 --set crop.crop=512 --set crop.size=512 \
    --set train.batch=1
done

for s in 2012 1; do
  for slice in 16 18; do
    out="$RUNS/attr/2x-d6-s$s-$slice"
    [ -f "$out/attribution.json" ] && continue
    "$URISC" attribute --model "$RUNS/2x-d6-s$s/best.safetensors" --image data/isbi2012-2x/images/$slice.png \
      --name "2x-d6-s$s $slice" --grid 96 --grid-offset 48 --steps 50 --rule trapezoid --heatmaps 0 --out "$out"
  done
done

# Scores on the 2× validation slices.
mkdir -p "$RUNS/val2x/gt"
for slice in 16 17 18 19; do cp -n data/isbi2012-2x/labels/$slice.png "$RUNS/val2x/gt/"; done
score() { # name model
  local out="$RUNS/val2x/$1"
  [ -f "$out.json" ] && return
  mkdir -p "$out"
  "$URISC" predict --model "$2" --pixel-size 2.0 --out "$out" --force \
    data/isbi2012-2x/images/{16,17,18,19}.png 2>&1 | grep -i "scale" | head -1
  "$URISC" eval --pred "$out" --gt "$RUNS/val2x/gt" --metrics f1,are,vrand --format json --out "$out.json"
}
score native-s2012 models/default/best.safetensors
for s in 1 2; do score native-s$s "$RUNS/native-s$s/best.safetensors"; done
for s in 2012 1 2; do score 2x-s$s "$RUNS/2x-s$s/best.safetensors"; done
for s in 2012 1; do score 2x-d6-s$s "$RUNS/2x-d6-s$s/best.safetensors"; done
python3 - "$RUNS/val2x" <<'PY'
import json, pathlib, sys
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    m = json.loads(p.read_text())["mean"]
    print(f"{p.stem}\tF1 {m['f1']:.3f}\tARE {m['are']:.3f}\tV_rand {m['vrand']:.3f}")
PY
echo "deep runs done"
