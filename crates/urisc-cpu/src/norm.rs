//! Batch normalisation over N·H·W per channel, fused with the ReLU that follows it.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::kernels::Kernels;
use crate::tensor::Act;
use crate::wide::wide;

/// Pixels per parallel work item of the per-channel reductions.
const REDUCE_PIXELS: usize = 4096;

/// Batch norm with burn's conventions: biased batch variance for normalising and for the
/// running statistics, `running = (1 − momentum)·running + momentum·batch`.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    /// Per-channel scale γ (trainable).
    pub gamma: Vec<f32>,
    /// Per-channel shift β (trainable).
    pub beta: Vec<f32>,
    /// Per-channel running mean, used in evaluation mode.
    pub running_mean: Vec<f32>,
    /// Per-channel running (biased) variance, used in evaluation mode.
    pub running_var: Vec<f32>,
    /// Added to the variance before the square root (burn: 1e-5).
    pub epsilon: f32,
    /// Weight of the batch statistics in each running-statistics update (burn: 0.1).
    pub momentum: f32,
}

/// Gradients of batch norm's γ and β.
pub type AffineGrads = (Vec<f32>, Vec<f32>);

/// What the backward pass needs from a forward pass: per-channel mean and 1/σ used.
#[derive(Clone, Debug)]
pub struct BnSaved {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// Biased batch variance (training only).
    var: Vec<f32>,
    /// Batch statistics (training) or running ones (evaluation).
    train: bool,
}

impl BatchNorm {
    /// Number of channels normalised.
    pub fn channels(&self) -> usize {
        self.gamma.len()
    }

    /// Per-channel `(scale, shift)` of the evaluation form `y = x·scale + shift`.
    pub fn eval_affine(&self) -> (Vec<f32>, Vec<f32>) {
        let scale: Vec<f32> = (0..self.channels())
            .map(|c| self.gamma[c] / (self.running_var[c] + self.epsilon).sqrt())
            .collect();
        let shift = (0..self.channels())
            .map(|c| self.beta[c] - self.running_mean[c] * scale[c])
            .collect();
        (scale, shift)
    }

    /// Normalises `z` (then ReLU if `relu`): training mode with the batch statistics (apply
    /// [`BatchNorm::update_running`] with the returned record afterwards), evaluation mode with
    /// the running ones. On [`Kernels::default`].
    pub fn forward(&self, z: &Act, relu: bool, train: bool) -> (Act, BnSaved) {
        self.forward_with(Kernels::default(), z, relu, train)
    }

    /// [`BatchNorm::forward`] on `kernels`.
    pub fn forward_with(
        &self,
        kernels: Kernels,
        z: &Act,
        relu: bool,
        train: bool,
    ) -> (Act, BnSaved) {
        let c = self.channels();
        assert_eq!(z.c, c, "batch norm channels");
        let (mean, inv_std, var) = if train {
            let (mean, var) = channel_mean_var(kernels, z);
            let inv_std: Vec<f32> = var
                .iter()
                .map(|v| 1.0 / (v + self.epsilon).sqrt())
                .collect();
            (mean, inv_std, var)
        } else {
            let inv_std = self
                .running_var
                .iter()
                .map(|v| 1.0 / (v + self.epsilon).sqrt())
                .collect();
            (self.running_mean.clone(), inv_std, Vec::new())
        };
        let scale: Vec<f32> = (0..c).map(|ch| self.gamma[ch] * inv_std[ch]).collect();
        let shift: Vec<f32> = (0..c)
            .map(|ch| self.beta[ch] - mean[ch] * scale[ch])
            .collect();
        let block = block_floats(c);
        let (scale, shift) = (tiled(&scale, block), tiled(&shift, block));
        let fill = |y: &mut [MaybeUninit<f32>]| {
            y.par_chunks_mut(REDUCE_PIXELS * c)
                .zip(z.data.par_chunks(REDUCE_PIXELS * c))
                .for_each(|(y, z)| {
                    wide(
                        kernels,
                        #[inline(always)]
                        || {
                            if relu {
                                affine_into::<true>(y, z, &scale, &shift)
                            } else {
                                affine_into::<false>(y, z, &scale, &shift)
                            }
                        },
                    )
                })
        };
        // SAFETY: the chunks of `y` and `z` pair up whole, and `affine_into` writes every
        // element of its chunk.
        let y = unsafe { Act::filled_by((z.n, z.h, z.w, c), fill) };
        let saved = BnSaved {
            mean,
            inv_std,
            var,
            train,
        };
        (y, saved)
    }

