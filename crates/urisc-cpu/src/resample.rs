//! 2×2 max-pooling (stride 2) and nearest-neighbour ×2 upsampling, forward and backward.

use rayon::prelude::*;

use crate::kernels::Kernels;
use crate::tensor::{copy_channels_uninit, Act};
use crate::wide::wide;

/// Max-pools 2×2 windows (odd last rows/columns dropped, as burn and PyTorch); also returns
/// which of the four pixels won (0..4, row-major), for the backward pass. On
/// [`Kernels::default`].
pub fn max_pool2(x: &Act) -> (Act, Vec<u8>) {
    max_pool2_with(Kernels::default(), x)
}

/// [`max_pool2`] on `kernels`.
pub fn max_pool2_with(kernels: Kernels, x: &Act) -> (Act, Vec<u8>) {
    let (oh, ow, c) = (x.h / 2, x.w / 2, x.c);
    let mut out = Act::zeros(x.n, oh, ow, c);
    let mut arg = vec![0u8; out.data.len()];
    if out.data.is_empty() {
        return (out, arg);
    }
    out.data
        .par_chunks_mut(ow * c)
        .zip(arg.par_chunks_mut(ow * c))
        .enumerate()
        .for_each(|(r, (out_row, arg_row))| {
            wide(
                kernels,
                #[inline(always)]
                || {
                    let (img, oy) = (r / oh, r % oh);
                    let top = &x.data[((img * x.h + 2 * oy) * x.w) * c..][..x.w * c];
                    let bottom = &x.data[((img * x.h + 2 * oy + 1) * x.w) * c..][..x.w * c];
                    for ox in 0..ow {
                        let candidates = [
                            &top[2 * ox * c..][..c],
                            &top[(2 * ox + 1) * c..][..c],
                            &bottom[2 * ox * c..][..c],
                            &bottom[(2 * ox + 1) * c..][..c],
                        ];
                        for ch in 0..c {
                            let mut best = candidates[0][ch];
                            let mut which = 0u8;
                            for (i, cand) in candidates.iter().enumerate().skip(1) {
                                // Strictly greater: ties and NaN keep the first, as the reference.
                                if cand[ch] > best {
                                    best = cand[ch];
                                    which = i as u8;
                                }
                            }
                            out_row[ox * c + ch] = best;
                            arg_row[ox * c + ch] = which;
                        }
                    }
                },
            )
        });
    (out, arg)
}

/// Routes each pooled gradient to the pixel that won; `h`, `w`: the input's size. On
/// [`Kernels::default`].
pub fn max_pool2_backward(dy: &Act, arg: &[u8], h: usize, w: usize) -> Act {
    max_pool2_backward_with(Kernels::default(), dy, arg, h, w)
}

/// [`max_pool2_backward`] on `kernels`.
pub fn max_pool2_backward_with(kernels: Kernels, dy: &Act, arg: &[u8], h: usize, w: usize) -> Act {
    let c = dy.c;
    let mut dx = Act::zeros(dy.n, h, w, c);
    if dy.data.is_empty() {
        return dx;
    }
    // Two input rows per output row; rows beyond 2·oh (odd h) stay zero.
    let (oh, ow) = (dy.h, dy.w);
    dx.data
        .par_chunks_mut(h * w * c)
        .enumerate()
        .for_each(|(img, dx_img)| {
            wide(
                kernels,
                #[inline(always)]
                || {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            for ch in 0..c {
                                let i = ((img * oh + oy) * ow + ox) * c + ch;
                                let a = arg[i] as usize;
                                let (y, x) = (2 * oy + a / 2, 2 * ox + a % 2);
                                dx_img[(y * w + x) * c + ch] = dy.data[i];
                            }
                        }
                    }
                },
            )
        });
    dx
}

/// Nearest-neighbour upsampling by 2 in both directions.
pub fn upsample2(x: &Act) -> Act {
    let (w, c) = (x.w, x.c);
    if x.data.is_empty() {
        return Act::zeros(x.n, 2 * x.h, 2 * w, c);
    }
    let fill = |data: &mut [std::mem::MaybeUninit<f32>]| {
        data.par_chunks_mut(2 * w * c)
            .enumerate()
            .for_each(|(r, out_row)| {
                let src = &x.data[(r / 2) * w * c..][..w * c];
                for (ox, px) in out_row.chunks_exact_mut(c).enumerate() {
                    copy_channels_uninit(px, &src[(ox / 2) * c..][..c]);
                }
            })
    };
    // SAFETY: every output row is written whole: each of its pixels from its source pixel.
    unsafe { Act::filled_by((x.n, 2 * x.h, 2 * w, c), fill) }
}

/// Backward of [`upsample2`]: each input pixel collects its four copies' gradients. On
/// [`Kernels::default`].
pub fn upsample2_backward(dy: &Act) -> Act {
    upsample2_backward_with(Kernels::default(), dy)
}

/// [`upsample2_backward`] on `kernels`.
pub fn upsample2_backward_with(kernels: Kernels, dy: &Act) -> Act {
    let (h, w, c) = (dy.h / 2, dy.w / 2, dy.c);
    let mut dx = Act::zeros(dy.n, h, w, c);
    if dx.data.is_empty() {
        return dx;
    }
    dx.data
        .par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(r, dx_row)| {
            wide(
                kernels,
                #[inline(always)]
                || {
                    let (img, y) = (r / h, r % h);
                    for dy_row in 0..2 {
                        let src =
                            &dy.data[((img * dy.h + 2 * y + dy_row) * dy.w) * c..][..dy.w * c];
                        for (x, px) in dx_row.chunks_exact_mut(c).enumerate() {
                            for half in 0..2 {
                                for (d, &g) in px.iter_mut().zip(&src[(2 * x + half) * c..][..c]) {
                                    *d += g;
                                }
                            }
                        }
                    }
                },
            )
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::pseudo_random;

    /// Every output pixel is its source pixel, for channel counts below, at and past a block
    /// of 8 (the copies go in blocks of 8 plus a remainder) and for a batch.
    #[test]
    fn upsample2_copies_each_pixel_to_its_four() {
        for c in [1, 3, 8, 13, 16] {
            let (n, h, w) = (2, 3, 5);
            let x = Act::from_vec(n, h, w, c, pseudo_random(n * h * w * c, c as u64));
            let y = upsample2(&x);
            assert_eq!((y.n, y.h, y.w, y.c), (n, 2 * h, 2 * w, c));
            for b in 0..n {
                for oy in 0..2 * h {
                    for ox in 0..2 * w {
                        for ch in 0..c {
                            let got = y.data[((b * 2 * h + oy) * 2 * w + ox) * c + ch];
                            let want = x.data[((b * h + oy / 2) * w + ox / 2) * c + ch];
                            assert_eq!(got, want, "c {c}, image {b}, pixel ({oy}, {ox}), ch {ch}");
                        }
                    }
                }
            }
        }
    }
}
