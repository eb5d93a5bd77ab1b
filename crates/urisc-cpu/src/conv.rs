//! 3×3 (padding 1) and 1×1 convolutions, stride 1, on NHWC activations, bands of image rows in
//! parallel. On AVX-512 CPUs the forward pass (and the data gradient, a convolution with the
//! flipped kernel) is an implicit GEMM reading taps in place, and the weight gradient reads a
//! zero-padded copy of the input; elsewhere im2col + the `gemm` crate. Several inputs are read
//! as one channel-concatenated input (the U-Net's skip concatenation costs no copy). On the
//! native paths 3×3 forward passes, data and weight gradients run as Winograd F(4×4, 3×3)
//! (`winograd.rs`) unless [`ConvAlgorithm::Winograd2`] or [`ConvAlgorithm::Direct`] is chosen.
//! Every pass runs on the [`Kernels`] it is given (the `_with` methods) or on
//! [`Kernels::default`].

use rayon::prelude::*;

use crate::kernels::{ConvAlgorithm, Kernels};
use crate::lanes::{vectors, Lanes};
use crate::resample::upsample2;
use crate::sgemm;
use crate::tensor::{add_into, copy_channels, Act, Epilogue};
use crate::wide::wide;
use crate::winograd;

/// The Winograd tile for 3×3 kernels with `algorithm`, or none; `exact_support` for data
/// gradients that must be exactly zero outside the receptive field. The default does not use
/// Winograd on the portable path, whose scalar transforms made it slower there
/// (`bench/speed/results/kernels-20261129.log`).
fn winograd_tile(
    algorithm: ConvAlgorithm,
    native: bool,
    exact_support: bool,
) -> Option<winograd::Tile> {
    match algorithm {
        ConvAlgorithm::Winograd if native && !exact_support => Some(winograd::Tile::F4),
        ConvAlgorithm::Winograd if native => Some(winograd::Tile::F2),
        ConvAlgorithm::Winograd2 => Some(winograd::Tile::F2),
        ConvAlgorithm::Winograd | ConvAlgorithm::Direct => None,
    }
}

/// Floats of im2col buffer a band aims at (1 MiB: the per-core L2 of current x86 CPUs).
const COL_BUDGET: usize = 1 << 18;
/// Fewer output pixels per GEMM than this and packing the weights dominates.
const MIN_BAND_PIXELS: usize = 512;

/// Input channels from which 3×3 weight gradients are taken in the Winograd domain: its GEMM
/// has a row per input channel, and below 8 the direct one was faster (AVX-512 Xeon, 512²,
/// 2 threads, direct vs F(4×4): 1→16 channels 1.8 vs 3.0 ms, 4→16 2.9 vs 3.1 ms, 8→16 7.0 vs
/// 3.0 ms).
const MIN_WINOGRAD_GRADIENT_CHANNELS: usize = 8;

/// A convolution with bias. Weights are stored `[k·k][cin][cout]` (tap-major, output channel
/// fastest), the GEMM's right-hand side as is.
#[derive(Clone, Debug)]
pub struct Conv {
    /// Input channels (of all inputs together, when several are read as one concatenation).
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel side: 1 or 3.
    pub k: usize,
    /// `k·k·cin·cout` weights, `[k·k][cin][cout]` (tap row-major, then input channel, output
    /// channel fastest).
    pub weight: Vec<f32>,
    /// One bias per output channel.
    pub bias: Vec<f32>,
}

impl Conv {
    /// A convolution from weights in this crate's layout `[k·k][cin][cout]` and `cout` biases;
    /// panics unless `k` is 1 or 3 and the sizes match.
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

    /// This convolution followed by `x·scale + shift` per output channel (batch norm on running
    /// statistics), as one convolution: weights and bias scaled, the shift added to the bias.
    pub fn scaled(&self, scale: &[f32], shift: &[f32]) -> Conv {
        assert!(
            scale.len() == self.cout && shift.len() == self.cout,
            "one per output channel"
        );
        let mut weight = self.weight.clone();
        for row in weight.chunks_exact_mut(self.cout) {
            for (w, s) in row.iter_mut().zip(scale) {
                *w *= s;
            }
        }
        let bias = (self.bias.iter().zip(scale).zip(shift))
            .map(|((b, s), t)| b * s + t)
            .collect();
        Conv::new(self.cin, self.cout, self.k, weight, bias)
    }

    /// Rows of one GEMM's left-hand side: `k·k·cin`.
    fn patch_len(&self) -> usize {
        self.k * self.k * self.cin
    }

    /// `conv(concat(inputs))` plus bias; `post` then runs on each band of the output while it
    /// is in cache (pixel-major slices of `cout` channels). On [`Kernels::default`].
    pub fn forward(&self, inputs: &[&Act], post: Option<&Epilogue>) -> Act {
        self.forward_with(Kernels::default(), inputs, post)
    }

