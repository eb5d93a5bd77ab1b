//! Perceptual Hausdorff Distance (SPEC §4.3; Shi et al., arXiv 2010.08209; `PS-Net/evaluate`).
//!
//! Both membrane masks are skeletonised; every skeleton point of one set takes its exact
//! Euclidean distance to the nearest point of the other set, distances ≤ t become 0, each
//! direction is averaged, and the two means are **summed**. Both empty → 0; one empty → 1000.

use rayon::prelude::*;

use crate::skeleton::skeletonize;

/// The tolerances the authors report (`PHD_0 … PHD_10`).
pub const PHD_TOLERANCES: [f64; 5] = [0.0, 1.0, 3.0, 5.0, 10.0];

/// PHD value when exactly one skeleton is empty (the authors' `PHD.py`).
pub const PHD_ONE_EMPTY: f64 = 1000.0;

/// PHD at each tolerance in `tolerances`, from two membrane masks (`!= 0` = membrane).
pub fn phd(gt: &[u8], pred: &[u8], height: usize, width: usize, tolerances: &[f64]) -> Vec<f64> {
    let sk_gt = skeletonize(gt, height, width);
    let sk_pred = skeletonize(pred, height, width);
    phd_of_skeletons(&sk_gt, &sk_pred, height, width, tolerances)
}

/// PHD between two point sets given as masks (already skeletons).
pub fn phd_of_skeletons(
    a: &[u8],
    b: &[u8],
    height: usize,
    width: usize,
    tolerances: &[f64],
) -> Vec<f64> {
    let points = |m: &[u8]| -> Vec<u32> {
        (0..m.len() as u32)
            .into_par_iter()
            .filter(|&i| m[i as usize] != 0)
            .collect()
    };
    let (pa, pb) = (points(a), points(b));
    match (pa.is_empty(), pb.is_empty()) {
        (true, true) => return vec![0.0; tolerances.len()],
        (true, false) | (false, true) => return vec![PHD_ONE_EMPTY; tolerances.len()],
        _ => {}
    }
    let ab = directed_means(&pa, b, height, width, tolerances);
    let ba = directed_means(&pb, a, height, width, tolerances);
    ab.iter().zip(&ba).map(|(x, y)| x + y).collect()
}

