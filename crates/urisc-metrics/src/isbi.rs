//! ISBI 2012 V_rand and V_info "after thinning", as Fiji's Trainable_Segmentation computes them
//! (`RandError.getMaximalVRandAfterThinning(0, 1, 0.1, true)` and
//! `VariationOfInformation.getMaximalVInfoAfterThinning(0, 1, 0.1)`, SPEC §4.4).
//!
//! Per threshold: GT cells are the 4-connected components of GT foreground; the proposal's
//! border (value ≤ threshold) is thinned by [`fiji_thinning`]; scores are restricted to GT
//! foreground, with proposal line pixels there counted as singletons. The reported value is the
//! maximum over the 11 thresholds (strict `>`, starting from 0, so NaN never wins).

use rayon::prelude::*;

use crate::runs::{connected_components, contingency, RunSegmentation};
use crate::thinning::fiji_thinning;

/// A proposal (prediction) map in its stored sample type, membrane = low values. Integer maps
/// are scaled to [0, 1] in `f32` (`v / 255`, `v / 65535`) as a float TIFF would hold them;
/// float maps are used as they are.
#[derive(Clone, Copy, Debug)]
pub enum Proposal<'a> {
    /// 8-bit map, compared as `v / 255`.
    U8(&'a [u8]),
    /// 16-bit map, compared as `v / 65535`.
    U16(&'a [u16]),
    /// Floating-point map, nominally in [0, 1], compared as stored.
    F32(&'a [f32]),
}

impl Proposal<'_> {
    fn len(&self) -> usize {
        match self {
            Proposal::U8(v) => v.len(),
            Proposal::U16(v) => v.len(),
            Proposal::F32(v) => v.len(),
        }
    }

    /// The value Fiji compares with the threshold: the f32 pixel widened to f64.
    #[inline]
    fn value(&self, i: usize) -> f64 {
        match self {
            Proposal::U8(v) => (v[i] as f32 / 255.0) as f64,
            Proposal::U16(v) => (v[i] as f32 / 65535.0) as f64,
            Proposal::F32(v) => v[i] as f64,
        }
    }
}

/// Fiji's thresholds: `for (th = 0; th <= 1.0; th += 0.1)` in double precision (11 values,
/// the last being 0.9999999999999999).
pub fn fiji_thresholds() -> Vec<f64> {
    let mut out = Vec::new();
    let mut th = 0.0f64;
    while th <= 1.0 {
        out.push(th);
        th += 0.1;
    }
    out
}

/// Scores at one threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThresholdScores {
    /// The threshold in [0, 1]: proposal pixels with (scaled) value ≤ it are border (membrane).
    pub threshold: f64,
    /// Foreground-restricted Rand F-score after thinning at this threshold, in [0, 1].
    pub vrand: f64,
    /// Foreground-restricted information-theoretic F-score after thinning at this threshold,
    /// in [0, 1]; NaN where Fiji's arithmetic gives NaN.
    pub vinfo: f64,
}

/// V_rand and V_info of one slice, with the whole threshold sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct IsbiScores {
    /// V_rand: the maximum over the sweep (Fiji's rule: from 0, strict `>`, NaN never wins).
    pub vrand: f64,
    /// V_info: the maximum over the sweep, by the same rule.
    pub vinfo: f64,
    /// Scores at each of the 11 [`fiji_thresholds`], in increasing order.
    pub sweep: Vec<ThresholdScores>,
}

impl IsbiScores {
    /// Fiji's maximum over a sweep: strict `>` starting from 0, NaN never wins.
    pub fn from_sweep(sweep: Vec<ThresholdScores>) -> IsbiScores {
        let max = |f: fn(&ThresholdScores) -> f64| {
            sweep
                .iter()
                .map(f)
                .fold(0.0, |m, v| if v > m { v } else { m })
        };
        IsbiScores {
            vrand: max(|s| s.vrand),
            vinfo: max(|s| s.vinfo),
            sweep,
        }
    }

