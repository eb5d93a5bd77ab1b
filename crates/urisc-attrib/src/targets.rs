//! Which pixels to attribute: the authors' grids, a chosen list, or true-positive membrane
//! pixels (sampled reproducibly).

use crate::AttribError;

/// Rows and columns `offset, offset + step, …` below the image size, all combinations,
/// row-major. The authors: step 10 offset 4 on 512² (51² = 2601 targets), step 8 offset 0 on
/// 256² (32² = 1024).
pub fn grid(height: usize, width: usize, step: usize, offset: usize) -> Vec<(usize, usize)> {
    assert!(step >= 1, "grid step must be at least 1");
    let rows = (offset..height).step_by(step);
    rows.flat_map(|r| (offset..width).step_by(step).map(move |c| (r, c)))
        .collect()
}

/// Parses `"r,c;r,c;…"` (spaces allowed).
pub fn parse_pixels(text: &str) -> Result<Vec<(usize, usize)>, AttribError> {
    text.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let bad = || AttribError::BadPixel(pair.trim().to_string());
            let (r, c) = pair.split_once(',').ok_or_else(bad)?;
            Ok((
                r.trim().parse().map_err(|_| bad())?,
                c.trim().parse().map_err(|_| bad())?,
            ))
        })
        .collect()
}

/// Pixels that are membrane in the label (`label_is_membrane`) and predicted membrane by the
/// binary rule of `urisc predict` (`p ≥ threshold`, [`urisc_io::encoding::is_membrane`]),
/// row-major.
pub fn true_positive_membrane(
    label_is_membrane: &[bool],
    probabilities: &[f32],
    threshold: f32,
    width: usize,
) -> Vec<(usize, usize)> {
    assert_eq!(label_is_membrane.len(), probabilities.len());
    label_is_membrane
        .iter()
        .zip(probabilities)
        .enumerate()
        .filter(|(_, (&m, &p))| m && urisc_io::encoding::is_membrane(p, threshold))
        .map(|(i, _)| (i / width, i % width))
        .collect()
}

/// At most `max` of `targets`, chosen uniformly without replacement by a seeded generator and
/// returned in their original (row-major) order; all of them when there are no more than `max`.
pub fn sample(targets: &[(usize, usize)], max: usize, seed: u64) -> Vec<(usize, usize)> {
    if targets.len() <= max {
        return targets.to_vec();
    }
    let mut state = seed;
    let mut indices: Vec<usize> = (0..targets.len()).collect();
    // Partial Fisher–Yates: the first `max` slots become a uniform sample.
    for i in 0..max {
        let j = i + (splitmix64(&mut state) % (targets.len() - i) as u64) as usize;
        indices.swap(i, j);
    }
    let mut chosen = indices[..max].to_vec();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| targets[i]).collect()
}

/// SplitMix64 (Steele et al. 2014): a small, well-mixed generator, enough for sampling targets.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `count` of the indices `0..len`, scattered: the golden-ratio sequence, so that targets in a
/// row-major grid come from different rows and columns (evenly spaced indices would all fall
/// in the first column of a grid whose row length divides the spacing).
pub fn spread(len: usize, count: usize) -> Vec<usize> {
    if count >= len {
        return (0..len).collect();
    }
    let golden = (5f64.sqrt() - 1.0) / 2.0;
    let mut picked: Vec<usize> = Vec::with_capacity(count);
    let mut k = 0usize;
    while picked.len() < count {
        let i = (((k as f64 + 0.5) * golden).fract() * len as f64) as usize;
        if !picked.contains(&i) {
            picked.push(i);
        }
        k += 1;
    }
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_picks_evenly_and_never_repeats() {
        let picked = spread(64, 8);
        assert_eq!(picked.len(), 8);
        assert!(picked.windows(2).all(|w| w[0] < w[1]) && picked[7] < 64);
        // In an 8×8 grid: every row once, and several columns.
        assert_eq!(picked, vec![1, 10, 19, 25, 34, 40, 49, 59]);
        assert_eq!(spread(3, 8), vec![0, 1, 2]);
        assert!(spread(5, 0).is_empty());
    }

    #[test]
    fn authors_grids_have_their_sizes() {
        let urisc = grid(512, 512, 10, 4);
        assert_eq!(urisc.len(), 2601);
        assert_eq!(urisc[0], (4, 4));
        assert_eq!(urisc[50], (4, 504));
        assert_eq!(*urisc.last().unwrap(), (504, 504));
        let isbi = grid(256, 256, 8, 0);
        assert_eq!(isbi.len(), 1024);
        assert_eq!(*isbi.last().unwrap(), (248, 248));
    }

    #[test]
    fn pixels_parse_and_bad_ones_are_named() {
        assert_eq!(parse_pixels("1,2; 30 ,4;").unwrap(), vec![(1, 2), (30, 4)]);
        let err = parse_pixels("1,2;3").unwrap_err().to_string();
        assert!(err.contains("\"3\""), "{err}");
    }

    #[test]
    fn true_positives_need_both_label_and_prediction() {
        let label = [true, true, false, true];
        let p = [0.7, 0.3, 0.9, 0.5];
        // p = threshold counts, as in urisc predict's binary map.
        assert_eq!(
            true_positive_membrane(&label, &p, 0.5, 2),
            vec![(0, 0), (1, 1)]
        );
    }

    #[test]
    fn sampling_is_seeded_ordered_and_without_repeats() {
        let all = grid(20, 20, 1, 0);
        let a = sample(&all, 30, 7);
        assert_eq!(a.len(), 30);
        assert_eq!(a, sample(&all, 30, 7));
        assert_ne!(a, sample(&all, 30, 8));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample(&all, 1000, 7), all);
    }
}
