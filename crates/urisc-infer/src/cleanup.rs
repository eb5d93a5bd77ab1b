//! Clean-up of binary membrane maps: specks of membrane and pinholes in cells are noise at
//! U-RISC's resolution (a real membrane is tens of pixels long).

use urisc_io::Image;
use urisc_metrics::connected_components;

/// Drops membrane components (4-connected) smaller than `min_size` pixels and fills background
/// holes smaller than it. `membrane` is the map as booleans (row-major); returns how many
/// pixels changed.
pub fn clean_up(membrane: &mut Image<bool>, min_size: usize) -> usize {
    let mut changed = 0;
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
            changed += end - start;
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
}
