//! The context statistic: how much of a target's total |IG| lies within Euclidean distance r of
//! the target pixel, as a curve over r, and the radii that hold 50 % and 90 % of it.

use serde::{Deserialize, Serialize};

use crate::ig::Attribution;

/// Fraction of Σ|IG| within distance r of the target, for r = 0, 1, …, `max_radius` (index r);
/// `None` when the map is all zeros (no attribution to distribute). A pixel at distance d counts
/// for every r ≥ d.
pub fn context_curve(map: &Attribution, max_radius: usize) -> Option<Vec<f64>> {
    let mut mass = vec![0f64; max_radius + 1];
    let (tr, tc) = (map.target.0 as i64, map.target.1 as i64);
    for r in 0..map.height {
        for c in 0..map.width {
            let v = map.values[r * map.width + c].abs() as f64;
            if v == 0.0 {
                continue;
            }
            let (dr, dc) = ((map.top + r) as i64 - tr, (map.left + c) as i64 - tc);
            let bin = ceil_sqrt((dr * dr + dc * dc) as u64) as usize;
            mass[bin.min(max_radius)] += v;
        }
    }
    let total: f64 = mass.iter().sum();
    if total == 0.0 {
        return None;
    }
    let mut running = 0.0;
    Some(
        mass.iter()
            .map(|m| {
                running += m;
                (running / total).min(1.0)
            })
            .collect(),
    )
}

/// The smallest integer r with r² ≥ n, i.e. the first radius whose disc holds a pixel at
/// squared distance n (exact, no floating-point rounding at perfect squares).
fn ceil_sqrt(n: u64) -> u64 {
    let mut r = (n as f64).sqrt() as u64;
    while r * r < n {
        r += 1;
    }
    while r > 0 && (r - 1) * (r - 1) >= n {
        r -= 1;
    }
    r
}

/// The smallest radius whose curve value reaches `fraction` (e.g. 0.5 for R50).
pub fn radius_holding(curve: &[f64], fraction: f64) -> usize {
    // Tolerate rounding in the cumulative sum so that a curve reaching 1 holds 100 %.
    curve
        .iter()
        .position(|&v| v >= fraction - 1e-12)
        .unwrap_or(curve.len().saturating_sub(1))
}

/// The largest distance from a pixel of a `height × width` image to any other: curves run to it
/// so that they always reach 1.
pub fn max_radius_for(height: usize, width: usize) -> usize {
    ceil_sqrt(((height - 1).pow(2) + (width - 1).pow(2)) as u64) as usize
}

/// Curves of many targets summarised per radius, and their R50/R90.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContextSummary {
    /// Targets with a nonzero attribution map (the others have no curve).
    pub targets: usize,
    /// Mean curve value per radius (index r).
    pub mean: Vec<f64>,
    /// Population standard deviation per radius.
    pub std: Vec<f64>,
    /// Lower quartile per radius.
    pub q25: Vec<f64>,
    /// Median per radius.
    pub median: Vec<f64>,
    /// Upper quartile per radius.
    pub q75: Vec<f64>,
    /// R50 of the mean curve: the smallest radius holding half of the mean |IG|, pixels.
    pub r50_of_mean: usize,
    /// R90 of the mean curve, pixels.
    pub r90_of_mean: usize,
    /// Per-target R50 (pixels), summarised.
    pub r50: Spread,
    /// Per-target R90 (pixels), summarised.
    pub r90: Spread,
}

/// Mean, standard deviation and quartiles of a sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Lower quartile (linear interpolation, as numpy's default).
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// Upper quartile.
    pub q75: f64,
}

impl Spread {
    /// The spread of `values` (at least one).
    pub fn of(values: &[f64]) -> Spread {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Spread {
            mean,
            std: var.sqrt(),
            q25: quantile(&sorted, 0.25),
            median: quantile(&sorted, 0.5),
            q75: quantile(&sorted, 0.75),
        }
    }
}

