//! The Adam optimiser over the network's parameter vectors.

use crate::kernels::Kernels;
use crate::wide::wide;

/// First and second moment of one parameter vector.
pub type Moments = (Vec<f32>, Vec<f32>);

/// Adam (Kingma & Ba) with bias correction, as burn's and PyTorch's: first and second moments
/// per parameter, in the order the network visits its parameters.
#[derive(Clone, Debug)]
pub struct Adam {
    /// Decay rate of the first-moment (gradient mean) estimate, e.g. 0.9.
    pub beta1: f32,
    /// Decay rate of the second-moment (squared-gradient) estimate, e.g. 0.999.
    pub beta2: f32,
    /// Added to the square root of the corrected second moment to avoid division by zero.
    pub epsilon: f32,
    step: i32,
    moments: Vec<Moments>,
}

impl Adam {
    /// A fresh optimiser (step 0, moments allocated on the first [`Adam::step`]).
    pub fn new(beta1: f32, beta2: f32, epsilon: f32) -> Adam {
        Adam {
            beta1,
            beta2,
            epsilon,
            step: 0,
            moments: Vec::new(),
        }
    }

    /// Resumes from a saved [`Adam::state`].
    pub fn with_state(self, step: i32, moments: Vec<Moments>) -> Adam {
        Adam {
            step,
            moments,
            ..self
        }
    }

    /// Updates done and the (first, second) moments per parameter, for checkpoints.
    pub fn state(&self) -> (i32, &[Moments]) {
        (self.step, &self.moments)
    }

    /// One update of `params` with `grads` (same order and sizes every step). On
    /// [`Kernels::default`].
    pub fn step(&mut self, params: Vec<&mut Vec<f32>>, grads: &[Vec<f32>], learning_rate: f32) {
        self.step_with(Kernels::default(), params, grads, learning_rate)
    }

    /// [`Adam::step`] on `kernels` (the per-element loop compiled for its path's vectors).
    pub fn step_with(
        &mut self,
        kernels: Kernels,
        params: Vec<&mut Vec<f32>>,
        grads: &[Vec<f32>],
        learning_rate: f32,
    ) {
        assert_eq!(params.len(), grads.len(), "one gradient per parameter");
        if self.moments.is_empty() {
            self.moments = grads
                .iter()
                .map(|g| (vec![0.0; g.len()], vec![0.0; g.len()]))
                .collect();
        }
        self.step += 1;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.epsilon);
        let correction1 = 1.0 - b1.powi(self.step);
        let correction2 = 1.0 - b2.powi(self.step);
        for ((param, grad), (m, v)) in params.into_iter().zip(grads).zip(&mut self.moments) {
            assert_eq!(param.len(), grad.len(), "gradient size");
            wide(
                kernels,
                #[inline(always)]
                || {
                    for (((p, &g), m), v) in param
                        .iter_mut()
                        .zip(grad)
                        .zip(m.iter_mut())
                        .zip(v.iter_mut())
                    {
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *p -=
                            learning_rate * (*m / correction1) / ((*v / correction2).sqrt() + eps);
                    }
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps by hand: m₁ = 0.1·g, v₁ = 0.001·g², so the first step is lr·sign(g) (ε aside),
    /// on every kernel path.
    #[test]
    fn adam_steps_match_hand_computation() {
        for path in crate::kernels::available_kernel_paths() {
            let kernels = Kernels::new(path, crate::kernels::ConvAlgorithm::Direct).unwrap();
            adam_steps_match_hand_computation_on(kernels);
        }
    }

    fn adam_steps_match_hand_computation_on(kernels: Kernels) {
        let mut adam = Adam::new(0.9, 0.999, 1e-8);
        let mut p = vec![1.0f32, -2.0];
        adam.step_with(kernels, vec![&mut p], &[vec![0.5, -4.0]], 0.1);
        assert!(
            (p[0] - 0.9).abs() < 1e-6 && (p[1] + 1.9).abs() < 1e-6,
            "{p:?}"
        );
        // Second step, gradient 0.5 again for p[0]: m = 0.09·… hand-computed below.
        adam.step_with(kernels, vec![&mut p], &[vec![0.5, 0.0]], 0.1);
        let m = 0.9 * 0.05 + 0.1 * 0.5;
        let v = 0.999 * 0.00025 + 0.001 * 0.25;
        let expected = 0.9 - 0.1 * (m / (1.0 - 0.81)) / ((v / (1.0 - 0.998001f64)).sqrt() + 1e-8);
        assert!(
            (p[0] as f64 - expected).abs() < 1e-6,
            "{} vs {expected}",
            p[0]
        );
        assert_eq!(adam.state().0, 2);
    }
}
