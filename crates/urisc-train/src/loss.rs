//! Losses on membrane logits and their gradients, on urisc's own code (numerically stable:
//! everything goes through log-sigmoid, sums in f64). The same losses as burn tensors (feature
//! `burn`) for the burn engine and as the reference in tests.

use serde::{Deserialize, Serialize};

/// A weighted sum of losses; weights 0 switch terms off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Binary cross-entropy (the authors' U-Net).
    pub bce: f64,
    /// Class-weighted BCE: membrane pixels weigh `membrane_weight`.
    pub weighted_bce: f64,
    /// Weight of membrane pixels in the weighted BCE (background pixels weigh 1).
    pub membrane_weight: f64,
    /// Focal loss (the 1st-place LinkNet: α 0.25, γ 2).
    pub focal: f64,
    /// Focal loss α: the weight of the membrane class (1 − α for background).
    pub focal_alpha: f64,
    /// Focal loss γ: how strongly well-classified pixels are down-weighted.
    pub focal_gamma: f64,
    /// Soft Dice (= soft F1) loss of the membrane class.
    pub dice: f64,
    /// Skeleton recall (Kirchhoff et al., ECCV 2024): 1 − Σ p·S / Σ S over the batch, S the
    /// membrane skeleton of the target widened to a tube. Penalises gaps in thin membranes,
    /// which merge cells, more than their few pixels weigh in BCE or Dice.
    pub skeleton_recall: f64,
    /// Half-width of the skeleton's tube in pixels (1: the skeleton dilated by a 3×3 square).
    pub skeleton_tube: usize,
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
            skeleton_recall: 0.0,
            skeleton_tube: 1,
        }
    }
}

impl LossConfig {
    /// Checks that the weights are finite, non-negative and not all zero.
    pub fn validate(&self) -> Result<(), String> {
        let terms = [
            self.bce,
            self.weighted_bce,
            self.focal,
            self.dice,
            self.skeleton_recall,
        ];
        if terms.iter().any(|w| *w < 0.0 || !w.is_finite()) {
            return Err("loss weights must be finite and ≥ 0".into());
        }
        if terms.iter().all(|w| *w == 0.0) {
            return Err("every loss weight is 0".into());
        }
        Ok(())
    }

    /// The tubed skeletons of the targets' membranes (target ≥ 0.5), 1 or 0 per pixel, crop by
    /// crop: `shape` is (crops, height, width) of the row-major batch.
    pub fn skeleton_targets(&self, targets: &[f32], shape: (usize, usize, usize)) -> Vec<f32> {
        let (crops, h, w) = shape;
        assert_eq!(
            targets.len(),
            crops * h * w,
            "targets are crops × height × width"
        );
        let r = self.skeleton_tube as isize;
        let mut tubes = vec![0f32; targets.len()];
        for (crop, tube) in targets.chunks(h * w).zip(tubes.chunks_mut(h * w)) {
            let mask: Vec<u8> = crop.iter().map(|&t| (t >= 0.5) as u8).collect();
            let skeleton = urisc_metrics::skeleton::skeletonize_in_place(mask, h, w);
            for (i, _) in skeleton.iter().enumerate().filter(|(_, &v)| v != 0) {
                let (y, x) = ((i / w) as isize, (i % w) as isize);
                for yy in (y - r).max(0)..=(y + r).min(h as isize - 1) {
                    for xx in (x - r).max(0)..=(x + r).min(w as isize - 1) {
                        tube[yy as usize * w + xx as usize] = 1.0;
                    }
                }
            }
        }
        tubes
    }

