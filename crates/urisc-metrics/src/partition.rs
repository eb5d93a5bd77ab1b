//! Segmentation-partition scores on cells: adapted Rand error and variation of information.
//!
//! Cells are the 4-connected components of non-membrane pixels; membrane pixels form label 0.
//! Conventions match scikit-image (`adapted_rand_error(gt, pred)` with its default of ignoring
//! GT label 0; `variation_of_information(gt, pred)` in bits with nothing ignored).

use crate::runs::{contingency, RunSegmentation};

/// Adapted Rand error and VOI of one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartitionScores {
    /// 1 − adapted Rand F-score (GT membrane pixels ignored; predicted membrane is one segment).
    pub are: f64,
    /// Over-segmentation: H(pred | gt), bits.
    pub voi_split: f64,
    /// Under-segmentation: H(gt | pred), bits.
    pub voi_merge: f64,
}

/// Scores the predicted cells against the GT cells.
pub fn partition_scores(gt: &RunSegmentation, pred: &RunSegmentation) -> PartitionScores {
    let table = contingency(gt, pred);
    let (are, _, _) = adapted_rand_error(&table, gt.label_count, pred.label_count);
    let (voi_split, voi_merge) = variation_of_information(&table, gt.label_count, pred.label_count);
    PartitionScores {
        are,
        voi_split,
        voi_merge,
    }
}

/// scikit-image's `adapted_rand_error` with GT label 0 ignored: returns (error, precision,
/// recall). `sum_p_ij2 = Σ n_ij² − n`, `sum_a2 = Σ a_i² − n`, `sum_b2 = Σ b_j² − n`,
/// precision = sum_p_ij2 / sum_a2, recall = sum_p_ij2 / sum_b2. NaN when no pair of GT
/// foreground pixels exists (as scikit-image gives).
pub fn adapted_rand_error(
    table: &rustc_hash::FxHashMap<(u32, u32), u64>,
    gt_labels: u32,
    pred_labels: u32,
) -> (f64, f64, f64) {
    let mut a = vec![0f64; gt_labels as usize + 1];
    let mut b = vec![0f64; pred_labels as usize + 1];
    let (mut n, mut sum_p2) = (0f64, 0f64);
    for (&(i, j), &c) in table {
        if i == 0 {
            continue;
        }
        let c = c as f64;
        a[i as usize] += c;
        b[j as usize] += c;
        sum_p2 += c * c;
        n += c;
    }
    let sum_p_ij2 = sum_p2 - n;
    let sum_a2 = a.iter().map(|x| x * x).sum::<f64>() - n;
    let sum_b2 = b.iter().map(|x| x * x).sum::<f64>() - n;
    let precision = sum_p_ij2 / sum_a2;
    let recall = sum_p_ij2 / sum_b2;
    let fscore = sum_p_ij2 / (0.5 * sum_a2 + 0.5 * sum_b2);
    (1.0 - fscore, precision, recall)
}

/// Conditional entropies in bits over all pixels: (H(pred | gt), H(gt | pred)).
pub fn variation_of_information(
    table: &rustc_hash::FxHashMap<(u32, u32), u64>,
    gt_labels: u32,
    pred_labels: u32,
) -> (f64, f64) {
    let mut a = vec![0u64; gt_labels as usize + 1];
    let mut b = vec![0u64; pred_labels as usize + 1];
    let mut n = 0u64;
    for (&(i, j), &c) in table {
        a[i as usize] += c;
        b[j as usize] += c;
        n += c;
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let n = n as f64;
    let (mut h_pred_given_gt, mut h_gt_given_pred) = (0f64, 0f64);
    for (&(i, j), &c) in table {
        let p = c as f64 / n;
        h_pred_given_gt -= p * (c as f64 / a[i as usize] as f64).log2();
        h_gt_given_pred -= p * (c as f64 / b[j as usize] as f64).log2();
    }
    (h_pred_given_gt.max(0.0), h_gt_given_pred.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(labels: &[u32], h: usize, w: usize) -> RunSegmentation {
        RunSegmentation::from_labels(labels, h, w)
    }

    #[test]
    fn identical_partitions_have_zero_error() {
        let gt = seg(&[1, 1, 0, 2, 2, 0, 3, 3], 2, 4);
        let s = partition_scores(&gt, &gt);
        assert_eq!(s.are, 0.0);
        assert_eq!((s.voi_split, s.voi_merge), (0.0, 0.0));
    }

    #[test]
    fn merge_hand_computed() {
        // GT: two cells of 2 px; pred: one segment of 4 px.
        // n_ij = (2, 2): Σn² − n = 4; a = (2, 2): Σa² − n = 4; b = (4): Σb² − n = 12.
        // F = 4 / (0.5·4 + 0.5·12) = 0.5 → ARE 0.5. VOI: H(pred|gt) = 0, H(gt|pred) = 1 bit.
        let gt = seg(&[1, 1, 2, 2], 1, 4);
        let pred = seg(&[1, 1, 1, 1], 1, 4);
        let s = partition_scores(&gt, &pred);
        assert!((s.are - 0.5).abs() < 1e-15);
        assert_eq!(s.voi_split, 0.0);
        assert!((s.voi_merge - 1.0).abs() < 1e-15);
        // Swapped: a split of one cell into two.
        let s = partition_scores(&pred, &gt);
        assert!((s.voi_split - 1.0).abs() < 1e-15);
        assert_eq!(s.voi_merge, 0.0);
    }

    #[test]
    fn gt_membrane_is_ignored_by_are_but_not_by_voi() {
        // The GT membrane pixel (label 0) sits in a predicted cell: ARE unchanged, VOI not.
        let gt = seg(&[1, 1, 0, 2, 2], 1, 5);
        let pred = seg(&[1, 1, 1, 2, 2], 1, 5);
        let s = partition_scores(&gt, &pred);
        assert_eq!(s.are, 0.0);
        assert!(s.voi_merge > 0.0);
    }
}
