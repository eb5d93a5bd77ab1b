#!/usr/bin/env bash
# Runs the U-Net framework benchmark: burn (flex, ndarray), candle and PyTorch, all on CPU with
# 2 threads, interleaved in one run (so every framework sees the same machine load).
#
#   ./setup_torch.sh            # once: .venv with torch + numpy from PyPI
#   ./run.sh                    # build, then measure; summary at the end, raw log in results/
#
# Environment: WIDTHS (default "16 32"), WARMUP (2), STEPS (5), ROUNDS (1: repeat the interleaved
# round; medians are taken over all rounds' steps), NDARRAY_STEPS (2: burn-ndarray is very slow),
# NDARRAY_WIDTHS (default "16"), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")"
WIDTHS=${WIDTHS:-"16 32"}
WARMUP=${WARMUP:-2}
STEPS=${STEPS:-5}
ROUNDS=${ROUNDS:-1}
NDARRAY_STEPS=${NDARRAY_STEPS:-2}
NDARRAY_WIDTHS=${NDARRAY_WIDTHS:-"16"}
THREADS=${THREADS:-2}
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS TORCH_THREADS=$THREADS

cargo build --release --locked
BIN=target/release/frameworks-bench
PY=.venv/bin/python
[ -x "$PY" ] || { echo "no $PY: run ./setup_torch.sh first" >&2; exit 1; }

mkdir -p results
LOG=results/run-$(date +%Y%m%d-%H%M%S).log
echo "# $(date -Is) threads=$THREADS warmup=$WARMUP steps=$STEPS rounds=$ROUNDS" | tee "$LOG"
echo "# cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), nproc=$(nproc)" | tee -a "$LOG"
echo "# $($PY -c 'import torch; print("torch", torch.__version__)'); burn 0.22.1; candle 0.11.1" | tee -a "$LOG"

measure() { # framework mode width warmup steps
  local fw=$1 mode=$2 w=$3 wu=$4 st=$5
  echo "## $fw $mode w=$w" >>"$LOG"
  if [ "$fw" = pytorch ]; then
    "$PY" torch_unet.py "$mode" "$w" "$wu" "$st" 2>>"$LOG" | tee -a "$LOG"
  else
    "$BIN" "$fw" "$mode" "$w" "$wu" "$st" 2>>"$LOG" | tee -a "$LOG"
  fi
}

# Input gradients (needed by integrated gradients): once per framework.
for fw in pytorch burn-flex candle; do measure "$fw" input-grad 16 0 0; done

for r in $(seq "$ROUNDS"); do
  for w in $WIDTHS; do
    for mode in train forward; do
      for fw in pytorch burn-flex candle; do measure "$fw" "$mode" "$w" "$WARMUP" "$STEPS"; done
      case " $NDARRAY_WIDTHS " in *" $w "*) measure burn-ndarray "$mode" "$w" 1 "$NDARRAY_STEPS";; esac
    done
  done
done

# Summary: median over all timed steps of all rounds, ratio to PyTorch.
echo
echo "framework      mode     width  params      median_s  ratio_vs_pytorch"
python3 - "$LOG" <<'PY'
import re, statistics, sys
from collections import defaultdict
steps = defaultdict(list); params = {}
key = None
for line in open(sys.argv[1]):
    m = re.match(r"## (\S+) (\S+) w=(\d+)", line)
    if m: key = (m[1], m[2], int(m[3])); continue
    m = re.match(r"\s+step \d+: ([\d.]+) s", line)
    if m and key: steps[key].append(float(m[1])); continue
    m = re.search(r"RESULT .*params=(\d+)", line)
    if m and key: params[key] = int(m[1])
for (fw, mode, w), ts in sorted(steps.items(), key=lambda kv: (kv[0][1] != "train", kv[0][2], kv[0][0])):
    med = statistics.median(ts)
    ref = steps.get(("pytorch", mode, w))
    ratio = med / statistics.median(ref) if ref else float("nan")
    print(f"{fw:<14} {mode:<8} {w:>5}  {params.get((fw, mode, w), 0):>9}  {med:>9.3f}  {ratio:>6.2f}x   (n={len(ts)})")
PY
