//! Tiny hand-made models with exactly known outputs and gradients, for testing code written
//! against [`SegmentationModel`] (tiling, test-time augmentation, attribution).

use crate::{BatchShape, InputGradient, ModelError, SegmentationModel};

/// Normalisation shared by the test models: the authors' `(v / 255 − 0.5) / 0.5`.
fn authors_normalization(grey: u8) -> f32 {
    (grey as f32 / 255.0 - 0.5) / 0.5
}

/// A constant logit everywhere, whatever the input: blending must return it unchanged.
#[derive(Clone, Debug)]
pub struct Constant {
    /// The logit of every pixel.
    pub logit: f32,
    /// What [`SegmentationModel::size_multiple`] reports (callers tile to multiples of it;
    /// [`SegmentationModel::logits`] does not check).
    pub size_multiple: usize,
}

impl SegmentationModel for Constant {
    fn size_multiple(&self) -> usize {
        self.size_multiple
    }
    fn normalize(&self, grey: u8) -> f32 {
        authors_normalization(grey)
    }
    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError> {
        ModelError::check_shape(input, shape)?;
        Ok(vec![self.logit; shape.len()])
    }
    fn context_radius(&self) -> Option<usize> {
        Some(0)
    }
}

/// A linear model: correlation with a `(2r + 1)²` kernel (row-major, zero padding) plus a bias.
/// Its input gradient is the kernel, so integrated gradients are known in closed form.
#[derive(Clone, Debug)]
pub struct LinearFilter {
    radius: usize,
    kernel: Vec<f32>,
    bias: f32,
    size_multiple: usize,
}

impl LinearFilter {
    /// A filter of the given radius; `kernel` has `(2·radius + 1)²` weights, row-major.
    pub fn new(radius: usize, kernel: Vec<f32>, bias: f32) -> LinearFilter {
        let side = 2 * radius + 1;
        assert_eq!(kernel.len(), side * side, "kernel must be {side}×{side}");
        LinearFilter {
            radius,
            kernel,
            bias,
            size_multiple: 1,
        }
    }

    /// The same filter, demanding tile sides that are multiples of `m` (to exercise padding).
    pub fn with_size_multiple(mut self, m: usize) -> LinearFilter {
        self.size_multiple = m;
        self
    }

    /// Kernel weight at offset `(dr, dc)` from the centre, or 0 outside the kernel.
    pub fn weight(&self, dr: isize, dc: isize) -> f32 {
        let r = self.radius as isize;
        if dr.abs() > r || dc.abs() > r {
            return 0.0;
        }
        let side = 2 * r + 1;
        self.kernel[((dr + r) * side + dc + r) as usize]
    }
}

impl SegmentationModel for LinearFilter {
    fn size_multiple(&self) -> usize {
        self.size_multiple
    }
    fn normalize(&self, grey: u8) -> f32 {
        authors_normalization(grey)
    }
    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError> {
        ModelError::check_shape(input, shape)?;
        let (h, w) = (shape.height as isize, shape.width as isize);
        let r = self.radius as isize;
        let mut out = vec![self.bias; shape.len()];
        for k in 0..shape.n {
            let item = &input[k * shape.height * shape.width..][..shape.height * shape.width];
            for y in 0..h {
                for x in 0..w {
                    let mut acc = 0.0;
                    for dy in -r..=r {
                        for dx in -r..=r {
                            let (yy, xx) = (y + dy, x + dx);
                            if (0..h).contains(&yy) && (0..w).contains(&xx) {
                                acc += self.weight(dy, dx) * item[(yy * w + xx) as usize];
                            }
                        }
                    }
                    out[k * shape.height * shape.width + (y * w + x) as usize] += acc;
                }
            }
        }
        Ok(out)
    }
    fn context_radius(&self) -> Option<usize> {
        Some(self.radius)
    }
}

impl InputGradient for LinearFilter {
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Result<Vec<f32>, ModelError> {
        ModelError::check_shape(input, shape)?;
        if targets
            .iter()
            .any(|&(r, c)| r >= shape.height || c >= shape.width)
        {
            return Err(ModelError::new("a target outside the tile"));
        }
        let (h, w) = (shape.height as isize, shape.width as isize);
        let r = self.radius as isize;
        let mut item = vec![0f32; shape.height * shape.width];
        for &(ty, tx) in targets {
            for dy in -r..=r {
                for dx in -r..=r {
                    let (yy, xx) = (ty as isize + dy, tx as isize + dx);
                    if (0..h).contains(&yy) && (0..w).contains(&xx) {
                        item[(yy * w + xx) as usize] += self.weight(dy, dx);
                    }
                }
            }
        }
        Ok(item.repeat(shape.n))
    }
}

