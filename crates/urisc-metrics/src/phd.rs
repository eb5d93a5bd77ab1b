//! Perceptual Hausdorff Distance (SPEC §4.3; Shi et al., arXiv 2010.08209; `PS-Net/evaluate`).
//!
//! Both membrane masks are skeletonised; every skeleton point of one set takes its exact
//! Euclidean distance to the nearest point of the other set, distances ≤ t become 0, each
//! direction is averaged, and the two means are **summed**. Both empty → 0; one empty → 1000.

use rayon::prelude::*;

use crate::skeleton::skeletonize_in_place;

/// The tolerances the authors report (`PHD_0 … PHD_10`).
pub const PHD_TOLERANCES: [f64; 5] = [0.0, 1.0, 3.0, 5.0, 10.0];

/// PHD value when exactly one skeleton is empty (the authors' `PHD.py`).
pub const PHD_ONE_EMPTY: f64 = 1000.0;

/// PHD at each tolerance in `tolerances`, from two membrane masks (`!= 0` = membrane).
pub fn phd(gt: &[u8], pred: &[u8], height: usize, width: usize, tolerances: &[f64]) -> Vec<f64> {
    let a = skeleton_points(gt.to_vec(), height, width);
    let b = skeleton_points(pred.to_vec(), height, width);
    phd_of_points(&a, &b, height, width, tolerances)
}

/// Row-major indices of the skeleton of `mask` (consumed, so no second full-size copy exists).
pub fn skeleton_points(mask: Vec<u8>, height: usize, width: usize) -> Vec<u32> {
    let skeleton = skeletonize_in_place(mask, height, width);
    (0..skeleton.len() as u32)
        .into_par_iter()
        .filter(|&i| skeleton[i as usize] != 0)
        .collect()
}

/// PHD between two point sets (row-major indices, sorted ascending).
pub fn phd_of_points(
    a: &[u32],
    b: &[u32],
    height: usize,
    width: usize,
    tolerances: &[f64],
) -> Vec<f64> {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return vec![0.0; tolerances.len()],
        (true, false) | (false, true) => return vec![PHD_ONE_EMPTY; tolerances.len()],
        _ => {}
    }
    let ab = directed_means(a, b, height, width, tolerances);
    let ba = directed_means(b, a, height, width, tolerances);
    ab.iter().zip(&ba).map(|(x, y)| x + y).collect()
}

/// Mean over `from` points of their distance to the nearest point of `to`, with distances
/// ≤ t counted as 0, for each tolerance t.
fn directed_means(
    from: &[u32],
    to: &[u32],
    height: usize,
    width: usize,
    tolerances: &[f64],
) -> Vec<f64> {
    let d = nearest_distances(to, from, height, width);
    tolerances
        .iter()
        // Fold from +0.0: an empty f64 sum is −0.0, which would print as "-0".
        .map(|&t| d.iter().filter(|&&x| x > t).fold(0.0, |a, x| a + x) / from.len() as f64)
        .collect()
}

/// Column distances fit in 16 bits for images under 65 535 rows (halving the grid's memory);
/// taller images use 32 bits.
trait ColumnDistance: Copy + Send + Sync + Ord {
    const NONE: Self;
    const ZERO: Self;
    fn step(self) -> Self;
    fn squared(self) -> u64;
}

impl ColumnDistance for u16 {
    const NONE: Self = u16::MAX;
    const ZERO: Self = 0;
    fn step(self) -> Self {
        self.saturating_add(1)
    }
    fn squared(self) -> u64 {
        (self as u64).pow(2)
    }
}

impl ColumnDistance for u32 {
    const NONE: Self = u32::MAX;
    const ZERO: Self = 0;
    fn step(self) -> Self {
        self.saturating_add(1)
    }
    fn squared(self) -> u64 {
        (self as u64).pow(2)
    }
}

/// Exact Euclidean distance from each of `queries` to the nearest of `targets` (row-major
/// indices, both sorted ascending; `targets` non-empty). Felzenszwalb & Huttenlocher's
/// separable algorithm: column distances on one grid, then per row the lower envelope of the
/// parabolas f(q) + (x − q)², evaluated only at the query points of that row.
pub fn nearest_distances(
    targets: &[u32],
    queries: &[u32],
    height: usize,
    width: usize,
) -> Vec<f64> {
    if height < u16::MAX as usize {
        nearest_distances_with::<u16>(targets, queries, height, width)
    } else {
        nearest_distances_with::<u32>(targets, queries, height, width)
    }
}

