//! The descent watershed: fragments as the basins of steepest descent on
//! `(−smoothed distance, level)`, a rule that only looks at a pixel's 4-neighbourhood, so a
//! section cut into blocks gives exactly the fragments of the whole (see
//! [`crate::blockwise`]). The priority-flood watershed ([`crate::seeded_watershed`]) has a
//! global first-in-first-out order among equal levels and cannot be split so.
//!
//! - **Altitude**: the distance to the nearest membrane pixel, capped at `max_distance` (which
//!   makes it local: any membrane within the cap lies within the cap's radius), smoothed by the
//!   Gaussian of σ; pixels descend towards larger smoothed distance (cell centres), and between
//!   equal distances towards lower membrane level.
//! - **Descent**: each pixel points to its lowest 4-neighbour if that is strictly lower than the
//!   pixel (ties between neighbours: up, left, right, down). Pixels with no lower neighbour
//!   join their equal neighbours (plateaus, e.g. the capped centre of a large cell, form one
//!   basin). Fragments are the connected components of these links, numbered in row-major order
//!   of their first pixel.
//! - **Boundaries** ([`draw_boundaries_local`]): of two 4-adjacent pixels in different cells,
//!   the one with the higher membrane level becomes 0 (on equal levels, the one first in
//!   row-major order), decided on the labels before any pixel is zeroed.

use rayon::prelude::*;

use crate::{distance_transform, gaussian_smooth};

/// The altitude of the descent: smoothed distance to membrane (`level ≥ threshold_level`),
/// capped at `max_distance` before smoothing.
pub fn capped_smoothed_distance(
    height: usize,
    width: usize,
    levels: &[u16],
    threshold_level: u32,
    max_distance: f32,
    sigma: f32,
) -> Vec<f32> {
    let membrane: Vec<bool> = levels
        .par_iter()
        .map(|&l| l as u32 >= threshold_level)
        .collect();
    let mut distance = distance_transform(height, width, &membrane);
    drop(membrane);
    distance
        .par_iter_mut()
        .for_each(|d| *d = d.min(max_distance));
    gaussian_smooth(height, width, &distance, sigma)
}

/// Whether pixel `b` is strictly lower than pixel `a` in the descent order.
#[inline]
pub(crate) fn lower(sd_a: f32, level_a: u16, sd_b: f32, level_b: u16) -> bool {
    sd_b > sd_a || (sd_b == sd_a && level_b < level_a)
}

/// The 4-neighbours of `i` (up, left, right, down) inside an `h × w` grid.
#[inline]
pub(crate) fn neighbours(i: usize, h: usize, w: usize) -> impl Iterator<Item = usize> {
    let (r, c) = (i / w, i % w);
    [
        (r > 0).then(|| i - w),
        (c > 0).then(|| i - 1),
        (c + 1 < w).then(|| i + 1),
        (r + 1 < h).then(|| i + w),
    ]
    .into_iter()
    .flatten()
}

/// Where pixel `i` descends to (its lowest strictly lower 4-neighbour), if anywhere.
#[inline]
pub(crate) fn descends_to(
    i: usize,
    h: usize,
    w: usize,
    sd: &[f32],
    levels: &[u16],
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for j in neighbours(i, h, w) {
        let below = match best {
            Some(b) => lower(sd[b], levels[b], sd[j], levels[j]),
            None => lower(sd[i], levels[i], sd[j], levels[j]),
        };
        if below {
            best = Some(j);
        }
    }
    best
}

/// Whether 4-adjacent pixels `i` and `j` belong to one basin: one descends to the other, or
/// they are equal and one of them has nowhere to descend.
#[inline]
pub(crate) fn linked(i: usize, j: usize, h: usize, w: usize, sd: &[f32], levels: &[u16]) -> bool {
    let (di, dj) = (
        descends_to(i, h, w, sd, levels),
        descends_to(j, h, w, sd, levels),
    );
    di == Some(j)
        || dj == Some(i)
        || (sd[i] == sd[j] && levels[i] == levels[j] && (di.is_none() || dj.is_none()))
}

/// Union-find over `u32` indices with path halving.
pub(crate) struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    pub(crate) fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n as u32).collect(),
        }
    }

    pub(crate) fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = p;
            x = p;
        }
        x
    }

    pub(crate) fn union(&mut self, a: u32, b: u32) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            // The smaller index as root: any order of unions gives the same roots.
            let (lo, hi) = (a.min(b), a.max(b));
            self.parent[hi as usize] = lo;
        }
    }
}

/// Labels every pixel with its descent basin, `1..=F` in row-major order of each basin's first
/// pixel; returns `F`.
pub fn descent_fragments(
    height: usize,
    width: usize,
    sd: &[f32],
    levels: &[u16],
    labels: &mut [u32],
) -> u32 {
    let (h, w) = (height, width);
    let n = h * w;
    assert!(sd.len() == n && levels.len() == n && labels.len() == n);
    // Each pixel's links to its right and lower neighbours, found in parallel.
    let links: Vec<u8> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (r, c) = (i / w, i % w);
            let right = c + 1 < w && linked(i, i + 1, h, w, sd, levels);
            let down = r + 1 < h && linked(i, i + w, h, w, sd, levels);
            right as u8 | (down as u8) << 1
        })
        .collect();
    let mut uf = UnionFind::new(n);
    for (i, &l) in links.iter().enumerate() {
        if l & 1 != 0 {
            uf.union(i as u32, (i + 1) as u32);
        }
        if l & 2 != 0 {
            uf.union(i as u32, (i + w) as u32);
        }
    }
    drop(links);
    // Roots are each basin's smallest index, i.e. its first pixel in row-major order.
    let mut next = 0u32;
    for i in 0..n {
        let root = uf.find(i as u32) as usize;
        labels[i] = if root == i {
            next += 1;
            next
        } else {
            labels[root]
        };
    }
    next
}

/// Draws one-pixel boundaries by a rule on each pixel's 4-neighbourhood: a pixel with a
/// neighbour in another (non-zero) cell becomes 0 when its level is higher than that
/// neighbour's, or equal and it comes first in row-major order. Decided on the labels as given,
/// so the result does not depend on any scan order; afterwards no two 4-adjacent non-zero
/// pixels carry different labels.
pub fn draw_boundaries_local(height: usize, width: usize, labels: &mut [u32], levels: &[u16]) {
    let (h, w) = (height, width);
    let zero: Vec<bool> = (0..h * w)
        .into_par_iter()
        .map(|i| zeroed(i, h, w, labels, levels))
        .collect();
    labels.par_iter_mut().zip(zero).for_each(|(l, z)| {
        if z {
            *l = 0
        }
    });
}

/// The rule of [`draw_boundaries_local`] for pixel `i`.
#[inline]
pub(crate) fn zeroed(i: usize, h: usize, w: usize, labels: &[u32], levels: &[u16]) -> bool {
    let a = labels[i];
    a != 0
        && neighbours(i, h, w).any(|j| {
            let b = labels[j];
            b != 0 && b != a && (levels[i] > levels[j] || (levels[i] == levels[j] && i < j))
        })
}