    /// The scalar loss of `logits` against soft targets in [0, 1] (1 = membrane), and its
    /// gradient with respect to every logit. `shape` is (crops, height, width) of the batch (the
    /// skeleton recall term needs the crops' geometry).
    pub fn value_and_gradient(
        &self,
        logits: &[f32],
        targets: &[f32],
        shape: (usize, usize, usize),
    ) -> (f64, Vec<f32>) {
        assert_eq!(logits.len(), targets.len(), "one target per logit");
        let n = logits.len().max(1) as f64;
        let mut total = 0f64;
        let mut grad = vec![0f64; logits.len()];
        // Per pixel: p = σ(x), bce = −t·log p − (1 − t)·log(1 − p), d bce/dx = p − t.
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        let bce = |x: f64, t: f64| x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
        let (mut intersection, mut sizes) = (0f64, 0f64);
        for (k, (&x, &t)) in logits.iter().zip(targets).enumerate() {
            let (x, t) = (x as f64, t as f64);
            let p = sigmoid(x);
            let l = bce(x, t);
            let mut value = 0.0;
            let mut d = 0.0;
            if self.bce != 0.0 {
                value += self.bce * l;
                d += self.bce * (p - t);
            }
            if self.weighted_bce != 0.0 {
                let w = 1.0 + t * (self.membrane_weight - 1.0);
                value += self.weighted_bce * w * l;
                d += self.weighted_bce * w * (p - t);
            }
            if self.focal != 0.0 {
                // α_t · (1 − p_t)^γ · bce, p_t = p·t + (1 − p)(1 − t).
                let p_true = p * t + (1.0 - p) * (1.0 - t);
                let alpha = t * self.focal_alpha + (1.0 - t) * (1.0 - self.focal_alpha);
                let q = (1.0 - p_true).max(0.0);
                let gamma = self.focal_gamma;
                let modulation = q.powf(gamma);
                // d q/dx = −(2t − 1)·p(1 − p).
                let dq = -(2.0 * t - 1.0) * p * (1.0 - p);
                let dmod = if q > 0.0 {
                    gamma * q.powf(gamma - 1.0) * dq
                } else {
                    0.0
                };
                value += self.focal * alpha * modulation * l;
                d += self.focal * alpha * (dmod * l + modulation * (p - t));
            }
            total += value;
            grad[k] = d / n;
            intersection += p * t;
            sizes += p + t;
        }
        let mut loss = total / n;
        if self.dice != 0.0 {
            // 1 − (2I + ε)/(S + ε), I = Σ p·t, S = Σ p + Σ t.
            let eps = 1.0;
            let (num, den) = (2.0 * intersection + eps, sizes + eps);
            loss += self.dice * (1.0 - num / den);
            for (g, (&x, &t)) in grad.iter_mut().zip(logits.iter().zip(targets)) {
                let p = sigmoid(x as f64);
                let dp = -(2.0 * t as f64 * den - num) / (den * den);
                *g += self.dice * dp * p * (1.0 - p);
            }
        }
        if self.skeleton_recall != 0.0 {
            // 1 − Σ p·S / (Σ S + ε); d/dx = −S·p(1 − p)/(Σ S + ε).
            let skeleton = self.skeleton_targets(targets, shape);
            let eps = 1.0;
            let total: f64 = skeleton.iter().map(|&s| s as f64).sum::<f64>() + eps;
            let mut recalled = 0f64;
            for (g, (&x, &s)) in grad.iter_mut().zip(logits.iter().zip(&skeleton)) {
                if s != 0.0 {
                    let p = sigmoid(x as f64);
                    recalled += p * s as f64;
                    *g -= self.skeleton_recall * s as f64 * p * (1.0 - p) / total;
                }
            }
            loss += self.skeleton_recall * (1.0 - recalled / total);
        }
        (loss, grad.into_iter().map(|g| g as f32).collect())
    }

    /// The same loss on burn tensors (the burn engine differentiates it itself).
    #[cfg(feature = "burn")]
    pub fn loss_burn(
        &self,
        logits: burn::prelude::Tensor<4>,
        target: burn::prelude::Tensor<4>,
    ) -> burn::prelude::Tensor<1> {
        use burn::prelude::Tensor;
        use burn::tensor::activation::{log_sigmoid, sigmoid};
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
        if self.skeleton_recall != 0.0 {
            let [crops, _, h, w] = target.dims();
            let values = target
                .clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 targets");
            let skeleton = Tensor::<4>::from_data(
                burn::tensor::TensorData::new(
                    self.skeleton_targets(&values, (crops, h, w)),
                    [crops, 1, h, w],
                ),
                &target.device(),
            );
            let total = skeleton.clone().sum() + 1.0;
            let recalled = (sigmoid(logits.clone()) * skeleton).sum();
            add(self.skeleton_recall, recalled.div(total).neg() + 1.0);
        }
        total.expect("validated: some weight is non-zero")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_loss() -> Vec<LossConfig> {
        let only = |f: fn(&mut LossConfig)| {
            let mut c = LossConfig {
                bce: 0.0,
                ..LossConfig::default()
            };
            f(&mut c);
            c
        };
        vec![
            LossConfig::default(),
            only(|c| c.weighted_bce = 1.0),
            only(|c| c.focal = 1.0),
            only(|c| c.dice = 1.0),
            only(|c| c.skeleton_recall = 1.0),
            only(|c| {
                c.skeleton_recall = 1.0;
                c.skeleton_tube = 0;
            }),
            LossConfig {
                bce: 0.5,
                weighted_bce: 0.25,
                focal: 2.0,
                dice: 1.5,
                skeleton_recall: 0.7,
                ..LossConfig::default()
            },
        ]
    }

    /// Two 6 × 7 crops: logits of mixed sign; targets with a two-pixel-thick membrane (a
    /// horizontal band and a vertical line, partly soft) so the skeleton term has a skeleton.
    const SHAPE: (usize, usize, usize) = (2, 6, 7);

    fn sample() -> (Vec<f32>, Vec<f32>) {
        let (crops, h, w) = SHAPE;
        let logits: Vec<f32> = (0..crops * h * w)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.7)
            .collect();
        let targets = (0..crops * h * w)
            .map(|i| {
                let (crop, y, x) = (i / (h * w), i / w % h, i % w);
                match (y, x) {
                    (2 | 3, _) => 1.0,
                    (_, 4) if crop == 1 => 1.0,
                    (_, 1) => 0.3,
                    _ => 0.0,
                }
            })
            .collect();
        (logits, targets)
    }

