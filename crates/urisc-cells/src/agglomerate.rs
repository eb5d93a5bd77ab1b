//! Agglomeration of watershed fragments on their region adjacency graph.
//!
//! Edges carry the sum and count of the boundary levels along the shared boundary of two
//! regions; a boundary element is a 4-adjacent pixel pair with different labels, valued at the
//! higher of the two pixels' levels (the crest the watershed line lies on). Average linkage
//! (waterz "mean affinity", GASP average): repeatedly merge the two regions whose boundary has
//! the lowest mean level while that mean is below the threshold; a merged region's edge to a
//! neighbour sums the sums and counts of both former edges, so every mean stays the exact mean
//! over all its boundary elements. Sums are integers, so the result does not depend on the order
//! sums were formed in; ties go to the edge created first (row-major scan order).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// One boundary between two regions.
#[derive(Clone, Copy, Debug)]
struct Edge {
    a: u32,
    b: u32,
    sum: u64,
    count: u64,
    alive: bool,
}

impl Edge {
    fn mean(&self) -> f64 {
        self.sum as f64 / self.count as f64
    }
}

/// The region adjacency graph of a label image (labels `1..=regions`, 0 = not a region).
pub struct RegionGraph {
    edges: Vec<Edge>,
    /// Per region: neighbour → edge index (only meaningful for current roots).
    adjacency: Vec<FxHashMap<u32, u32>>,
    parent: Vec<u32>,
    /// Pixel count of each region (of each root after merges).
    pub sizes: Vec<u64>,
}

impl RegionGraph {
    /// Builds the graph of `labels` (values `0..=regions`) with boundary elements valued by
    /// `levels`.
    pub fn build(
        height: usize,
        width: usize,
        labels: &[u32],
        levels: &[u16],
        regions: u32,
    ) -> RegionGraph {
        let n = regions as usize + 1;
        let mut g = RegionGraph {
            edges: Vec::new(),
            adjacency: vec![FxHashMap::default(); n],
            parent: (0..n as u32).collect(),
            sizes: vec![0; n],
        };
        let add = |g: &mut RegionGraph, i: usize, j: usize| {
            let (la, lb) = (labels[i], labels[j]);
            if la == lb || la == 0 || lb == 0 {
                return;
            }
            let v = levels[i].max(levels[j]) as u64;
            let (a, b) = (la.min(lb), la.max(lb));
            match g.adjacency[a as usize].get(&b) {
                Some(&e) => {
                    let e = &mut g.edges[e as usize];
                    e.sum += v;
                    e.count += 1;
                }
                None => {
                    let e = g.edges.len() as u32;
                    g.edges.push(Edge {
                        a,
                        b,
                        sum: v,
                        count: 1,
                        alive: true,
                    });
                    g.adjacency[a as usize].insert(b, e);
                    g.adjacency[b as usize].insert(a, e);
                }
            }
        };
        for r in 0..height {
            for c in 0..width {
                let i = r * width + c;
                g.sizes[labels[i] as usize] += 1;
                if c + 1 < width {
                    add(&mut g, i, i + 1);
                }
                if r + 1 < height {
                    add(&mut g, i, i + width);
                }
            }
        }
        g
    }

    /// The graph [`RegionGraph::build`] makes, from what a block-wise pass collected: each
    /// region's pixel count (`sizes[0]` unused) and each boundary `(a, b, sum, count)` with
    /// `a < b`, in the order `build` would create them (row-major order of their first boundary
    /// element, a pixel's right pair before its lower pair).
    pub fn from_edges(sizes: Vec<u64>, edges: &[(u32, u32, u64, u64)]) -> RegionGraph {
        let n = sizes.len();
        let mut g = RegionGraph {
            edges: Vec::with_capacity(edges.len()),
            adjacency: vec![FxHashMap::default(); n],
            parent: (0..n as u32).collect(),
            sizes,
        };
        for &(a, b, sum, count) in edges {
            debug_assert!(a < b && (b as usize) < n);
            let e = g.edges.len() as u32;
            g.edges.push(Edge {
                a,
                b,
                sum,
                count,
                alive: true,
            });
            g.adjacency[a as usize].insert(b, e);
            g.adjacency[b as usize].insert(a, e);
        }
        g
    }

