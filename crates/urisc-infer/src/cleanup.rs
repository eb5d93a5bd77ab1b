//! Clean-up of binary membrane maps: specks of membrane and pinholes in cells are noise at
//! U-RISC's resolution (a real membrane is tens of pixels long).

use urisc_io::Image;
use urisc_metrics::connected_components;

/// Drops membrane components (4-connected) smaller than `min_size` pixels and fills background
/// holes smaller than it. `membrane` is the map as booleans (row-major); returns how many
/// pixels differ from the map given (a filled hole that then goes with its speck counts
/// not at all, not twice).
pub fn clean_up(membrane: &mut Image<bool>, min_size: usize) -> usize {
    let mut changed = 0usize;
    // Pixels the hole pass flipped, one bit each (12 MiB for a U-RISC section).
    let mut filled = vec![0u64; (membrane.data.len()).div_ceil(64)];
    // Holes first, then specks, each judged on the map as it stands.
    for target in [false, true] {
        let (h, w) = (membrane.height, membrane.width);
        let data = &membrane.data;
        let components = connected_components(h, w, |i| data[i] == target);
        let sizes = components.sizes();
        let mut flips = Vec::new();
        for r in 0..h {
            for run in components.row(r) {
                if (sizes[run.label as usize] as usize) < min_size {
                    flips.push((r, run.start as usize, run.end as usize));
                }
            }
        }
        for (r, start, end) in flips {
            membrane.data[r * w + start..r * w + end].fill(!target);
            for i in r * w + start..r * w + end {
                let (word, bit) = (i / 64, 1u64 << (i % 64));
                if target && filled[word] & bit != 0 {
                    changed -= 1; // back to what it was
                } else {
                    filled[word] |= bit;
                    changed += 1;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rows: &[&str]) -> Image<bool> {
        let w = rows[0].len();
        Image::new(
            rows.len(),
            w,
            rows.iter()
                .flat_map(|r| r.chars().map(|c| c == '#'))
                .collect(),
        )
    }

    #[test]
    fn specks_vanish_and_pinholes_fill_but_real_structures_stay() {
        let mut m = map(&[
            "#.....#...",
            "......#...",
            "..#...#...",
            "......#.##",
            "###.###.#.",
            "......#.##",
        ]);
        // Membrane: the 1-px specks at (0,0) and (2,2) go; the cross (10 px) stays.
        // Background: the 1-px hole at (4,9) inside the right hook fills; big cells stay.
        let changed = clean_up(&mut m, 3);
        let expected = map(&[
            "......#...",
            "......#...",
            "......#...",
            "......#.##",
            "###.###.##",
            "......#.##",
        ]);
        assert_eq!(m.data, expected.data);
        assert_eq!(changed, 3);
        assert_eq!(clean_up(&mut m, 1), 0);
    }

    #[test]
    fn a_hole_filled_then_removed_with_its_speck_is_no_change() {
        // A ring of 8 membrane pixels around a 1-pixel hole: the hole fills (9 px), then the
        // whole speck (< 10) goes. Net: the 8 ring pixels changed, the hole did not.
        let mut m = map(&["......", ".###..", ".#.#..", ".###..", "......"]);
        let changed = clean_up(&mut m, 10);
        assert!(m.data.iter().all(|&v| !v));
        assert_eq!(changed, 8);
    }
}
