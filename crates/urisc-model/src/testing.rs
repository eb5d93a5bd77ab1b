//! Tiny hand-made models with exactly known outputs and gradients, for testing code written
//! against [`SegmentationModel`] (tiling, test-time augmentation, attribution).

use crate::{BatchShape, InputGradient, SegmentationModel};

/// Normalisation shared by the test models: the authors' `(v / 255 − 0.5) / 0.5`.
fn authors_normalization(grey: u8) -> f32 {
    (grey as f32 / 255.0 - 0.5) / 0.5
}

/// A constant logit everywhere, whatever the input: blending must return it unchanged.
#[derive(Clone, Debug)]
pub struct Constant {
    pub logit: f32,
    pub size_multiple: usize,
}

impl SegmentationModel for Constant {
    fn size_multiple(&self) -> usize {
        self.size_multiple
    }
    fn normalize(&self, grey: u8) -> f32 {
        authors_normalization(grey)
    }
    fn logits(&self, input: &[f32], shape: BatchShape) -> Vec<f32> {
        assert_eq!(input.len(), shape.len());
        vec![self.logit; shape.len()]
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
    fn logits(&self, input: &[f32], shape: BatchShape) -> Vec<f32> {
        assert_eq!(input.len(), shape.len());
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
        out
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
    ) -> Vec<f32> {
        assert_eq!(input.len(), shape.len());
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
        item.repeat(shape.n)
    }
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
            let l = model.logits(x, shape);
            targets
                .iter()
                .map(|&(y, x)| l[k * 35 + y * 7 + x] as f64)
                .sum()
        };
        let g = model.logit_input_gradient(&input, shape, &targets);
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
        assert_eq!(m.logits(&[0.0, 5.0, -5.0], shape), vec![1.5; 3]);
    }
}
