//! 3×3 (padding 1) and 1×1 convolutions, stride 1, on NHWC activations: im2col of a band of
//! image rows into a buffer that stays in cache, then one GEMM per band; bands run in parallel.
//! Several inputs are read as one channel-concatenated input (the U-Net's skip concatenation
//! costs nothing: im2col copies anyway).

use rayon::prelude::*;

use crate::sgemm;
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
        assert!(
            inputs.iter().all(|a| a.same_grid(first)),
            "inputs on one grid"
        );
        assert_eq!(
            weight.len(),
            self.k * self.k * cin * cout,
            "weight for inputs"
        );
        let patch = self.k * self.k * cin;
        let (h, w) = (first.h, first.w);
        let mut out = Act::zeros(first.n, h, w, cout);
        if out.data.is_empty() {
            return out;
        }
        let band_rows = band_rows(first.rows(), w, patch);
        let native = sgemm::native();
        let zeros = vec![0f32; inputs.iter().map(|a| a.c).max().unwrap_or(0)];
        out.data
            .par_chunks_mut(band_rows * w * cout)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (band, out_band)| {
                let p0 = band * band_rows * w;
                let m = out_band.len() / cout;
                if let Some(bias) = bias {
                    for px in out_band.chunks_exact_mut(cout) {
                        px.copy_from_slice(bias);
                    }
                }
                if native {
                    implicit_gemm(
                        inputs,
                        self.k,
                        weight,
                        cout,
                        p0,
                        out_band,
                        bias.is_some(),
                        &zeros,
                        scratch,
                    );
                } else {
                    let lhs = if self.k == 1 && inputs.len() == 1 {
                        &first.data[p0 * cin..][..m * cin]
                    } else {
                        scratch.resize(m * patch, 0.0);
                        im2col(inputs, self.k, p0, scratch);
                        &scratch[..]
                    };
                    // SAFETY: the slices have exactly the sizes the strides describe.
                    unsafe {
                        sgemm::portable(
                            (m, cout, patch),
                            lhs.as_ptr(),
                            (patch, 1),
                            weight.as_ptr(),
                            cout,
                            out_band.as_mut_ptr(),
                            cout,
                            bias.is_some(),
                        );
                    }
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
        let k = self.k;
        let native = sgemm::native();
        (0..bands)
            .into_par_iter()
            .fold(
                || (vec![0f32; patch * cout], vec![0f32; cout], Vec::new()),
                |(mut dw, mut db, mut col), band| {
                    let r0 = band * band_rows;
                    let rows = band_rows.min(first.rows() - r0);
                    let m = rows * w;
                    let dy_band = &dy.data[r0 * w * cout..][..m * cout];
                    let direct = k == 1 && inputs.len() == 1;
                    if direct && !native {
                        col.clear();
                        col.extend_from_slice(&first.data[r0 * w * patch..][..m * patch]);
                    } else {
                        // Row pointers of the native kernel read up to MR − 1 values past a row.
                        col.resize(m * patch + sgemm::MR, 0.0);
                        im2col(inputs, k, r0 * w, &mut col[..m * patch]);
                    }
                    // dW[patch × cout] += colᵀ · dy
                    // SAFETY: the slices have exactly the sizes the strides describe.
                    unsafe {
                        if native {
                            weight_gradient_tiles(&col, patch, m, dy_band, cout, &mut dw);
                        } else {
                            sgemm::portable(
                                (patch, cout, m),
                                col.as_ptr(),
                                (1, patch),
                                dy_band.as_ptr(),
                                cout,
                                dw.as_mut_ptr(),
                                cout,
                                true,
                            );
                        }
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

/// Patches of batch pixels `p0 ..` (one row of `k·k·Σc` per pixel, as many as `col` holds)
/// of the channel concatenation of `inputs`, zeros outside the image.
fn im2col(inputs: &[&Act], k: usize, p0: usize, col: &mut [f32]) {
    let patch: usize = k * k * inputs.iter().map(|a| a.c).sum::<usize>();
    for (i, dst) in col.chunks_exact_mut(patch).enumerate() {
        gather_patch(inputs, k, p0 + i, dst);
    }
}

/// Panels grouped per pass over the output channel blocks: their B rows stay in L1/L2.
const PANEL_GROUP: usize = 8;

/// `out (+)= conv(inputs)` for batch pixels `p0 .. p0 + m` on the native kernel: one segment
/// per tap and input, row pointers at each pixel's neighbour (or `zeros` outside the image).
#[allow(clippy::too_many_arguments)]
fn implicit_gemm(
    inputs: &[&Act],
    k: usize,
    weight: &[f32],
    cout: usize,
    p0: usize,
    out: &mut [f32],
    accumulate: bool,
    zeros: &[f32],
    scratch: &mut Vec<f32>,
) {
    let _ = scratch;
    let first = inputs[0];
    let (h, w) = (first.h, first.w);
    let cin: usize = inputs.iter().map(|a| a.c).sum();
    let m = out.len() / cout;
    let pad = (k / 2) as isize;
    let per_panel = k * k * inputs.len();
    let mut segments = Vec::with_capacity(PANEL_GROUP * per_panel);
    let panels = m.div_ceil(sgemm::MR);
    for group in (0..panels).step_by(PANEL_GROUP) {
        let group_end = (group + PANEL_GROUP).min(panels);
        segments.clear();
        for panel in group..group_end {
            let i0 = panel * sgemm::MR;
            let mr = sgemm::MR.min(m - i0);
            let coords: [(usize, isize, isize); sgemm::MR] = std::array::from_fn(|r| {
                let pixel = p0 + i0 + r.min(mr - 1);
                let (row, x) = (pixel / w, pixel % w);
                (row / h, (row % h) as isize, x as isize)
            });
            for ty in 0..k {
                for tx in 0..k {
                    let mut offset = 0;
                    for input in inputs {
                        let rows = std::array::from_fn(|r| {
                            let (img, y, x) = coords[r];
                            let (iy, ix) = (y + ty as isize - pad, x + tx as isize - pad);
                            if r >= mr || iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                zeros.as_ptr()
                            } else {
                                let px = (img * h + iy as usize) * w + ix as usize;
                                input.data[px * input.c..].as_ptr()
                            }
                        });
                        segments.push(sgemm::Segment {
                            rows,
                            row_step: 1,
                            steps: input.c,
                            b: weight[((ty * k + tx) * cin + offset) * cout..].as_ptr(),
                        });
                        offset += input.c;
                    }
                }
            }
        }
        for j0 in (0..cout).step_by(sgemm::NR) {
            let nr = sgemm::NR.min(cout - j0);
            for (g, panel) in (group..group_end).enumerate() {
                let i0 = panel * sgemm::MR;
                let mr = sgemm::MR.min(m - i0);
                let segs = &segments[g * per_panel..][..per_panel];
                // SAFETY: row pointers cover `steps` channels of a pixel or of `zeros`; B rows
                // cover `cout` columns from `j0`; the C tile lies inside `out`.
                unsafe {
                    sgemm::tile(
                        segs,
                        j0,
                        cout,
                        out[i0 * cout + j0..].as_mut_ptr(),
                        cout,
                        mr,
                        nr,
                        accumulate,
                    );
                }
            }
        }
    }
}

/// `dw[patch × cout] += colᵀ · dy` on the native kernel; `col` holds `m` rows of `patch`
/// (plus [`sgemm::MR`] readable padding).
///
/// # Safety
/// `col`, `dy` and `dw` must have the sizes described.
unsafe fn weight_gradient_tiles(
    col: &[f32],
    patch: usize,
    m: usize,
    dy: &[f32],
    cout: usize,
    dw: &mut [f32],
) {
    for i0 in (0..patch).step_by(sgemm::MR) {
        let mr = sgemm::MR.min(patch - i0);
        let segment = sgemm::Segment {
            rows: std::array::from_fn(|r| col.as_ptr().add(i0 + r)),
            row_step: patch,
            steps: m,
            b: dy.as_ptr(),
        };
        for j0 in (0..cout).step_by(sgemm::NR) {
            let nr = sgemm::NR.min(cout - j0);
            sgemm::tile(
                &[segment],
                j0,
                cout,
                dw[i0 * cout + j0..].as_mut_ptr(),
                cout,
                mr,
                nr,
                true,
            );
        }
    }
}

/// The `k×k` patch around batch pixel `pixel` (counted over the whole batch), channels of all
/// inputs concatenated per tap, zeros outside the image.
#[inline]
fn gather_patch(inputs: &[&Act], k: usize, pixel: usize, dst: &mut [f32]) {
    let first = inputs[0];
    let (h, w) = (first.h, first.w);
    let cin = dst.len() / (k * k);
    let pad = (k / 2) as isize;
    let (r, x) = (pixel / w, pixel % w);
    let (img, y) = (r / h, r % h);
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
                let px = (row_start + ix as usize) * c;
                tap[offset..offset + c].copy_from_slice(&input.data[px..px + c]);
                offset += c;
            }
        }
    }
}
