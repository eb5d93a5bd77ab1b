//! What `urisc attribute` writes: one JSON report per run (settings, per-target numbers, the
//! summarised context curve) and the curve as CSV.

use serde::{Deserialize, Serialize};

use crate::context::{context_curve, radius_holding, summarize, ContextSummary};
use crate::ig::{Attribution, IgSettings};

/// One target's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    pub row: usize,
    pub col: usize,
    /// Σ IG and `f(x) − f(baseline)`: completeness says they agree up to the quadrature error.
    pub sum_ig: f64,
    pub logit_difference: f64,
    pub total_abs_ig: f64,
    /// `None` for an all-zero map.
    pub r50: Option<usize>,
    pub r90: Option<usize>,
}

/// A whole run: enough to redraw and compare its curve with other runs'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributionReport {
    /// Label in comparison plots (e.g. "ISBI native").
    pub name: String,
    pub model: String,
    pub image: String,
    pub height: usize,
    pub width: usize,
    pub pixel_size_nm: Option<f64>,
    pub context_radius: Option<usize>,
    pub settings: IgSettings,
    /// Wall-clock seconds for the integrated gradients, and per target-step.
    pub seconds: f64,
    pub seconds_per_target_step: f64,
    pub targets: Vec<TargetResult>,
    /// Curves run over r = 0 … `summary.mean.len() − 1` pixels; `None` if every map was zero.
    pub summary: Option<ContextSummary>,
}

/// Accumulates per-target curves while attributions stream in, so no maps need to be kept.
pub struct CurveCollector {
    max_radius: usize,
    pub curves: Vec<Vec<f64>>,
    pub results: Vec<TargetResult>,
}

impl CurveCollector {
    pub fn new(max_radius: usize) -> CurveCollector {
        CurveCollector {
            max_radius,
            curves: Vec::new(),
            results: Vec::new(),
        }
    }

    /// Records one target, with its `f(x) − f(baseline)`.
    pub fn add(&mut self, map: &Attribution, logit_difference: f64) {
        let curve = context_curve(map, self.max_radius);
        self.results.push(TargetResult {
            row: map.target.0,
            col: map.target.1,
            sum_ig: map.sum(),
            logit_difference,
            total_abs_ig: map.values.iter().map(|v| v.abs() as f64).sum(),
            r50: curve.as_ref().map(|c| radius_holding(c, 0.5)),
            r90: curve.as_ref().map(|c| radius_holding(c, 0.9)),
        });
        if let Some(c) = curve {
            self.curves.push(c);
        }
    }

    pub fn summary(&self) -> Option<ContextSummary> {
        (!self.curves.is_empty()).then(|| summarize(&self.curves))
    }
}

/// The summary curve as CSV: `radius,mean,std,q25,median,q75`, one line per radius.
pub fn curve_csv(summary: &ContextSummary) -> String {
    let mut csv = String::from("radius,mean,std,q25,median,q75\n");
    for r in 0..summary.mean.len() {
        csv.push_str(&format!(
            "{r},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
            summary.mean[r], summary.std[r], summary.q25[r], summary.median[r], summary.q75[r]
        ));
    }
    csv
}
