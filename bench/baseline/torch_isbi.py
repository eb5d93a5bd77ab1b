"""The PyTorch baseline of issue 16: the authors' U-Net recipe trained on ISBI 2012 slices 00–15
for a wall-clock budget, evaluated on slices 16–19 (the split of urisc's shipped models).

Recipe (the U-RISC authors' U-Net, as the issue states it): the U-Net of bench/frameworks
(torch_unet.py; width WIDTH, depth 5, batch norm), BCE on logits, Adam (β₁ 0.5, β₂ 0.999), cosine
learning rate over the budget from LR to 1e-5, random 256² crops, batch 4, dihedral augmentation
(the 8 flips/rotations), input normalised by the training slices' mean and standard deviation.

Writes, under OUT: probability maps (8-bit PNG, membrane black, 255·(1 − p)) without and with 8×
dihedral test-time augmentation, binary maps at the threshold that maximises pixel F1 on slices
16–19 (the same choice urisc's trainer makes for `val_threshold`), and summary.json.
Score the binary maps with `urisc eval` (bench/baseline/run.sh does).

Usage: python torch_isbi.py DATA OUT [--minutes 10 | --steps N] [--width 16] [--lr 1e-3] [--seed 1]
--steps trains a fixed number of steps (cosine over steps) instead of a wall-clock budget: more seeds of
a timed run, at its step count, on a machine that is busy with something else.
Threads: $TORCH_THREADS (default 2).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "frameworks"))
import torch_unet  # noqa: E402  (the same network as the speed benchmark)

TRAIN = [f"{i:02d}" for i in range(16)]
VALIDATION = ["16", "17", "18", "19"]
CROP, BATCH = 256, 4


def load(data, names):
    images = np.stack([np.asarray(Image.open(f"{data}/images/{n}.png").convert("L")) for n in names])
    labels = np.stack([np.asarray(Image.open(f"{data}/labels/{n}.png").convert("L")) for n in names])
    # Membrane = label ≤ 122 (urisc eval's binarized protocol), the positive class.
    return images.astype(np.float32) / 255.0, (labels <= 122).astype(np.float32)


def dihedral(x, k):
    """The k-th of the 8 symmetries of the square on the last two axes."""
    if k >= 4:
        x = torch.flip(x, dims=[-1])
    return torch.rot90(x, k % 4, dims=[-2, -1])


def undo_dihedral(x, k):
    x = torch.rot90(x, -(k % 4), dims=[-2, -1])
    if k >= 4:
        x = torch.flip(x, dims=[-1])
    return x


def pixel_f1(p, membrane, threshold):
    pred = p >= threshold
    tp = np.logical_and(pred, membrane).sum()
    fp = np.logical_and(pred, ~membrane).sum()
    fn = np.logical_and(~pred, membrane).sum()
    return 2 * tp / max(2 * tp + fp + fn, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    images, targets = load(args.data, TRAIN)
    mean, std = float(images.mean()), float(images.std())
    val_images, val_targets = load(args.data, VALIDATION)

    net = torch_unet.UNet(args.width)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.5, 0.999))
    budget = args.minutes * 60.0
    start = time.perf_counter()
    step, log = 0, []
    net.train()
    while True:
        elapsed = time.perf_counter() - start
        progress = step / args.steps if args.steps else elapsed / budget
        if progress >= 1.0:
            break
        lr = 1e-5 + 0.5 * (args.lr - 1e-5) * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = lr
        xs, ys = [], []
        for _ in range(BATCH):
            i = rng.integers(len(images))
            r, c = rng.integers(0, 512 - CROP + 1, size=2)
            k = int(rng.integers(8))
            x = torch.from_numpy((images[i, r:r + CROP, c:c + CROP] - mean) / std)
            y = torch.from_numpy(targets[i, r:r + CROP, c:c + CROP])
            xs.append(dihedral(x, k))
            ys.append(dihedral(y, k))
        x = torch.stack(xs)[:, None]
        y = torch.stack(ys)[:, None]
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log.append({"step": step, "seconds": time.perf_counter() - start, "lr": lr, "loss": loss.item()})
            print(f"step {step} {time.perf_counter() - start:.0f} s loss {loss.item():.4f} lr {lr:.2e}", file=sys.stderr)
    train_seconds = time.perf_counter() - start

    net.eval()
    summary = {"width": args.width, "minutes": None if args.steps else args.minutes, "step_budget": args.steps,
               "lr": args.lr, "seed": args.seed, "steps": step,
               "train_seconds": train_seconds, "mean": mean, "std": std, "threads": torch.get_num_threads(),
               "torch": torch.__version__, "log": log}
    with torch.inference_mode():
        x = torch.from_numpy((val_images - mean) / std)[:, None]
        plain = torch.sigmoid(net(x))[:, 0].numpy()
        tta = sum(undo_dihedral(torch.sigmoid(net(dihedral(x, k))), k) for k in range(8))[:, 0].numpy() / 8
    membrane = val_targets > 0.5
    for name, maps in [("tta1", plain), ("tta8", tta)]:
        thresholds = np.round(np.arange(0.05, 0.951, 0.01), 2)
        scores = [pixel_f1(maps, membrane, t) for t in thresholds]
        best = float(thresholds[int(np.argmax(scores))])
        summary[name] = {"threshold": best, "pixel_f1": float(max(scores))}
        for kind in ["probability", "binary"]:
            os.makedirs(f"{args.out}/{name}/{kind}", exist_ok=True)
        for n, p in zip(VALIDATION, maps):
            Image.fromarray(np.round(255 * (1 - p)).astype(np.uint8)).save(f"{args.out}/{name}/probability/{n}.png")
            Image.fromarray(np.where(p >= best, 0, 255).astype(np.uint8)).save(f"{args.out}/{name}/binary/{n}.png")
    torch.save(net.state_dict(), f"{args.out}/unet.pt")
    with open(f"{args.out}/summary.json", "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}))


if __name__ == "__main__":
    main()
