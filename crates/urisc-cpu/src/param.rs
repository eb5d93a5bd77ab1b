//! The Adam optimiser over the network's parameter vectors.

/// Adam (Kingma & Ba) with bias correction, as burn's and PyTorch's: first and second moments
/// per parameter, in the order the network visits its parameters.
#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    step: i32,
    moments: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Adam {
    pub fn new(beta1: f32, beta2: f32, epsilon: f32) -> Adam {
        Adam {
            beta1,
            beta2,
            epsilon,
            step: 0,
            moments: Vec::new(),
        }
    }

    /// One update of `params` with `grads` (same order and sizes every step).
    pub fn step(&mut self, params: Vec<&mut Vec<f32>>, grads: &[Vec<f32>], learning_rate: f32) {
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
            for (((p, &g), m), v) in param
                .iter_mut()
                .zip(grad)
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *p -= learning_rate * (*m / correction1) / ((*v / correction2).sqrt() + eps);
            }
        }
    }
}