    /// [`Conv::forward`] on `kernels`.
    pub fn forward_with(&self, kernels: Kernels, inputs: &[&Act], post: Option<&Epilogue>) -> Act {
        let tile = winograd_tile(kernels.algorithm(), kernels.native(), false);
        let (weight, bias) = (&self.weight, Some(&self.bias[..]));
        self.apply_on((kernels, tile), weight, bias, self.cout, inputs, post)
    }

    /// [`Conv::forward`] of `input` upsampled 2× (nearest), without making that copy where the
    /// convolution runs as Winograd F(4×4, 3×3) (the U-Net decoder's first convolution at each
    /// level; the copy was 4.5 % of a default-model prediction). On [`Kernels::default`].
    pub fn forward_upsampled(&self, input: &Act, post: Option<&Epilogue>) -> Act {
        self.forward_upsampled_with(Kernels::default(), input, post)
    }

    /// [`Conv::forward_upsampled`] on `kernels`.
    pub fn forward_upsampled_with(
        &self,
        kernels: Kernels,
        input: &Act,
        post: Option<&Epilogue>,
    ) -> Act {
        let tile = winograd_tile(kernels.algorithm(), kernels.native(), false);
        if let (3, Some(winograd::Tile::F4), true) = (self.k, tile, input.c > 1) {
            let (cin, cout) = (self.cin, self.cout);
            let u =
                winograd::transform_weights(kernels, winograd::Tile::F4, &self.weight, cin, cout);
            let bias = Some(&self.bias[..]);
            return winograd::forward(
                kernels,
                winograd::Tile::F4,
                &[input],
                true,
                &u,
                bias,
                self.cout,
                post,
            );
        }
        self.forward_with(kernels, &[&upsample2(input)], post)
    }

