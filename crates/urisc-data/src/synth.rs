//! Realistic large test inputs without the real dataset: U-RISC is 2.18 nm/pixel and
//! 9959 × 9958 per section, ISBI 2012 about 4 nm/pixel and 512²; upsampling ISBI slices 2× and
//! tiling them gives sections of U-RISC's size and pixel size, with labels.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use urisc_io::Image;

use crate::augment::dihedral_plane;

/// Side of a full U-RISC section (rows × columns).
pub const URISC_SECTION: (usize, usize) = (9959, 9958);

/// Largest upsampling factor: ISBI's ≈4 nm at 16× is 0.25 nm/pixel, finer than any EM section;
/// beyond it a typo (`--scale 1000`) would ask for terabytes.
pub const MAX_SCALE: usize = 16;

/// Most pixels synth holds in memory at once (the upsampled slices, or the section's image and
/// label): 2³¹ pixels, 4 GiB at one byte each for image and label, 21 U-RISC sections.
pub const MAX_PIXELS: u64 = 1 << 31;

/// Refuses, before any work, a scale outside 1..=[`MAX_SCALE`] or outputs beyond
/// [`MAX_PIXELS`]: `slices` are the sizes of the source slices, `section` the mosaic's size
/// when one is made.
pub fn check_request(
    slices: &[(usize, usize)],
    scale: usize,
    section: Option<(usize, usize)>,
) -> Result<(), String> {
    if !(1..=MAX_SCALE).contains(&scale) {
        return Err(format!(
            "--scale {scale} is outside 1–{MAX_SCALE} (an integer upsampling factor)"
        ));
    }
    let upsampled: u64 = slices
        .iter()
        .map(|&(h, w)| (h * scale) as u64 * (w * scale) as u64)
        .sum();
    if upsampled > MAX_PIXELS {
        return Err(format!(
            "--scale {scale} makes {upsampled} pixels of upsampled slices, more than the {MAX_PIXELS} synth holds in memory"
        ));
    }
    if let Some((h, w)) = section {
        let pixels = (h as u64).saturating_mul(w as u64);
        if pixels > MAX_PIXELS {
            return Err(format!(
                "--size {h}x{w} is {pixels} pixels, more than the {MAX_PIXELS} synth holds in memory (a U-RISC section is {}x{})",
                URISC_SECTION.0, URISC_SECTION.1
            ));
        }
    }
    Ok(())
}

/// Upsamples an image by an integer factor with bilinear interpolation (pixel centres aligned,
/// edges clamped, as OpenCV's `INTER_LINEAR`).
pub fn upsample_bilinear(image: &Image<u8>, factor: usize) -> Image<u8> {
    assert!(factor >= 1);
    let (h, w) = (image.height, image.width);
    let source = |dst: usize, len: usize| {
        let s = ((dst as f32 + 0.5) / factor as f32 - 0.5).max(0.0);
        let s0 = (s.floor() as usize).min(len - 1);
        (s0, (s0 + 1).min(len - 1), s - s0 as f32)
    };
    let cols: Vec<_> = (0..w * factor).map(|c| source(c, w)).collect();
    let mut data = Vec::with_capacity(h * w * factor * factor);
    for r in 0..h * factor {
        let (r0, r1, fy) = source(r, h);
        let (top, bottom) = (image.row(r0), image.row(r1));
        for &(c0, c1, fx) in &cols {
            let t = top[c0] as f32 * (1.0 - fx) + top[c1] as f32 * fx;
            let b = bottom[c0] as f32 * (1.0 - fx) + bottom[c1] as f32 * fx;
            data.push((t * (1.0 - fy) + b * fy).round() as u8);
        }
    }
    Image::new(h * factor, w * factor, data)
}

/// Upsamples by pixel replication (for labels: stays binary, membranes thicken with the scale).
pub fn upsample_nearest(image: &Image<u8>, factor: usize) -> Image<u8> {
    assert!(factor >= 1);
    let w = image.width * factor;
    let mut data = Vec::with_capacity(image.len() * factor * factor);
    for r in 0..image.height * factor {
        let src = image.row(r / factor);
        data.extend((0..w).map(|c| src[c / factor]));
    }
    Image::new(image.height * factor, w, data)
}

/// A labelled image: EM image and its membrane label (membrane 0, background 255).
pub struct LabelledSection {
    /// The EM image.
    pub image: Image<u8>,
    /// Its label, same size: membrane 0, background 255.
    pub label: Image<u8>,
}