    /// The record of an evaluation-mode forward pass (running statistics), for a backward pass
    /// through batch norm fused into a convolution's epilogue.
    pub fn eval_record(&self) -> BnSaved {
        BnSaved {
            mean: self.running_mean.clone(),
            inv_std: self
                .running_var
                .iter()
                .map(|v| 1.0 / (v + self.epsilon).sqrt())
                .collect(),
            var: Vec::new(),
            train: false,
        }
    }

    /// Moves the running statistics towards the batch statistics of a training-mode forward.
    pub fn update_running(&mut self, saved: &BnSaved) {
        if !saved.train {
            return;
        }
        let momentum = self.momentum;
        for ch in 0..self.channels() {
            self.running_mean[ch] =
                (1.0 - momentum) * self.running_mean[ch] + momentum * saved.mean[ch];
            self.running_var[ch] =
                (1.0 - momentum) * self.running_var[ch] + momentum * saved.var[ch];
        }
    }

    /// Gradient with respect to the input `z` of [`BatchNorm::forward`], given its output `y`
    /// and the output gradient `dy`; in training mode also the γ and β gradients (`z` is read
    /// in training mode only). On [`Kernels::default`].
    pub fn backward(
        &self,
        z: Option<&Act>,
        y: &Act,
        dy: &Act,
        saved: &BnSaved,
        relu: bool,
    ) -> (Act, Option<AffineGrads>) {
        self.backward_with(Kernels::default(), z, y, dy, saved, relu)
    }

    /// [`BatchNorm::backward`] on `kernels`.
    pub fn backward_with(
        &self,
        kernels: Kernels,
        z: Option<&Act>,
        y: &Act,
        dy: &Act,
        saved: &BnSaved,
        relu: bool,
    ) -> (Act, Option<AffineGrads>) {
        let c = self.channels();
        let gamma = &self.gamma;
        let shape = (dy.n, dy.h, dy.w, c);
        let step = REDUCE_PIXELS * c;
        let block = block_floats(c);
        if !saved.train {
            let scale: Vec<f32> = (0..c).map(|ch| gamma[ch] * saved.inv_std[ch]).collect();
            let scale = tiled(&scale, block);
            let fill = |dz: &mut [MaybeUninit<f32>]| {
                dz.par_chunks_mut(step)
                    .zip(dy.data.par_chunks(step))
                    .zip(y.data.par_chunks(step))
                    .for_each(|((dz, dy), y)| {
                        wide(
                            kernels,
                            #[inline(always)]
                            || {
                                if relu {
                                    scale_gradient::<true>(dz, dy, y, &scale)
                                } else {
                                    scale_gradient::<false>(dz, dy, y, &scale)
                                }
                            },
                        )
                    })
            };
            // SAFETY: `dy` and `y` have `dz`'s shape, so the chunks pair up whole, and
            // `scale_gradient` writes every element of its chunk.
            return (unsafe { Act::filled_by(shape, fill) }, None);
        }
        let z = z.expect("training-mode backward needs the normalised input");
        let (mean, inv_std) = (&saved.mean, &saved.inv_std);
        let mean_block = tiled(mean, block);
        let (sum_g, sum_g_xhat) = dy
            .data
            .par_chunks(step)
            .zip(y.data.par_chunks(step))
            .zip(z.data.par_chunks(step))
            .map(|((dy, y), z)| {
                wide(
                    kernels,
                    #[inline(always)]
                    || {
                        // f32 within a chunk (vectorises), f64 across chunks.
                        let (sg, sgx) = if relu {
                            gradient_sums::<true>(dy, y, z, &mean_block)
                        } else {
                            gradient_sums::<false>(dy, y, z, &mean_block)
                        };
                        let (sg, sgx) = (per_channel(&sg, c), per_channel(&sgx, c));
                        let widen =
                            |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
                        let sgx = sgx.iter().zip(inv_std).map(|(s, i)| s * i).collect();
                        (widen(sg), widen(sgx))
                    },
                )
            })
            .collect::<Vec<_>>()
            .into_iter()
            .fold((vec![0f64; c], vec![0f64; c]), add_pairs);
        let m = dy.pixels() as f64;
        // dz = γ/σ · (g − mean(g) − x̂·mean(g·x̂))
        let k: Vec<f32> = (0..c).map(|ch| gamma[ch] * inv_std[ch]).collect();
        let mean_g: Vec<f32> = sum_g.iter().map(|&s| (s / m) as f32).collect();
        let mean_gx: Vec<f32> = sum_g_xhat.iter().map(|&s| (s / m) as f32).collect();
        // Expanded: dz = k·g − slope·z + bias per channel.
        let slope: Vec<f32> = (0..c).map(|ch| k[ch] * inv_std[ch] * mean_gx[ch]).collect();
        let bias: Vec<f32> = (0..c)
            .map(|ch| slope[ch] * mean[ch] - k[ch] * mean_g[ch])
            .collect();
        let coefficients = [tiled(&k, block), tiled(&slope, block), tiled(&bias, block)];
        let fill = |dz: &mut [MaybeUninit<f32>]| {
            dz.par_chunks_mut(step)
                .zip(dy.data.par_chunks(step))
                .zip(y.data.par_chunks(step))
                .zip(z.data.par_chunks(step))
                .for_each(|(((dz, dy), y), z)| {
                    wide(
                        kernels,
                        #[inline(always)]
                        || {
                            if relu {
                                input_gradient::<true>(dz, (dy, y, z), &coefficients)
                            } else {
                                input_gradient::<false>(dz, (dy, y, z), &coefficients)
                            }
                        },
                    )
                })
        };
        // SAFETY: `dy`, `y` and `z` have `dz`'s shape, so the chunks pair up whole, and
        // `input_gradient` writes every element of its chunk.
        let dz = unsafe { Act::filled_by(shape, fill) };
        let dgamma: Vec<f32> = sum_g_xhat.iter().map(|&s| s as f32).collect();
        let dbeta: Vec<f32> = sum_g.iter().map(|&s| s as f32).collect();
        (dz, Some((dgamma, dbeta)))
    }
}