    #[test]
    fn skeleton_of_a_bar_is_its_middle_row_widened_to_the_tube() {
        // A 3-pixel-thick bar in rows 1..=3 of a 5 × 9 crop: skeleton in row 2.
        let targets: Vec<f32> = (0..45)
            .map(|i| (1..=3).contains(&(i / 9)) as u8 as f32)
            .collect();
        for (tube, rows) in [(0usize, 2..=2), (1, 1..=3)] {
            let config = LossConfig {
                skeleton_tube: tube,
                ..LossConfig::default()
            };
            let skeleton = config.skeleton_targets(&targets, (1, 5, 9));
            for (i, &s) in skeleton.iter().enumerate() {
                let (y, x) = (i / 9, i % 9);
                // Thinning may bend the line's ends towards the bar's corners.
                if (3..=5).contains(&x) {
                    assert_eq!(
                        s,
                        rows.contains(&y) as u8 as f32,
                        "tube {tube} at ({y}, {x})"
                    );
                }
            }
        }
    }

    #[test]
    fn skeleton_recall_counts_only_the_missed_skeleton() {
        // Logits +20 on the skeleton's tube and −20 elsewhere: the term is ≈ 1/(ΣS + 1) (ε);
        // all −20: ≈ 1.
        let (_, targets) = sample();
        let config = LossConfig {
            bce: 0.0,
            skeleton_recall: 1.0,
            ..LossConfig::default()
        };
        let skeleton = config.skeleton_targets(&targets, SHAPE);
        let size: f32 = skeleton.iter().sum();
        assert!(size >= 10.0, "a skeleton: {size} pixels");
        let hit: Vec<f32> = skeleton
            .iter()
            .map(|&s| if s > 0.0 { 20.0 } else { -20.0 })
            .collect();
        let (value, _) = config.value_and_gradient(&hit, &targets, SHAPE);
        assert!((value - 1.0 / (size as f64 + 1.0)).abs() < 1e-6, "{value}");
        let (value, _) = config.value_and_gradient(&vec![-20.0; targets.len()], &targets, SHAPE);
        assert!((value - 1.0).abs() < 1e-6, "{value}");
    }

    #[test]
    fn gradients_match_central_differences() {
        let (logits, targets) = sample();
        for config in every_loss() {
            let (_, grad) = config.value_and_gradient(&logits, &targets, SHAPE);
            for k in 0..logits.len() {
                let h = 1e-2f32;
                let at = |d: f32| {
                    let mut x = logits.clone();
                    x[k] += d;
                    config.value_and_gradient(&x, &targets, SHAPE).0
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
                assert!(
                    (numeric - grad[k] as f64).abs() < 2e-4 + 1e-2 * numeric.abs(),
                    "{config:?} logit {k}: {} vs {numeric}",
                    grad[k]
                );
            }
        }
    }

    #[test]
    fn bce_matches_hand_values() {
        // logit 0: ln 2 for either target; gradient (0.5 − t)/n.
        let (loss, grad) =
            LossConfig::default().value_and_gradient(&[0.0, 0.0], &[1.0, 0.0], (1, 1, 2));
        assert!((loss - std::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!(grad, vec![-0.25, 0.25]);
    }

    /// The same values and logit gradients as the burn formulation (autodiff).
    #[cfg(feature = "burn")]
    #[test]
    fn values_and_gradients_match_burn() {
        use burn::prelude::*;
        let (logits, targets) = sample();
        let device = Device::flex().autodiff();
        for config in every_loss() {
            let (crops, h, w) = SHAPE;
            let x =
                Tensor::<4>::from_data(TensorData::new(logits.clone(), [crops, 1, h, w]), &device)
                    .require_grad();
            let y =
                Tensor::<4>::from_data(TensorData::new(targets.clone(), [crops, 1, h, w]), &device);
            let loss = config.loss_burn(x.clone(), y);
            let value: f32 = loss.clone().into_scalar();
            let grad = x
                .grad(&loss.backward())
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let (ours, our_grad) = config.value_and_gradient(&logits, &targets, SHAPE);
            assert!(
                (ours - value as f64).abs() < 1e-5,
                "{config:?}: {ours} vs {value}"
            );
            for (a, b) in our_grad.iter().zip(&grad) {
                assert!(
                    (a - b).abs() < 1e-6 + 1e-4 * b.abs(),
                    "{config:?}: {a} vs {b}"
                );
            }
        }
    }
}
