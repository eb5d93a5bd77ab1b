//! Seeded watershed: flooding of a 16-bit level map from labelled seeds, 4-connected.
//!
//! Flooding: a pixel takes the label of the pixel that reached it first and enters the queue at
//! its flooding level, the higher of its own level and the level of the pixel that reached it
//! (water that has crossed a ridge stays at the ridge's height). The queue pops the lowest level
//! first and, among equal levels, first in first out (seeds enter in row-major order). That is
//! scikit-image's `watershed(image, markers, connectivity=1)` exactly (its heap is keyed by
//! (level, push count); checked against it in `tests/watershed_reference.rs`), and it is
//! deterministic. Pure pixel-index order among equal levels is avoided on purpose: on a flat
//! plateau it floods in raster order, so the seed nearest the top would take most of the
//! plateau; FIFO grows every seed evenly. The queue is a bucket queue (one FIFO per level) whose
//! lowest level never decreases, so the cost is linear in the pixels.

use std::collections::VecDeque;

/// Floods `levels` from the non-zero pixels of `labels` (the seeds); on return every pixel
/// 4-connected to a seed carries a label. Pixels where `allowed` is false (when given) are
/// never entered and keep label 0.
pub fn seeded_watershed(
    height: usize,
    width: usize,
    levels: &[u16],
    labels: &mut [u32],
    allowed: Option<&dyn Fn(usize) -> bool>,
) {
    let n = height * width;
    assert_eq!(levels.len(), n);
    assert_eq!(labels.len(), n);
    let mut queue = BucketQueue::new();
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 {
            queue.push(levels[i], i as u32);
        }
    }
    let ok = |i: usize| allowed.is_none_or(|f| f(i));
    while let Some((level, i)) = queue.pop() {
        let i = i as usize;
        let label = labels[i];
        let (r, c) = (i / width, i % width);
        // Neighbours in index order: up, left, right, down.
        let mut visit = |j: usize| {
            if labels[j] == 0 && ok(j) {
                labels[j] = label;
                queue.push(levels[j].max(level), j as u32);
            }
        };
        if r > 0 {
            visit(i - width);
        }
        if c > 0 {
            visit(i - 1);
        }
        if c + 1 < width {
            visit(i + 1);
        }
        if r + 1 < height {
            visit(i + width);
        }
    }
}

/// One FIFO per 16-bit level; `pop` returns the oldest entry of the lowest non-empty level.
/// Pushing below the current lowest level is allowed (the general case).
/// A two-level bitmap of non-empty levels finds the next one in a few word operations, so
/// sparse levels (8-bit maps use every 257th) cost nothing to skip.
struct BucketQueue {
    buckets: Vec<VecDeque<u32>>,
    /// Bit `l % 64` of word `l / 64`: level `l` is non-empty.
    words: [u64; 1024],
    /// Bit `w % 64` of summary `w / 64`: word `w` is non-zero.
    summary: [u64; 16],
    len: usize,
}

impl BucketQueue {
    fn new() -> BucketQueue {
        BucketQueue {
            buckets: (0..=u16::MAX as usize).map(|_| VecDeque::new()).collect(),
            words: [0; 1024],
            summary: [0; 16],
            len: 0,
        }
    }

    fn push(&mut self, level: u16, i: u32) {
        let l = level as usize;
        self.buckets[l].push_back(i);
        self.words[l / 64] |= 1 << (l % 64);
        self.summary[l / 4096] |= 1 << ((l / 64) % 64);
        self.len += 1;
    }

    fn lowest(&self) -> Option<usize> {
        let s = self.summary.iter().position(|&s| s != 0)?;
        let w = s * 64 + self.summary[s].trailing_zeros() as usize;
        Some(w * 64 + self.words[w].trailing_zeros() as usize)
    }

    /// The oldest entry of the lowest non-empty level, with that level.
    fn pop(&mut self) -> Option<(u16, u32)> {
        let l = self.lowest()?;
        let i = self.buckets[l].pop_front().expect("flagged non-empty");
        if self.buckets[l].is_empty() {
            self.words[l / 64] &= !(1 << (l % 64));
            if self.words[l / 64] == 0 {
                self.summary[l / 4096] &= !(1 << ((l / 64) % 64));
            }
        }
        self.len -= 1;
        Some((l as u16, i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ridge_separates_two_seeds() {
        // Levels: a ridge of 9 in column 2.
        let (h, w) = (3, 5);
        let levels: Vec<u16> = (0..h * w).map(|i| if i % w == 2 { 9 } else { 1 }).collect();
        let mut labels = vec![0u32; h * w];
        labels[w] = 1;
        labels[w + 4] = 2;
        seeded_watershed(h, w, &levels, &mut labels, None);
        for r in 0..h {
            assert_eq!(labels[r * w], 1);
            assert_eq!(labels[r * w + 1], 1);
            assert_eq!(labels[r * w + 3], 2);
            assert_eq!(labels[r * w + 4], 2);
        }
    }

    #[test]
    fn a_flat_plateau_is_split_evenly() {
        let (h, w) = (1, 8);
        let levels = vec![0u16; 8];
        let mut labels = vec![0u32; 8];
        labels[0] = 1;
        labels[7] = 2;
        seeded_watershed(h, w, &levels, &mut labels, None);
        assert_eq!(labels, vec![1, 1, 1, 1, 2, 2, 2, 2]);
    }

    #[test]
    fn the_queue_pops_lowest_level_first_then_first_in() {
        let mut q = BucketQueue::new();
        for (level, i) in [(65535, 1), (300, 2), (0, 3), (300, 4), (64, 5), (4096, 6)] {
            q.push(level, i);
        }
        let mut order = Vec::new();
        while let Some((_, i)) = q.pop() {
            order.push(i);
            if i == 3 {
                q.push(1, 7); // lower than some queued levels, higher than the one popped
            }
        }
        assert_eq!(order, vec![3, 7, 5, 2, 4, 6, 1]);
        assert_eq!(q.len, 0);
    }

    #[test]
    fn a_mask_keeps_pixels_out() {
        let levels = vec![0u16; 5];
        let mut labels = vec![1, 0, 0, 0, 0];
        seeded_watershed(1, 5, &levels, &mut labels, Some(&|i| i != 2));
        assert_eq!(labels, vec![1, 1, 0, 0, 0]);
    }
}
