//! Exact Euclidean distance transform (Felzenszwalb & Huttenlocher, "Distance transforms of
//! sampled functions", 2012): a column pass (distance in rows to the nearest feature pixel of the
//! same column) and a row pass (lower envelope of parabolas), both linear in the pixel count.

use rayon::prelude::*;

/// Euclidean distance of every pixel of a `height × width` grid to the nearest pixel where
/// `feature[i]` holds (0 on feature pixels). Where the grid has no feature pixel at all, every
/// pixel gets `f32::INFINITY`.
///
/// Exact: squared distances are integers handled in `f64`, so the result is the correctly
/// rounded `f32` of the true distance on any grid up to 2^26 pixels a side.
pub fn distance_transform(height: usize, width: usize, feature: &[bool]) -> Vec<f32> {
    assert_eq!(
        feature.len(),
        height * width,
        "mask does not match {height}×{width}"
    );
    let mut out = vec![f32::INFINITY; height * width];
    if height == 0 || width == 0 {
        return out;
    }
    // Column pass: forward then backward, one row at a time (vectorised across columns).
    for r in 0..height {
        let (done, rest) = out.split_at_mut(r * width);
        let row = &mut rest[..width];
        let mask = &feature[r * width..(r + 1) * width];
        if r == 0 {
            for (o, &m) in row.iter_mut().zip(mask) {
                *o = if m { 0.0 } else { f32::INFINITY };
            }
        } else {
            let above = &done[(r - 1) * width..];
            for ((o, &m), &a) in row.iter_mut().zip(mask).zip(above) {
                *o = if m { 0.0 } else { a + 1.0 };
            }
        }
    }
    for r in (0..height.saturating_sub(1)).rev() {
        let (head, tail) = out.split_at_mut((r + 1) * width);
        let row = &mut head[r * width..];
        for (o, &b) in row.iter_mut().zip(&tail[..width]) {
            *o = o.min(b + 1.0);
        }
    }
    // Row pass: lower envelope of the parabolas (q − x)² + g(q)² over the columns q whose
    // column distance is finite.
    out.par_chunks_mut(width).for_each_init(
        || RowScratch::new(width),
        |scratch, row| scratch.transform(row),
    );
    out
}

struct RowScratch {
    f: Vec<f64>,
    sites: Vec<usize>,
    bounds: Vec<f64>,
}

impl RowScratch {
    fn new(width: usize) -> RowScratch {
        RowScratch {
            f: vec![0.0; width],
            sites: Vec::with_capacity(width),
            bounds: Vec::with_capacity(width + 1),
        }
    }

    fn transform(&mut self, row: &mut [f32]) {
        let (f, v, z) = (&mut self.f, &mut self.sites, &mut self.bounds);
        v.clear();
        z.clear();
        for (q, &g) in row.iter().enumerate() {
            if !g.is_finite() {
                continue;
            }
            f[q] = g as f64 * g as f64;
            let fq = f[q];
            let qf = q as f64;
            loop {
                let Some(&p) = v.last() else {
                    v.push(q);
                    z.push(f64::NEG_INFINITY);
                    break;
                };
                let pf = p as f64;
                // Where the parabola of q overtakes that of p.
                let s = ((fq + qf * qf) - (f[p] + pf * pf)) / (2.0 * (qf - pf));
                if s <= *z.last().expect("one bound per site") {
                    v.pop();
                    z.pop();
                } else {
                    v.push(q);
                    z.push(s);
                    break;
                }
            }
        }
        if v.is_empty() {
            return; // no feature pixel in any column: the row stays infinite
        }
        let mut k = 0;
        for (x, o) in row.iter_mut().enumerate() {
            let xf = x as f64;
            while k + 1 < v.len() && z[k + 1] < xf {
                k += 1;
            }
            let d = xf - v[k] as f64;
            *o = (d * d + f[v[k]]).sqrt() as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(height: usize, width: usize, feature: &[bool]) -> Vec<f32> {
        let points: Vec<(usize, usize)> = (0..height * width)
            .filter(|&i| feature[i])
            .map(|i| (i / width, i % width))
            .collect();
        (0..height * width)
            .map(|i| {
                let (r, c) = (i / width, i % width);
                points
                    .iter()
                    .map(|&(pr, pc)| {
                        let (dr, dc) = (pr as f64 - r as f64, pc as f64 - c as f64);
                        dr * dr + dc * dc
                    })
                    .fold(f64::INFINITY, f64::min)
                    .sqrt() as f32
            })
            .collect()
    }

    /// A small deterministic generator (xorshift), so tests need no random crate.
    fn masks(seed: u64, n: usize, density: u64) -> Vec<bool> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s % 1000 < density
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_on_random_masks() {
        for (k, &(h, w)) in [(1, 1), (1, 9), (9, 1), (7, 13), (31, 17), (40, 40)]
            .iter()
            .enumerate()
        {
            for density in [0, 5, 50, 300, 1000] {
                let mask = masks(k as u64 * 7919 + density + 1, h * w, density);
                let got = distance_transform(h, w, &mask);
                let want = brute(h, w, &mask);
                assert_eq!(got, want, "{h}×{w} density {density}");
            }
        }
    }

    #[test]
    fn single_point_gives_exact_euclidean_distances() {
        let (h, w) = (5, 6);
        let mut mask = vec![false; h * w];
        mask[2 * w + 1] = true;
        let d = distance_transform(h, w, &mask);
        assert_eq!(d[2 * w + 1], 0.0);
        assert_eq!(d[2 * w + 4], 3.0);
        assert_eq!(d[4 * w + 5], (4.0f64 + 16.0).sqrt() as f32);
    }
}
