"""Build a minimal but complete bioimage.io model package (model spec format_version 0.5.12) with ONNX weights.

Reference for urisc's bioimage.io exporter: the rdf.yaml is written as plain text (no bioimageio.spec
helpers), the sha256 of every file is computed with hashlib, and the zip is laid out by hand (all files at
the zip root), i.e. exactly what a Rust exporter has to do. Check the result with
`bench/onnx/bioimageio_test.sh PACKAGE.zip`.

Usage: python make_bioimageio_reference.py [--out PACKAGE.zip] [--rdf-out FILE.yaml]
           [--sigmoid graph|postprocessing] [--input-dtype float32|uint8]
           [--tolerance tight|default] [--width 4 --depth 3 --seed 7] [--height 64 --test-width 48]

  --sigmoid graph           (default) the ONNX graph ends in Sigmoid; its output "probability" is already
                            the probability, no postprocessing is declared
  --sigmoid postprocessing  the ONNX graph outputs logits; the rdf declares `postprocessing: - id: sigmoid`
  --input-dtype float32     (default) input data {type: float32, range: [0, 255]}, test input float32
  --input-dtype uint8       input data {type: uint8}, test input uint8; preprocessing then has to end with an
                            explicit `ensure_dtype: float32` (else the implicit final ensure_dtype casts the
                            scaled values back to uint8)

The network is bench/frameworks/torch_unet.py's U-Net (random, seeded weights with randomised BatchNorm,
see export_torch_unet.py); the test output is computed by torch (not onnxruntime) from the preprocessed
test input, so `bioimageio test` really compares two runtimes.
"""
import argparse
import datetime
import hashlib
import io
import json
import os
import sys
import tempfile
import zipfile

import numpy as np
import tifffile
import torch
from PIL import Image

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_torch_unet as etu  # noqa: E402

FORMAT_VERSION = "0.5.12"
# (v/255 - 0.5)/0.5 = v * 2/255 - 1
GAIN = 2.0 / 255.0
OFFSET = -1.0


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def membrane_image(h, w, seed):
    """Synthetic EM-like 8-bit image: bright cells separated by dark membranes (Voronoi edges), plus noise."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, size=(12, 2)) * [h, w]
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.sqrt((yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2)
    d.sort(axis=-1)
    edge = np.exp(-((d[..., 1] - d[..., 0]) ** 2) / 4.0)  # ~1 on a membrane
    img = 190 - 130 * edge + rng.normal(0, 12, size=(h, w))
    return np.clip(np.rint(img), 0, 255)


def cover_png(path, inp, prob):
    """2:1 cover (512x256): input | probability (contrast-stretched), each in a 256x256 cell, aspect kept."""
    h, w = inp.shape
    size = (max(1, round(256 * w / max(h, w))), max(1, round(256 * h / max(h, w))))
    lo, hi = float(prob.min()), float(prob.max())
    stretched = (prob - lo) / (hi - lo) if hi > lo else np.zeros_like(prob)
    c = Image.new("L", (512, 256))
    for i, panel in enumerate([inp, stretched * 255.0]):
        im = Image.fromarray(np.clip(panel + 0.5, 0, 255).astype(np.uint8)).resize(size, Image.NEAREST)
        c.paste(im, (256 * i + (256 - size[0]) // 2, (256 - size[1]) // 2))
    c.save(path, optimize=True)


README = """# urisc reference U-Net (bioimage.io ONNX package)

A small 2D U-Net (width {width}, depth {depth}) in urisc's architecture, exported from PyTorch to ONNX
(opset 17). **Its weights are random (seed {seed})**: this package is a reference for urisc's bioimage.io
export and import, not a model for real data.

## Input and output

- `input`: one grey-value channel, axes `batch, channel, y, x`; y and x are multiples of 16 (>= 16).
  Intensities are in the 8-bit range 0..255 and are preprocessed to `(v/255 - 0.5)/0.5`.
- `probability`: membrane probability in [0, 1], same y/x size as the input.

The cover shows the test input and the model's output on it (contrast-stretched).

## Training

None: the weights are a seeded random initialisation with randomised batch-norm statistics.
See `config.bioimageio.training` and `config.urisc` in `rdf.yaml`.

## Validation

