//! The cells stage of a method: cells from the test probabilities (`urisc cells`), scored as
//! instances against the label's cells (`urisc eval --instances`), with the agglomeration
//! threshold optionally chosen on the validation split.

use std::collections::BTreeMap;

use urisc_cells::{segment_cells, CellParams, MembraneMap};
use urisc_io::Image;

use crate::error::BenchError;
use crate::suite::CellsStage;

/// Candidate agglomeration thresholds for `merge_threshold = "validation"`.
pub const MERGE_CANDIDATES: [f32; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// The `urisc cells` parameters of a stage with agglomeration threshold `merge`.
pub fn params(stage: &CellsStage, merge: f32) -> CellParams {
    CellParams {
        threshold: stage.threshold,
        sigma: stage.sigma,
        merge_threshold: merge,
        min_size: stage.min_size,
        ..CellParams::default()
    }
}

/// Instance scores of the cells of one probability map against its label (membrane ≤ 122).
pub fn score(
    probability: &Image<f32>,
    label: &Image<u8>,
    params: &CellParams,
) -> Result<BTreeMap<String, f64>, BenchError> {
    let map =
        MembraneMap::from_probability(probability.height, probability.width, &probability.data)
            .map_err(|e| BenchError::Run(format!("cells: {e}")))?;
    let cells = segment_cells(&map, params).map_err(|e| BenchError::Run(format!("cells: {e}")))?;
    let s = urisc_metrics::score_labels(&label.data, &cells.labels.data, label.height, label.width);
    Ok(BTreeMap::from([
        ("cells_are".to_string(), s.are),
        ("cells_voi_split".to_string(), s.voi_split),
        ("cells_voi_merge".to_string(), s.voi_merge),
        ("cells_cremi".to_string(), s.cremi),
        ("cells_vrand".to_string(), s.vrand),
        ("cells_vinfo".to_string(), s.vinfo),
        ("cells_count".to_string(), cells.cells as f64),
    ]))
}

/// The mean of each score over images.
pub fn mean(all: &[BTreeMap<String, f64>]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for key in all
        .first()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let v: f64 = all.iter().map(|m| m[&key]).sum::<f64>() / all.len() as f64;
        out.insert(key, v);
    }
    out
}

/// The candidate with the lowest mean adapted Rand error of the validation cells (ties: the
/// one nearest 0.5).
pub fn choose_merge_threshold(
    stage: &CellsStage,
    validation: &[(&Image<f32>, &Image<u8>)],
    tick: &mut dyn FnMut(),
) -> Result<f32, BenchError> {
    let mut best: Option<(f64, f32)> = None;
    for &m in &MERGE_CANDIDATES {
        let p = params(stage, m);
        let mut total = 0.0;
        for (prob, label) in validation {
            total += score(prob, label, &p)?["cells_are"];
        }
        let are = total / validation.len().max(1) as f64;
        let better = match best {
            None => true,
            Some((b, bm)) => are < b || (are == b && (m - 0.5).abs() < (bm - 0.5).abs()),
        };
        if better {
            best = Some((are, m));
        }
        tick();
    }
    Ok(best.map_or(0.5, |(_, m)| m))
}