/// Linear-interpolation quantile of sorted values (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Summarises curves of equal length (at least one).
pub fn summarize(curves: &[Vec<f64>]) -> ContextSummary {
    assert!(!curves.is_empty(), "no curves to summarise");
    let len = curves[0].len();
    let per_radius: Vec<Spread> = (0..len)
        .map(|r| Spread::of(&curves.iter().map(|c| c[r]).collect::<Vec<_>>()))
        .collect();
    let column = |f: fn(&Spread) -> f64| per_radius.iter().map(f).collect::<Vec<_>>();
    let mean = column(|s| s.mean);
    let radii = |fraction: f64| {
        Spread::of(
            &curves
                .iter()
                .map(|c| radius_holding(c, fraction) as f64)
                .collect::<Vec<_>>(),
        )
    };
    ContextSummary {
        targets: curves.len(),
        r50_of_mean: radius_holding(&mean, 0.5),
        r90_of_mean: radius_holding(&mean, 0.9),
        std: column(|s| s.std),
        q25: column(|s| s.q25),
        median: column(|s| s.median),
        q75: column(|s| s.q75),
        mean,
        r50: radii(0.5),
        r90: radii(0.9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(target: (usize, usize), side: usize, values: Vec<f32>) -> Attribution {
        Attribution {
            target,
            top: 0,
            left: 0,
            height: side,
            width: side,
            values,
        }
    }

    #[test]
    fn all_mass_on_the_target_gives_one_from_radius_zero() {
        let mut values = vec![0f32; 25];
        values[2 * 5 + 2] = -3.0;
        let curve = context_curve(&map((2, 2), 5, values), 6).unwrap();
        assert_eq!(curve, vec![1.0; 7]);
        assert_eq!(radius_holding(&curve, 0.5), 0);
        assert_eq!(radius_holding(&curve, 0.9), 0);
    }

    #[test]
    fn ring_radii_are_exact() {
        // Equal |IG| on the four pixels at distance 3 and 0.25 of it ×4 at distance 5
        // (3-4-5 points): 4 of 5 units within r = 3, all within r = 5.
        let side = 11;
        let mut values = vec![0f32; side * side];
        let centre = 5i64;
        for (dr, dc) in [(3, 0), (-3, 0), (0, 3), (0, -3)] {
            values[((centre + dr) * side as i64 + centre + dc) as usize] = 1.0;
        }
        for (dr, dc) in [(3, 4), (-4, 3), (4, -3), (-3, -4)] {
            values[((centre + dr) * side as i64 + centre + dc) as usize] = -0.25;
        }
        let curve = context_curve(&map((5, 5), side, values), 15).unwrap();
        assert_eq!(&curve[..3], &[0.0, 0.0, 0.0]);
        assert!((curve[3] - 0.8).abs() < 1e-12 && (curve[4] - 0.8).abs() < 1e-12);
        assert!(curve[5..].iter().all(|&v| (v - 1.0).abs() < 1e-12));
        assert_eq!(radius_holding(&curve, 0.5), 3);
        assert_eq!(radius_holding(&curve, 0.8), 3);
        assert_eq!(radius_holding(&curve, 0.9), 5);
    }

    #[test]
    fn windows_are_placed_in_image_coordinates() {
        // A 1×1 window far from the target: all mass at distance 10 (6-8-10).
        let map = Attribution {
            target: (0, 0),
            top: 6,
            left: 8,
            height: 1,
            width: 1,
            values: vec![2.0],
        };
        let curve = context_curve(&map, 12).unwrap();
        assert_eq!(curve[9], 0.0);
        assert_eq!(curve[10], 1.0);
    }

    #[test]
    fn zero_maps_have_no_curve() {
        assert!(context_curve(&map((0, 0), 2, vec![0.0; 4]), 3).is_none());
    }

    #[test]
    fn ceil_sqrt_is_exact_at_squares() {
        let expected = [0, 1, 2, 2, 2, 3, 3, 3, 3, 3, 4];
        for (n, &r) in expected.iter().enumerate() {
            assert_eq!(ceil_sqrt(n as u64), r, "n = {n}");
        }
        assert_eq!(ceil_sqrt(1 << 40), 1 << 20);
        assert_eq!(ceil_sqrt((1 << 40) + 1), (1 << 20) + 1);
        assert_eq!(max_radius_for(4, 5), 5);
    }

    #[test]
    fn summary_statistics() {
        let curves = vec![
            vec![0.0, 0.2, 1.0],
            vec![0.0, 0.6, 1.0],
            vec![0.4, 1.0, 1.0],
            vec![0.0, 0.6, 1.0],
        ];
        let s = summarize(&curves);
        assert_eq!(s.targets, 4);
        assert!((s.mean[1] - 0.6).abs() < 1e-12);
        // Population std of {0.2, 0.6, 1.0, 0.6}: sqrt(0.08).
        assert!((s.std[1] - 0.08f64.sqrt()).abs() < 1e-12);
        assert!((s.q25[1] - 0.5).abs() < 1e-12 && (s.q75[1] - 0.7).abs() < 1e-12);
        assert_eq!(s.r50_of_mean, 1);
        assert_eq!(s.r90_of_mean, 2);
        // Per-target R50: 2, 1, 1, 1; R90: 2, 2, 1, 2.
        assert!((s.r50.mean - 1.25).abs() < 1e-12);
        assert!((s.r90.mean - 1.75).abs() < 1e-12);
        assert_eq!(s.r90.median, 2.0);
    }
}
