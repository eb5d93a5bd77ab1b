//! Scores of a cell (instance) segmentation, a label image, against ground-truth cells.
//!
//! GT cells are the 4-connected components of GT non-membrane pixels (membrane: 8-bit value
//! ≤ 122, SPEC §2), membrane pixels label 0. Predicted cells are the labels as given (any
//! `u32` ids, not necessarily consecutive or connected); predicted label 0 (boundary) is one
//! more segment for ARE and VOI, as scikit-image counts it, and singletons for the ISBI scores,
//! as Fiji counts thinned boundary pixels.
//!
//! | score | convention |
//! |---|---|
//! | `are` (+ precision, recall) | scikit-image `adapted_rand_error(gt, pred)`: GT label 0 ignored |
//! | `voi_split`, `voi_merge` | scikit-image `variation_of_information(gt, pred)`: bits, nothing ignored |
//! | `cremi` | `sqrt(are · (voi_split + voi_merge))` |
//! | `vrand`, `vinfo` | ISBI 2012 foreground-restricted Rand / information F-scores (Fiji), on the labels as they are: no threshold sweep, no thinning |

use rustc_hash::FxHashMap;

use crate::isbi::foreground_restricted_scores;
use crate::partition::{adapted_rand_error, variation_of_information};
use crate::runs::{connected_components, contingency, RunSegmentation};

/// Scores of one predicted label image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceScores {
    /// Adapted Rand error, 1 − F (lower is better).
    pub are: f64,
    /// Adapted Rand precision.
    pub are_precision: f64,
    /// Adapted Rand recall.
    pub are_recall: f64,
    /// Over-segmentation H(pred | gt), bits.
    pub voi_split: f64,
    /// Under-segmentation H(gt | pred), bits.
    pub voi_merge: f64,
    /// CREMI score `sqrt(are · (voi_split + voi_merge))` (lower is better).
    pub cremi: f64,
    /// ISBI foreground-restricted Rand F-score (higher is better).
    pub vrand: f64,
    /// ISBI foreground-restricted information F-score (higher is better).
    pub vinfo: f64,
    /// Number of GT cells.
    pub gt_cells: u32,
    /// Number of distinct non-zero predicted labels.
    pub pred_cells: u32,
}

/// GT cells of an 8-bit membrane label image (membrane ≤ 122), 4-connected, numbered
/// row-major.
pub fn gt_cells(gt: &[u8], height: usize, width: usize) -> RunSegmentation {
    assert_eq!(
        gt.len(),
        height * width,
        "GT does not match {height}×{width}"
    );
    connected_components(height, width, |i| gt[i] > 122)
}

/// Run-length encodes a label image, renumbering its non-zero labels `1..=N` in row-major
/// order of first appearance (so arbitrary `u32` ids cost nothing).
pub fn label_runs(labels: &[u32], height: usize, width: usize) -> RunSegmentation {
    let mut seg = RunSegmentation::from_labels(labels, height, width);
    let mut ids: FxHashMap<u32, u32> = FxHashMap::default();
    for run in seg.runs.iter_mut() {
        let next = ids.len() as u32 + 1;
        run.label = *ids.entry(run.label).or_insert(next);
    }
    seg.label_count = ids.len() as u32;
    seg
}

/// Scores predicted cells against GT cells (both as runs over the same grid).
pub fn instance_scores(gt: &RunSegmentation, pred: &RunSegmentation) -> InstanceScores {
    let table = contingency(gt, pred);
    let (are, are_precision, are_recall) =
        adapted_rand_error(&table, gt.label_count, pred.label_count);
    let (voi_split, voi_merge) = variation_of_information(&table, gt.label_count, pred.label_count);
    let (vrand, vinfo) = foreground_restricted_scores(gt, pred);
    InstanceScores {
        are,
        are_precision,
        are_recall,
        voi_split,
        voi_merge,
        cremi: (are * (voi_split + voi_merge)).sqrt(),
        vrand,
        vinfo,
        gt_cells: gt.label_count,
        pred_cells: pred.label_count,
    }
}

/// [`instance_scores`] of a predicted label image against an 8-bit GT membrane label image.
pub fn score_labels(gt: &[u8], pred: &[u32], height: usize, width: usize) -> InstanceScores {
    assert_eq!(
        pred.len(),
        height * width,
        "labels do not match {height}×{width}"
    );
    instance_scores(
        &gt_cells(gt, height, width),
        &label_runs(pred, height, width),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_cells_score_perfectly() {
        // GT: two cells split by a membrane column; prediction: the same cells, other ids,
        // membrane pixels given to the cells (no boundary).
        let gt = [255, 255, 0, 255, 255, 255, 255, 0, 255, 255];
        let pred = [7, 7, 7, 9, 9, 7, 7, 9, 9, 9];
        let s = score_labels(&gt, &pred, 2, 5);
        assert_eq!(s.are, 0.0);
        // VOI counts the GT membrane as one segment: split between the cells, and merged into
        // them.
        assert!(s.voi_split > 0.0 && s.voi_merge > 0.0);
        assert_eq!(s.cremi, 0.0);
        assert_eq!((s.vrand, s.gt_cells, s.pred_cells), (1.0, 2, 2));
    }

    #[test]
    fn ids_are_renumbered_by_first_appearance() {
        let seg = label_runs(&[0, u32::MAX, u32::MAX, 5, 0, 5], 2, 3);
        assert_eq!(seg.label_count, 2);
        assert_eq!(seg.to_labels(), vec![0, 1, 1, 2, 0, 2]);
    }

    #[test]
    fn a_merge_costs_what_the_partition_scores_say() {
        let gt = [255, 255, 0, 255, 255];
        let pred = [1, 1, 1, 1, 1];
        let s = score_labels(&gt, &pred, 1, 5);
        // GT cells of 2 px each merged: ARE 0.5 (partition.rs hand computation).
        assert!((s.are - 0.5).abs() < 1e-15);
        assert!((s.cremi - (0.5 * (s.voi_split + s.voi_merge)).sqrt()).abs() < 1e-15);
        assert!((s.vrand - 2.0 / 3.0).abs() < 1e-12);
    }
}