`bioimageio test` reproduces the packaged test output (computed by PyTorch {torch_version}) with
onnxruntime; there is no quantitative validation on data, because the weights are untrained.
"""


def rdf_text(f, a, shas, n_params, output_data_note):
    """The rdf.yaml, as text. `f` maps role -> file name (all at the package root)."""
    in_dtype = a.input_dtype
    if in_dtype == "uint8":
        input_data = "      type: uint8"
        preprocessing = f"""      - id: ensure_dtype
        kwargs:
          dtype: float32
      - id: scale_linear
        kwargs:
          gain: {GAIN!r}
          offset: {OFFSET!r}
      - id: ensure_dtype
        kwargs:
          dtype: float32"""
    else:
        input_data = """      type: float32
      range: [0.0, 255.0]"""
        preprocessing = f"""      - id: scale_linear
        kwargs:
          gain: {GAIN!r}
          offset: {OFFSET!r}"""
    postprocessing = "\n    postprocessing:\n      - id: sigmoid" if a.sigmoid == "postprocessing" else ""
    ts = a.timestamp
    tolerance = "" if a.tolerance == "default" else (
        "    reproducibility_tolerance:\n"
        f"      - absolute_tolerance: {a.tolerance_abs:.1e}\n"
        f"        relative_tolerance: {a.tolerance_rel:.1e}\n"
        "        mismatched_elements_per_million: 0\n")
    return f"""# bioimage.io model description (written by bench/onnx/make_bioimageio_reference.py)