/// Floats per block of the per-channel loops: whole pixels, at least 64 floats. The loops run
/// over blocks with per-channel values repeated to the block's length, a fixed trip count the
/// vectoriser fills; over one pixel at a time (16 channels) they stayed scalar.
fn block_floats(c: usize) -> usize {
    c * 64usize.div_ceil(c.max(1))
}

/// Per-channel `values` repeated to `floats` (a multiple of their length).
fn tiled(values: &[f32], floats: usize) -> Vec<f32> {
    values.iter().copied().cycle().take(floats).collect()
}

/// Block-long partial sums folded to one per channel (`c` channels).
fn per_channel(block: &[f32], c: usize) -> Vec<f32> {
    let mut sums = vec![0f32; c];
    for px in block.chunks_exact(c) {
        sums.iter_mut().zip(px).for_each(|(s, v)| *s += v);
    }
    sums
}

/// The output gradient where ReLU passed the value (`y > 0`), else 0; all of it without ReLU.
#[inline(always)]
fn through_relu<const RELU: bool>(y: f32, g: f32) -> f32 {
    if RELU && y <= 0.0 {
        0.0
    } else {
        g
    }
}

/// `y = z·scale + shift` (then ReLU) per channel (`scale`, `shift` tiled to a block).
#[inline(always)]
fn affine_into<const RELU: bool>(
    y: &mut [MaybeUninit<f32>],
    z: &[f32],
    scale: &[f32],
    shift: &[f32],
) {
    let block = scale.len();
    for (y, z) in y.chunks_mut(block).zip(z.chunks(block)) {
        let n = y.len();
        let (z, scale, shift) = (&z[..n], &scale[..n], &shift[..n]);
        for i in 0..n {
            let a = z[i] * scale[i] + shift[i];
            y[i] = MaybeUninit::new(if RELU { a.max(0.0) } else { a });
        }
    }
}

/// Evaluation mode: `dz = scale · g` per channel (`scale` tiled to a block).
#[inline(always)]
fn scale_gradient<const RELU: bool>(
    dz: &mut [MaybeUninit<f32>],
    dy: &[f32],
    y: &[f32],
    scale: &[f32],
) {
    let block = scale.len();
    for ((dz, dy), y) in dz
        .chunks_mut(block)
        .zip(dy.chunks(block))
        .zip(y.chunks(block))
    {
        let n = dz.len();
        let (dy, y, scale) = (&dy[..n], &y[..n], &scale[..n]);
        for i in 0..n {
            dz[i] = MaybeUninit::new(through_relu::<RELU>(y[i], dy[i]) * scale[i]);
        }
    }
}

