"""Export the PyTorch peer U-Net (bench/frameworks/torch_unet.py) to ONNX, for urisc's ONNX importer tests.

Usage:
  python export_torch_unet.py --width W --depth D --seed S --out FILE.onnx
                              [--sigmoid] [--keep-bn] [--test-input H W --test-out DIR] [--listing FILE.txt]

  --sigmoid      append a Sigmoid; the output is then named "probability" instead of "logits"
  --keep-bn      export with TrainingMode.PRESERVE: separate BatchNormalization nodes stay in the graph
                 (default TrainingMode.EVAL folds every BatchNorm into the preceding Conv)
  --test-input   also write DIR/<stem>_input.npy (float32 [1,1,H,W], seeded N(0,1)) and
                 DIR/<stem>_<output name>.npy (torch's output, float32), where <stem> is FILE's
                 name without ".onnx"; then check with onnxruntime (if installed) that the ONNX file
                 reproduces torch's output and print the max abs difference
  --listing      write the op listing (nodes with attributes/inputs, initializers, I/O) to this file;
                 it is always printed to stdout

The network is initialised from --seed, then every BatchNorm gets random running statistics and affine
parameters (so that batch-norm handling is really exercised), then put in eval mode. Export uses the
classic TorchScript exporter (dynamo=False), opset 17, input "input" [N,1,H,W] with dynamic N, H, W,
constant folding on (which folds eval-mode BatchNorm into the preceding Conv).
"""
import argparse
import inspect
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.dont_write_bytecode = True  # no __pycache__ in bench/frameworks
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "frameworks"))
import torch_unet  # noqa: E402

OPSET = 17


def build(width, depth, seed, sigmoid):
    torch.manual_seed(seed)
    torch_unet.DEPTH = depth
    net = torch_unet.UNet(width)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
                m.weight.copy_(torch.rand_like(m.weight) + 0.5)
                m.bias.copy_(torch.randn_like(m.bias) * 0.1)
    model = nn.Sequential(net, nn.Sigmoid()) if sigmoid else net
    return model.eval()


def export(model, path, output_name, keep_bn=False):
    example = torch.zeros(1, 1, 32, 32)
    kwargs = dict(
        # EVAL (the default) folds each eval-mode BatchNorm into its Conv; PRESERVE keeps the
        # BatchNormalization nodes (the model is still in eval mode, so they use running statistics).
        training=torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL,
        export_params=True,
        opset_version=OPSET,
        do_constant_folding=True,
        input_names=["input"],
        output_names=[output_name],
        dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, output_name: {0: "N", 2: "H", 3: "W"}},
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    torch.onnx.export(model, (example,), path, **kwargs)


def fmt_attr(a):
    import onnx
    from onnx import helper, numpy_helper

    v = helper.get_attribute_value(a)
    if a.type == onnx.AttributeProto.TENSOR:
        arr = numpy_helper.to_array(v)
        return f"{a.name}=tensor(dtype={arr.dtype}, shape={list(arr.shape)}, values={arr.flatten().tolist()[:16]})"
    if isinstance(v, bytes):
        v = v.decode()
    elif isinstance(v, list):
        v = [x.decode() if isinstance(x, bytes) else x for x in v]
    return f"{a.name}={v!r}"


def listing(path):
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(path)
    g = m.graph
    out = [f"# {os.path.basename(path)}: ONNX op listing (written by bench/onnx/export_torch_unet.py)",
           f"ir_version={m.ir_version} producer={m.producer_name} {m.producer_version} "
           f"opset_import={[(o.domain or 'ai.onnx', o.version) for o in m.opset_import]}"]

    def vi(v):
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        return f"{v.name}: {onnx.TensorProto.DataType.Name(t.elem_type)} {dims}"

    out += ["", "## graph inputs"] + [vi(v) for v in g.input]
    out += ["", "## graph outputs"] + [vi(v) for v in g.output]
    counts = {}
    for n in g.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    out += ["", "## op_type counts"] + [f"{k}: {v}" for k, v in sorted(counts.items())]
    out += ["", "## initializers (name dtype shape [values if <= 8 elements])"]
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        extra = f" values={arr.flatten().tolist()}" if arr.size <= 8 else ""
        out.append(f"{t.name}: {arr.dtype} {list(arr.shape)}{extra}")
    out += ["", "## nodes (op_type, inputs -> outputs, attributes)"]
    for i, n in enumerate(g.node):
        attrs = ", ".join(fmt_attr(a) for a in n.attribute)
        ins = ", ".join(repr(x) for x in n.input)  # '' = omitted optional input
        out.append(f"{i:3d} {n.op_type}({ins}) -> {', '.join(n.output)}" + (f"  [{attrs}]" if attrs else ""))
    out += ["", "## onnx.helper.printable_graph", helper.printable_graph(g)]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--depth", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sigmoid", action="store_true")
    ap.add_argument("--keep-bn", action="store_true", help="keep BatchNormalization nodes (no Conv+BN folding)")
    ap.add_argument("--test-input", type=int, nargs=2, metavar=("H", "W"))
    ap.add_argument("--test-out", metavar="DIR")
    ap.add_argument("--listing", metavar="FILE")
    a = ap.parse_args()
    if (a.test_input is None) != (a.test_out is None):
        ap.error("--test-input and --test-out go together")
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))

    output_name = "probability" if a.sigmoid else "logits"
    model = build(a.width, a.depth, a.seed, a.sigmoid)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    export(model, a.out, output_name, a.keep_bn)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) torch={torch.__version__} "
          f"width={a.width} depth={a.depth} seed={a.seed} opset={OPSET} output={output_name}")

    if a.test_input:
        h, w = a.test_input
        stem = os.path.splitext(os.path.basename(a.out))[0]
        os.makedirs(a.test_out, exist_ok=True)
        x = np.random.default_rng(a.seed).standard_normal((1, 1, h, w)).astype(np.float32)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy().astype(np.float32)
        xin = os.path.join(a.test_out, f"{stem}_input.npy")
        yout = os.path.join(a.test_out, f"{stem}_{output_name}.npy")
        np.save(xin, x)
        np.save(yout, y)
        print(f"wrote {xin} {list(x.shape)} and {yout} {list(y.shape)}")
        try:
            import onnxruntime as ort
        except ImportError:
            print("onnxruntime not installed: ORT check skipped")
        else:
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            sess = ort.InferenceSession(a.out, so, providers=["CPUExecutionProvider"])
            (got,) = sess.run(None, {"input": x})
            diff = float(np.abs(got - y).max())
            print(f"onnxruntime {ort.__version__} vs torch: max_abs_diff={diff:.3e}")
            if diff > 1e-4:
                raise SystemExit("ORT output differs from torch by more than 1e-4")

    text = listing(a.out)
    print(text, end="")
    if a.listing:
        with open(a.listing, "w") as f:
            f.write(text)
        print(f"wrote {a.listing}")


if __name__ == "__main__":
    main()
