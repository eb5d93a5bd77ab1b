//! Zhang–Suen skeletonisation, bit-identical to scikit-image's `skeletonize` for 2D images
//! (`_fast_skeletonize`: the same 256-entry lookup table, two sub-iterations per pass, each
//! sub-iteration deciding every pixel on the state before it, repeated until nothing changes).
//!
//! Rather than rescanning the whole image each sub-iteration, only candidates are re-examined:
//! pixels whose table entry is non-zero, plus the neighbours of pixels just removed. A pixel's
//! entry depends only on its 8 neighbours, so this reaches the same fixpoint through the same
//! sequence of states.

use rayon::prelude::*;

/// scikit-image's table: 0 keep; 1 remove in the first sub-iteration; 2 in the second; 3 in both.
#[rustfmt::skip]
const LUT: [u8; 256] = [
    0, 0, 0, 1, 0, 0, 1, 3, 0, 0, 3, 1, 1, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 3, 0, 3, 3,
    0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 2, 2,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 2, 0,
    0, 0, 3, 1, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 3, 1, 3, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 0, 1, 0, 0, 0, 0, 2, 2, 0, 0, 2, 0, 0, 0,
];

/// Skeleton of a binary mask (`mask[i] != 0` is foreground), row-major `height × width`.
/// Returns 1 on skeleton pixels, 0 elsewhere. Outside the image counts as background.
pub fn skeletonize(mask: &[u8], height: usize, width: usize) -> Vec<u8> {
    skeletonize_in_place(mask.to_vec(), height, width)
}

