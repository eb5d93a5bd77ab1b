"""Table of bench/context-models/run.sh: per model the 2× validation scores (mean ± std over
seeds, with and without 8× TTA), the checkpoint epoch and validation F1 the trainer chose."""
import json
import pathlib
import statistics
import sys

out = pathlib.Path(sys.argv[1])


def scores(name):
    p = out / "val2x" / f"{name}.json"
    return json.loads(p.read_text())["mean"] if p.exists() else None


def show(label, names):
    rows = [s for s in map(scores, names) if s]
    if not rows:
        return
    cells = []
    for key in ["f1", "are", "vrand"]:
        values = [r[key] for r in rows]
        spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
        cells.append(f"{statistics.mean(values):.4f}{spread}")
    print(f"| {label} ({len(rows)}) | " + " | ".join(cells) + " |")


print("| model (runs) | F1 | ARE | V_rand |")
print("|---|---:|---:|---:|")
show("shipped model at its own pixel size", ["default-resampled"])
show("shipped model at its own pixel size, TTA 8", ["default-resampled-tta8"])
for kind in ["two-stage", "two-scale"]:
    seeds = ["2012", "1", "2"]
    show(kind, [f"{kind}-s{s}" for s in seeds])
    show(f"{kind}, TTA 8", [f"{kind}-s{s}-tta8" for s in seeds])
    for s in seeds:
        show(f"{kind} seed {s}", [f"{kind}-s{s}"])
        show(f"{kind} seed {s}, TTA 8", [f"{kind}-s{s}-tta8"])
print()
for log in sorted(out.glob("*/log.jsonl")):
    epochs = [json.loads(line) for line in log.read_text().splitlines()]
    best = max(epochs, key=lambda e: e["val_f1"])
    minutes = sum(e["seconds"] for e in epochs) / 60
    print(f"{log.parent.name}: best validation F1 {best['val_f1']:.4f} at epoch {best['epoch']} "
          f"of {len(epochs)}, {minutes:.0f} min")