    /// ISBI-challenge style over a stack: mean over slices at each threshold, then maximum.
    pub fn stack(slices: &[IsbiScores]) -> IsbiScores {
        let n = slices.len() as f64;
        let thresholds = fiji_thresholds();
        let sweep = thresholds
            .iter()
            .enumerate()
            .map(|(k, &threshold)| ThresholdScores {
                threshold,
                vrand: slices.iter().map(|s| s.sweep[k].vrand).sum::<f64>() / n,
                vinfo: slices.iter().map(|s| s.sweep[k].vinfo).sum::<f64>() / n,
            })
            .collect();
        IsbiScores::from_sweep(sweep)
    }
}

/// V_rand and V_info after thinning for one slice.
///
/// `gt_foreground(i)` says whether row-major pixel `i` is a GT cell pixel (for 8-bit labels
/// binarised by SPEC §2: value > 122). `proposal` is row-major, membrane low.
pub fn vrand_vinfo(
    height: usize,
    width: usize,
    gt_foreground: impl Fn(usize) -> bool + Sync,
    proposal: Proposal<'_>,
) -> IsbiScores {
    assert_eq!(
        proposal.len(),
        height * width,
        "proposal does not match {height}×{width}"
    );
    // Work in Fiji's x-outer order: the transposed grid, stored row by row, is exactly the
    // visiting order of WatershedTransform2D, and overlap counts do not depend on pixel order.
    let (tr_rows, tr_cols) = (width, height);
    let gt_mask = transposed(height, width, gt_foreground);
    let gt_cells = connected_components(tr_rows, tr_cols, |t| gt_mask[t]);
    drop(gt_mask);

    // Which thresholds change the binarisation: thresholds between two pixel values give the
    // same proposal, so binary maps need one thinning instead of eleven.
    let thresholds = fiji_thresholds();
    // Interior at threshold k iff v > th_k, i.e. iff k < (number of thresholds below v).
    let below = |v: f64| thresholds.partition_point(|&th| th < v) as u8;
    let first_below = match proposal {
        Proposal::U8(p) => {
            let lut: Vec<u8> = (0..=255u8)
                .map(|v| below(Proposal::U8(&[v]).value(0)))
                .collect();
            transposed(height, width, |i| lut[p[i] as usize])
        }
        _ => transposed(height, width, |i| below(proposal.value(i))),
    };
    let mut used = vec![false; thresholds.len() + 1];
    for &k in &first_below {
        used[k as usize] = true;
    }
    // Threshold 0 always runs; a later one only where some pixel changes side at it.
    let distinct: Vec<usize> = (0..thresholds.len())
        .filter(|&k| k == 0 || used[k])
        .collect();
    let first_below = &first_below;
    let gt_cells = &gt_cells;
    // Each thinning holds a full-size i32 label array; run two at once only where that is small.
    let parallel = height * width <= PARALLEL_THINNING_MAX_PIXELS;
    let score_at = |&k: &usize| {
        // Border at threshold k: value ≤ th_k, i.e. at most k thresholds below v.
        let proposal_cells = fiji_thinning(tr_rows, tr_cols, |t| first_below[t] as usize <= k);
        (k, foreground_restricted_scores(gt_cells, &proposal_cells))
    };
    let computed: Vec<(usize, (f64, f64))> = if parallel {
        distinct.par_iter().map(score_at).collect()
    } else {
        distinct.iter().map(score_at).collect()
    };
    let mut sweep = Vec::with_capacity(thresholds.len());
    let mut last = (f64::NAN, f64::NAN);
    for (k, &threshold) in thresholds.iter().enumerate() {
        if let Some((_, s)) = computed.iter().find(|(kk, _)| *kk == k) {
            last = *s;
        }
        sweep.push(ThresholdScores {
            threshold,
            vrand: last.0,
            vinfo: last.1,
        });
    }
    IsbiScores::from_sweep(sweep)
}

/// Above this many pixels the thresholds are thinned one after another to bound memory.
const PARALLEL_THINNING_MAX_PIXELS: usize = 16 << 20;

