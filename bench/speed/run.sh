#!/usr/bin/env bash
# urisc's CPU kernels against PyTorch on the same U-Net (SPEC §5), same threads, interleaved in
# one run: `urisc bench speed --json` and bench/frameworks/torch_unet.py (the PyTorch peer, from
# PyPI into bench/frameworks/.venv by bench/frameworks/setup_torch.sh) alternate per width and
# round, so both see the same machine load. A benchmark, not a test.
#
#   bench/frameworks/setup_torch.sh   # once
#   bench/speed/run.sh                # WIDTHS="16 32 64" THREADS=2 ROUNDS=2 WARMUP=2 STEPS=5
#
# Prints one line per width with medians over all rounds, the ratios (PyTorch time / urisc
# time: above 1 means urisc is faster) and peak memory (largest over rounds; urisc's process also
# runs the forward pass); the raw log goes to bench/speed/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
WIDTHS=${WIDTHS:-"16 32 64"}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-2}
STEPS=${STEPS:-5}
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS TORCH_THREADS=$THREADS
# The peers' Python: bench/frameworks/.venv (setup_torch.sh), else bench/onnx/.venv (setup.sh, which
# also has ONNX Runtime); PY=… to choose. ONNX Runtime is timed when the venv has it.
PY=${PY:-bench/frameworks/.venv/bin/python}
[ -x "$PY" ] || PY=bench/onnx/.venv/bin/python
[ -x "$PY" ] || { echo "no peer venv: run bench/frameworks/setup_torch.sh or bench/onnx/setup.sh first" >&2; exit 1; }
MODES="train forward"
if "$PY" -c 'import onnxruntime' 2>/dev/null; then MODES="train forward ort-forward"; fi
cargo build --release --locked -p urisc-cli
BIN=target/release/urisc

LOG=bench/speed/results/run-$(date +%Y%m%d-%H%M%S).log
{
  echo "# $(date -Is) threads=$THREADS rounds=$ROUNDS warmup=$WARMUP steps=$STEPS"
  echo "# cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), nproc=$(nproc), urisc $(git rev-parse --short HEAD)"
  echo "# $($PY -c 'import torch; print("torch", torch.__version__)') $($PY -c 'import onnxruntime as o; print("onnxruntime", o.__version__)' 2>/dev/null)"
  echo "# cpu flags: $(grep -m1 -o -w 'avx512f\|avx2\|fma\|amx_tile\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  # Instruction-set restrictions in force (for example an AVX2-only stand-in: URISC_KERNELS=avx2
  # DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2; ONNX Runtime has no such switch).
  echo "# restricted: $(env | grep -E '^(URISC_KERNELS|URISC_CONV|DNNL_MAX_CPU_ISA|ATEN_CPU_CAPABILITY)=' | tr '\n' ' ')"
} | tee "$LOG"

for r in $(seq "$ROUNDS"); do
  for w in $WIDTHS; do
    # Peak RSS of each process (urisc's also runs the 512² forward) from GNU time.
    out=$(/usr/bin/time -f "RSS %M" "$BIN" bench speed --width "$w" --threads "$THREADS" --warmup "$WARMUP" --steps "$STEPS" --json 2>&1)
    echo "URISC round=$r $(echo "$out" | grep '^{')" | tee -a "$LOG"
    echo "RSS urisc width=$w kib=$(echo "$out" | sed -n 's/^RSS //p')" | tee -a "$LOG"
    for mode in $MODES; do
      out=$(/usr/bin/time -f "RSS %M" "$PY" bench/frameworks/torch_unet.py "$mode" "$w" "$WARMUP" "$STEPS" 2>&1)
      echo "$out" | grep '^RESULT' | sed "s/^/round=$r /" | tee -a "$LOG"
      if [ "$mode" = train ]; then
        echo "RSS torch width=$w kib=$(echo "$out" | sed -n 's/^RSS //p')" | tee -a "$LOG"
      fi
    done
  done
done

python3 - "$LOG" <<'PY'
import json, re, statistics, sys
from collections import defaultdict
urisc, torch, ort, rss = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
for line in open(sys.argv[1]):
    if line.startswith("RSS "):
        f = dict(re.findall(r"(\w+)=(\S+)", line))
        rss[(line.split()[1], int(f["width"]))].append(int(f["kib"]) / 1024)
    elif line.startswith("URISC"):
        j = json.loads(line.split(" ", 2)[2])
        for k in ("train_step_s", "fwd512_s", "gflops_train", "gflops_fwd", "peak_gflops"):
            urisc[(j["width"], k)].append(j[k])
    elif "RESULT framework=onnxruntime" in line:
        f = dict(re.findall(r"(\w+)=(\S+)", line))
        ort[int(f["width"])].append(float(f["median_s"]))
    elif "RESULT framework=pytorch" in line:
        f = dict(re.findall(r"(\w+)=(\S+)", line))
        torch[(int(f["width"]), f["mode"])].append(float(f["median_s"]))
med = statistics.median
print(f"\n{'width':>5} {'urisc train s':>13} {'torch train s':>13} {'speed ratio':>11} {'urisc fwd512 s':>14} {'torch fwd512 s':>14} {'speed ratio':>11} {'train %peak':>11} {'fwd %peak':>9} {'peak GFLOP/s':>12} {'urisc MiB':>9} {'torch train MiB':>15}")
for w in sorted({w for w, _ in urisc}):
    ut, uf = med(urisc[(w, "train_step_s")]), med(urisc[(w, "fwd512_s")])
    tt, tf = med(torch[(w, "train")]), med(torch[(w, "forward")])
    peak = med(urisc[(w, "peak_gflops")])
    print(f"{w:>5} {ut:>13.3f} {tt:>13.3f} {tt/ut:>10.2f}x {uf:>14.3f} {tf:>14.3f} {tf/uf:>10.2f}x "
          f"{100*med(urisc[(w,'gflops_train')])/peak:>10.0f}% {100*med(urisc[(w,'gflops_fwd')])/peak:>8.0f}% {peak:>12.0f} "
          f"{max(rss[('urisc', w)], default=0):>9.0f} {max(rss[('torch', w)], default=0):>15.0f}")
if ort:
    print(f"\n{'width':>5} {'urisc fwd512 s':>14} {'ORT fwd512 s':>12} {'urisc vs ORT':>12}   (ONNX Runtime CPU provider, same network)")
    for w in sorted(ort):
        uf, of = med(urisc[(w, "fwd512_s")]), med(ort[w])
        print(f"{w:>5} {uf:>14.3f} {of:>12.3f} {of/uf:>11.2f}x")
PY
echo "log: $LOG"