format_version: {FORMAT_VERSION}
type: model
name: urisc reference U-Net w{a.width} d{a.depth}
description: >-
  2D U-Net for membrane segmentation of electron-microscopy images, in urisc's architecture
  (random seeded weights: a reference package for urisc's bioimage.io exchange, not a trained model).
version: 0.1.0
timestamp: "{ts}"
authors:
  - name: urisc developers
    affiliation: urisc project
license: MIT
git_repo: https://github.com/urisc/urisc
tags: [unet, 2d, electron-microscopy, cell-membrane, semantic-segmentation, onnx, urisc]
cite:
  - text: "Shi et al. (2022): U-RISC: An Annotated Ultra-High-Resolution Electron Microscopy Dataset Challenging the Existing Deep Learning Algorithms"
    doi: 10.3389/fncom.2022.842760
  - text: "Ronneberger et al. (2015): U-Net: Convolutional Networks for Biomedical Image Segmentation"
    doi: 10.1007/978-3-319-24574-4_28
documentation:
  source: {f['readme']}
  sha256: {shas['readme']}
covers:
  - source: {f['cover']}
    sha256: {shas['cover']}
attachments:
  - source: {f['provenance']}
    sha256: {shas['provenance']}
inputs:
  - id: input
    description: grey values in the 8-bit range 0..255
    axes:
      - type: batch
      - type: channel
        channel_names: [raw]
      - type: space
        id: y
        size: {{min: 16, step: 16}}
      - type: space
        id: x
        size: {{min: 16, step: 16}}
    data:
{input_data}
    test_tensor:
      source: {f['test_input']}
      sha256: {shas['test_input']}
    sample_tensor:
      source: {f['sample_input']}
      sha256: {shas['sample_input']}
    preprocessing:
{preprocessing}
outputs:
  - id: probability
    description: membrane probability{output_data_note}
    axes:
      - type: batch
      - type: channel
        channel_names: [membrane]
      - type: space
        id: y
        size: {{tensor_id: input, axis_id: y}}
      - type: space
        id: x
        size: {{tensor_id: input, axis_id: x}}
    data:
      type: float32
      range: [0.0, 1.0]
    test_tensor:
      source: {f['test_output']}
      sha256: {shas['test_output']}
    sample_tensor:
      source: {f['sample_output']}
      sha256: {shas['sample_output']}{postprocessing}
weights:
  onnx:
    source: {f['onnx']}
    sha256: {shas['onnx']}
    opset_version: {etu.OPSET}
    authors:
      - name: urisc developers
    comment: >-
      exported with torch.onnx.export (TorchScript exporter, torch {torch.__version__.split('+')[0]}), eval-mode BatchNorm folded into Conv
config:
  bioimageio:
{tolerance}    architecture_type: U-Net
    model_parameter_count: {n_params}
    training:
      training_preprocessing: (v/255 - 0.5)/0.5
      training_epochs: 0
  urisc:
    producer: bench/onnx/make_bioimageio_reference.py
    architecture: {{kind: unet, width: {a.width}, depth: {a.depth}, norm: batch, upsampling: nearest}}
    seed: {a.seed}
    sigmoid: {a.sigmoid}
    provenance: {f['provenance']}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "out", "urisc-reference-unet.bioimageio.zip"))
    ap.add_argument("--rdf-out", help="also write the rdf.yaml here")
    ap.add_argument("--sigmoid", choices=["graph", "postprocessing"], default="graph")
    ap.add_argument("--input-dtype", choices=["float32", "uint8"], default="float32")
    ap.add_argument("--width", type=int, default=4)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--height", type=int, default=64, help="test tensor y size (multiple of 16)")
    ap.add_argument("--test-width", type=int, default=48, help="test tensor x size (multiple of 16)")
    ap.add_argument("--tolerance", choices=["tight", "default"], default="tight",
                    help="tight: declare config.bioimageio.reproducibility_tolerance (--tolerance-abs/-rel, no "
                         "mismatched elements); default: none declared, i.e. rtol=atol=1e-3 and 100 mismatched "
                         "elements per million allowed")
    ap.add_argument("--tolerance-abs", type=float, default=1e-5)
    ap.add_argument("--tolerance-rel", type=float, default=1e-4)
    ap.add_argument("--timestamp", default="2026-01-01T00:00:00", help="ISO 8601, fixed for reproducible packages")
    a = ap.parse_args()
    torch.set_num_threads(1)

    in_graph = a.sigmoid == "graph"
    model = etu.build(a.width, a.depth, a.seed, sigmoid=in_graph)
    n_params = sum(p.numel() for p in model.parameters())

    f = dict(onnx="weights.onnx", test_input="test_input.npy", test_output="test_output.npy",
             sample_input="sample_input.png", sample_output="sample_output.tif",
             cover="cover.png", readme="README.md", provenance="provenance.json")
    with tempfile.TemporaryDirectory() as tmp:
        p = {k: os.path.join(tmp, v) for k, v in f.items()}
        etu.export(model, p["onnx"], "probability" if in_graph else "logits")

        raw = membrane_image(a.height, a.test_width, a.seed)  # float64 integers 0..255
        x = raw[None, None].astype(np.float32 if a.input_dtype == "float32" else np.uint8)
        pre = (raw.astype(np.float32) * np.float32(GAIN) + np.float32(OFFSET))[None, None]
        with torch.no_grad():
            y = model(torch.from_numpy(pre)).numpy()
        if not in_graph:
            y = 1.0 / (1.0 + np.exp(-y.astype(np.float64)))
        y = y.astype(np.float32)
        np.save(p["test_input"], x)   # with batch axis: [1, 1, H, W], all described axes present
        np.save(p["test_output"], y)  # [1, 1, H, W] float32, after postprocessing
        cover_png(p["cover"], raw, y[0, 0])
        # sample tensors: for people, any imageio-readable format, squeezed 2D is fine (not .npy)
        Image.fromarray(raw.astype(np.uint8)).save(p["sample_input"])
        tifffile.imwrite(p["sample_output"], y[0, 0])
        with open(p["readme"], "w") as fh:
            fh.write(README.format(width=a.width, depth=a.depth, seed=a.seed,
                                   torch_version=torch.__version__.split("+")[0]))
        with open(p["provenance"], "w") as fh:
            json.dump({"producer": "bench/onnx/make_bioimageio_reference.py", "torch": torch.__version__,
                       "width": a.width, "depth": a.depth, "seed": a.seed, "trained": False,
                       "bn_randomised": True, "sigmoid": a.sigmoid, "opset": etu.OPSET}, fh, indent=1)
            fh.write("\n")
        shas = {k: sha256(v) for k, v in p.items()}
        note = "" if in_graph else " (the ONNX graph outputs logits; sigmoid is a postprocessing step)"
        rdf = rdf_text(f, a, shas, n_params, note)

        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        # Zip layout: rdf.yaml and every referenced file at the zip root, paths in the rdf relative to it.
        with zipfile.ZipFile(a.out, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("rdf.yaml", rdf)
            for k, name in f.items():
                z.write(p[k], name)
    if a.rdf_out:
        with open(a.rdf_out, "w") as fh:
            fh.write(rdf)
        print(f"wrote {a.rdf_out}")
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes): rdf.yaml + {', '.join(f.values())}")
    print(f"test input {list(x.shape)} {x.dtype} range [{x.min()}, {x.max()}]; "
          f"test output {list(y.shape)} {y.dtype} range [{y.min():.4f}, {y.max():.4f}]")


if __name__ == "__main__":
    main()