/// Mean over `from` points of their distance to the nearest set pixel of `to`, with distances
/// ≤ t counted as 0, for each tolerance t.
fn directed_means(
    from: &[u32],
    to: &[u8],
    height: usize,
    width: usize,
    tolerances: &[f64],
) -> Vec<f64> {
    let d2 = squared_distance_transform(to, height, width);
    let sums = from
        .par_iter()
        .fold(
            || vec![0f64; tolerances.len()],
            |mut acc, &i| {
                let d = (d2[i as usize] as f64).sqrt();
                for (s, &t) in acc.iter_mut().zip(tolerances) {
                    if d > t {
                        *s += d;
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![0f64; tolerances.len()],
            |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect(),
        );
    sums.into_iter().map(|s| s / from.len() as f64).collect()
}

/// Exact squared Euclidean distance of every pixel to the nearest non-zero pixel of `mask`
/// (Felzenszwalb & Huttenlocher's separable lower-envelope algorithm), row-major. Integer
/// results, so values are exact; `u32::MAX` where the mask is empty. Squared distances fit
/// `u32` for images up to about 46 000 pixels on a side.
pub fn squared_distance_transform(mask: &[u8], height: usize, width: usize) -> Vec<u32> {
    const NONE: u32 = u32::MAX;
    // Columns: distance to the nearest feature in the same column, by two sweeps over rows so
    // the inner loop runs along contiguous memory.
    let mut dist = vec![NONE; height * width];
    let mut last = vec![NONE; width];
    for r in 0..height {
        let (m, d) = (
            &mask[r * width..(r + 1) * width],
            &mut dist[r * width..(r + 1) * width],
        );
        for c in 0..width {
            if m[c] != 0 {
                last[c] = r as u32;
            }
            if last[c] != NONE {
                d[c] = r as u32 - last[c];
            }
        }
    }
    last.fill(NONE);
    for r in (0..height).rev() {
        let (m, d) = (
            &mask[r * width..(r + 1) * width],
            &mut dist[r * width..(r + 1) * width],
        );
        for c in 0..width {
            if m[c] != 0 {
                last[c] = r as u32;
            }
            if last[c] != NONE {
                d[c] = d[c].min(last[c] - r as u32);
            }
        }
    }
    // Rows: lower envelope of the parabolas f(q) + (x − q)², f = squared column distance.
    dist.par_chunks_mut(width).for_each(|row| {
        let f: Vec<u64> = row
            .iter()
            .map(|&d| {
                if d == NONE {
                    u64::MAX
                } else {
                    (d as u64).pow(2)
                }
            })
            .collect();
        let finite: Vec<usize> = (0..width).filter(|&q| f[q] != u64::MAX).collect();
        if finite.is_empty() {
            row.fill(NONE);
            return;
        }
        let mut v = vec![0usize; finite.len()];
        let mut z = vec![0f64; finite.len() + 1];
        let mut k = 0usize;
        v[0] = finite[0];
        z[0] = f64::NEG_INFINITY;
        z[1] = f64::INFINITY;
        let meet = |q: usize, p: usize| -> f64 {
            ((f[q] + (q * q) as u64) as f64 - (f[p] + (p * p) as u64) as f64)
                / (2.0 * (q as f64 - p as f64))
        };
        for &q in &finite[1..] {
            let mut s = meet(q, v[k]);
            while s <= z[k] {
                k -= 1;
                s = meet(q, v[k]);
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = f64::INFINITY;
        }
        k = 0;
        for (x, d) in row.iter_mut().enumerate() {
            while z[k + 1] < x as f64 {
                k += 1;
            }
            let dx = x.abs_diff(v[k]) as u64;
            *d = (dx * dx + f[v[k]]) as u32;
        }
    });
    dist
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(mask: &[u8], h: usize, w: usize) -> Vec<u32> {
        let pts: Vec<(usize, usize)> = (0..h * w)
            .filter(|&i| mask[i] != 0)
            .map(|i| (i / w, i % w))
            .collect();
        (0..h * w)
            .map(|i| {
                let (r, c) = (i / w, i % w);
                pts.iter()
                    .map(|&(pr, pc)| (r.abs_diff(pr).pow(2) + c.abs_diff(pc).pow(2)) as u32)
                    .min()
                    .unwrap_or(u32::MAX)
            })
            .collect()
    }

    #[test]
    fn distance_transform_is_exact() {
        let (h, w) = (37, 150);
        let mut state = 99u64;
        for density in [2u64, 30, 500] {
            let mask: Vec<u8> = (0..h * w)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 33) % 1000 < density) as u8
                })
                .collect();
            assert_eq!(
                squared_distance_transform(&mask, h, w),
                brute_force(&mask, h, w)
            );
        }
    }

    #[test]
    fn hand_computed_point_sets() {
        // A = {(0,0), (0,4)}, B = {(0,1)} on a 1×5 grid.
        // A→B distances 1, 3 → mean 2 (t=0), 1.5 (t=1), 0 (t=3); B→A: 1 → 1, 0, 0.
        let a = [1u8, 0, 0, 0, 1];
        let b = [0u8, 1, 0, 0, 0];
        let v = phd_of_skeletons(&a, &b, 1, 5, &[0.0, 1.0, 3.0]);
        assert_eq!(v, vec![3.0, 1.5, 0.0]);
        // Diagonal distance √2 survives t = 1.
        let a = [1u8, 0, 0, 0];
        let b = [0u8, 0, 0, 1];
        let v = phd_of_skeletons(&a, &b, 2, 2, &[1.0]);
        assert!((v[0] - 2.0 * 2f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn empty_sets_follow_the_authors() {
        let e = [0u8; 4];
        let s = [0u8, 1, 0, 0];
        assert_eq!(phd_of_skeletons(&e, &e, 2, 2, &[1.0]), vec![0.0]);
        assert_eq!(phd_of_skeletons(&s, &e, 2, 2, &[1.0]), vec![1000.0]);
        assert_eq!(phd_of_skeletons(&e, &s, 2, 2, &[1.0]), vec![1000.0]);
    }

    #[test]
    fn one_pixel_shift_of_a_thin_line_is_tolerated_at_t1() {
        let (h, w) = (20, 20);
        let line = |col: usize| -> Vec<u8> {
            (0..h * w)
                .map(|i| (i % w == col && i / w > 2 && i / w < 17) as u8)
                .collect()
        };
        let v = phd(&line(9), &line(10), h, w, &[0.0, 1.0]);
        assert!(v[0] > 0.0);
        assert_eq!(v[1], 0.0);
    }
}
