"""PyTorch peer benchmark of the U-Net in src/main.rs (see docs/decisions/0001-deep-learning-framework.md).

Not a dependency of urisc: a yardstick for the Rust frameworks. Same network, same modes:
  train      batch 4x1x256², train-mode BN, BCE with logits vs random 0/1 target, backward, Adam step
  forward    batch 1x1x512², inference (torch.inference_mode, BN eval)
  input-grad gradient of one output logit w.r.t. the input
  ort-forward the forward mode's network exported to ONNX and run by ONNX Runtime (CPU provider)
Usage: python torch_unet.py MODE WIDTH [WARMUP STEPS]   (threads: $TORCH_THREADS, default 2)
"""
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DEPTH = 5


def cbr(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def double(cin, cout):
    return nn.Sequential(cbr(cin, cout), cbr(cout, cout))


class UNet(nn.Module):
    def __init__(self, w):
        super().__init__()
        widths = [w << i for i in range(DEPTH)]
        self.down = nn.ModuleList(double(1 if i == 0 else widths[i - 1], widths[i]) for i in range(DEPTH))
        self.reduce = nn.ModuleList(cbr(widths[i + 1], widths[i]) for i in reversed(range(DEPTH - 1)))
        self.up = nn.ModuleList(double(2 * widths[i], widths[i]) for i in reversed(range(DEPTH - 1)))
        self.head = nn.Conv2d(w, 1, 1)

    def forward(self, x):
        skips = []
        for i, level in enumerate(self.down):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = level(x)
            skips.append(x)
        skips.pop()
        for reduce, up in zip(self.reduce, self.up):
            x = reduce(F.interpolate(x, scale_factor=2, mode="nearest"))
            x = up(torch.cat([x, skips.pop()], 1))
        return self.head(x)


def time_steps(warmup, steps, f):
    for i in range(warmup):
        t = time.perf_counter()
        f()
        print(f"  warm-up {i}: {time.perf_counter() - t:.3f} s", file=sys.stderr)
    times = []
    for i in range(steps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
        print(f"  step {i}: {times[-1]:.3f} s", file=sys.stderr)
    return times


def main():
    mode, width = sys.argv[1], int(sys.argv[2])
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    torch.manual_seed(0)
    model = UNet(width)
    params = sum(p.numel() for p in model.parameters())

    if mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999), eps=1e-8)
        loss_fn = nn.BCEWithLogitsLoss()
        x = torch.randn(4, 1, 256, 256)
        target = (torch.rand(4, 1, 256, 256) >= 0.5).float()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), target)
            loss.backward()
            opt.step()

        times = time_steps(warmup, steps, step)
    elif mode == "forward":
        model.eval()
        x = torch.randn(1, 1, 512, 512)

        def fwd():
            with torch.inference_mode():
                model(x)

        times = time_steps(warmup, steps, fwd)
    elif mode == "ort-forward":
        # The same network exported (opset 17, BN folded) and run by ONNX Runtime's CPU provider,
        # what a user deploying the model would pick.
        import io

        import onnxruntime as ort

        model.eval()
        buf = io.BytesIO()
        kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
        torch.onnx.export(model, torch.randn(1, 1, 512, 512), buf, input_names=["input"],
                          output_names=["logits"], opset_version=17, do_constant_folding=True, **kwargs)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("TORCH_THREADS", "2"))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
        x = torch.randn(1, 1, 512, 512).numpy()
        with torch.inference_mode():
            reference = model(torch.from_numpy(x)).numpy()
        diff = float(abs(session.run(None, {"input": x})[0] - reference).max())

        def fwd():
            session.run(None, {"input": x})

        times = time_steps(warmup, steps, fwd)
        print(f"RESULT framework=onnxruntime mode=forward width={width} params={params} "
              f"median_s={statistics.median(times):.4f} min_s={min(times):.4f} steps={len(times)} "
              f"onnxruntime={ort.__version__} threads={options.intra_op_num_threads} max_diff_vs_torch={diff:.2e}")
        return
    elif mode == "input-grad":
        model.eval()
        x = torch.randn(1, 1, 256, 256, requires_grad=True)
        model(x)[0, 0, 128, 128].backward()
        g = x.grad
        print(f"INPUT-GRAD framework=pytorch mode=input-grad width={width} shape={list(g.shape)} "
              f"l2_norm={g.norm().item():.6e} nonzero={int((g != 0).sum())}")
        return
    else:
        raise SystemExit(f"unknown mode {mode}")

    print(f"RESULT framework=pytorch mode={mode} width={width} params={params} "
          f"median_s={statistics.median(times):.4f} min_s={min(times):.4f} steps={len(times)} "
          f"torch={torch.__version__} threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
