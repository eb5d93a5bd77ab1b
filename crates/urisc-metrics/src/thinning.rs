//! Border thinning exactly as Fiji's `WatershedTransform2D(binaryProposal, 4).apply()` does it
//! inside `RandError` / `VariationOfInformation` "after thinning" (Trainable_Segmentation 41c7083).
//!
//! The input is binary (interior = level 0, border = level 255), flooded by the Vincent–Soille
//! immersion with a plain FIFO. Which border pixels end up on the one-pixel line depends on the
//! visiting order, so this port keeps Fiji's: pixels in x-outer (column-major) order, stable
//! within a level, neighbours left, up, right, down, and the shared `flag` of the original.

use std::collections::VecDeque;

use crate::runs::{find, union, Run, RunSegmentation};

const INIT: i32 = -1;
const MASK: i32 = -2;
const INQUEUE: i32 = -3;
const WSHED: i32 = 0;

/// Thins a binary border map. The grid is addressed **column by column** (`index = x · rows + y`,
/// Fiji's x-outer order); `is_border(index)` tells border pixels. Returns the segmentation in
/// the same transposed frame (its "rows" are the grid's columns): basins `1..`, watershed-line
/// pixels uncovered (label 0).
///
/// Interior 4-components become basins; border pixels join the first basin whose flood reaches
/// them, or become line pixels where two basins meet. A border component that touches no
/// interior becomes a basin of its own, so an all-border map is one segment.
pub fn fiji_thinning(
    columns: usize,
    rows: usize,
    is_border: impl Fn(usize) -> bool,
) -> RunSegmentation {
    // A one-pixel frame of PAD around the grid fails every test of the flood, so neighbours
    // need no bounds checks (this loop runs ~10⁸ times on a full U-RISC section).
    let stride = rows + 2;
    let mut flood = Flood {
        labels: vec![PAD; (columns + 2) * stride],
        columns,
        rows,
        current_label: 0,
        flag: false,
    };
    for x in 0..columns {
        flood.labels[(x + 1) * stride + 1..(x + 1) * stride + 1 + rows].fill(INIT);
    }
    // Level 0 (interior): nothing is labelled yet, so Fiji queues nothing and every interior
    // 4-component becomes a basin, numbered in scan order.
    flood.label_interior(&is_border);
    // Level 255 (border).
    flood.level(&is_border);
    // Straight to runs: a second full-size label array would double the peak memory.
    let labels = flood.labels;
    let mut runs = Vec::new();
    let mut row_offsets = Vec::with_capacity(columns + 1);
    row_offsets.push(0);
    for x in 0..columns {
        let line = &labels[(x + 1) * stride + 1..(x + 1) * stride + 1 + rows];
        let mut y = 0;
        while y < rows {
            let l = line[y].max(0);
            let start = y;
            while y < rows && line[y].max(0) == l {
                y += 1;
            }
            if l > 0 {
                runs.push(Run {
                    start: start as u32,
                    end: y as u32,
                    label: l as u32,
                });
            }
        }
        row_offsets.push(runs.len());
    }
    RunSegmentation {
        height: columns,
        width: rows,
        runs,
        row_offsets,
        label_count: flood.current_label as u32,
    }
}

/// Outside the grid: not a label, not a state of the flood.
const PAD: i32 = i32::MIN;

struct Flood {
    labels: Vec<i32>,
    columns: usize,
    rows: usize,
    current_label: i32,
    flag: bool,
}

impl Flood {
    /// 4-neighbours in Fiji's order: (x−1, y), (x, y−1), (x+1, y), (x, y+1).
    #[inline]
    fn neighbours(&self, p: usize) -> [usize; 4] {
        let stride = self.rows + 2;
        [p - stride, p - 1, p + stride, p + 1]
    }