/// The checks every engine and every kernel path passes, whatever runs it (burn's `testgen`
/// habit): each engine's tests call [`conformance`] with its own model and a reference.
///
/// - a batch that does not hold its shape, tile sides that are not multiples of the size
///   multiple, and targets outside the tile are errors, not panics;
/// - logits and input gradients equal the reference's (relative tolerance `tolerance`);
/// - items of a batch are independent of each other, and runs are deterministic;
/// - a target's input gradient is zero beyond [`SegmentationModel::context_radius`].
///
/// `engine` and `reference` must compute the same function (same weights). Returns the first
/// failure, described.
pub fn conformance(
    engine: &dyn InputGradient,
    reference: &dyn InputGradient,
    tolerance: f32,
) -> Result<(), String> {
    let m = engine.size_multiple().max(1);
    if reference.size_multiple() != engine.size_multiple() {
        return Err("size multiples differ from the reference".into());
    }
    let (h, w) = (2 * m.max(8), 3 * m.max(8));
    let shape = BatchShape {
        n: 3,
        height: h,
        width: w,
    };
    let input = deterministic_values(shape.len(), 11);
    let targets = [(1, 2), (h - 1, w / 2)];

    // Bad batches are errors.
    if engine.logits(&input[1..], shape).is_ok() {
        return Err("a batch shorter than its shape was accepted".into());
    }
    if m > 1 {
        let odd = BatchShape {
            n: 1,
            height: m + 1,
            width: m,
        };
        if engine.logits(&vec![0.0; odd.len()], odd).is_ok() {
            return Err(format!(
                "a tile side of {} (size multiple {m}) was accepted",
                m + 1
            ));
        }
    }
    if engine
        .logit_input_gradient(&input, shape, &[(h, 0)])
        .is_ok()
    {
        return Err("a target outside the tile was accepted".into());
    }

    let close = |what: &str, ours: &[f32], theirs: &[f32]| -> Result<(), String> {
        if ours.len() != theirs.len() {
            return Err(format!(
                "{what}: {} values, reference {}",
                ours.len(),
                theirs.len()
            ));
        }
        let scale = theirs.iter().fold(0f32, |a, v| a.max(v.abs())).max(1e-3);
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            if !a.is_finite() || (a - b).abs() > tolerance * scale {
                return Err(format!(
                    "{what}: value {i} is {a}, reference {b} (scale {scale})"
                ));
            }
        }
        Ok(())
    };
    let err = |e: crate::ModelError| e.to_string();

    // Logits: against the reference, deterministic, batch items independent.
    let logits = engine.logits(&input, shape).map_err(err)?;
    close(
        "logits",
        &logits,
        &reference.logits(&input, shape).map_err(err)?,
    )?;
    if engine.logits(&input, shape).map_err(err)? != logits {
        return Err("two runs of the same batch differ".into());
    }
    let one = BatchShape { n: 1, ..shape };
    let plane = h * w;
    let alone = engine.logits(&input[plane..2 * plane], one).map_err(err)?;
    close("batch item 1 run alone", &alone, &logits[plane..2 * plane])?;

    // Input gradients: against the reference, and local.
    let gradient = engine
        .logit_input_gradient(&input, shape, &targets)
        .map_err(err)?;
    let expected = reference
        .logit_input_gradient(&input, shape, &targets)
        .map_err(err)?;
    close("input gradient", &gradient, &expected)?;
    if let Some(r) = engine.context_radius() {
        let single = engine
            .logit_input_gradient(&input[..plane], one, &targets[..1])
            .map_err(err)?;
        let (ty, tx) = targets[0];
        for (i, g) in single.iter().enumerate() {
            let (y, x) = (i / w, i % w);
            if (y.abs_diff(ty) > r || x.abs_diff(tx) > r) && *g != 0.0 {
                return Err(format!(
                    "input gradient {g} at ({y}, {x}), beyond the context radius {r} of ({ty}, {tx})"
                ));
            }
        }
    }
    Ok(())
}

/// `len` deterministic values in [−1, 1) (a linear congruential sequence).
fn deterministic_values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_filter_gradient_matches_finite_differences() {
        let kernel: Vec<f32> = (0..25).map(|i| (i as f32 * 0.37).sin()).collect();
        let model = LinearFilter::new(2, kernel, 0.25);
        let shape = BatchShape {
            n: 2,
            height: 5,
            width: 7,
        };
        let input: Vec<f32> = (0..shape.len()).map(|i| (i as f32 * 0.11).cos()).collect();
        let targets = [(0, 0), (2, 3), (4, 6)];
        let objective = |x: &[f32], k: usize| -> f64 {
            let l = model.logits(x, shape).unwrap();
            targets
                .iter()
                .map(|&(y, x)| l[k * 35 + y * 7 + x] as f64)
                .sum()
        };
        let g = model.logit_input_gradient(&input, shape, &targets).unwrap();
        for i in 0..shape.len() {
            let k = i / 35;
            let (mut up, mut down) = (input.clone(), input.clone());
            up[i] += 0.5;
            down[i] -= 0.5;
            let numeric = objective(&up, k) - objective(&down, k);
            assert!((numeric - g[i] as f64).abs() < 1e-4, "input {i}");
        }
    }

    #[test]
    fn conformance_passes_a_model_against_itself_and_catches_a_different_one() {
        let kernel: Vec<f32> = (0..9).map(|i| (i as f32 * 0.7).cos()).collect();
        let model = LinearFilter::new(1, kernel.clone(), 0.1);
        conformance(&model, &model, 0.0).unwrap();
        let other = LinearFilter::new(1, kernel, 0.2);
        let err = conformance(&model, &other, 1e-3).unwrap_err();
        assert!(err.starts_with("logits"), "{err}");
    }

    #[test]
    fn constant_ignores_the_input() {
        let m = Constant {
            logit: 1.5,
            size_multiple: 16,
        };
        let shape = BatchShape {
            n: 1,
            height: 1,
            width: 3,
        };
        assert_eq!(m.logits(&[0.0, 5.0, -5.0], shape).unwrap(), vec![1.5; 3]);
        // A batch that does not hold its shape is an error, not a panic.
        assert!(m.logits(&[0.0; 2], shape).is_err());
    }
}
