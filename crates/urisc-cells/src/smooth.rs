//! Separable Gaussian smoothing with mirrored borders (scipy's `gaussian_filter`, mode
//! `reflect`, truncated at 4 σ), parallel over rows.

use rayon::prelude::*;

/// The normalised kernel of standard deviation `sigma`, `2·radius + 1` taps with
/// `radius = round(4σ)` (scipy's default truncation). `sigma ≤ 0` gives the identity `[1]`.
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    if sigma.is_nan() || sigma <= 0.0 {
        return vec![1.0];
    }
    let sigma = sigma as f64;
    let radius = (4.0 * sigma + 0.5) as isize;
    let taps: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp())
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.iter().map(|t| (t / sum) as f32).collect()
}

/// Index `i` reflected into `0..n` with the edge pixel repeated (`d c b a | a b c d`), for any
/// offset.
fn mirror(i: isize, n: usize) -> usize {
    let n = n as isize;
    let m = i.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

/// Smooths a `height × width` image with a Gaussian of standard deviation `sigma` pixels.
/// Returns a new image; `sigma ≤ 0` returns a copy. Memory: one extra image.
pub fn gaussian_smooth(height: usize, width: usize, image: &[f32], sigma: f32) -> Vec<f32> {
    assert_eq!(
        image.len(),
        height * width,
        "image does not match {height}×{width}"
    );
    let kernel = gaussian_kernel(sigma);
    let radius = kernel.len() / 2;
    if radius == 0 || height == 0 || width == 0 {
        return image.to_vec();
    }
    // Vertical pass: each output row is a weighted sum of input rows (vectorised across columns).
    let mut out = vec![0f32; height * width];
    out.par_chunks_mut(width).enumerate().for_each(|(r, row)| {
        for (k, &w) in kernel.iter().enumerate() {
            let src = mirror(r as isize + k as isize - radius as isize, height);
            let src = &image[src * width..(src + 1) * width];
            for (o, &v) in row.iter_mut().zip(src) {
                *o += w * v;
            }
        }
    });
    // Horizontal pass in place, through a padded copy of each row.
    out.par_chunks_mut(width).for_each_init(
        || vec![0f32; width + 2 * radius],
        |padded, row| {
            for (j, p) in padded.iter_mut().enumerate() {
                *p = row[mirror(j as isize - radius as isize, width)];
            }
            for (c, o) in row.iter_mut().enumerate() {
                let window = &padded[c..c + kernel.len()];
                *o = window.iter().zip(&kernel).map(|(v, w)| v * w).sum();
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = gaussian_kernel(2.0);
        assert_eq!(k.len(), 17);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for i in 0..k.len() {
            assert_eq!(k[i], k[k.len() - 1 - i]);
        }
    }

    #[test]
    fn constant_stays_constant_even_on_tiny_images() {
        for (h, w) in [(1, 1), (1, 5), (3, 2), (20, 30)] {
            let img = vec![3.5f32; h * w];
            let s = gaussian_smooth(h, w, &img, 2.0);
            assert!(s.iter().all(|v| (v - 3.5).abs() < 1e-5), "{h}×{w}: {s:?}");
        }
    }

    #[test]
    fn impulse_spreads_symmetrically_and_keeps_its_mass() {
        let (h, w) = (41, 41);
        let mut img = vec![0f32; h * w];
        img[20 * w + 20] = 1.0;
        let s = gaussian_smooth(h, w, &img, 1.5);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(s[20 * w + 17], s[20 * w + 23]);
        assert_eq!(s[17 * w + 20], s[23 * w + 20]);
        assert!(s[20 * w + 20] > s[20 * w + 21]);
    }

    #[test]
    fn mirror_repeats_the_edge() {
        let got: Vec<usize> = (-3..6).map(|i| mirror(i, 3)).collect();
        assert_eq!(got, vec![2, 1, 0, 0, 1, 2, 2, 1, 0]);
    }
}