/// Training mode: block-long partial sums of `g` and `g·(z − mean)` (`mean` tiled to a block).
#[inline(always)]
fn gradient_sums<const RELU: bool>(
    dy: &[f32],
    y: &[f32],
    z: &[f32],
    mean: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let block = mean.len();
    let (mut sg, mut sgx) = (vec![0f32; block], vec![0f32; block]);
    for ((dy, y), z) in dy.chunks(block).zip(y.chunks(block)).zip(z.chunks(block)) {
        let n = dy.len();
        let (y, z, mean) = (&y[..n], &z[..n], &mean[..n]);
        let (sg, sgx) = (&mut sg[..n], &mut sgx[..n]);
        for i in 0..n {
            let g = through_relu::<RELU>(y[i], dy[i]);
            sg[i] += g;
            sgx[i] += g * (z[i] - mean[i]);
        }
    }
    (sg, sgx)
}

/// Training mode: `dz = k·g − slope·z + bias` per channel (`[k, slope, bias]` tiled to a block).
#[inline(always)]
fn input_gradient<const RELU: bool>(
    dz: &mut [MaybeUninit<f32>],
    (dy, y, z): (&[f32], &[f32], &[f32]),
    [k, slope, bias]: &[Vec<f32>; 3],
) {
    let block = k.len();
    let blocks = dz.chunks_mut(block).zip(dy.chunks(block));
    for (((dz, dy), y), z) in blocks.zip(y.chunks(block)).zip(z.chunks(block)) {
        let n = dz.len();
        let (dy, y, z) = (&dy[..n], &y[..n], &z[..n]);
        let (k, slope, bias) = (&k[..n], &slope[..n], &bias[..n]);
        for i in 0..n {
            let g = through_relu::<RELU>(y[i], dy[i]);
            dz[i] = MaybeUninit::new(k[i] * g - slope[i] * z[i] + bias[i]);
        }
    }
}

/// Sums per-chunk partials in chunk order: reductions do not depend on thread scheduling, so
/// runs are reproducible bit for bit.
fn add_pairs(
    (mut a, mut b): (Vec<f64>, Vec<f64>),
    (x, y): (Vec<f64>, Vec<f64>),
) -> (Vec<f64>, Vec<f64>) {
    a.iter_mut().zip(&x).for_each(|(a, x)| *a += x);
    b.iter_mut().zip(&y).for_each(|(b, y)| *b += y);
    (a, b)
}