fn nearest_distances_with<D: ColumnDistance>(
    targets: &[u32],
    queries: &[u32],
    height: usize,
    width: usize,
) -> Vec<f64> {
    assert!(!targets.is_empty());
    let mut col = vec![D::NONE; height * width];
    for &t in targets {
        col[t as usize] = D::ZERO;
    }
    // Two sweeps over rows; the inner loops run along contiguous memory.
    for r in 1..height {
        let (prev, cur) = col[(r - 1) * width..(r + 1) * width].split_at_mut(width);
        for (c, p) in cur.iter_mut().zip(prev.iter()) {
            *c = (*c).min(p.step());
        }
    }
    for r in (0..height.saturating_sub(1)).rev() {
        let (cur, next) = col[r * width..(r + 2) * width].split_at_mut(width);
        for (c, n) in cur.iter_mut().zip(next.iter()) {
            *c = (*c).min(n.step());
        }
    }
    let col = &col;
    (0..height)
        .into_par_iter()
        .flat_map_iter(|r| {
            let lo = queries.partition_point(|&q| (q as usize) < r * width);
            let hi = queries.partition_point(|&q| (q as usize) < (r + 1) * width);
            let mut out = Vec::with_capacity(hi - lo);
            if lo < hi {
                let row = &col[r * width..(r + 1) * width];
                let envelope = LowerEnvelope::new(row);
                let mut k = 0;
                for &q in &queries[lo..hi] {
                    let x = q as usize - r * width;
                    out.push((envelope.eval(x, &mut k) as f64).sqrt());
                }
            }
            out
        })
        .collect()
}

/// Lower envelope of the parabolas f(q) + (x − q)² over the finite entries of a row.
struct LowerEnvelope {
    f: Vec<u64>,
    v: Vec<usize>,
    z: Vec<f64>,
}

impl LowerEnvelope {
    fn new<D: ColumnDistance>(row: &[D]) -> LowerEnvelope {
        let f: Vec<u64> = row
            .iter()
            .map(|d| if *d == D::NONE { u64::MAX } else { d.squared() })
            .collect();
        let mut v: Vec<usize> = Vec::new();
        let mut z: Vec<f64> = vec![f64::NEG_INFINITY];
        let meet = |q: usize, p: usize| -> f64 {
            ((f[q] + (q * q) as u64) as f64 - (f[p] + (p * p) as u64) as f64)
                / (2.0 * (q as f64 - p as f64))
        };
        for q in (0..f.len()).filter(|&q| f[q] != u64::MAX) {
            if v.is_empty() {
                v.push(q);
                z.push(f64::INFINITY);
                continue;
            }
            let mut s = meet(q, *v.last().expect("non-empty"));
            while s <= z[v.len() - 1] {
                v.pop();
                z.pop();
                s = meet(q, *v.last().expect("the first parabola is never removed"));
            }
            *z.last_mut().expect("non-empty") = s;
            v.push(q);
            z.push(f64::INFINITY);
        }
        LowerEnvelope { f, v, z }
    }

    /// Squared distance at column `x`; `k` carries the envelope position across increasing x.
    fn eval(&self, x: usize, k: &mut usize) -> u64 {
        if self.v.is_empty() {
            return u64::MAX;
        }
        while self.z[*k + 1] < x as f64 {
            *k += 1;
        }
        let q = self.v[*k];
        (x.abs_diff(q) as u64).pow(2) + self.f[q]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(mask: &[u8], h: usize, w: usize) -> Vec<f64> {
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
                    .map(|d| (d as f64).sqrt())
                    .unwrap()
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
            let targets: Vec<u32> = (0..(h * w) as u32)
                .filter(|&i| mask[i as usize] != 0)
                .collect();
            let all: Vec<u32> = (0..(h * w) as u32).collect();
            assert_eq!(
                nearest_distances(&targets, &all, h, w),
                brute_force(&mask, h, w)
            );
        }
    }

    #[test]
    fn hand_computed_point_sets() {
        // A = {(0,0), (0,4)}, B = {(0,1)} on a 1×5 grid.
        // A→B distances 1, 3 → mean 2 (t=0), 1.5 (t=1), 0 (t=3); B→A: 1 → 1, 0, 0.
        let v = phd_of_points(&[0, 4], &[1], 1, 5, &[0.0, 1.0, 3.0]);
        assert_eq!(v, vec![3.0, 1.5, 0.0]);
        // Diagonal distance √2 survives t = 1.
        let v = phd_of_points(&[0], &[3], 2, 2, &[1.0]);
        assert!((v[0] - 2.0 * 2f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn empty_sets_follow_the_authors() {
        assert_eq!(phd_of_points(&[], &[], 2, 2, &[1.0]), vec![0.0]);
        assert_eq!(phd_of_points(&[1], &[], 2, 2, &[1.0]), vec![1000.0]);
        assert_eq!(phd_of_points(&[], &[1], 2, 2, &[1.0]), vec![1000.0]);
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
        assert!(v[1].is_sign_positive(), "prints as 0, not -0");
    }
}
