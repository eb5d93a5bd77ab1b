"""Run an ONNX model with onnxruntime (CPUExecutionProvider), the reference runtime for urisc's ONNX importer.

Usage: python run_ort.py FILE.onnx INPUT.npy [--compare REF.npy] [--threads N] [--repeat R]

The .npy is fed as-is to the model's first input. Prints the output shape, the max abs difference to
REF (exit 1 if > 1e-4) and the median wall time over R runs (after one warm-up run).
"""
import argparse
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-4


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("--compare", metavar="REF.npy")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    x = np.load(a.input)
    feed = {sess.get_inputs()[0].name: x}
    out = sess.run(None, feed)[0]  # warm-up, and the result that is compared
    times = []
    for _ in range(max(a.repeat, 1)):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)

    print(f"onnxruntime {ort.__version__} threads={a.threads} input={list(x.shape)} {x.dtype} "
          f"output={sess.get_outputs()[0].name} shape={list(out.shape)} {out.dtype}")
    status = 0
    if a.compare:
        ref = np.load(a.compare)
        if ref.shape != out.shape:
            print(f"shape mismatch: ref {list(ref.shape)} vs output {list(out.shape)}")
            status = 1
        else:
            diff = float(np.abs(out.astype(np.float64) - ref.astype(np.float64)).max())
            ok = diff <= TOLERANCE
            print(f"max_abs_diff={diff:.3e} ({'OK' if ok else 'FAIL'}, tolerance {TOLERANCE:g})")
            status = 0 if ok else 1
    print(f"median_s={statistics.median(times):.6f} min_s={min(times):.6f} repeat={len(times)}")
    sys.exit(status)


if __name__ == "__main__":
    main()
