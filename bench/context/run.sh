#!/usr/bin/env bash
# Settles the context question (docs/attribution.md): does a network trained at ≈2 nm/px rely on a
# larger pixel neighbourhood than one trained at ≈4 nm/px, beyond seed-to-seed variation?
#
# Three seeds per resolution of the shipped default recipe (configs/default.toml; the 2× runs only
# point it at the upsampled data), then integrated gradients on a regular 11 × 11 grid of the same
# tissue positions on two validation slices (16 and 18) for every model, then a hierarchical
# bootstrap over seeds and targets (`urisc attribute study`).
#
#   bash bench/context/run.sh            # ≈ 90 min on 2 cores; skips what is already there
#
# Native seed 2012 is the shipped models/default (same config; its 10-minute cap did not bind).
set -euo pipefail
cd "$(dirname "$0")/../.."
URISC=${URISC:-target/release/urisc}
[ -x "$URISC" ] || cargo build --release --locked -p urisc-cli
RUNS=${RUNS:-runs/context}
mkdir -p "$RUNS"

[ -d data/isbi2012-2x ] || "$URISC" synth upsampled --out data/isbi2012-2x

train() { # name data pixel_size seed
  local out="$RUNS/$1"
  grep -q '"epoch":39,' "$out/log.jsonl" 2>/dev/null && return
  local again=()
  [ -f "$out/log.jsonl" ] && again=(--resume)
  "$URISC" train --config configs/default.toml --out "$out" "${again[@]}" \
    --set seed="$4" --set data.path="$2" --set data.pixel_size_nm="$3" --set train.max_minutes=1000
}

model_of() { # name
  if [ "$1" = native-s2012 ]; then echo models/default/best.safetensors; else echo "$RUNS/$1/best.safetensors"; fi
}

NATIVE="native-s2012 native-s1 native-s2"
TWOX="2x-s2012 2x-s1 2x-s2"
for s in 1 2; do train native-s$s ../data/isbi2012 4.0 $s; done
for s in 2012 1 2; do train 2x-s$s ../data/isbi2012-2x 2.0 $s; done

attribute() { # name image grid offset out
  [ -f "$5/attribution.json" ] && return
  "$URISC" attribute --model "$(model_of "$1")" --image "$2" --name "$1 $(basename "$2" .png)" \
    --grid "$3" --grid-offset "$4" --steps 50 --rule trapezoid --heatmaps 0 --out "$5"
}
for slice in 16 18; do
  for m in $NATIVE; do attribute "$m" data/isbi2012/images/$slice.png 48 24 "$RUNS/attr/$m-$slice"; done
  for m in $TWOX; do attribute "$m" data/isbi2012-2x/images/$slice.png 96 48 "$RUNS/attr/$m-$slice"; done
done
echo "all runs done"