    /// `conv(inputs)` with `weight` (`[k·k][Σ input channels][cout]`), optional bias, on
    /// `kernels` (the native kernel or the portable GEMM), as Winograd with `tile` for 3×3
    /// kernels where given (whatever `kernels`' algorithm).
    fn apply_on(
        &self,
        (kernels, tile): (Kernels, Option<winograd::Tile>),
        weight: &[f32],
        bias: Option<&[f32]>,
        cout: usize,
        inputs: &[&Act],
        post: Option<&Epilogue>,
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
        let native = kernels.native();
        if let (3, Some(_), 1) = (self.k, tile, cin) {
            return single_channel_3x3(kernels, first, weight, bias, cout, post);
        }
        if let (1, 1, 1, true) = (self.k, cout, inputs.len(), native) {
            return single_output_1x1(kernels, first, weight, bias, post);
        }
        if let (3, Some(tile)) = (self.k, tile) {
            let u = winograd::transform_weights(kernels, tile, weight, cin, cout);
            return winograd::forward(kernels, tile, inputs, false, &u, bias, cout, post);
        }
        let patch = self.k * self.k * cin;
        let (h, w) = (first.h, first.w);
        let mut out = Act::zeros(first.n, h, w, cout);
        if out.data.is_empty() {
            return out;
        }
        let band_rows = band_rows(first.rows(), w, patch);
        let zeros = vec![0f32; inputs.iter().map(|a| a.c).max().unwrap_or(0)];
        out.data
            .par_chunks_mut(band_rows * w * cout)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (band, out_band)| {
                wide(
                    kernels,
                    #[inline(always)]
                    || {
                        let p0 = band * band_rows * w;
                        let m = out_band.len() / cout;
                        if let Some(bias) = bias {
                            for px in out_band.chunks_exact_mut(cout) {
                                copy_channels(px, bias);
                            }
                        }
                        if native {
                            implicit_gemm(
                                kernels,
                                inputs,
                                self.k,
                                weight,
                                cout,
                                p0,
                                out_band,
                                bias.is_some(),
                                &zeros,
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
                    },
                )
            });
        out
    }

    /// Gradient with respect to the inputs (one per input, with its channels): the convolution
    /// of `dy` with the flipped, transposed kernel. With `exact_support` an input pixel's
    /// gradient sums only the outputs whose window holds it, as in exact arithmetic, and is
    /// exactly zero elsewhere: integrated gradients rely on it (receptive fields, backward passes
    /// shared by targets whose fields do not overlap). Without, 3×3 kernels may take Winograd
    /// F(4×4, 3×3), whose transforms also pass rounding-level values (~1e-7 relative) from
    /// outputs up to three pixels away: fine for training. On [`Kernels::default`].
    pub fn backward_data(
        &self,
        dy: &Act,
        input_channels: &[usize],
        exact_support: bool,
    ) -> Vec<Act> {
        self.backward_data_with(Kernels::default(), dy, input_channels, exact_support)
    }

    /// [`Conv::backward_data`] on `kernels`.
    pub fn backward_data_with(
        &self,
        kernels: Kernels,
        dy: &Act,
        input_channels: &[usize],
        exact_support: bool,
    ) -> Vec<Act> {
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
        let tile = winograd_tile(kernels.algorithm(), kernels.native(), exact_support);
        let dx = transposed.apply_on((kernels, tile), &flipped, None, cin, &[dy], None);
        split_channels(dx, input_channels)
    }

    /// The weight and bias gradients (layouts as the parameters) for output gradient `dy` of
    /// `conv(inputs)`. On [`Kernels::default`].
    pub fn backward_weight(&self, inputs: &[&Act], dy: &Act) -> (Vec<f32>, Vec<f32>) {
        self.backward_weight_with(Kernels::default(), inputs, dy)
    }

    /// [`Conv::backward_weight`] on `kernels` (the native kernel or the portable GEMM), 3×3
    /// kernels in the Winograd domain where its algorithm takes it.
    pub fn backward_weight_with(
        &self,
        kernels: Kernels,
        inputs: &[&Act],
        dy: &Act,
    ) -> (Vec<f32>, Vec<f32>) {
        let native = kernels.native();
        let first = inputs[0];
        assert!(first.same_grid(dy), "dy on the output grid");
        let (patch, cout, w, k) = (self.patch_len(), self.cout, first.w, self.k);
        let rows = first.rows();
        if dy.data.is_empty() {
            return (vec![0.0; patch * cout], vec![0.0; cout]);
        }
        if let (3, Some(tile), true) = (
            k,
            winograd_tile(kernels.algorithm(), native, false),
            self.cin >= MIN_WINOGRAD_GRADIENT_CHANNELS,
        ) {
            let dw = winograd::weight_gradient(kernels, tile, inputs, dy);
            return (dw, bias_gradient(kernels, dy));
        }
        let padded = native.then(|| pad_concat(kernels, inputs, k / 2));
        // One partial sum per contiguous run of rows, added in order: the result does not
        // depend on thread scheduling.
        let groups = rayon::current_num_threads().clamp(1, rows);
        let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..groups)
            .into_par_iter()
            .map(|g| {
                wide(
                    kernels,
                    #[inline(always)]
                    || {
                        let (r0, r1) = (g * rows / groups, (g + 1) * rows / groups);
                        let mut dw = vec![0f32; patch * cout];
                        if let Some(padded) = &padded {
                            // SAFETY: `padded` is the padded concatenation of the inputs, `dy`
                            // matches; it exists only where `kernels` is native.
                            unsafe {
                                weight_gradient_padded(
                                    kernels,
                                    padded,
                                    k,
                                    self.cin,
                                    first,
                                    r0..r1,
                                    dy,
                                    &mut dw,
                                )
                            };
                        } else {
                            let band_rows = band_rows(rows, w, patch);
                            let mut col = Vec::new();
                            for b0 in (r0..r1).step_by(band_rows) {
                                let m = band_rows.min(r1 - b0) * w;
                                col.resize(m * patch, 0.0);
                                im2col(inputs, k, b0 * w, &mut col);
                                // SAFETY: the slices have exactly the sizes the strides describe.
                                unsafe {
                                    sgemm::portable(
                                        (patch, cout, m),
                                        col.as_ptr(),
                                        (1, patch),
                                        dy.data[b0 * w * cout..].as_ptr(),
                                        cout,
                                        dw.as_mut_ptr(),
                                        cout,
                                        true,
                                    );
                                }
                            }
                        }
                        let db = channel_sums(&dy.data[r0 * w * cout..r1 * w * cout], cout);
                        (dw, db)
                    },
                )
            })
            .collect();
        let mut total = (vec![0f32; patch * cout], vec![0f32; cout]);
        for (dw, db) in &partials {
            add_into(&mut total.0, dw);
            add_into(&mut total.1, db);
        }
        total
    }
}

/// The bias gradient for output gradient `dy`: its sum over pixels, one run of rows per thread,
/// the runs added in order (the result does not depend on scheduling).
fn bias_gradient(kernels: Kernels, dy: &Act) -> Vec<f32> {
    let (rows, w, c) = (dy.rows(), dy.w, dy.c);
    let runs = rayon::current_num_threads().clamp(1, rows.max(1));
    let partials: Vec<Vec<f32>> = (0..runs)
        .into_par_iter()
        .map(|g| {
            let (r0, r1) = (g * rows / runs, (g + 1) * rows / runs);
            wide(
                kernels,
                #[inline(always)]
                || channel_sums(&dy.data[r0 * w * c..r1 * w * c], c),
            )
        })
        .collect();
    let mut total = vec![0f32; c];
    for partial in &partials {
        add_into(&mut total, partial);
    }
    total
}

