//! Pixel-overlap scores of the membrane class: the U-RISC F1 in its two protocols, IoU and Dice.

use rayon::prelude::*;

/// Precision, recall, F1, IoU and Dice of the membrane class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelScores {
    /// Share of predicted membrane that is ground-truth membrane, TP / (TP + FP)
    /// (intensity-weighted in the [`faithful`] protocol).
    pub precision: f64,
    /// Share of ground-truth membrane that is predicted, TP / (TP + FN)
    /// (intensity-weighted in the [`faithful`] protocol).
    pub recall: f64,
    /// Harmonic mean of precision and recall: the U-RISC ranking score.
    pub f1: f64,
    /// Intersection over union of the binarised membrane masks, TP / (TP + FP + FN); 1 when
    /// both masks are empty.
    pub iou: f64,
    /// Dice coefficient of the binarised membrane masks, 2·TP / (2·TP + FP + FN); 1 when both
    /// masks are empty.
    pub dice: f64,
}

/// Membrane-class pixel counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Confusion {
    /// Pixels that are membrane in both the ground truth and the prediction.
    pub true_positive: u64,
    /// Pixels predicted as membrane where the ground truth is background.
    pub false_positive: u64,
    /// Ground-truth membrane pixels the prediction misses.
    pub false_negative: u64,
    /// Pixels that are background in both.
    pub true_negative: u64,
}

impl Confusion {
    /// Counts from two membrane masks (`true` = membrane), in parallel chunks.
    pub fn from_masks(gt: &[bool], pred: &[bool]) -> Confusion {
        assert_eq!(gt.len(), pred.len());
        Self::count(gt.len(), |i| (gt[i], pred[i]))
    }

    /// Counts from 8-bit maps with the binarised protocol: ground truth membrane = value ≤ 122,
    /// prediction membrane = value < 128 (SPEC §4.2).
    pub fn binarized(gt: &[u8], pred: &[u8]) -> Confusion {
        assert_eq!(gt.len(), pred.len());
        Self::count(gt.len(), |i| (gt[i] <= 122, pred[i] < 128))
    }

    fn count(len: usize, at: impl Fn(usize) -> (bool, bool) + Sync) -> Confusion {
        const CHUNK: usize = 1 << 16;
        (0..len.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut k = [0u64; 4];
                for i in c * CHUNK..((c + 1) * CHUNK).min(len) {
                    let (g, p) = at(i);
                    k[(g as usize) << 1 | p as usize] += 1;
                }
                Confusion {
                    true_negative: k[0],
                    false_positive: k[1],
                    false_negative: k[2],
                    true_positive: k[3],
                }
            })
            .reduce(Confusion::default, |a, b| Confusion {
                true_positive: a.true_positive + b.true_positive,
                false_positive: a.false_positive + b.false_positive,
                false_negative: a.false_negative + b.false_negative,
                true_negative: a.true_negative + b.true_negative,
            })
    }

    /// Scores with the SPEC §4 edge cases: both empty → all 1; prediction empty → P = 1, R = 0;
    /// ground truth empty → P = 0, R = 1; F = 0 when P + R = 0.
    pub fn scores(&self) -> PixelScores {
        let tp = self.true_positive as f64;
        let pred = (self.true_positive + self.false_positive) as f64;
        let gt = (self.true_positive + self.false_negative) as f64;
        let (precision, recall) = edge_case_pr(tp, pred, tp, gt);
        let union = (self.true_positive + self.false_positive + self.false_negative) as f64;
        let (iou, dice) = if union == 0.0 {
            (1.0, 1.0)
        } else {
            (tp / union, 2.0 * tp / (pred + gt))
        };
        PixelScores {
            precision,
            recall,
            f1: f_score(precision, recall),
            iou,
            dice,
        }
    }
}

