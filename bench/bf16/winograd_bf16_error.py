"""How much BF16 operands would cost in accuracy (issue 17, item 3), per 3×3 convolution layer.

AVX512-BF16 (`vdpbf16ps`) and AMX multiply bf16 pairs and accumulate in fp32: twice the fp32 FMA
rate. urisc's 3×3 convolutions multiply in the Winograd domain, so the bf16 operands would be the
transformed inputs V = Bᵀ d B and weights U = G g Gᵀ, rounded to 8 significant bits *before* the
output transform, whose coefficients (up to 8 per side in F(4×4)) amplify their rounding. This
measures the error of each scheme against a float64 direct convolution, on ReLU'd activations and
He-initialised weights like a trained U-Net's, at the channel counts of the default model and wider:

  fp32 direct, fp32 F(2×2), fp32 F(4×4)      (what urisc runs now)
  bf16 direct                                 (oneDNN/AMX-style: inputs and weights rounded)
  bf16 F(2×2), bf16 F(4×4)                    (V and U rounded, fp32 accumulation)

Usage: bench/onnx/.venv/bin/python bench/bf16/winograd_bf16_error.py   (numpy only; a few seconds)
"""
import numpy as np

# Lavin & Gray's matrices.
BT2 = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float)
G2 = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], float)
AT2 = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float)
BT4 = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    float,
)
G4 = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    float,
)
AT4 = np.array(
    [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], float
)


def bf16(x):
    """Round float32 values to bfloat16 (nearest even), returned as float32."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000
    return b.astype(np.uint32).view(np.float32)


def direct(x, w, dtype):
    """3×3 'same' convolution; x [cin, h, w], w [cout, cin, 3, 3]."""
    cin, h, wd = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1))).astype(dtype)
    out = np.zeros((w.shape[0], h, wd), dtype)
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("oc,chw->ohw", w[:, :, dy, dx].astype(dtype), p[:, dy : dy + h, dx : dx + wd])
    return out


def winograd(x, w, m, round_operands):
    """F(m×m, 3×3) in float32, V and U optionally rounded to bf16, products summed in float32."""
    bt, g, at = (BT2, G2, AT2) if m == 2 else (BT4, G4, AT4)
    a = m + 2
    cin, h, wd = x.shape
    th, tw = -(-h // m), -(-wd // m)
    p = np.zeros((cin, th * m + 2, tw * m + 2), np.float32)
    p[:, 1 : h + 1, 1 : wd + 1] = x
    f32 = lambda t: t.astype(np.float32)
    u = np.einsum("ij,ocjk,lk->ilc o".replace(" ", ""), f32(g), f32(w), f32(g))  # [a, a, cin, cout]
    tiles = np.stack(
        [p[:, ty * m : ty * m + a, tx * m : tx * m + a] for ty in range(th) for tx in range(tw)]
    )  # [t, cin, a, a]
    v = np.einsum("ij,tcjk,lk->iltc", f32(bt), tiles, f32(bt))  # [a, a, t, cin]
    if round_operands:
        u, v = bf16(u), bf16(v)
    mm = np.einsum("iltc,ilco->iltoc", v, u).sum(-1, dtype=np.float32)  # [a, a, t, cout]
    y = np.einsum("ij,jktc,lk->tcil", f32(at), mm, f32(at))  # [t, cout, m, m]
    out = y.reshape(th, tw, -1, m, m).transpose(2, 0, 3, 1, 4).reshape(-1, th * m, tw * m)
    return out[:, :h, :wd]


def main():
    rng = np.random.default_rng(17)
    print(f"{'cin→cout':>10} {'scheme':>14} {'max err / max |y|':>18} {'rms err / rms y':>16}")
    for cin, cout in [(8, 8), (16, 16), (64, 64), (256, 256)]:
        size = 24
        x = np.maximum(rng.standard_normal((cin, size, size)), 0).astype(np.float32)
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2 / (9 * cin))).astype(np.float32)
        ref = direct(x.astype(np.float64), w.astype(np.float64), np.float64)
        schemes = {
            "fp32 direct": direct(x, w, np.float32),
            "fp32 F(2x2)": winograd(x, w, 2, False),
            "fp32 F(4x4)": winograd(x, w, 4, False),
            "bf16 direct": direct(bf16(x), bf16(w), np.float32),
            "bf16 F(2x2)": winograd(x, w, 2, True),
            "bf16 F(4x4)": winograd(x, w, 4, True),
        }
        for name, y in schemes.items():
            err = y.astype(np.float64) - ref
            print(
                f"{cin:>4}→{cout:<5} {name:>14} {np.abs(err).max() / np.abs(ref).max():>18.2e} "
                f"{np.sqrt((err**2).mean() / (ref**2).mean()):>16.2e}"
            )


if __name__ == "__main__":
    main()
