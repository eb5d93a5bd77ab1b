//! What `urisc attribute` writes: one JSON report per run (settings, per-target numbers, the
//! summarised context curve) and the curve as CSV.

use serde::{Deserialize, Serialize};

use crate::context::{context_curve, radius_holding, summarize, ContextSummary};
use crate::ig::{Attribution, IgSettings};

/// One target's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    /// The target pixel's row.
    pub row: usize,
    /// The target pixel's column.
    pub col: usize,
    /// Σ IG and `f(x) − f(baseline)`: completeness says they agree up to the quadrature error.
    pub sum_ig: f64,
    /// `f(x) − f(baseline)` of the target's (signed) logit.
    pub logit_difference: f64,
    /// Σ |IG|, the total the context curve distributes.
    pub total_abs_ig: f64,
    /// Radius holding 50 % of Σ |IG|, pixels; `None` for an all-zero map.
    pub r50: Option<usize>,
    /// Radius holding 90 % of Σ |IG|, pixels; `None` for an all-zero map.
    pub r90: Option<usize>,
}

/// A whole run: enough to redraw and compare its curve with other runs'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributionReport {
    /// Label in comparison plots (e.g. "ISBI native").
    pub name: String,
    /// The model file, as given.
    pub model: String,
    /// The image file, as given.
    pub image: String,
    /// The page of a multi-page TIFF or the plane of a 3-D Zarr array that was attributed;
    /// absent for a single image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plane: Option<usize>,
    /// Factor the image was resampled by before attribution (the image's pixel size over the
    /// model's); `height`, `width`, target positions and radii are on the resampled grid.
    #[serde(default = "unit_scale")]
    pub scale: f64,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Pixel size of the image, nm/pixel, when known.
    pub pixel_size_nm: Option<f64>,
    /// The model's context radius (pixels), when it states one.
    pub context_radius: Option<usize>,
    /// How the integrated gradients were computed.
    pub settings: IgSettings,
    /// Wall-clock seconds for the integrated gradients.
    pub seconds: f64,
    /// Wall-clock seconds per target and gradient evaluation (quadrature node).
    pub seconds_per_target_step: f64,
    /// Each target's numbers, in the order the attributions were computed.
    pub targets: Vec<TargetResult>,
    /// Curves run over r = 0 … `summary.mean.len() − 1` pixels; `None` if every map was zero.
    pub summary: Option<ContextSummary>,
}

fn unit_scale() -> f64 {
    1.0
}

/// Accumulates per-target curves while attributions stream in, so no maps need to be kept.
pub struct CurveCollector {
    max_radius: usize,
    /// Context curves of the targets with a nonzero map, in the order added.
    pub curves: Vec<Vec<f64>>,
    /// Every target's numbers, in the order added.
    pub results: Vec<TargetResult>,
}

impl CurveCollector {
    /// A collector whose curves run over r = 0 … `max_radius`.
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

    /// The curves summarised, `None` while no target had a nonzero map.
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
/// Runs side by side as the tab-separated table `urisc attribute compare` prints: targets,
/// R50/R90 of the mean curve and the per-target medians, R90 relative to the first run, and
/// the radii in nm where the pixel size is known.
pub fn compare_table(reports: &[AttributionReport]) -> String {
    use std::fmt::Write as _;
    let first = reports.first().and_then(|r| r.summary.as_ref());
    let mut out = String::from(
        "run\ttargets\tR50 px\tR90 px\tR50 median\tR90 median\tR90 / first\tR50 nm\tR90 nm\n",
    );
    for report in reports {
        let nm = |px: usize| {
            report
                .pixel_size_nm
                .map_or("-".to_string(), |size| format!("{:.0}", px as f64 * size))
        };
        let _ = match &report.summary {
            Some(s) => writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{:.2}\t{}\t{}",
                report.name,
                s.targets,
                s.r50_of_mean,
                s.r90_of_mean,
                s.r50.median,
                s.r90.median,
                first.map_or(f64::NAN, |f| s.r90_of_mean as f64 / f.r90_of_mean as f64),
                nm(s.r50_of_mean),
                nm(s.r90_of_mean)
            ),
            None => writeln!(out, "{}\t0\t-\t-\t-\t-\t-\t-\t-", report.name),
        };
    }
    out
}