    /// The current region (root) that region `x` belongs to.
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    /// Merges the two roots joined by edge `e`; returns the surviving root. Every edge of the
    /// absorbed region is moved to the survivor or added into the survivor's edge to the same
    /// neighbour. `touched` receives the edges whose mean changed.
    fn merge(&mut self, e: u32, touched: &mut Vec<u32>) -> u32 {
        let Edge { a, b, .. } = self.edges[e as usize];
        self.edges[e as usize].alive = false;
        // Move the smaller adjacency into the larger.
        let (keep, gone) = if self.adjacency[a as usize].len() >= self.adjacency[b as usize].len() {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[gone as usize] = keep;
        self.sizes[keep as usize] += self.sizes[gone as usize];
        self.adjacency[keep as usize].remove(&gone);
        let mut moved: Vec<(u32, u32)> = std::mem::take(&mut self.adjacency[gone as usize])
            .into_iter()
            .filter(|&(n, _)| n != keep)
            .collect();
        // Hash-map order is deterministic here, but sort anyway: the edge order must not depend
        // on the map's internals.
        moved.sort_unstable();
        for (neighbour, old) in moved {
            let nmap = &mut self.adjacency[neighbour as usize];
            nmap.remove(&gone);
            match self.adjacency[keep as usize].get(&neighbour) {
                Some(&existing) => {
                    let (s, c) = (self.edges[old as usize].sum, self.edges[old as usize].count);
                    self.edges[old as usize].alive = false;
                    let ex = &mut self.edges[existing as usize];
                    ex.sum += s;
                    ex.count += c;
                    touched.push(existing);
                }
                None => {
                    let ed = &mut self.edges[old as usize];
                    (ed.a, ed.b) = (keep.min(neighbour), keep.max(neighbour));
                    self.adjacency[neighbour as usize].insert(keep, old);
                    self.adjacency[keep as usize].insert(neighbour, old);
                }
            }
        }
        keep
    }

    /// Average-linkage agglomeration: merges while the lowest mean boundary level is below
    /// `threshold` (in level units). Returns the number of merges.
    pub fn merge_below(&mut self, threshold: f64) -> usize {
        // Heap entries: (mean, edge index, count when pushed); stale entries are skipped.
        let mut heap: BinaryHeap<Reverse<(u64, u32, u64)>> = self
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.alive && e.mean() < threshold)
            .map(|(i, e)| Reverse((e.mean().to_bits(), i as u32, e.count)))
            .collect();
        let mut merges = 0;
        let mut touched = Vec::new();
        while let Some(Reverse((_, e, count))) = heap.pop() {
            let edge = self.edges[e as usize];
            if !edge.alive || edge.count != count {
                continue;
            }
            touched.clear();
            self.merge(e, &mut touched);
            merges += 1;
            for &t in &touched {
                let ed = self.edges[t as usize];
                if ed.mean() < threshold {
                    heap.push(Reverse((ed.mean().to_bits(), t, ed.count)));
                }
            }
        }
        merges
    }

    /// Merges every region smaller than `min_size` pixels into the neighbour it shares the
    /// lowest mean boundary level with (ties: the edge created first), smallest regions first
    /// (ties: lowest id). Regions without neighbours stay. Returns the number of merges.
    pub fn merge_small(&mut self, min_size: u64) -> usize {
        let mut heap: BinaryHeap<Reverse<(u64, u32)>> = (1..self.parent.len() as u32)
            .filter(|&x| self.parent[x as usize] == x && self.sizes[x as usize] < min_size)
            .map(|x| Reverse((self.sizes[x as usize], x)))
            .collect();
        let mut merges = 0;
        let mut touched = Vec::new();
        while let Some(Reverse((size, x))) = heap.pop() {
            if self.parent[x as usize] != x || self.sizes[x as usize] != size {
                continue;
            }
            let best = self.adjacency[x as usize]
                .values()
                .map(|&e| (self.edges[e as usize].mean().to_bits(), e))
                .min();
            let Some((_, e)) = best else { continue };
            touched.clear();
            let keep = self.merge(e, &mut touched);
            merges += 1;
            if self.sizes[keep as usize] < min_size {
                heap.push(Reverse((self.sizes[keep as usize], keep)));
            }
        }
        merges
    }

    /// For every original region, the root it ended in (index 0 maps to 0).
    pub fn roots(&mut self) -> Vec<u32> {
        (0..self.parent.len() as u32)
            .map(|x| self.find(x))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three regions in a row: 1 | 2 | 3 with boundary levels 10 (1–2) and 50 (2–3).
    fn three() -> (Vec<u32>, Vec<u16>) {
        let labels = vec![1, 1, 2, 2, 3, 3];
        let levels = vec![0, 10, 10, 50, 50, 0];
        (labels, levels)
    }

    #[test]
    fn merges_lowest_boundaries_first_and_stops_at_the_threshold() {
        let (labels, levels) = three();
        let mut g = RegionGraph::build(1, 6, &labels, &levels, 3);
        assert_eq!(g.merge_below(20.0), 1);
        let roots = g.roots();
        assert_eq!(roots[1], roots[2]);
        assert_ne!(roots[2], roots[3]);
        let mut g = RegionGraph::build(1, 6, &labels, &levels, 3);
        assert_eq!(g.merge_below(51.0), 2);
        let roots = g.roots();
        assert!(roots[1] == roots[2] && roots[2] == roots[3]);
    }

    #[test]
    fn merged_edges_average_over_all_boundary_elements() {
        // Region 3 touches 1 (one element at level 30) and 2 (two elements, at 0 and 90).
        // After 1 and 2 merge, the edge to 3 has mean (30 + 0 + 90)/3 = 40.
        #[rustfmt::skip]
        let labels = vec![
            1, 2, 2,
            3, 3, 3,
        ];
        #[rustfmt::skip]
        let levels = vec![
            0, 0, 90,
            30, 0, 0,
        ];
        let mut g = RegionGraph::build(2, 3, &labels, &levels, 3);
        assert_eq!(g.merge_below(1.0), 1); // 1–2 at mean 0
        let r = g.find(1);
        let e = g.adjacency[r as usize][&3];
        assert_eq!(g.edges[e as usize].sum, 30 + 90);
        assert_eq!(g.edges[e as usize].count, 3);
        assert_eq!(g.merge_below(40.0), 0);
        assert_eq!(g.merge_below(41.0), 1);
    }

    #[test]
    fn small_regions_join_their_weakest_boundary() {
        // Region 2 (1 px) borders 1 at level 80 and 3 at level 20: it joins 3.
        let labels = vec![1, 1, 2, 3, 3];
        let levels = vec![0, 80, 0, 20, 0];
        let mut g = RegionGraph::build(1, 5, &labels, &levels, 3);
        assert_eq!(g.merge_small(2), 1);
        let roots = g.roots();
        assert_eq!(roots[2], roots[3]);
        assert_ne!(roots[1], roots[2]);
    }
}
