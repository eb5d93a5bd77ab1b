//! 3×3 (padding 1) and 1×1 convolutions, stride 1, on NHWC activations: im2col of a band of
//! image rows into a buffer that stays in cache, then one GEMM per band; bands run in parallel.
//! Several inputs are read as one channel-concatenated input (the U-Net's skip concatenation
//! costs nothing: im2col copies anyway).

use rayon::prelude::*;

use crate::tensor::Act;

/// Floats of im2col buffer a band aims at (1 MiB: the per-core L2 of current x86 CPUs).
const COL_BUDGET: usize = 1 << 18;
/// Fewer output pixels per GEMM than this and packing the weights dominates.
const MIN_BAND_PIXELS: usize = 512;

/// A convolution with bias. Weights are stored `[k·k][cin][cout]` (tap-major, output channel
/// fastest), the GEMM's right-hand side as is.
#[derive(Clone, Debug)]
pub struct Conv {
    pub cin: usize,
    pub cout: usize,
    /// Kernel side: 1 or 3.
    pub k: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Conv {
    pub fn new(cin: usize, cout: usize, k: usize, weight: Vec<f32>, bias: Vec<f32>) -> Conv {
        assert!(k == 1 || k == 3, "kernel side 1 or 3");
        assert_eq!(weight.len(), k * k * cin * cout, "conv weight size");
        assert_eq!(bias.len(), cout, "conv bias size");
        Conv {
            cin,
            cout,
            k,
            weight,
            bias,
        }
    }

    /// From PyTorch/burn layout `[cout][cin][k][k]`.
    pub fn from_oihw(cin: usize, cout: usize, k: usize, oihw: &[f32], bias: Vec<f32>) -> Conv {
        let mut weight = vec![0.0; oihw.len()];
        for o in 0..cout {
            for i in 0..cin {
                for t in 0..k * k {
                    weight[(t * cin + i) * cout + o] = oihw[(o * cin + i) * k * k + t];
                }
            }
        }
        Conv::new(cin, cout, k, weight, bias)
    }

    /// To PyTorch/burn layout `[cout][cin][k][k]` (of `values`, weights or their gradient).
    pub fn to_oihw(&self, values: &[f32]) -> Vec<f32> {
        let (cin, cout, kk) = (self.cin, self.cout, self.k * self.k);
        let mut oihw = vec![0.0; values.len()];
        for o in 0..cout {
            for i in 0..cin {
                for t in 0..kk {
                    oihw[(o * cin + i) * kk + t] = values[(t * cin + i) * cout + o];
                }
            }
        }
        oihw
    }

    /// Rows of one GEMM's left-hand side: `k·k·cin`.
    fn patch_len(&self) -> usize {
        self.k * self.k * self.cin
    }

    /// `conv(concat(inputs))` plus bias; `post` then runs on each band of the output while it
    /// is in cache (pixel-major slices of `cout` channels).
    pub fn forward(&self, inputs: &[&Act], post: Option<&(dyn Fn(&mut [f32]) + Sync)>) -> Act {
        self.apply(&self.weight, Some(&self.bias), self.cout, inputs, post)
    }

    /// `conv(inputs)` with `weight` (`[k·k][Σ input channels][cout]`), optional bias.
    fn apply(
        &self,
        weight: &[f32],
        bias: Option<&[f32]>,
        cout: usize,
        inputs: &[&Act],
        post: Option<&(dyn Fn(&mut [f32]) + Sync)>,
    ) -> Act {
        let first = inputs[0];
        let cin: usize = inputs.iter().map(|a| a.c).sum();
        assert!(inputs.iter().all(|a| a.same_grid(first)), "inputs on one grid");
        assert_eq!(weight.len(), self.k * self.k * cin * cout, "weight for inputs");
        let patch = self.k * self.k * cin;
        let (h, w) = (first.h, first.w);
        let mut out = Act::zeros(first.n, h, w, cout);
        if out.data.is_empty() {
            return out;
        }
        let band_rows = band_rows(first.rows(), w, patch);
        let direct = self.k == 1 && inputs.len() == 1;
        out.data
            .par_chunks_mut(band_rows * w * cout)
            .enumerate()
            .for_each_init(Vec::new, |col, (band, out_band)| {
                let r0 = band * band_rows;
                let m = out_band.len() / cout;
                let lhs: &[f32] = if direct {
                    &first.data[r0 * w * cin..][..m * cin]
                } else {
                    col.resize(m * patch, 0.0);
                    im2col(inputs, self.k, r0, m / w, col);
                    col
                };
                if let Some(bias) = bias {
                    for px in out_band.chunks_exact_mut(cout) {
                        px.copy_from_slice(bias);
                    }
                }
                // SAFETY: the slices have exactly the sizes the strides describe.
                unsafe {
                    gemm_row_major(
                        m,
                        cout,
                        patch,
                        out_band.as_mut_ptr(),
                        bias.is_some(),
                        lhs.as_ptr(),
                        (patch as isize, 1),
                        weight.as_ptr(),
                        (cout as isize, 1),
                    );
                }
                if let Some(post) = post {
                    post(out_band);
                }
            });
        out
    }

    /// Gradient with respect to the inputs (one per input, with its channels): the convolution
    /// of `dy` with the flipped, transposed kernel.
    pub fn backward_data(&self, dy: &Act, input_channels: &[usize]) -> Vec<Act> {
        let cin: usize = input_channels.iter().sum();
        assert_eq!(cin, self.cin, "input channels");
        let kk = self.k * self.k;
        let mut flipped = vec![0.0; self.weight.len()];
        for t in 0..kk {
            for i in 0..cin {
                for o in 0..self.cout {
                    flipped[((kk - 1 - t) * self.cout + o) * cin + i] =
                        self.weight[(t * cin + i) * self.cout + o];
                }
            }
        }
        let transposed = Conv {
            cin: self.cout,
            cout: cin,
            k: self.k,
            weight: Vec::new(),
            bias: Vec::new(),
        };
        let dx = transposed.apply(&flipped, None, cin, &[dy], None);
        split_channels(dx, input_channels)
    }

    /// The weight and bias gradients (layouts as the parameters) for output gradient `dy` of
    /// `conv(inputs)`.
    pub fn backward_weight(&self, inputs: &[&Act], dy: &Act) -> (Vec<f32>, Vec<f32>) {
        let first = inputs[0];
        assert!(first.same_grid(dy), "dy on the output grid");
        let (patch, cout, w) = (self.patch_len(), self.cout, first.w);
        if dy.data.is_empty() {
            return (vec![0.0; patch * cout], vec![0.0; cout]);
        }
        let band_rows = band_rows(first.rows(), w, patch);
        let bands = first.rows().div_ceil(band_rows);
        let direct = self.k == 1 && inputs.len() == 1;
        let k = self.k;
        (0..bands)
            .into_par_iter()
            .fold(
                || (vec![0f32; patch * cout], vec![0f32; cout], Vec::new()),
                |(mut dw, mut db, mut col), band| {
                    let r0 = band * band_rows;
                    let rows = band_rows.min(first.rows() - r0);
                    let m = rows * w;
                    let dy_band = &dy.data[r0 * w * cout..][..m * cout];
                    let lhs: &[f32] = if direct {
                        &first.data[r0 * w * patch..][..m * patch]
                    } else {
                        col.resize(m * patch, 0.0);
                        im2col(inputs, k, r0, rows, &mut col);
                        &col
                    };
                    // dW[patch × cout] += colᵀ · dy
                    // SAFETY: the slices have exactly the sizes the strides describe.
                    unsafe {
                        gemm_row_major(
                            patch,
                            cout,
                            m,
                            dw.as_mut_ptr(),
                            true,
                            lhs.as_ptr(),
                            (1, patch as isize),
                            dy_band.as_ptr(),
                            (cout as isize, 1),
                        );
                    }
                    for px in dy_band.chunks_exact(cout) {
                        for (b, &g) in db.iter_mut().zip(px) {
                            *b += g;
                        }
                    }
                    (dw, db, col)
                },
            )
            .map(|(dw, db, _)| (dw, db))
            .reduce(
                || (vec![0f32; patch * cout], vec![0f32; cout]),
                |(mut a, mut b), (c, d)| {
                    add_into(&mut a, &c);
                    add_into(&mut b, &d);
                    (a, b)
                },
            )
    }
}

pub(crate) fn add_into(acc: &mut [f32], x: &[f32]) {
    for (a, &b) in acc.iter_mut().zip(x) {
        *a += b;
    }
}

/// Rows per band: enough pixels for an efficient GEMM, an im2col buffer near the cache budget,
/// and at least one band per thread where there are rows for it.
fn band_rows(rows: usize, w: usize, patch: usize) -> usize {
    let pixels = (COL_BUDGET / patch).max(MIN_BAND_PIXELS);
    let by_cache = pixels.div_ceil(w).max(1);
    let by_threads = rows.div_ceil(rayon::current_num_threads()).max(1);
    by_cache.min(by_threads)
}

/// Splits channel-concatenated activations into groups of `channels`.
fn split_channels(x: Act, channels: &[usize]) -> Vec<Act> {
    if channels.len() == 1 {
        return vec![x];
    }
    let mut outs: Vec<Act> = channels
        .iter()
        .map(|&c| Act::zeros(x.n, x.h, x.w, c))
        .collect();
    for (p, px) in x.data.chunks_exact(x.c).enumerate() {
        let mut offset = 0;
        for out in outs.iter_mut() {
            let c = out.c;
            out.data[p * c..][..c].copy_from_slice(&px[offset..offset + c]);
            offset += c;
        }
    }
    outs
}

/// Patches of rows `r0 .. r0 + rows` (counted over the whole batch) of the channel
/// concatenation of `inputs`: one row of `k·k·Σc` per output pixel, zeros outside the image.
fn im2col(inputs: &[&Act], k: usize, r0: usize, rows: usize, col: &mut [f32]) {
    let first = inputs[0];
    let (h, w) = (first.h, first.w);
    let cin: usize = inputs.iter().map(|a| a.c).sum();
    let patch = k * k * cin;
    let pad = (k / 2) as isize;
    for r in r0..r0 + rows {
        let (img, y) = (r / h, r % h);
        for x in 0..w {
            let dst = &mut col[((r - r0) * w + x) * patch..][..patch];
            for ty in 0..k {
                let iy = y as isize + ty as isize - pad;
                let taps = &mut dst[ty * k * cin..][..k * cin];
                if iy < 0 || iy >= h as isize {
                    taps.fill(0.0);
                    continue;
                }
                let row_start = (img * h + iy as usize) * w;
                let x0 = x as isize - pad;
                if inputs.len() == 1 && x0 >= 0 && x0 + k as isize <= w as isize {
                    // One input, whole row of the patch inside: one contiguous run.
                    taps.copy_from_slice(&first.data[(row_start + x0 as usize) * cin..][..k * cin]);
                    continue;
                }
                for tx in 0..k {
                    let ix = x0 + tx as isize;
                    let tap = &mut taps[tx * cin..][..cin];
                    if ix < 0 || ix >= w as isize {
                        tap.fill(0.0);
                        continue;
                    }
                    let mut offset = 0;
                    for input in inputs {
                        let c = input.c;
                        let pixel = (row_start + ix as usize) * c;
                        tap[offset..offset + c].copy_from_slice(&input.data[pixel..pixel + c]);
                        offset += c;
                    }
                }
            }
        }
    }
}

/// `dst[m × n] (+)= lhs[m × k] · rhs[k × n]`, dst row-major; strides are (row, column).
///
/// # Safety
/// The pointers must cover the matrices their sizes and strides describe.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_row_major(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    accumulate: bool,
    lhs: *const f32,
    (lhs_rs, lhs_cs): (isize, isize),
    rhs: *const f32,
    (rhs_rs, rhs_cs): (isize, isize),
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        n as isize,
        accumulate,
        lhs,
        lhs_cs,
        lhs_rs,
        rhs,
        rhs_cs,
        rhs_rs,
        1.0,
        1.0,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}