    /// Labels the interior 4-components `1..` in scan order, as Fiji's level-0 flood does, but by
    /// two-pass run labelling written straight into the grid: provisional run ids joined by
    /// union-find across neighbouring columns, then roots renumbered by first appearance. Much
    /// faster than a pixel flood, and no run list of the whole section is kept.
    fn label_interior(&mut self, is_border: &impl Fn(usize) -> bool) {
        let (columns, rows, stride) = (self.columns, self.rows, self.rows + 2);
        let mut parent: Vec<u32> = Vec::new();
        // Runs (start, end, provisional id) of the previous and the current column.
        let mut prev: Vec<(u32, u32, u32)> = Vec::new();
        let mut cur: Vec<(u32, u32, u32)> = Vec::new();
        for x in 0..columns {
            cur.clear();
            let base = (x + 1) * stride + 1;
            let mut y = 0;
            while y < rows {
                if is_border(x * rows + y) {
                    y += 1;
                    continue;
                }
                let start = y;
                while y < rows && !is_border(x * rows + y) {
                    y += 1;
                }
                let id = parent.len() as u32;
                parent.push(id);
                cur.push((start as u32, y as u32, id));
                self.labels[base + start..base + y].fill(id as i32 + 1);
            }
            let (mut i, mut j) = (0, 0);
            while i < prev.len() && j < cur.len() {
                let (a, b) = (prev[i], cur[j]);
                if a.0 < b.1 && b.0 < a.1 {
                    union(&mut parent, a.2, b.2);
                }
                if a.1 <= b.1 {
                    i += 1;
                } else {
                    j += 1;
                }
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        let mut number = vec![0u32; parent.len()];
        let mut next = 0u32;
        let (mut last_id, mut last_label) = (i32::MIN, 0i32);
        for x in 0..columns {
            let base = (x + 1) * stride + 1;
            for label in &mut self.labels[base..base + rows] {
                if *label <= 0 {
                    continue;
                }
                if *label != last_id {
                    let root = find(&mut parent, (*label - 1) as u32) as usize;
                    if number[root] == 0 {
                        next += 1;
                        number[root] = next;
                    }
                    (last_id, last_label) = (*label, number[root] as i32);
                }
                *label = last_label;
            }
            // A run never continues into the next column.
            last_id = i32::MIN;
        }
        self.current_label = next as i32;
    }

    /// Grid pixels in Fiji's order as (padded index, grid index).
    fn pixels(&self) -> impl Iterator<Item = (usize, usize)> {
        let (columns, rows) = (self.columns, self.rows);
        (0..columns)
            .flat_map(move |x| (0..rows).map(move |y| ((x + 1) * (rows + 2) + y + 1, x * rows + y)))
    }

    fn level(&mut self, in_level: impl Fn(usize) -> bool) {
        let mut fifo: VecDeque<u32> = VecDeque::new();
        // Mask the level; queue pixels touching an existing basin or watershed.
        for (p, _) in self.pixels().filter(|&(_, t)| in_level(t)) {
            self.labels[p] = MASK;
            for u in self.neighbours(p) {
                if self.labels[u] >= WSHED {
                    fifo.push_back(p as u32);
                    self.labels[p] = INQUEUE;
                    break;
                }
            }
        }
        // Extend basins into the level (geodesic SKIZ).
        while let Some(p) = fifo.pop_front() {
            let p = p as usize;
            for u in self.neighbours(p) {
                let lu = self.labels[u];
                let lp = self.labels[p];
                if lu > 0 {
                    if lp == INQUEUE || (lp == WSHED && self.flag) {
                        self.labels[p] = lu;
                    } else if lp > 0 && lp != lu {
                        self.labels[p] = WSHED;
                        self.flag = false;
                    }
                } else if lu == WSHED {
                    if lp == INQUEUE {
                        self.labels[p] = WSHED;
                        self.flag = true;
                    }
                } else if lu == MASK {
                    self.labels[u] = INQUEUE;
                    fifo.push_back(u as u32);
                }
            }
        }
        // Pixels still masked start new basins (new minima at this level); only pixels of
        // this level can still be masked.
        for (p, _) in self.pixels() {
            if self.labels[p] != MASK {
                continue;
            }
            self.current_label += 1;
            self.labels[p] = self.current_label;
            fifo.push_back(p as u32);
            while let Some(q) = fifo.pop_front() {
                for u in self.neighbours(q as usize) {
                    if self.labels[u] == MASK {
                        fifo.push_back(u as u32);
                        self.labels[u] = self.current_label;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the thinning on a row-major picture and returns row-major labels.
    fn thin(picture: &[&str]) -> Vec<Vec<u32>> {
        let rows = picture.len();
        let cols = picture[0].len();
        let border: Vec<bool> = (0..cols * rows)
            .map(|i| picture[i % rows].as_bytes()[i / rows] == b'#')
            .collect();
        let labels = fiji_thinning(cols, rows, |i| border[i]).to_labels();
        (0..rows)
            .map(|y| (0..cols).map(|x| labels[x * rows + y]).collect())
            .collect()
    }

    #[test]
    fn two_wide_border_line_falls_on_the_right_column() {
        let labels = thin(&["..##..", "..##..", "..##.."]);
        for row in &labels {
            assert_eq!(row, &vec![1, 1, 1, 0, 2, 2]);
        }
    }

    #[test]
    fn two_high_border_line_falls_on_the_bottom_row() {
        let labels = thin(&["...", "###", "###", "..."]);
        assert_eq!(labels, vec![vec![1; 3], vec![1; 3], vec![0; 3], vec![2; 3]]);
    }

    #[test]
    fn one_wide_border_stays_a_line() {
        let labels = thin(&["..#..", "..#..", "..#.."]);
        for row in &labels {
            assert_eq!(row, &vec![1, 1, 0, 2, 2]);
        }
    }

    #[test]
    fn border_without_interior_is_one_segment() {
        assert_eq!(thin(&["###", "###"]), vec![vec![1; 3], vec![1; 3]]);
        assert_eq!(thin(&["...", "..."]), vec![vec![1; 3], vec![1; 3]]);
    }

    #[test]
    fn thick_border_of_one_cell_is_absorbed() {
        // A single basin surrounded by border: no second basin, so no line at all.
        let labels = thin(&["#####", "#...#", "#####"]);
        assert!(labels.iter().flatten().all(|&l| l == 1));
    }
}