/// A `height × width` mosaic of the given slices, each upsampled by `scale` (bilinear image,
/// replicated label) and placed in a grid in a seeded random order, each under a random
/// element of the dihedral group, so neighbouring tiles differ and no tile is a plain copy.
pub fn mosaic(
    slices: &[LabelledSection],
    height: usize,
    width: usize,
    scale: usize,
    seed: u64,
) -> LabelledSection {
    assert!(!slices.is_empty(), "a mosaic needs at least one slice");
    let up: Vec<(Image<u8>, Image<u8>)> = slices
        .iter()
        .map(|s| {
            (
                upsample_bilinear(&s.image, scale),
                upsample_nearest(&s.label, scale),
            )
        })
        .collect();
    let (th, tw) = (up[0].0.height, up[0].0.width);
    assert!(
        up.iter()
            .all(|(i, l)| (i.height, i.width, l.height, l.width) == (th, tw, th, tw)),
        "mosaic slices and labels must all have one size"
    );
    let (rows, cols) = (height.div_ceil(th), width.div_ceil(tw));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = Vec::with_capacity(rows * cols);
    while order.len() < rows * cols {
        let mut round: Vec<usize> = (0..up.len()).collect();
        round.shuffle(&mut rng);
        order.extend(round);
    }
    let mut image = Image::filled(height, width, 0u8);
    let mut label = Image::filled(height, width, 0u8);
    for (k, &which) in order.iter().take(rows * cols).enumerate() {
        let (tr, tc) = (k / cols * th, k % cols * tw);
        // A square tile keeps its size under every dihedral element.
        let transform = if th == tw {
            rand::Rng::random_range(&mut rng, 0..8)
        } else {
            0
        };
        for (src, dst) in [(&up[which].0, &mut image), (&up[which].1, &mut label)] {
            let plane: Vec<f32> = src.data.iter().map(|&v| v as f32).collect();
            let (turned, ..) = dihedral_plane(&plane, th, tw, transform);
            for r in 0..th.min(height - tr) {
                let n = tw.min(width - tc);
                let row = &mut dst.data[(tr + r) * width + tc..][..n];
                for (d, s) in row.iter_mut().zip(&turned[r * tw..r * tw + n]) {
                    *d = *s as u8;
                }
            }
        }
    }
    LabelledSection { image, label }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_upsampling_by_two_is_hand_computable() {
        let img = Image::new(1, 2, vec![0u8, 100]);
        let up = upsample_bilinear(&img, 2);
        // Centres at −0.25, 0.25, 0.75, 1.25 in source pixels (clamped at the edges).
        assert_eq!(up.data, vec![0, 25, 75, 100, 0, 25, 75, 100]);
        assert_eq!((up.height, up.width), (2, 4));
        let flat = Image::filled(3, 5, 77u8);
        assert!(upsample_bilinear(&flat, 3).data.iter().all(|&v| v == 77));
    }

    #[test]
    fn nearest_upsampling_replicates_labels() {
        let lab = Image::new(2, 2, vec![0u8, 255, 255, 0]);
        let up = upsample_nearest(&lab, 2);
        assert_eq!(
            up.data,
            vec![0, 0, 255, 255, 0, 0, 255, 255, 255, 255, 0, 0, 255, 255, 0, 0]
        );
    }

    #[test]
    fn mosaic_has_the_requested_size_and_aligned_labels() {
        // Each slice's label marks exactly its dark pixels, so image/label alignment survives
        // every transform and the crop at the right and bottom edges.
        let slices: Vec<LabelledSection> = (0..3)
            .map(|s| {
                let image = Image::new(
                    6,
                    6,
                    (0..36)
                        .map(|i| if (i * 7 + s) % 5 == 0 { 10 } else { 200 })
                        .collect(),
                );
                let label = Image::new(
                    6,
                    6,
                    image
                        .data
                        .iter()
                        .map(|&v| if v < 100 { 0 } else { 255 })
                        .collect(),
                );
                LabelledSection { image, label }
            })
            .collect();
        let m = mosaic(&slices, 29, 31, 2, 5);
        assert_eq!((m.image.height, m.image.width), (29, 31));
        for (&i, &l) in m.image.data.iter().zip(&m.label.data) {
            // Bilinear blurs edges by half a source pixel; away from them image and label agree.
            if i == 10 {
                assert_eq!(l, 0);
            }
            if i == 200 {
                assert_eq!(l, 255);
            }
        }
        assert!(m.label.data.contains(&0) && m.label.data.contains(&255));
        // Reproducible from the seed; another seed gives another arrangement.
        assert_eq!(mosaic(&slices, 29, 31, 2, 5).image.data, m.image.data);
        assert_ne!(mosaic(&slices, 29, 31, 2, 6).image.data, m.image.data);
    }
}
