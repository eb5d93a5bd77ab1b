//! Pictures of cells: each cell a random (seeded, deterministic) colour blended over the EM
//! image, boundaries left as the EM image.

use rayon::prelude::*;
use urisc_io::Image;

/// The colour of cell `id` under `seed`: a bright, saturated RGB from a 64-bit mix of both, so
/// neighbouring ids look different and equal inputs give equal pictures.
pub fn cell_colour(id: u32, seed: u64) -> [u8; 3] {
    // splitmix64 of (seed, id).
    let mut z = seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // Keep every channel away from black so cells stand out from membrane.
    let c = |k: u32| 64 + ((z >> (8 * k)) & 0xff) as u8 % 192;
    [c(0), c(1), c(2)]
}

/// Interleaved RGB (`3·h·w` bytes): `em` grey where the label is 0, else
/// `(1 − alpha)·em + alpha·colour`.
pub fn overlay_rgb(em: &Image<u8>, labels: &Image<u32>, seed: u64, alpha: f32) -> Vec<u8> {
    assert_eq!((em.height, em.width), (labels.height, labels.width));
    let mut out = vec![0u8; 3 * em.data.len()];
    out.par_chunks_mut(3)
        .zip(em.data.par_iter().zip(labels.data.par_iter()))
        .for_each(|(px, (&g, &l))| {
            if l == 0 {
                px.fill(g);
            } else {
                let colour = cell_colour(l, seed);
                for (p, c) in px.iter_mut().zip(colour) {
                    *p = ((1.0 - alpha) * g as f32 + alpha * c as f32).round() as u8;
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_deterministic_and_differ_between_cells() {
        assert_eq!(cell_colour(5, 1), cell_colour(5, 1));
        assert_ne!(cell_colour(5, 1), cell_colour(6, 1));
        assert_ne!(cell_colour(5, 1), cell_colour(5, 2));
        let em = Image::new(1, 2, vec![100u8, 100]);
        let labels = Image::new(1, 2, vec![0u32, 3]);
        let rgb = overlay_rgb(&em, &labels, 7, 0.5);
        assert_eq!(&rgb[..3], &[100, 100, 100]);
        let c = cell_colour(3, 7);
        assert_eq!(rgb[3], ((100.0 + c[0] as f32) / 2.0).round() as u8);
    }
}