/// [`skeletonize`] reusing the mask's buffer.
pub fn skeletonize_in_place(mut img: Vec<u8>, height: usize, width: usize) -> Vec<u8> {
    assert_eq!(img.len(), height * width);
    img.iter_mut().for_each(|v| *v = (*v != 0) as u8);
    let code = |img: &[u8], i: usize| -> u8 {
        let (r, c) = (i / width, i % width);
        let at = |dr: isize, dc: isize| -> u8 {
            let (rr, cc) = (r as isize + dr, c as isize + dc);
            if rr < 0 || cc < 0 || rr >= height as isize || cc >= width as isize {
                0
            } else {
                img[rr as usize * width + cc as usize] & 1
            }
        };
        LUT[(at(-1, -1)
            | at(-1, 0) << 1
            | at(-1, 1) << 2
            | at(0, 1) << 3
            | at(1, 1) << 4
            | at(1, 0) << 5
            | at(1, -1) << 6
            | at(0, -1) << 7) as usize]
    };
    let mut candidates: Vec<u32> = (0..img.len() as u32)
        .into_par_iter()
        .filter(|&i| img[i as usize] != 0 && code(&img, i as usize) != 0)
        .collect();
    let mut first_pass = true;
    let mut idle_subiterations = 0;
    // Bit 1 of a pixel marks it as already queued for the next sub-iteration.
    const QUEUED: u8 = 2;
    while idle_subiterations < 2 && !candidates.is_empty() {
        let removable = |v: u8| v == 3 || (v == 1 && first_pass) || (v == 2 && !first_pass);
        // Decide on the current state (parallel, read-only), then apply.
        let decided: Vec<(u32, u8)> = candidates
            .par_iter()
            .map(|&i| (i, code(&img, i as usize)))
            .collect();
        let removed: Vec<u32> = decided
            .iter()
            .filter(|(_, v)| removable(*v))
            .map(|(i, _)| *i)
            .collect();
        for &i in &removed {
            img[i as usize] = 0;
        }
        // Next candidates: survivors with a non-zero entry, and foreground neighbours of removals.
        let mut next: Vec<u32> = Vec::with_capacity(decided.len());
        for &(i, v) in &decided {
            if v != 0 && img[i as usize] == 1 {
                img[i as usize] |= QUEUED;
                next.push(i);
            }
        }
        for &i in &removed {
            let (r, c) = (i as usize / width, i as usize % width);
            for rr in r.saturating_sub(1)..(r + 2).min(height) {
                for cc in c.saturating_sub(1)..(c + 2).min(width) {
                    let j = rr * width + cc;
                    if img[j] == 1 {
                        img[j] |= QUEUED;
                        next.push(j as u32);
                    }
                }
            }
        }
        for &i in &next {
            img[i as usize] &= !QUEUED;
        }
        idle_subiterations = if removed.is_empty() {
            idle_subiterations + 1
        } else {
            0
        };
        candidates = next;
        first_pass = !first_pass;
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward full-scan port of scikit-image's loop, to check the candidate tracking.
    fn reference(mask: &[u8], h: usize, w: usize) -> Vec<u8> {
        let (hp, wp) = (h + 2, w + 2);
        let mut sk = vec![0u8; hp * wp];
        for r in 0..h {
            for c in 0..w {
                sk[(r + 1) * wp + c + 1] = (mask[r * w + c] != 0) as u8;
            }
        }
        let mut cleaned = sk.clone();
        let mut removed = true;
        while removed {
            removed = false;
            for pass in 0..2 {
                let first = pass == 0;
                for r in 1..hp - 1 {
                    for c in 1..wp - 1 {
                        if sk[r * wp + c] == 0 {
                            continue;
                        }
                        let g = |dr: isize, dc: isize| {
                            sk[(r as isize + dr) as usize * wp + (c as isize + dc) as usize]
                        };
                        let v = LUT[(g(-1, -1)
                            + 2 * g(-1, 0)
                            + 4 * g(-1, 1)
                            + 8 * g(0, 1)
                            + 16 * g(1, 1)
                            + 32 * g(1, 0)
                            + 64 * g(1, -1)
                            + 128 * g(0, -1)) as usize];
                        if v == 3 || (v == 1 && first) || (v == 2 && !first) {
                            cleaned[r * wp + c] = 0;
                            removed = true;
                        }
                    }
                }
                sk.copy_from_slice(&cleaned);
            }
        }
        (0..h * w)
            .map(|i| sk[(i / w + 1) * wp + i % w + 1])
            .collect()
    }

    #[test]
    fn ellipse_from_scikit_image_docstring() {
        // skimage's docstring example: the 9×9 ellipse thins to rows 3–6 of column 4.
        let (h, w) = (9, 9);
        let mask: Vec<u8> = (0..h * w)
            .map(|i| {
                let (x, y) = ((i / w) as f64, (i % w) as f64);
                ((x - 4.0).powi(2) / 3.0 + (y - 4.0).powi(2) < 9.0) as u8
            })
            .collect();
        let sk = skeletonize(&mask, h, w);
        let on: Vec<usize> = (0..h * w).filter(|&i| sk[i] == 1).collect();
        assert_eq!(on, vec![3 * 9 + 4, 4 * 9 + 4, 5 * 9 + 4, 6 * 9 + 4]);
    }

    #[test]
    fn candidate_tracking_equals_full_scans_on_random_blobs() {
        let (h, w) = (61, 47);
        let mut state = 12345u64;
        for round in 0..6 {
            // Random blobs: thresholded sum of a few random discs, plus noise.
            let mut mask = vec![0u8; h * w];
            for _ in 0..(5 + round * 3) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (cy, cx, rad) = (
                    (state >> 33) % h as u64,
                    (state >> 17) % w as u64,
                    2 + (state >> 50) % 9,
                );
                for r in 0..h {
                    for c in 0..w {
                        let d2 = (r as i64 - cy as i64).pow(2) + (c as i64 - cx as i64).pow(2);
                        if d2 <= (rad * rad) as i64 {
                            mask[r * w + c] = 1;
                        }
                    }
                }
            }
            for v in mask.iter_mut() {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (state >> 40).is_multiple_of(13) {
                    *v ^= 1;
                }
            }
            assert_eq!(
                skeletonize(&mask, h, w),
                reference(&mask, h, w),
                "round {round}"
            );
        }
    }
}
