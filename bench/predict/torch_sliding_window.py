"""PyTorch (or ONNX Runtime) peer of `urisc predict`: the same U-Net run the conventional way on a
whole section.

The section is loaded whole, every overlapping tile (same tile side and overlap as urisc, last
tile flush with the border) runs in batches under torch.inference_mode with BN in eval mode,
and the probabilities are blended with the same Gaussian window (sigma = tile / 8) into a
full-size float map, as nnU-Net and the authors' patching do. Weights are random: speed and
memory do not depend on them.
With ENGINE `ort` the network is exported to ONNX (opset 17, batch norm folded, dynamic batch) and
every batch runs in ONNX Runtime's CPU provider (all graph optimisations) instead of PyTorch.
Usage: python torch_sliding_window.py IMAGE WIDTH TILE OVERLAP BATCH TTA [ENGINE]
(threads: $TORCH_THREADS; ENGINE torch (default) or ort)
Prints one JSON line: engine, seconds, tiles, mpixel_per_s, peak_rss_mib.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "frameworks"))
from torch_unet import UNet  # noqa: E402

Image.MAX_IMAGE_PIXELS = None


def origins(length, tile, overlap):
    if length <= tile:
        return [0]
    step = max(tile - overlap, 1)
    out = list(range(0, length - tile, step))
    out.append(length - tile)
    return out


def gaussian(side):
    centre, sigma = (side - 1) / 2, max(side / 8, 0.5)
    d = (np.arange(side) - centre) / sigma
    return np.maximum(np.exp(-0.5 * d * d), 1e-4).astype(np.float32)


def dihedral(x, k):
    if k >= 4:
        x = torch.flip(x, [3])
    return torch.rot90(x, k % 4, [2, 3])


def undo(x, k):
    x = torch.rot90(x, -(k % 4), [2, 3])
    return torch.flip(x, [3]) if k >= 4 else x


def ort_runner(model, batch, tile, threads):
    """The network in ONNX Runtime: a function from an NCHW batch tensor to probabilities."""
    import io

    import onnxruntime as ort

    buf = io.BytesIO()
    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(model, torch.randn(batch, 1, tile, tile), buf, input_names=["input"],
                      output_names=["logits"], opset_version=17, do_constant_folding=True,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kwargs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])

    def run(x):
        logits = session.run(None, {"input": np.ascontiguousarray(x.numpy())})[0]
        return torch.sigmoid(torch.from_numpy(logits))

    return run


def main():
    path, width, tile, overlap, batch, tta = sys.argv[1], *map(int, sys.argv[2:7])
    engine = sys.argv[7] if len(sys.argv) > 7 else "torch"
    threads = int(os.environ.get("TORCH_THREADS", "2"))
    torch.set_num_threads(threads)
    transforms = {1: [0], 2: [0, 4], 4: [0, 4, 2, 6], 8: list(range(8))}[tta]
    model = UNet(width).eval()
    if engine == "ort":
        run = ort_runner(model, batch, tile, threads)
    else:
        def run(x):
            return torch.sigmoid(model(x))
    start = time.perf_counter()
    image = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0
    image = (image - 0.5) / 0.5
    h, w = image.shape
    acc = np.zeros((h, w), dtype=np.float32)
    weight = np.zeros((h, w), dtype=np.float32)
    win = np.outer(gaussian(tile), gaussian(tile))
    tiles = [(r, c) for r in origins(h, tile, overlap) for c in origins(w, tile, overlap)]
    with torch.inference_mode():
        for i in range(0, len(tiles), batch):
            chunk = tiles[i : i + batch]
            x = torch.from_numpy(np.stack([image[r : r + tile, c : c + tile] for r, c in chunk]))[:, None]
            p = sum(undo(run(dihedral(x, k)), k) for k in transforms) / len(transforms)
            p = p[:, 0].numpy()
            for (r, c), t in zip(chunk, p):
                acc[r : r + tile, c : c + tile] += win * t
                weight[r : r + tile, c : c + tile] += win
    prob = acc / weight
    seconds = time.perf_counter() - start
    assert prob.shape == (h, w)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": engine, "seconds": round(seconds, 2), "tiles": len(tiles), "tta": tta,
                      "mpixel_per_s": round(h * w / 1e6 / seconds, 3), "peak_rss_mib": round(peak)}))


if __name__ == "__main__":
    main()
