#!/usr/bin/env bash
# Settles the context question (docs/attribution.md): does a network trained at ≈2 nm/px rely on a
# larger pixel neighbourhood than one trained at ≈4 nm/px, beyond seed-to-seed variation? And does
# a network built for context (deeper: a larger receptive field) use it?
#
# - Three seeds per resolution of the shipped default recipe (configs/default.toml; the 2× runs
#   only point it at the upsampled data). Native seed 2012 is the default model of commit ddda2f6
#   (the same config with a 10-minute cap that did not bind); seed 2 became the shipped model.
# - The context model: a depth-6 U-Net for 2× data (receptive field 476 px instead of 236, the
#   native model's field in nanometres) on 512² crops (batch 1: the same pixels per step as
#   4 × 256²).
# - Integrated gradients for every model on the same tissue positions: an 11 × 11 grid on
#   validation slice 16 and 60 of the grid's points on slice 18 (sampled with seed 1).
# - Every 2× model, and every native model predicting at half scale (`--pixel-size 2`), scored on
#   the 2× validation slices 16–19.
# Then `urisc attribute study` (see docs/attribution.md for the command).
#
#   bash bench/context/run.sh            # ≈ 2 h on 2 cores; resumes and skips what is there
set -euo pipefail
cd "$(dirname "$0")/../.."
URISC=${URISC:-target/release/urisc}
[ -x "$URISC" ] || cargo build --release --locked -p urisc-cli
RUNS=${RUNS:-runs/context}
mkdir -p "$RUNS"
[ -d data/isbi2012-2x ] || "$URISC" synth upsampled --out data/isbi2012-2x

train() { # name data pixel_size seed [--set …]
  local out="$RUNS/$1" data=$2 nm=$3 seed=$4
  shift 4
  grep -q '"epoch":39,' "$out/log.jsonl" 2>/dev/null && return
  local again=()
  [ -f "$out/log.jsonl" ] && again=(--resume)
  "$URISC" train --config configs/default.toml --out "$out" "${again[@]}" --set seed="$seed" \
    --set data.path="$data" --set data.pixel_size_nm="$nm" --set train.max_minutes=1000 "$@"
}
model_of() { # name
  echo "$RUNS/$1/best.safetensors"
}
# Native seed 2012 is the default model of commit ddda2f6 (configs/default.toml with seed 2012).
if [ ! -f "$RUNS/native-s2012/best.safetensors" ]; then
  mkdir -p "$RUNS/native-s2012"
  git show ddda2f6:models/default/best.safetensors > "$RUNS/native-s2012/best.safetensors"
fi
attribute() { # model-name slice [extra…]
  local m=$1 slice=$2 out="$RUNS/attr/$1-$2"
  shift 2
  [ -f "$out/attribution.json" ] && return
  local images=data/isbi2012 grid=(--grid 48 --grid-offset 24)
  case $m in 2x*) images=data/isbi2012-2x grid=(--grid 96 --grid-offset 48) ;; esac
  "$URISC" attribute --model "$(model_of "$m")" --image $images/images/$slice.png --name "$m $slice" \
    "${grid[@]}" --steps 50 --rule trapezoid --heatmaps 0 --montage 16 --out "$out" "$@"
}
score() { # model-name: F1, ARE, V_rand on the 2× validation slices
  local out="$RUNS/val2x/$1"
  [ -f "$out.json" ] && return
  mkdir -p "$RUNS/val2x/gt" "$out"
  for slice in 16 17 18 19; do cp -n data/isbi2012-2x/labels/$slice.png "$RUNS/val2x/gt/"; done
  "$URISC" predict --model "$(model_of "$1")" --pixel-size 2.0 --out "$out" --force \
    data/isbi2012-2x/images/{16,17,18,19}.png
  "$URISC" eval --pred "$out" --gt "$RUNS/val2x/gt" --metrics f1,are,vrand --format json --out "$out.json"
}

NATIVE="native-s2012 native-s1 native-s2"
TWOX="2x-s2012 2x-s1 2x-s2"
DEEP="2x-d6-s2012 2x-d6-s1"
for s in 1 2; do train native-s$s ../data/isbi2012 4.0 $s; done
for s in 2012 1 2; do train 2x-s$s ../data/isbi2012-2x 2.0 $s; done
DEEP_SET=(--set model.depth=6 --set crop.crop=512 --set crop.size=512 --set train.batch=1)
train 2x-d6-s2012 ../data/isbi2012-2x 2.0 2012 "${DEEP_SET[@]}"
for m in $NATIVE $TWOX 2x-d6-s2012; do attribute $m 16; done
for m in $NATIVE $TWOX 2x-d6-s2012; do score $m; done
for m in $NATIVE $TWOX 2x-d6-s2012; do attribute $m 18 --max-targets 60 --seed 1; done
train 2x-d6-s1 ../data/isbi2012-2x 2.0 1 "${DEEP_SET[@]}"
attribute 2x-d6-s1 16
attribute 2x-d6-s1 18 --max-targets 60 --seed 1
score 2x-d6-s1
python3 - "$RUNS/val2x" <<'PY'
import json, pathlib, sys
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    m = json.loads(p.read_text())["mean"]
    print(f"{p.stem}\tF1 {m['f1']:.3f}\tARE {m['are']:.3f}\tV_rand {m['vrand']:.3f}")
PY
echo "all runs done"