/// The sum of pixel-major `pixels` per channel (`c` channels).
#[inline(always)]
fn channel_sums(pixels: &[f32], c: usize) -> Vec<f32> {
    let mut sums = vec![0f32; c];
    for px in pixels.chunks_exact(c) {
        add_into(&mut sums, px);
    }
    sums
}

/// A 3×3 convolution of a single-channel input (a network's first layer) plus `bias`, `post` on
/// each band: per output pixel the nine neighbours times their taps' weight vectors. Winograd's
/// transforms and GEMMs, built for many channels, ran this case at a third of the speed
/// (AVX-512 Xeon, 512², 2 threads, F(4×4) → this: 1 → 8 channels 2.1 → 0.9 ms, 1 → 16 2.2 →
/// 0.66 ms, 1 → 64 7.8 → 4.5 ms; the direct implicit GEMM took 4.1 ms for 1 → 8).
fn single_channel_3x3(
    kernels: Kernels,
    input: &Act,
    weight: &[f32],
    bias: Option<&[f32]>,
    cout: usize,
    post: Option<&Epilogue>,
) -> Act {
    assert_eq!(
        (input.c, weight.len()),
        (1, 9 * cout),
        "one input channel, 3×3"
    );
    assert!(
        bias.is_none_or(|b| b.len() == cout),
        "bias per output channel"
    );
    let (n, h, w) = (input.n, input.h, input.w);
    if n * h * w * cout == 0 {
        return Act::zeros(n, h, w, cout);
    }
    const BAND_ROWS: usize = 8;
    let fill = |data: &mut [std::mem::MaybeUninit<f32>]| {
        data.par_chunks_mut(BAND_ROWS * w * cout)
            .enumerate()
            .for_each(|(band, out_band)| {
                let r0 = band * BAND_ROWS;
                dispatch!(
                    kernels,
                    single_channel_band(input, weight, bias, cout, r0, out_band)
                );
                // SAFETY: every pixel and channel of the band was written above.
                let out_band = unsafe { &mut *(out_band as *mut [_] as *mut [f32]) };
                if let Some(post) = post {
                    post(out_band);
                }
            })
    };
    // SAFETY: every band is written whole (above).
    unsafe { Act::filled_by((n, h, w, cout), fill) }
}

/// [`single_channel_3x3`] for the output rows from `r0` (over all images) that `out_band`
/// holds, with vectors `L` over output channels.
#[inline(always)]
fn single_channel_band<L: Lanes>(
    input: &Act,
    weight: &[f32],
    bias: Option<&[f32]>,
    cout: usize,
    r0: usize,
    out_band: &mut [std::mem::MaybeUninit<f32>],
) {
    let (h, w) = (input.h, input.w);
    let out = out_band.as_mut_ptr().cast::<f32>();
    // The three input rows around an output row, a zero pixel at each end (rows outside the
    // image: zeros).
    let mut rows = vec![0f32; 3 * (w + 2)];
    for i in 0..out_band.len() / (w * cout) {
        let (image, y) = ((r0 + i) / h, (r0 + i) % h);
        for (k, row) in rows.chunks_exact_mut(w + 2).enumerate() {
            match (y + k).checked_sub(1).filter(|&yy| yy < h) {
                Some(yy) => row[1..=w].copy_from_slice(&input.data[(image * h + yy) * w..][..w]),
                None => row.fill(0.0),
            }
        }
        for o0 in (0..cout).step_by(L::LANES) {
            let lanes = L::LANES.min(cout - o0);
            // SAFETY: tap `t`'s weights and the bias from channel `o0`: `lanes` floats inside
            // `weight` (9·cout) and `bias` (cout, asserted); the vector's instructions are the
            // dispatching function's.
            let taps: [L; 9] = vectors(L::splat(0.0), |t| unsafe {
                L::load(weight.as_ptr().add(t * cout + o0), lanes)
            });
            // SAFETY: as for the taps.
            let start = bias.map_or(L::splat(0.0), |bias| unsafe {
                L::load(bias.as_ptr().add(o0), lanes)
            });
            for x in 0..w {
                let mut acc = start;
                for (t, tap) in taps.iter().enumerate() {
                    acc = tap.mul_add(rows[t / 3 * (w + 2) + x + t % 3], acc);
                }
                // SAFETY: pixel `x` of the band's row `i`, channels `o0 .. o0 + lanes`: inside
                // `out_band`.
                unsafe { acc.store(out.add((i * w + x) * cout + o0), lanes) };
            }
        }
    }
}