/// Per-channel mean and biased variance over all pixels (f64 accumulation).
fn channel_mean_var(kernels: Kernels, z: &Act) -> (Vec<f32>, Vec<f32>) {
    let c = z.c;
    let (sum, sum_sq) = z
        .data
        .par_chunks(REDUCE_PIXELS * c)
        .map(|chunk| {
            wide(
                kernels,
                #[inline(always)]
                || {
                    // f32 within a chunk (vectorises), f64 across chunks.
                    let mut s = vec![0f32; c];
                    let mut q = vec![0f32; c];
                    for px in chunk.chunks_exact(c) {
                        for ch in 0..c {
                            s[ch] += px[ch];
                            q[ch] += px[ch] * px[ch];
                        }
                    }
                    let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
                    (widen(s), widen(q))
                },
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((vec![0f64; c], vec![0f64; c]), add_pairs);
    let m = z.pixels().max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / m).collect();
    let var = sum_sq
        .iter()
        .zip(&mean)
        .map(|(q, mu)| ((q / m) - mu * mu).max(0.0) as f32)
        .collect();
    (mean.into_iter().map(|v| v as f32).collect(), var)
}

/// ReLU in place: the epilogue of an evaluation-mode convolution whose batch norm was folded
/// into its weights (`Conv::scaled`), on `kernels`.
pub(crate) fn relu_in_place(kernels: Kernels, band: &mut [f32]) {
    wide(
        kernels,
        #[inline(always)]
        || {
            for v in band.iter_mut() {
                *v = v.max(0.0);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::pseudo_random as random;

    /// Batch norm (+ ReLU) forward and backward, train and eval mode, against the textbook
    /// formulas in f64 one value at a time, on every kernel path: channel counts around the
    /// 64-float blocks (1, 5, 16, 17, 70) and pixel counts that end mid-block and span several
    /// reduction chunks.
    #[test]
    fn blocked_loops_match_the_formulas() {
        for path in crate::kernels::available_kernel_paths() {
            let kernels = Kernels::new(path, crate::kernels::ConvAlgorithm::Direct).unwrap();
            blocked_loops_match_the_formulas_on(kernels);
        }
    }

    fn blocked_loops_match_the_formulas_on(kernels: Kernels) {
        for (case, &(c, pixels)) in [(1, 3), (5, 7), (16, 5000), (17, 9), (70, 4099)]
            .iter()
            .enumerate()
        {
            let seed = 10 * case as u64;
            let bn = BatchNorm {
                gamma: random(c, seed).iter().map(|g| 1.0 + 0.5 * g).collect(),
                beta: random(c, seed + 1),
                running_mean: random(c, seed + 2),
                running_var: random(c, seed + 3).iter().map(|v| 0.5 + v.abs()).collect(),
                epsilon: 1e-5,
                momentum: 0.1,
            };
            let z = Act::from_vec(1, 1, pixels, c, random(pixels * c, seed + 4));
            let dy = Act::from_vec(1, 1, pixels, c, random(pixels * c, seed + 5));
            let at = |v: &[f32], p: usize, ch: usize| f64::from(v[p * c + ch]);
            for (train, relu) in [(true, true), (true, false), (false, true), (false, false)] {
                let (y, saved) = bn.forward_with(kernels, &z, relu, train);
                let z_train = train.then_some(&z);
                let (dz, affine) = bn.backward_with(kernels, z_train, &y, &dy, &saved, relu);
                for ch in 0..c {
                    let (mean, var) = if train {
                        let mean =
                            (0..pixels).map(|p| at(&z.data, p, ch)).sum::<f64>() / pixels as f64;
                        let var = (0..pixels)
                            .map(|p| (at(&z.data, p, ch) - mean).powi(2))
                            .sum::<f64>()
                            / pixels as f64;
                        (mean, var)
                    } else {
                        (
                            f64::from(bn.running_mean[ch]),
                            f64::from(bn.running_var[ch]),
                        )
                    };
                    let inv_std = 1.0 / (var + 1e-5).sqrt();
                    let (gamma, beta) = (f64::from(bn.gamma[ch]), f64::from(bn.beta[ch]));
                    let xhat = |p: usize| (at(&z.data, p, ch) - mean) * inv_std;
                    let pre = |p: usize| gamma * xhat(p) + beta;
                    let g = |p: usize| {
                        if relu && pre(p) <= 0.0 {
                            0.0
                        } else {
                            at(&dy.data, p, ch)
                        }
                    };
                    let sum_g: f64 = (0..pixels).map(g).sum();
                    let sum_gx: f64 = (0..pixels).map(|p| g(p) * xhat(p)).sum();
                    let n = pixels as f64;
                    for p in 0..pixels {
                        let want_y = if relu { pre(p).max(0.0) } else { pre(p) };
                        let got_y = at(&y.data, p, ch);
                        assert!(
                            (got_y - want_y).abs() < 1e-4,
                            "{kernels:?} y {c} {train} {relu}"
                        );
                        let want_dz = if train {
                            gamma * inv_std * (g(p) - sum_g / n - xhat(p) * sum_gx / n)
                        } else {
                            gamma * inv_std * g(p)
                        };
                        let got_dz = at(&dz.data, p, ch);
                        assert!(
                            (got_dz - want_dz).abs() < 1e-4,
                            "{kernels:?} dz {c} {train} {relu}"
                        );
                    }
                    if let Some((dgamma, dbeta)) = &affine {
                        let tolerance = 1e-4 * n.sqrt();
                        assert!((f64::from(dgamma[ch]) - sum_gx).abs() < tolerance, "dγ {c}");
                        assert!((f64::from(dbeta[ch]) - sum_g).abs() < tolerance, "dβ {c}");
                    }
                }
                assert_eq!(affine.is_some(), train);
            }
        }
    }
}
