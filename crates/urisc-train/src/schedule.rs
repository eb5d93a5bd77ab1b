//! Learning-rate schedules over the whole run.

use serde::{Deserialize, Serialize};

/// How the learning rate moves from `lr` over the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// The shape of the schedule.
    pub kind: ScheduleKind,
    /// Floor of the cosine schedule.
    pub min_lr: f64,
    /// Exponent of the poly schedule (CASENet used 0.9).
    pub power: f64,
    /// Linear decay starts after this fraction of the run (the authors decayed over a random
    /// final part of training).
    pub decay_start: f64,
}

/// Learning-rate schedules (config key `schedule.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// `lr` throughout.
    Constant,
    /// Half a cosine from `lr` down to `min_lr` (the authors' choice).
    Cosine,
    /// `lr · (1 − t)^power`.
    Poly,
    /// `lr` until `decay_start`, then linearly down to 0.
    Linear,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            kind: ScheduleKind::Cosine,
            min_lr: 1e-6,
            power: 0.9,
            decay_start: 0.5,
        }
    }
}

impl ScheduleConfig {
    /// Learning rate at `step` of `total` steps (0-based), from the base rate `lr`.
    pub fn lr_at(&self, lr: f64, step: usize, total: usize) -> f64 {
        let progress = if total <= 1 {
            0.0
        } else {
            (step as f64 / (total - 1) as f64).min(1.0)
        };
        match self.kind {
            ScheduleKind::Constant => lr,
            ScheduleKind::Cosine => {
                self.min_lr
                    + 0.5 * (lr - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            ScheduleKind::Poly => lr * (1.0 - progress).max(0.0).powf(self.power),
            ScheduleKind::Linear => {
                if progress <= self.decay_start {
                    lr
                } else {
                    lr * (1.0
                        - (progress - self.decay_start)
                            / (1.0 - self.decay_start).max(f64::EPSILON))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_start_at_lr_and_end_where_they_should() {
        let total = 101;
        for (kind, end) in [
            (ScheduleKind::Constant, 1e-3),
            (ScheduleKind::Cosine, 1e-6),
            (ScheduleKind::Poly, 0.0),
            (ScheduleKind::Linear, 0.0),
        ] {
            let s = ScheduleConfig {
                kind,
                ..Default::default()
            };
            assert_eq!(s.lr_at(1e-3, 0, total), 1e-3, "{kind:?}");
            assert!(
                (s.lr_at(1e-3, total - 1, total) - end).abs() < 1e-12,
                "{kind:?}"
            );
            let lrs: Vec<f64> = (0..total).map(|i| s.lr_at(1e-3, i, total)).collect();
            assert!(
                lrs.windows(2).all(|w| w[1] <= w[0] + 1e-15),
                "{kind:?} is not non-increasing"
            );
        }
        let linear = ScheduleConfig {
            kind: ScheduleKind::Linear,
            decay_start: 0.5,
            ..Default::default()
        };
        assert_eq!(linear.lr_at(1.0, 50, 101), 1.0);
        assert!((linear.lr_at(1.0, 75, 101) - 0.5).abs() < 1e-12);
        let cosine = ScheduleConfig {
            kind: ScheduleKind::Cosine,
            min_lr: 0.0,
            ..Default::default()
        };
        assert!((cosine.lr_at(1.0, 50, 101) - 0.5).abs() < 1e-12);
    }
}
