//! Seeds: the regional maxima of a (smoothed) distance map. A regional maximum is an
//! 8-connected plateau of equal value with no 8-neighbour of greater value; the whole plateau
//! becomes one seed, so a flat ridge never gives several.

use rayon::prelude::*;

/// Marks the regional maxima of `value` above `min_value` in `labels` (which must be all 0):
/// seed `k` (1-based) is the `k`-th maximum in row-major order of its first pixel, and every
/// pixel of its plateau gets label `k`. Returns the number of seeds.
pub fn regional_maxima(
    height: usize,
    width: usize,
    value: &[f32],
    min_value: f32,
    labels: &mut [u32],
) -> u32 {
    assert_eq!(value.len(), height * width);
    assert_eq!(labels.len(), height * width);
    const CANDIDATE: u32 = u32::MAX;
    const IN_PLATEAU: u32 = u32::MAX - 1;
    if width == 0 {
        return 0;
    }
    // Candidates: above the floor, no strictly greater 8-neighbour (parallel over rows).
    labels
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(r, row)| {
            let rows = r.saturating_sub(1)..(r + 2).min(height);
            for (c, l) in row.iter_mut().enumerate() {
                let v = value[r * width + c];
                if v.is_nan() || v <= min_value {
                    continue;
                }
                let cols = c.saturating_sub(1)..(c + 2).min(width);
                let greater = rows.clone().any(|rr| {
                    value[rr * width + cols.start..rr * width + cols.end]
                        .iter()
                        .any(|&n| n > v)
                });
                if !greater {
                    *l = CANDIDATE;
                }
            }
        });
    // Plateaus, in row-major order of their first pixel: a maximum iff every pixel of the
    // equal-valued 8-connected component is a candidate.
    let mut seeds = 0u32;
    let mut stack: Vec<u32> = Vec::new();
    let mut plateau: Vec<(u32, bool)> = Vec::new();
    for start in 0..height * width {
        if labels[start] != CANDIDATE {
            continue;
        }
        let v = value[start];
        stack.clear();
        plateau.clear();
        stack.push(start as u32);
        plateau.push((start as u32, true));
        labels[start] = IN_PLATEAU;
        let mut is_maximum = true;
        while let Some(i) = stack.pop() {
            let (r, c) = (i as usize / width, i as usize % width);
            for rr in r.saturating_sub(1)..(r + 2).min(height) {
                for cc in c.saturating_sub(1)..(c + 2).min(width) {
                    let j = rr * width + cc;
                    if value[j] != v || labels[j] == IN_PLATEAU {
                        continue;
                    }
                    // An equal pixel that is not a candidate has a greater neighbour.
                    let candidate = labels[j] == CANDIDATE;
                    is_maximum &= candidate;
                    plateau.push((j as u32, candidate));
                    labels[j] = IN_PLATEAU;
                    stack.push(j as u32);
                }
            }
        }
        let label = if is_maximum {
            seeds += 1;
            seeds
        } else {
            0
        };
        for &(j, _) in &plateau {
            labels[j as usize] = label;
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateaus_give_one_seed_and_shoulders_none() {
        #[rustfmt::skip]
        let v = [
            1.0, 2.0, 2.0, 1.0, 0.0, 0.0,
            1.0, 2.0, 2.0, 1.0, 0.0, 3.0,
            0.0, 1.0, 1.0, 1.0, 0.0, 0.0,
            // A plateau of 1.0 touching a 2.0 is not a maximum.
        ];
        let mut labels = vec![0u32; 18];
        let n = regional_maxima(3, 6, &v, 0.0, &mut labels);
        assert_eq!(n, 2);
        #[rustfmt::skip]
        assert_eq!(labels, vec![
            0, 1, 1, 0, 0, 0,
            0, 1, 1, 0, 0, 2,
            0, 0, 0, 0, 0, 0,
        ]);
    }

    #[test]
    fn floor_excludes_low_maxima() {
        let v = [0.5, 0.0, 3.0];
        let mut labels = vec![0u32; 3];
        assert_eq!(regional_maxima(1, 3, &v, 1.0, &mut labels), 1);
        assert_eq!(labels, vec![0, 0, 1]);
    }
}