/// `f` of every row-major pixel, stored in the transposed (column-major) order; blocked so both
/// sides stay in cache.
fn transposed<T: Copy + Default>(height: usize, width: usize, f: impl Fn(usize) -> T) -> Vec<T> {
    const BLOCK: usize = 64;
    let mut out = vec![T::default(); height * width];
    for r0 in (0..height).step_by(BLOCK) {
        for c0 in (0..width).step_by(BLOCK) {
            for r in r0..(r0 + BLOCK).min(height) {
                for c in c0..(c0 + BLOCK).min(width) {
                    out[c * height + r] = f(r * width + c);
                }
            }
        }
    }
    out
}

/// Fiji's foreground-restricted Rand F-score and information-theoretic F-score of one slice
/// (`getForegroundRestrictedRandIndexStatsN2` + `ClassificationStatistics`, and
/// `foregroundRestrictedFscore`), from GT cells (label 0 = GT background) and proposal
/// segments (label 0 = thinned line).
pub fn foreground_restricted_scores(
    gt: &RunSegmentation,
    proposal: &RunSegmentation,
) -> (f64, f64) {
    let table = contingency(gt, proposal);
    let n: u64 = table
        .iter()
        .filter(|((i, _), _)| *i != 0)
        .map(|(_, c)| c)
        .sum();
    if n == 0 {
        // Java's arithmetic gives F = 0 for an empty GT foreground.
        return (0.0, 0.0);
    }
    let n = n as f64;
    let mut a = vec![0f64; gt.label_count as usize + 1];
    let mut b = vec![0f64; proposal.label_count as usize + 1];
    let (mut aux, mut sum_ab2, mut sum_ab_log) = (0f64, 0f64, 0f64);
    for (&(i, j), &c) in &table {
        if i == 0 {
            continue;
        }
        let p = c as f64 / n;
        a[i as usize] += p;
        if j == 0 {
            aux += p;
        } else {
            b[j as usize] += p;
            sum_ab2 += p * p;
            sum_ab_log += p * p.ln();
        }
    }
    // Rand: proposal line pixels inside GT foreground are singletons.
    let sum_a2: f64 = a.iter().map(|x| x * x).sum();
    let sum_b2: f64 = b.iter().map(|x| x * x).sum::<f64>() + aux / n;
    let sum_ab2 = sum_ab2 + aux / n;
    let n2 = n * n;
    let tp = n2 * sum_ab2;
    let fp = n2 * sum_b2 - tp;
    let fn_ = n2 * sum_a2 - tp;
    let precision = if fp == 0.0 { 1.0 } else { tp / (tp + fp) };
    let recall = if fn_ == 0.0 { 1.0 } else { tp / (tp + fn_) };
    let vrand = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };

    // Information: natural logs; singletons contribute aux·ln n.
    let xlogx = |x: &f64| if *x != 0.0 { x * x.ln() } else { 0.0 };
    let sum_a: f64 = a.iter().map(xlogx).sum();
    let sum_b: f64 = b.iter().map(xlogx).sum::<f64>() - aux * n.ln();
    let sum_ab = sum_ab_log - aux * n.ln();
    let (ha, hb) = (-sum_a, -sum_b);
    let (hab, hba) = (sum_b - sum_ab, sum_a - sum_ab);
    let (mut p, mut r) = ((ha - hab) / ha, (hb - hba) / hb);
    // Fiji's guards (VariationOfInformation.foregroundRestrictedFscore), in Fiji's order: the
    // `hb == 0` override wins when both entropies vanish, so a single GT cell scores V_info = 0
    // even against a perfect single segment (`ha` is −0.0 there, and −0.0 == 0.0). Where both
    // guards miss and p + r = 0 the score is NaN, as in Fiji; the threshold maximum never
    // picks it.
    if ha == 0.0 {
        p = 0.0;
        r = 1.0;
    }
    if hb == 0.0 {
        p = 1.0;
        r = 0.0;
    }
    let vinfo = 2.0 * p * r / (p + r);
    (vrand, vinfo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_match_fiji_double_loop() {
        let th = fiji_thresholds();
        assert_eq!(th.len(), 11);
        assert_eq!(th[3], 0.30000000000000004);
        assert_eq!(th[10], 0.9999999999999999);
    }

    /// Two cells separated by a one-pixel membrane column.
    fn two_cells() -> (usize, usize, Vec<u8>) {
        let (h, w) = (4, 7);
        let img = (0..h * w)
            .map(|i| if i % w == 3 { 0 } else { 255 })
            .collect();
        (h, w, img)
    }

    #[test]
    fn identical_maps_score_one() {
        let (h, w, gt) = two_cells();
        let s = vrand_vinfo(h, w, |i| gt[i] > 122, Proposal::U8(&gt));
        assert!((s.vrand - 1.0).abs() < 1e-12, "{s:?}");
        assert!((s.vinfo - 1.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn merging_two_equal_cells_hand_computed() {
        // Proposal without the membrane: one segment covering both GT cells (12 px each).
        // a = (1/2, 1/2), b = (1): ΣA² = 1/2, ΣB² = 1, ΣAB² = 1/2 → P = 1/2, R = 1, V_rand = 2/3.
        // H(A) = ln 2, H(B) = 0 → Fiji sets P = 1, R = 0 → V_info = 0.
        let (h, w, gt) = two_cells();
        let pred = vec![255u8; h * w];
        let s = vrand_vinfo(h, w, |i| gt[i] > 122, Proposal::U8(&pred));
        assert!((s.vrand - 2.0 / 3.0).abs() < 1e-12, "{s:?}");
        assert_eq!(s.vinfo, 0.0);
    }

    #[test]
    fn single_cell_gt_scores_zero_vinfo_even_when_perfect() {
        let (h, w) = (3, 3);
        let gt = vec![255u8; h * w];
        let s = vrand_vinfo(h, w, |i| gt[i] > 122, Proposal::U8(&gt));
        assert_eq!(s.vrand, 1.0);
        assert_eq!(s.vinfo, 0.0);
    }

    /// Fiji's watershed turns an all-membrane proposal into one basin (no line pixels, hence no
    /// singletons) at every threshold: against one GT cell that is the single-segment case,
    /// (V_rand, V_info) = (1, 0), as Fiji's code gives (traced in
    /// RandError.getForegroundRestrictedRandAfterThinningStatsN2 and WatershedTransform2D).
    #[test]
    fn all_membrane_proposal_is_one_segment_as_in_fiji() {
        let (h, w) = (3, 3);
        let gt = vec![255u8; h * w];
        let pred = vec![0u8; h * w];
        let s = vrand_vinfo(h, w, |i| gt[i] > 122, Proposal::U8(&pred));
        assert!(
            s.sweep.iter().all(|t| t.vrand == 1.0 && t.vinfo == 0.0),
            "{s:?}"
        );
        assert_eq!((s.vrand, s.vinfo), (1.0, 0.0));
        // Against two equal GT cells the one segment merges them: V_rand = 2/3, V_info = 0.
        let (h, w, gt) = two_cells();
        let pred = vec![0u8; h * w];
        let s = vrand_vinfo(h, w, |i| gt[i] > 122, Proposal::U8(&pred));
        assert!((s.vrand - 2.0 / 3.0).abs() < 1e-12, "{s:?}");
        assert_eq!(s.vinfo, 0.0);
    }

    #[test]
    fn empty_gt_foreground_scores_zero() {
        let (h, w) = (3, 3);
        let gt = vec![0u8; h * w];
        let s = vrand_vinfo(h, w, |i| gt[i] > 122, Proposal::U8(&gt));
        assert_eq!((s.vrand, s.vinfo), (0.0, 0.0));
    }

    #[test]
    fn binary_maps_give_the_same_score_at_every_threshold() {
        let (h, w, gt) = two_cells();
        let s = vrand_vinfo(h, w, |i| gt[i] > 122, Proposal::U8(&gt));
        assert!(s.sweep.iter().all(|t| t.vrand == s.sweep[0].vrand));
    }
}