/// A 1×1 convolution to one output channel (a network's head) plus `bias`, `post` on each band:
/// a dot product per pixel. As a GEMM its one column fills one lane of a vector (AVX-512 Xeon,
/// 512², 8 → 1 channels, 2 threads: 1.8–2.0 → 0.45–0.6 ms, about the time to read the input).
fn single_output_1x1(
    kernels: Kernels,
    input: &Act,
    weight: &[f32],
    bias: Option<&[f32]>,
    post: Option<&Epilogue>,
) -> Act {
    let c = input.c;
    assert_eq!(weight.len(), c, "1×1 weights to one channel");
    let bias = bias.map_or(0.0, |b| b[0]);
    const BAND_PIXELS: usize = 4096;
    let fill = |data: &mut [std::mem::MaybeUninit<f32>]| {
        data.par_chunks_mut(BAND_PIXELS)
            .enumerate()
            .for_each(|(band, out_band)| {
                let pixels = &input.data[band * BAND_PIXELS * c..][..out_band.len() * c];
                dispatch!(kernels, dot_products(pixels, weight, bias, out_band));
                // SAFETY: every pixel of the band was written above.
                let out_band = unsafe { &mut *(out_band as *mut [_] as *mut [f32]) };
                if let Some(post) = post {
                    post(out_band);
                }
            })
    };
    // SAFETY: every band is written whole (above).
    unsafe { Act::filled_by((input.n, input.h, input.w, 1), fill) }
}