/// Precision and recall with the U-RISC edge cases, from (matched, predicted, matched, truth) sums.
fn edge_case_pr(p_num: f64, p_den: f64, r_num: f64, r_den: f64) -> (f64, f64) {
    match (p_den == 0.0, r_den == 0.0) {
        (true, true) => (1.0, 1.0),
        (true, false) => (1.0, 0.0),
        (false, true) => (0.0, 1.0),
        (false, false) => (p_num / p_den, r_num / r_den),
    }
}

/// Harmonic mean, 0 when both are 0.
pub fn f_score(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// Why a prediction is refused by the competition's format checks (faithful protocol only).
#[derive(Clone, Debug, PartialEq)]
pub enum FaithfulFormatError {
    /// More than two distinct grey values.
    NotBinary {
        /// Number of distinct grey values in the prediction.
        distinct_values: usize,
    },
    /// Membrane (black) covers more than ~1/6 of the image: probably inverted polarity.
    TooMuchMembrane {
        /// White (background) pixels per black (membrane) pixel; `eval.py` wants at least 5.
        ratio: f64,
    },
}

impl std::fmt::Display for FaithfulFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaithfulFormatError::NotBinary { distinct_values } => write!(
                f,
                "prediction is not binarized ({distinct_values} distinct values; the faithful \
                 protocol needs exactly black membrane on white)"
            ),
            FaithfulFormatError::TooMuchMembrane { ratio } => write!(
                f,
                "prediction has background/membrane = {ratio:.3} < 5: membrane must be black on a \
                 white background (is the map inverted?)"
            ),
        }
    }
}

impl std::error::Error for FaithfulFormatError {}

/// The competition's `eval.py` (SPEC §4.1): both maps inverted (`255 − v`), the prediction must
/// be binary with background/membrane ≥ 5, the ground truth is *not* binarised and the sums are
/// intensity-weighted: `P = Σ pred·[gt>0] / Σ pred`, `R = Σ gt·[pred>0] / Σ gt`.
/// IoU and Dice are not defined by that script; they are taken from the binarised masks.
pub fn faithful(gt: &[u8], pred: &[u8]) -> Result<PixelScores, FaithfulFormatError> {
    assert_eq!(gt.len(), pred.len());
    let mut hist = [0u64; 256];
    for &v in pred {
        hist[v as usize] += 1;
    }
    let distinct = hist.iter().filter(|&&c| c > 0).count();
    if distinct > 2 {
        return Err(FaithfulFormatError::NotBinary {
            distinct_values: distinct,
        });
    }
    // eval.py: count(0) / count(255) of the inverted map, i.e. white / black of the file.
    let (white, black) = (hist[255] as f64, hist[0] as f64);
    if black > 0.0 && white / black < 5.0 {
        return Err(FaithfulFormatError::TooMuchMembrane {
            ratio: white / black,
        });
    }
    const CHUNK: usize = 1 << 16;
    let [p_num, p_den, r_num, r_den] = gt
        .par_chunks(CHUNK)
        .zip(pred.par_chunks(CHUNK))
        .map(|(g, p)| {
            let mut s = [0u64; 4];
            for (&g, &p) in g.iter().zip(p) {
                let (g, p) = (255 - g as u64, 255 - p as u64);
                s[0] += if g > 0 { p } else { 0 };
                s[1] += p;
                s[2] += if p > 0 { g } else { 0 };
                s[3] += g;
            }
            s
        })
        .reduce(
            || [0; 4],
            |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]],
        );
    let (precision, recall) = edge_case_pr(p_num as f64, p_den as f64, r_num as f64, r_den as f64);
    let binary = Confusion::binarized(gt, pred).scores();
    Ok(PixelScores {
        precision,
        recall,
        f1: f_score(precision, recall),
        iou: binary.iou,
        dice: binary.dice,
    })
}

/// The binarisation threshold with the best membrane F1, and its scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BestThreshold {
    /// A pixel is membrane iff its probability is ≥ this.
    pub threshold: f64,
    /// Membrane scores of the probabilities binarised at `threshold`.
    pub scores: PixelScores,
}

