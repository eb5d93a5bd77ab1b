//! Border thinning exactly as Fiji's `WatershedTransform2D(binaryProposal, 4).apply()` does it
//! inside `RandError` / `VariationOfInformation` "after thinning" (Trainable_Segmentation 41c7083).
//!
//! The input is binary (interior = level 0, border = level 255), flooded by the Vincent–Soille
//! immersion with a plain FIFO. Which border pixels end up on the one-pixel line depends on the
//! visiting order, so this port keeps Fiji's: pixels in x-outer (column-major) order, stable
//! within a level, neighbours left, up, right, down, and the shared `flag` of the original.

use std::collections::VecDeque;

const INIT: i32 = -1;
const MASK: i32 = -2;
const INQUEUE: i32 = -3;
const WSHED: i32 = 0;

/// Thins a binary border map. The grid is stored **column by column** (`index = x · rows + y`,
/// Fiji's x-outer order); `is_border(index)` tells border pixels. Returns one label per pixel:
/// basins `1..`, watershed-line pixels 0.
///
/// Interior 4-components become basins; border pixels join the first basin whose flood reaches
/// them, or become line pixels where two basins meet. A border component that touches no
/// interior becomes a basin of its own, so an all-border map is one segment.
pub fn fiji_thinning(columns: usize, rows: usize, is_border: impl Fn(usize) -> bool) -> Vec<u32> {
    let n = columns * rows;
    let mut flood = Flood {
        labels: vec![INIT; n],
        columns,
        rows,
        current_label: 0,
        flag: false,
    };
    // Interior (value 0) first, then border (value 255): the two grey levels in ascending order.
    flood.level(|i| !is_border(i));
    flood.level(&is_border);
    flood.labels.into_iter().map(|l| l.max(0) as u32).collect()
}

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
    fn neighbours(&self, i: usize) -> [Option<usize>; 4] {
        let (x, y) = (i / self.rows, i % self.rows);
        [
            (x > 0).then(|| i - self.rows),
            (y > 0).then(|| i - 1),
            (x + 1 < self.columns).then(|| i + self.rows),
            (y + 1 < self.rows).then(|| i + 1),
        ]
    }

    fn level(&mut self, in_level: impl Fn(usize) -> bool) {
        let n = self.labels.len();
        let mut fifo: VecDeque<usize> = VecDeque::new();
        // Mask the level; queue pixels touching an existing basin or watershed.
        for i in (0..n).filter(|&i| in_level(i)) {
            self.labels[i] = MASK;
            for u in self.neighbours(i).into_iter().flatten() {
                if self.labels[u] >= WSHED {
                    fifo.push_back(i);
                    self.labels[i] = INQUEUE;
                    break;
                }
            }
        }
        // Extend basins into the level (geodesic SKIZ).
        while let Some(i) = fifo.pop_front() {
            for u in self.neighbours(i).into_iter().flatten() {
                let lu = self.labels[u];
                let li = self.labels[i];
                if lu > 0 {
                    if li == INQUEUE || (li == WSHED && self.flag) {
                        self.labels[i] = lu;
                    } else if li > 0 && li != lu {
                        self.labels[i] = WSHED;
                        self.flag = false;
                    }
                } else if lu == WSHED {
                    if li == INQUEUE {
                        self.labels[i] = WSHED;
                        self.flag = true;
                    }
                } else if lu == MASK {
                    self.labels[u] = INQUEUE;
                    fifo.push_back(u);
                }
            }
        }
        // Pixels still masked start new basins (new minima at this level).
        for i in 0..n {
            if !in_level(i) || self.labels[i] != MASK {
                continue;
            }
            self.current_label += 1;
            self.labels[i] = self.current_label;
            fifo.push_back(i);
            while let Some(p) = fifo.pop_front() {
                for u in self.neighbours(p).into_iter().flatten() {
                    if self.labels[u] == MASK {
                        fifo.push_back(u);
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
        let labels = fiji_thinning(cols, rows, |i| border[i]);
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
