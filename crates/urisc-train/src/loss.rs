//! Losses on membrane logits (numerically stable: everything goes through log-sigmoid).

use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use serde::{Deserialize, Serialize};

/// A weighted sum of losses; weights 0 switch terms off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Binary cross-entropy (the authors' U-Net).
    pub bce: f64,
    /// Class-weighted BCE: membrane pixels weigh `membrane_weight`.
    pub weighted_bce: f64,
    pub membrane_weight: f64,
    /// Focal loss (the 1st-place LinkNet: α 0.25, γ 2).
    pub focal: f64,
    pub focal_alpha: f64,
    pub focal_gamma: f64,
    /// Soft Dice (= soft F1) loss of the membrane class.
    pub dice: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            bce: 1.0,
            weighted_bce: 0.0,
            membrane_weight: 3.0,
            focal: 0.0,
            focal_alpha: 0.25,
            focal_gamma: 2.0,
            dice: 0.0,
        }
    }
}

impl LossConfig {
    pub fn validate(&self) -> Result<(), String> {
        let terms = [self.bce, self.weighted_bce, self.focal, self.dice];
        if terms.iter().any(|w| *w < 0.0 || !w.is_finite()) {
            return Err("loss weights must be finite and ≥ 0".into());
        }
        if terms.iter().all(|w| *w == 0.0) {
            return Err("every loss weight is 0".into());
        }
        Ok(())
    }

    /// The scalar loss of `logits` against soft targets in [0, 1] (1 = membrane).
    pub fn loss(&self, logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        // Per-pixel BCE: −t·log σ(x) − (1 − t)·log σ(−x).
        let bce_pixels = || {
            -(target.clone() * log_sigmoid(logits.clone())
                + (target.clone().neg() + 1.0) * log_sigmoid(logits.clone().neg()))
        };
        let mut total: Option<Tensor<1>> = None;
        let mut add = |weight: f64, term: Tensor<1>| {
            if weight != 0.0 {
                let term = term * weight;
                total = Some(match total.take() {
                    Some(t) => t + term,
                    None => term,
                });
            }
        };
        if self.bce != 0.0 {
            add(self.bce, bce_pixels().mean());
        }
        if self.weighted_bce != 0.0 {
            let weights = target.clone() * (self.membrane_weight - 1.0) + 1.0;
            add(self.weighted_bce, (bce_pixels() * weights).mean());
        }
        if self.focal != 0.0 {
            let p = sigmoid(logits.clone());
            let t = target.clone();
            let p_true = p.clone() * t.clone() + (p.neg() + 1.0) * (t.clone().neg() + 1.0);
            let alpha = t.clone() * self.focal_alpha + (t.neg() + 1.0) * (1.0 - self.focal_alpha);
            let modulation = (p_true.neg() + 1.0)
                .clamp_min(0.0)
                .powf_scalar(self.focal_gamma);
            add(self.focal, (alpha * modulation * bce_pixels()).mean());
        }
        if self.dice != 0.0 {
            let p = sigmoid(logits.clone());
            let intersection = (p.clone() * target.clone()).sum();
            let sizes = p.sum() + target.clone().sum();
            let eps = 1.0;
            add(
                self.dice,
                (intersection * 2.0 + eps).div(sizes + eps).neg() + 1.0,
            );
        }
        total.expect("validated: some weight is non-zero")
    }
}