/// Searches the threshold on membrane probabilities that maximises F1 against a membrane mask
/// (how a model's stored threshold is chosen on validation data). Probabilities are binned into
/// `bins` equal steps of [0, 1], so every candidate costs O(1) after one pass; ties go to the
/// threshold nearest 0.5.
pub fn best_f1_threshold(probability: &[f32], membrane: &[bool], bins: usize) -> BestThreshold {
    assert_eq!(probability.len(), membrane.len());
    assert!(bins >= 2);
    // hist[b] counts pixels whose probability falls in bin b = floor(p · bins), p = 1 in the last.
    let (mut pos, mut neg) = (vec![0u64; bins], vec![0u64; bins]);
    for (&p, &m) in probability.iter().zip(membrane) {
        let b = ((p.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
        if m {
            pos[b] += 1;
        } else {
            neg[b] += 1;
        }
    }
    let total_pos: u64 = pos.iter().sum();
    let total_neg: u64 = neg.iter().sum();
    // Threshold k / bins: pixels in bins ≥ k are predicted membrane.
    let (mut tp, mut fp) = (total_pos, total_neg);
    let mut best: Option<BestThreshold> = None;
    for k in 0..bins {
        let c = Confusion {
            true_positive: tp,
            false_positive: fp,
            false_negative: total_pos - tp,
            true_negative: total_neg - fp,
        };
        let candidate = BestThreshold {
            threshold: k as f64 / bins as f64,
            scores: c.scores(),
        };
        let better = match &best {
            None => true,
            Some(b) => {
                candidate.scores.f1 > b.scores.f1
                    || (candidate.scores.f1 == b.scores.f1
                        && (candidate.threshold - 0.5).abs() < (b.threshold - 0.5).abs())
            }
        };
        if better {
            best = Some(candidate);
        }
        tp -= pos[k];
        fp -= neg[k];
    }
    best.expect("bins ≥ 2")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_threshold_matches_brute_force() {
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let membrane: Vec<bool> = (0..2000).map(|_| next() < 0.2).collect();
        // Membrane pixels score higher on average, with overlap.
        let prob: Vec<f32> = membrane
            .iter()
            .map(|&m| (next() * 0.7 + if m { 0.3 } else { 0.0 }).min(1.0))
            .collect();
        let best = best_f1_threshold(&prob, &membrane, 100);
        let brute = (0..100)
            .map(|k| {
                let t = k as f32 / 100.0;
                let pred: Vec<bool> = prob.iter().map(|&p| p >= t).collect();
                Confusion::from_masks(&membrane, &pred).scores().f1
            })
            .fold(0.0, f64::max);
        assert!(
            (best.scores.f1 - brute).abs() < 1e-12,
            "{} vs {brute}",
            best.scores.f1
        );
        assert!(
            best.threshold > 0.2 && best.threshold < 0.8,
            "{}",
            best.threshold
        );
    }

    #[test]
    fn perfect_separation_prefers_the_threshold_nearest_half() {
        let prob = [0.1f32, 0.2, 0.9, 0.95];
        let membrane = [false, false, true, true];
        let best = best_f1_threshold(&prob, &membrane, 10);
        assert_eq!(best.scores.f1, 1.0);
        assert_eq!(best.threshold, 0.5);
    }

    #[test]
    fn hand_counted_binarized_case() {
        // gt membrane at 0,1,2 (value ≤ 122, incl. the 122 edge); pred membrane at 1,2,3 (< 128).
        let gt = [0u8, 122, 10, 123, 255, 255];
        let pred = [128u8, 127, 0, 0, 255, 200];
        let c = Confusion::binarized(&gt, &pred);
        assert_eq!(
            (
                c.true_positive,
                c.false_positive,
                c.false_negative,
                c.true_negative
            ),
            (2, 1, 1, 2)
        );
        let s = c.scores();
        assert_eq!(s.precision, 2.0 / 3.0);
        assert_eq!(s.recall, 2.0 / 3.0);
        assert!((s.f1 - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(s.iou, 0.5);
        assert!((s.dice - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn edge_cases_follow_the_spec() {
        let white = [255u8; 4];
        let some = [0u8, 255, 255, 255];
        let both_empty = Confusion::binarized(&white, &white).scores();
        assert_eq!(
            (both_empty.precision, both_empty.recall, both_empty.f1),
            (1.0, 1.0, 1.0)
        );
        assert_eq!((both_empty.iou, both_empty.dice), (1.0, 1.0));
        let pred_empty = Confusion::binarized(&some, &white).scores();
        assert_eq!(
            (pred_empty.precision, pred_empty.recall, pred_empty.f1),
            (1.0, 0.0, 0.0)
        );
        let gt_empty = Confusion::binarized(&white, &some).scores();
        assert_eq!(
            (gt_empty.precision, gt_empty.recall, gt_empty.f1),
            (0.0, 1.0, 0.0)
        );
        let disjoint = Confusion::binarized(&[0, 255], &[255, 0]).scores();
        assert_eq!(
            (
                disjoint.precision,
                disjoint.recall,
                disjoint.f1,
                disjoint.iou
            ),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn swapping_pred_and_gt_swaps_precision_and_recall() {
        let a = [0u8, 0, 255, 0, 255, 255, 0];
        let b = [0u8, 255, 255, 255, 0, 255, 0];
        let ab = Confusion::binarized(&a, &b).scores();
        let ba = Confusion::binarized(&b, &a).scores();
        assert_eq!(ab.precision, ba.recall);
        assert_eq!(ab.recall, ba.precision);
        assert_eq!(ab.f1, ba.f1);
    }

    #[test]
    fn faithful_weights_by_grey_ground_truth() {
        // Inverted gt: [255, 155, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]; inverted pred: [255, 0, 255, 0...].
        let mut gt = [255u8; 12];
        gt[0] = 0;
        gt[1] = 100;
        let mut pred = [255u8; 12];
        pred[0] = 0;
        pred[2] = 0;
        let s = faithful(&gt, &pred).unwrap();
        // P = Σ pred·[gt>0] / Σ pred = 255 / 510; R = Σ gt·[pred>0] / Σ gt = 255 / 410.
        assert!((s.precision - 0.5).abs() < 1e-15);
        assert!((s.recall - 255.0 / 410.0).abs() < 1e-15);
        assert!((s.f1 - f_score(0.5, 255.0 / 410.0)).abs() < 1e-15);
    }

    #[test]
    fn faithful_edge_cases() {
        let white = [255u8; 6];
        let mut some = [255u8; 6];
        some[0] = 0;
        let s = faithful(&white, &white).unwrap();
        assert_eq!((s.precision, s.recall, s.f1), (1.0, 1.0, 1.0));
        let s = faithful(&some, &white).unwrap();
        assert_eq!((s.precision, s.recall, s.f1), (1.0, 0.0, 0.0));
        let s = faithful(&white, &some).unwrap();
        assert_eq!((s.precision, s.recall, s.f1), (0.0, 1.0, 0.0));
    }

    #[test]
    fn faithful_refuses_grey_or_inverted_predictions() {
        let gt = [255u8; 12];
        let grey = [0u8, 128, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255];
        assert_eq!(
            faithful(&gt, &grey),
            Err(FaithfulFormatError::NotBinary { distinct_values: 3 })
        );
        let mut inverted = [0u8; 12];
        inverted[0] = 255;
        assert!(matches!(
            faithful(&gt, &inverted),
            Err(FaithfulFormatError::TooMuchMembrane { .. })
        ));
        // Exactly 5 : 1 passes, as in eval.py.
        let mut ok = [255u8; 12];
        ok[0] = 0;
        ok[1] = 0;
        assert!(faithful(&gt, &ok).is_ok());
    }
}