/// `out[p] = bias + pixels[p] · weight` for each pixel (`weight.len()` channels), with vectors
/// `L` over channels.
#[inline(always)]
fn dot_products<L: Lanes>(
    pixels: &[f32],
    weight: &[f32],
    bias: f32,
    out: &mut [std::mem::MaybeUninit<f32>],
) {
    let c = weight.len();
    assert_eq!(pixels.len(), out.len() * c);
    for (px, o) in pixels.chunks_exact(c).zip(out) {
        let mut acc = L::splat(0.0);
        for c0 in (0..c).step_by(L::LANES) {
            let lanes = L::LANES.min(c - c0);
            // SAFETY: channels `c0 .. c0 + lanes` of a pixel and of the weights; the vector's
            // instructions are the dispatching function's.
            let (x, w) = unsafe {
                (
                    L::load(px.as_ptr().add(c0), lanes),
                    L::load(weight.as_ptr().add(c0), lanes),
                )
            };
            acc = acc.add(x.mul(w));
        }
        o.write(bias + acc.sum());
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
            copy_channels(&mut out.data[p * c..][..c], &px[offset..offset + c]);
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

/// `out (+)= conv(inputs)` for batch pixels `p0 .. p0 + m` on `kernels`' native tile (panics on
/// the portable path): one segment per tap and input, row pointers at each pixel's neighbour (or
/// `zeros` outside the image).
#[allow(clippy::too_many_arguments)]
fn implicit_gemm(
    kernels: Kernels,
    inputs: &[&Act],
    k: usize,
    weight: &[f32],
    cout: usize,
    p0: usize,
    out: &mut [f32],
    accumulate: bool,
    zeros: &[f32],
) {
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
            let (row, x0) = ((p0 + i0) / w, (p0 + i0) % w);
            let y0 = (row % h) as isize;
            // A full panel inside one image row, away from every border: each tap is the
            // panel's centre pointers shifted by a constant.
            let interior = mr == sgemm::MR
                && x0 as isize >= pad
                && x0 + sgemm::MR + (pad as usize) <= w
                && y0 >= pad
                && y0 + pad < h as isize;
            // Border panels: each lane's batch pixel, row and column, for the per-tap checks.
            let lanes: [(usize, isize, isize); sgemm::MR] = if interior {
                [(0, 0, 0); sgemm::MR]
            } else {
                std::array::from_fn(|r| {
                    let pixel = p0 + i0 + r.min(mr - 1);
                    let x = pixel % w;
                    (pixel, ((pixel / w) % h) as isize, x as isize)
                })
            };
            for ty in 0..k {
                for tx in 0..k {
                    let mut offset = 0;
                    for input in inputs {
                        let c = input.c;
                        let b = weight[((ty * k + tx) * cin + offset) * cout..].as_ptr();
                        offset += c;
                        let shift = (ty as isize - pad) * w as isize + tx as isize - pad;
                        let segment = if interior {
                            let start = input
                                .data
                                .as_ptr()
                                .wrapping_offset(((p0 + i0) as isize + shift) * c as isize);
                            sgemm::Segment {
                                rows: std::array::from_fn(|r| start.wrapping_add(r * c)),
                                row_step: 1,
                                steps: c,
                                b,
                            }
                        } else {
                            let rows = std::array::from_fn(|r| {
                                let (pixel, y, x) = lanes[r];
                                let (iy, ix) = (y + ty as isize - pad, x + tx as isize - pad);
                                let inside = r < mr
                                    && iy >= 0
                                    && ix >= 0
                                    && iy < h as isize
                                    && ix < w as isize;
                                if inside {
                                    let px = pixel as isize + shift;
                                    input.data.as_ptr().wrapping_offset(px * c as isize)
                                } else {
                                    zeros.as_ptr()
                                }
                            });
                            sgemm::Segment {
                                rows,
                                row_step: 1,
                                steps: c,
                                b,
                            }
                        };
                        segments.push(segment);
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
                let c = out[i0 * cout + j0..].as_mut_ptr();
                // SAFETY: row pointers (after their offsets) cover `steps` channels of a pixel
                // or of `zeros`; B rows cover `cout` columns from `j0`; the C tile lies inside
                // `out`.
                unsafe { sgemm::tile(kernels, segs, j0, cout, c, cout, mr, nr, accumulate) };
            }
        }
    }
}

/// The channel concatenation of `inputs` with `pad` zero pixels around every image.
fn pad_concat(kernels: Kernels, inputs: &[&Act], pad: usize) -> Vec<f32> {
    let first = inputs[0];
    let (h, w) = (first.h, first.w);
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    let cin: usize = inputs.iter().map(|a| a.c).sum();
    let mut padded = vec![0f32; first.n * hp * wp * cin];
    padded
        .par_chunks_mut(wp * cin)
        .enumerate()
        .for_each(|(prow, out)| {
            wide(
                kernels,
                #[inline(always)]
                || {
                    let (img, py) = (prow / hp, prow % hp);
                    if py < pad || py >= pad + h {
                        return;
                    }
                    let row = img * h + py - pad;
                    for x in 0..w {
                        let dst = &mut out[(x + pad) * cin..][..cin];
                        let mut offset = 0;
                        for input in inputs {
                            let c = input.c;
                            copy_channels(
                                &mut dst[offset..offset + c],
                                &input.data[(row * w + x) * c..][..c],
                            );
                            offset += c;
                        }
                    }
                },
            )
        });
    padded
}

/// Floats of output gradient plus input per pixel block of the weight-gradient loop (1 MiB).
const WEIGHT_GRADIENT_BLOCK: usize = 1 << 18;

/// `dw[patch × cout] += Σ_pixels patch(pixel) ⊗ dy(pixel)` over batch rows `rows`, on `kernels`'
/// native tile (panics on the portable path): tile rows are weight rows (tap, channel), reduction
/// steps are pixels read straight from the zero-padded input, one segment per image row.
///
/// # Safety
/// `padded` must be [`pad_concat`] of inputs on `grid` with `k / 2` padding and `cin` channels;
/// `dy` must be on `grid` with `dw.len() / (k·k·cin)` channels.
#[allow(clippy::too_many_arguments)]
unsafe fn weight_gradient_padded(
    kernels: Kernels,
    padded: &[f32],
    k: usize,
    cin: usize,
    grid: &Act,
    rows: std::ops::Range<usize>,
    dy: &Act,
    dw: &mut [f32],
) {
    let (h, w, cout) = (grid.h, grid.w, dy.c);
    let pad = k / 2;
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    let patch = k * k * cin;
    let offsets: Vec<usize> = (0..patch)
        .map(|kidx| {
            let (tap, ci) = (kidx / cin, kidx % cin);
            ((tap / k) * wp + tap % k) * cin + ci
        })
        .collect();
    // Pixels per block: the block's output gradients and input rows stay near L2 (a whole
    // block at a time, every tile of dW sweeps it).
    let block = (WEIGHT_GRADIENT_BLOCK / (cin + cout)).clamp(512, 8192);
    let block_rows = (block / w).max(1);
    let mut segments = Vec::with_capacity(block_rows);
    for b0 in rows.clone().step_by(block_rows) {
        let b1 = (b0 + block_rows).min(rows.end);
        // Output channel blocks outside: a block's 32 columns of dy stay in L1/L2 while every
        // row panel of dW streams past them.
        for j0 in (0..cout).step_by(sgemm::NR) {
            let nr = sgemm::NR.min(cout - j0);
            for i0 in (0..patch).step_by(sgemm::MR) {
                let mr = sgemm::MR.min(patch - i0);
                let row_offsets: [usize; sgemm::MR] =
                    std::array::from_fn(|r| offsets[(i0 + r).min(patch - 1)]);
                segments.clear();
                for row in b0..b1 {
                    let (img, y) = (row / h, row % h);
                    // SAFETY: padded row `y` of image `img` (the top tap row of batch row `row`)
                    // starts inside `padded`, which holds `n·hp` rows of `wp·cin` floats (the
                    // caller's contract: `pad_concat` of inputs on `grid`).
                    let base = unsafe { padded.as_ptr().add((img * hp + y) * wp * cin) };
                    segments.push(sgemm::Segment {
                        // SAFETY: each of `row_offsets` is a tap `(ty, tx)` and channel `< cin`
                        // within the `k` padded rows from `base`: inside `padded`.
                        rows: std::array::from_fn(|r| unsafe { base.add(row_offsets[r]) }),
                        row_step: cin,
                        steps: w,
                        // SAFETY: the first pixel of batch row `row` of `dy`, which is on `grid`
                        // with `cout` channels (caller's contract).
                        b: unsafe { dy.data.as_ptr().add(row * w * cout) },
                    });
                }
                // SAFETY: row `i0 < patch`, column `j0 < cout` of `dw` (`patch × cout`).
                let c = unsafe { dw.as_mut_ptr().add(i0 * cout + j0) };
                // SAFETY: row pointers plus
                // `(w − 1)·cin` stay in their padded rows (`x + tx < wp`); B rows are `dy`'s `w`
                // pixels of batch row `row`, read from column `j0` for `nr ≤ cout − j0`
                // columns; the C tile is `mr` rows from `i0` and `nr` columns from `j0` of `dw`;
                // rows beyond `mr` repeat the last valid offset.
                unsafe { sgemm::tile(kernels, &segments, j0, cout, c, cout, mr, nr, true) };
            }
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
                copy_channels(&mut tap[offset..offset + c], &input.data[px..px + c]);
                offset += c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{available_kernel_paths, KernelPath};
    use crate::tensor::pseudo_random as random;

    /// The three algorithms.
    const ALGORITHMS: [ConvAlgorithm; 3] = [
        ConvAlgorithm::Winograd,
        ConvAlgorithm::Winograd2,
        ConvAlgorithm::Direct,
    ];

    /// The largest difference relative to the largest reference value.
    fn relative_error(a: &[f32], b: &[f32]) -> f32 {
        let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        worst / scale
    }

    /// `a` within `bound` of `b` (relative to `b`'s largest value).
    fn close(a: &[f32], b: &[f32], bound: f32, what: &str) {
        let error = relative_error(a, b);
        assert!(error <= bound, "{what}: relative difference {error}");
    }

    /// Every native path and every algorithm give the portable direct convolution and its
    /// gradients (the burn comparison in urisc-nn exercises whichever path this CPU takes).
    #[test]
    fn every_path_and_algorithm_agrees_with_portable_direct() {
        // Three threads whatever the machine: uneven splits of bands, and the weight gradient's
        // split by position at deep levels (taken only with more than one thread).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("thread pool");
        pool.install(every_path_and_algorithm);
    }

    fn every_path_and_algorithm() {
        // The portable path's Winograd algorithms (its direct convolution is the reference).
        agrees_with_portable_direct(Kernels::portable(ConvAlgorithm::Winograd));
        agrees_with_portable_direct(Kernels::portable(ConvAlgorithm::Winograd2));
        let native: Vec<KernelPath> = available_kernel_paths()
            .into_iter()
            .filter(|p| *p != KernelPath::Portable)
            .collect();
        if native.is_empty() {
            eprintln!("native kernels skipped: this CPU runs only the portable path");
        }
        for path in native {
            for algorithm in ALGORITHMS {
                agrees_with_portable_direct(Kernels::new(path, algorithm).unwrap());
            }
        }
    }

    /// Data gradients asked for with exact support are exactly zero outside the 3×3 windows of
    /// the outputs with a gradient, on every path and algorithm (F(4×4)'s are not: checked).
    #[test]
    fn exact_support_data_gradients_vanish_outside_the_window() {
        let (h, w, cin, cout, y0, x0) = (13, 14, 9, 12, 6, 5);
        let conv = Conv::new(cin, cout, 3, random(9 * cin * cout, 5), vec![0.0; cout]);
        let mut dy = Act::zeros(1, h, w, cout);
        dy.data[(y0 * w + x0) * cout..][..cout].copy_from_slice(&random(cout, 6));
        let mut checked = 0;
        for path in available_kernel_paths() {
            for algorithm in ALGORITHMS {
                let kernels = Kernels::new(path, algorithm).unwrap();
                let dx = conv.backward_data_with(kernels, &dy, &[cin], true);
                for (pixel, values) in dx[0].data.chunks(cin).enumerate() {
                    let (y, x) = (pixel / w, pixel % w);
                    if y.abs_diff(y0) > 1 || x.abs_diff(x0) > 1 {
                        assert!(
                            values.iter().all(|&v| v == 0.0),
                            "{path:?} {algorithm:?}: gradient at ({y}, {x})"
                        );
                    } else {
                        assert!(values.iter().any(|&v| v != 0.0));
                    }
                }
                checked += 1;
            }
        }
        assert!(checked >= 3);
    }

    /// A convolution of an input read upsampled equals one of the upsampled copy, on every path
    /// (odd sizes, batches, channel counts that fill no vector).
    #[test]
    fn upsampled_reads_match_the_upsampled_copy() {
        for path in available_kernel_paths() {
            let kernels = Kernels::new(path, ConvAlgorithm::Winograd).unwrap();
            for (case, &(n, cin, cout, h, w)) in [
                (1, 16, 8, 5, 7),
                (2, 9, 17, 3, 2),
                (1, 33, 4, 1, 1),
                (3, 8, 16, 4, 6),
            ]
            .iter()
            .enumerate()
            {
                let x = Act::from_vec(n, h, w, cin, random(n * h * w * cin, case as u64));
                let conv = Conv::new(cin, cout, 3, random(9 * cin * cout, 7), random(cout, 8));
                let expected = conv.forward_with(kernels, &[&upsample2(&x)], None);
                let got = conv.forward_upsampled_with(kernels, &x, None);
                assert_eq!((got.n, got.h, got.w, got.c), (n, 2 * h, 2 * w, cout));
                close(
                    &got.data,
                    &expected.data,
                    1e-6,
                    &format!("{path:?} case {case}"),
                );
            }
        }
    }

    /// `kernels` (a native or the portable path, an algorithm) against the portable direct
    /// convolution: odd and tiny images, batches, concatenated inputs, channel counts that fill
    /// no vector, 1×1 kernels.
    fn agrees_with_portable_direct(kernels: Kernels) {
        let algorithm = kernels.algorithm();
        let reference = Kernels::portable(ConvAlgorithm::Direct);
        for (case, &(n, groups, cout, h, w, k)) in [
            (1usize, &[1usize][..], 16usize, 7usize, 9usize, 3usize),
            (2, &[20, 12], 40, 5, 3, 3),
            (1, &[33], 17, 1, 15, 3),
            (3, &[8], 5, 4, 4, 1),
            (1, &[7], 70, 3, 29, 3),
            (2, &[3], 8, 1, 1, 3),
            (1, &[16, 16], 32, 30, 34, 3),
            // More small images than threads.
            (5, &[9, 4], 12, 6, 7, 3),
            // 1×1 to one output channel (a head).
            (2, &[8], 1, 5, 7, 1),
            (1, &[19], 1, 3, 4, 1),
            // One input channel (a first layer), outputs filling no whole block of 8.
            (2, &[1], 13, 11, 5, 3),
            (1, &[1], 8, 2, 1, 3),
        ]
        .iter()
        .enumerate()
        {
            let cin: usize = groups.iter().sum();
            let inputs: Vec<Act> = groups
                .iter()
                .enumerate()
                .map(|(g, &c)| {
                    Act::from_vec(
                        n,
                        h,
                        w,
                        c,
                        random(n * h * w * c, 10 * case as u64 + g as u64),
                    )
                })
                .collect();
            let refs: Vec<&Act> = inputs.iter().collect();
            let conv = Conv::new(
                cin,
                cout,
                k,
                random(k * k * cin * cout, 99),
                random(cout, 98),
            );
            let dy = Act::from_vec(n, h, w, cout, random(n * h * w * cout, 97));
            let w_ = &conv.weight;
            let fwd = |how| {
                conv.apply_on(how, w_, Some(&conv.bias), cout, &refs, None)
                    .data
            };
            // F(4×4, 3×3)'s transforms round more than F(2×2)'s and the direct sums (at most
            // 6.2e-6 of the largest value in these cases on an AVX-512 Xeon, 8e-7 for F(2×2)).
            let bound = if winograd_tile(algorithm, true, false) == Some(winograd::Tile::F4) {
                2e-5
            } else {
                1e-5
            };
            let expected = fwd((reference, None));
            // The portable path's Winograd is exercised too (the default skips it there).
            let what = format!("{algorithm:?} case {case} on {:?}", kernels.path());
            let forward = fwd((kernels, winograd_tile(algorithm, true, false)));
            close(&forward, &expected, bound, &format!("{what}: forward"));
            let dx = |kernels, exact_support| -> Vec<f32> {
                conv.backward_data_with(kernels, &dy, groups, exact_support)
                    .into_iter()
                    .flat_map(|a| a.data)
                    .collect()
            };
            let dx_p = dx(reference, true);
            let dx_n = dx(kernels, false);
            close(&dx_n, &dx_p, bound, &format!("{what}: data gradient"));
            let dx_n = dx(kernels, true);
            close(
                &dx_n,
                &dx_p,
                1e-5,
                &format!("{what}: exact-support data gradient"),
            );
            let (dw_n, db_n) = conv.backward_weight_with(kernels, &refs, &dy);
            let (dw_p, db_p) = conv.backward_weight_with(reference, &refs, &dy);
            close(&dw_n, &dw_p, bound, &format!("{what}: weight gradient"));
            close(&db_n, &db_p, 1e-5, &format!("{what}: bias gradient"));
        }
    }
}
