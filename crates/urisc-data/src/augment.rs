//! Seeded augmentation of training tiles: dihedral transforms, small rotations, elastic
//! deformation, intensity jitter, blur, noise and cutout. Geometric transforms move image and
//! target together; photometric ones touch the image only (cutout also clears the target).

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::tile::{bilinear, reflect, Tile};

/// Augmentation settings; every magnitude 0 switches its transform off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// One of the 8 rotations/flips of the square, uniformly.
    pub dihedral: bool,
    /// Extra rotation, uniform in ±degrees (the authors used ±10°).
    pub rotation_degrees: f32,
    /// Elastic deformation: largest displacement in pixels of a smooth random field.
    pub elastic_pixels: f32,
    /// Smoothness (Gaussian sigma, pixels) of the elastic field.
    pub elastic_sigma: f32,
    /// Additive brightness change, uniform in ±value (intensities in [0, 1]).
    pub brightness: f32,
    /// Contrast factor, uniform in 1 ± value, around the tile mean.
    pub contrast: f32,
    /// Gamma, exp(uniform in ±value).
    pub gamma: f32,
    /// Probability of a Gaussian blur, and its largest sigma (pixels).
    pub blur_probability: f32,
    /// Largest blur sigma in pixels; each blur draws its sigma uniformly in [0, value].
    pub blur_sigma: f32,
    /// Gaussian noise with standard deviation uniform in [0, value].
    pub noise_sigma: f32,
    /// Number of cutout rectangles (filled with noise, target cleared), and their side range.
    pub cutout: usize,
    /// Smallest cutout side, pixels.
    pub cutout_min: usize,
    /// Largest cutout side, pixels (each side is uniform in [min, max], clipped to the tile).
    pub cutout_max: usize,
}

impl Default for AugmentConfig {
    /// The authors' U-Net recipe: dihedral + ±10° rotation + ±0.2 brightness/contrast.
    fn default() -> Self {
        AugmentConfig {
            dihedral: true,
            rotation_degrees: 10.0,
            elastic_pixels: 0.0,
            elastic_sigma: 10.0,
            brightness: 0.2,
            contrast: 0.2,
            gamma: 0.0,
            blur_probability: 0.0,
            blur_sigma: 1.0,
            noise_sigma: 0.0,
            cutout: 0,
            cutout_min: 10,
            cutout_max: 64,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all (validation).
    pub fn none() -> AugmentConfig {
        AugmentConfig {
            dihedral: false,
            rotation_degrees: 0.0,
            elastic_pixels: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            ..AugmentConfig::default()
        }
    }

    /// Applies the configured transforms in a fixed order, drawing from `rng` in a fixed
    /// order, so a seed reproduces a tile exactly.
    pub fn apply(&self, tile: &Tile, rng: &mut impl Rng) -> Tile {
        let mut t = tile.clone();
        if self.dihedral {
            t = dihedral(&t, rng.random_range(0..8));
        }
        let angle = if self.rotation_degrees > 0.0 {
            rng.random_range(-self.rotation_degrees..=self.rotation_degrees)
                .to_radians()
        } else {
            0.0
        };
        let field = (self.elastic_pixels > 0.0).then(|| {
            elastic_field(
                t.height,
                t.width,
                self.elastic_pixels,
                self.elastic_sigma,
                rng,
            )
        });
        if angle != 0.0 || field.is_some() {
            t = warp(&t, angle, field.as_ref());
        }
        if self.brightness > 0.0 || self.contrast > 0.0 || self.gamma > 0.0 {
            let b = symmetric(rng, self.brightness);
            let c = 1.0 + symmetric(rng, self.contrast);
            let g = symmetric(rng, self.gamma).exp();
            let mean = t.image.iter().sum::<f32>() / t.image.len() as f32;
            for v in &mut t.image {
                let x = v.clamp(0.0, 1.0).powf(g);
                *v = ((x - mean) * c + mean + b).clamp(0.0, 1.0);
            }
        }
        if self.blur_probability > 0.0 && rng.random::<f32>() < self.blur_probability {
            let sigma = rng.random_range(0.0..=self.blur_sigma);
            t.image = gaussian_blur(&t.image, t.height, t.width, sigma);
        }
        if self.noise_sigma > 0.0 {
            let sigma = rng.random_range(0.0..=self.noise_sigma);
            if sigma > 0.0 {
                let normal = Normal::new(0.0f32, sigma).expect("finite sigma");
                for v in &mut t.image {
                    *v = (*v + normal.sample(rng)).clamp(0.0, 1.0);
                }
            }
        }
        for _ in 0..self.cutout {
            let (lo, hi) = (
                self.cutout_min.max(1),
                self.cutout_max.max(self.cutout_min.max(1)),
            );
            let (rh, rw) = (
                rng.random_range(lo..=hi).min(t.height),
                rng.random_range(lo..=hi).min(t.width),
            );
            let (r0, c0) = (
                rng.random_range(0..=t.height - rh),
                rng.random_range(0..=t.width - rw),
            );
            for r in r0..r0 + rh {
                for c in c0..c0 + rw {
                    t.image[r * t.width + c] = rng.random();
                    t.target[r * t.width + c] = 0.0;
                }
            }
        }
        t
    }
}

fn symmetric(rng: &mut impl Rng, max: f32) -> f32 {
    if max > 0.0 {
        rng.random_range(-max..=max)
    } else {
        0.0
    }
}

/// Element `k` (0..8) of the dihedral group of the square: `k % 4` quarter turns
/// counter-clockwise, preceded by a horizontal flip when `k >= 4`.
pub fn dihedral(tile: &Tile, k: usize) -> Tile {
    let (image, h, w) = dihedral_plane(&tile.image, tile.height, tile.width, k);
    let (target, ..) = dihedral_plane(&tile.target, tile.height, tile.width, k);
    Tile::new(h, w, image, target)
}

/// The inverse element of [`dihedral`]'s `k` (for undoing test-time augmentation).
pub fn dihedral_inverse(k: usize) -> usize {
    if k < 4 {
        (4 - k) % 4
    } else {
        k
    }
}

/// [`dihedral`] on one plane; returns the plane and its new height and width.
pub fn dihedral_plane(plane: &[f32], h: usize, w: usize, k: usize) -> (Vec<f32>, usize, usize) {
    assert!(k < 8);
    let flipped: Vec<f32>;
    let src = if k >= 4 {
        flipped = (0..h * w)
            .map(|i| plane[(i / w) * w + (w - 1 - i % w)])
            .collect();
        &flipped[..]
    } else {
        plane
    };
    let mut out = src.to_vec();
    let (mut oh, mut ow) = (h, w);
    for _ in 0..k % 4 {
        // One quarter turn counter-clockwise: out[r][c] = in[c][W − 1 − r].
        let prev = out.clone();
        let (ph, pw) = (oh, ow);
        (oh, ow) = (pw, ph);
        for r in 0..oh {
            for c in 0..ow {
                out[r * ow + c] = prev[c * pw + (pw - 1 - r)];
            }
        }
    }
    (out, oh, ow)
}

/// A smooth random displacement field (dy, dx) with largest magnitude `pixels`.
fn elastic_field(
    h: usize,
    w: usize,
    pixels: f32,
    sigma: f32,
    rng: &mut impl Rng,
) -> (Vec<f32>, Vec<f32>) {
    let mut smooth = || {
        let noise: Vec<f32> = (0..h * w)
            .map(|_| rng.random_range(-1.0f32..=1.0))
            .collect();
        gaussian_blur(&noise, h, w, sigma)
    };
    let (mut dy, mut dx) = (smooth(), smooth());
    let peak = dy.iter().chain(&dx).fold(0f32, |m, v| m.max(v.abs()));
    if peak > 0.0 {
        let s = pixels / peak;
        dy.iter_mut().chain(dx.iter_mut()).for_each(|v| *v *= s);
    }
    (dy, dx)
}

/// Rotation by `angle` (radians, about the centre) composed with an optional displacement
/// field; bilinear resampling with reflected borders.
fn warp(tile: &Tile, angle: f32, field: Option<&(Vec<f32>, Vec<f32>)>) -> Tile {
    let (h, w) = (tile.height, tile.width);
    let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
    let (s, c) = angle.sin_cos();
    let mut image = vec![0f32; h * w];
    let mut target = vec![0f32; h * w];
    for r in 0..h {
        for col in 0..w {
            let (y, x) = (r as f32 - cy, col as f32 - cx);
            let (mut sy, mut sx) = (c * y - s * x + cy, s * y + c * x + cx);
            if let Some((dy, dx)) = field {
                sy += dy[r * w + col];
                sx += dx[r * w + col];
            }
            image[r * w + col] = bilinear(&tile.image, h, w, sy, sx);
            target[r * w + col] = bilinear(&tile.target, h, w, sy, sx);
        }
    }
    Tile::new(h, w, image, target)
}

/// Separable Gaussian blur with reflected borders (kernel radius 3σ); σ ≤ 0 copies.
pub fn gaussian_blur(plane: &[f32], h: usize, w: usize, sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return plane.to_vec();
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / norm).collect();
    // Along columns (within each row), then along rows.
    let rows = convolve_axis(plane, h, w, &kernel, radius, false);
    convolve_axis(&rows, h, w, &kernel, radius, true)
}

/// One separable pass of a centred kernel with reflected borders, along rows (`vertical`) or
/// along columns.
fn convolve_axis(
    plane: &[f32],
    h: usize,
    w: usize,
    kernel: &[f32],
    radius: isize,
    vertical: bool,
) -> Vec<f32> {
    let mut out = vec![0f32; h * w];
    for r in 0..h {
        for c in 0..w {
            out[r * w + c] = kernel
                .iter()
                .enumerate()
                .map(|(k, kv)| {
                    let offset = k as isize - radius;
                    let i = if vertical {
                        reflect(r as isize + offset, h) * w + c
                    } else {
                        r * w + reflect(c as isize + offset, w)
                    };
                    kv * plane[i]
                })
                .sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ramp(h: usize, w: usize) -> Tile {
        let image: Vec<f32> = (0..h * w).map(|i| i as f32 / (h * w) as f32).collect();
        let target: Vec<f32> = (0..h * w).map(|i| (i % 3 == 0) as u8 as f32).collect();
        Tile::new(h, w, image, target)
    }

    #[test]
    fn dihedral_group_is_complete_and_invertible() {
        let t = ramp(3, 5);
        let all: Vec<Tile> = (0..8).map(|k| dihedral(&t, k)).collect();
        for i in 0..8 {
            for j in i + 1..8 {
                assert_ne!(all[i], all[j], "elements {i} and {j} coincide");
            }
            let back = dihedral(&all[i], dihedral_inverse(i));
            assert_eq!(back, t, "inverse of {i}");
        }
        // A quarter turn of a 3×5 tile is 5×3, image and target moved together.
        assert_eq!((all[1].height, all[1].width), (5, 3));
        assert_eq!(all[1].image[0], t.image[4]);
        assert_eq!(all[1].target[0], t.target[4]);
    }

    #[test]
    fn zero_rotation_and_no_field_is_the_identity() {
        let t = ramp(6, 7);
        assert_eq!(warp(&t, 0.0, None), t);
        let zero = (vec![0.0; 42], vec![0.0; 42]);
        assert_eq!(warp(&t, 0.0, Some(&zero)), t);
    }

    #[test]
    fn warps_keep_constant_images_constant() {
        let t = Tile::new(16, 16, vec![0.25; 256], vec![1.0; 256]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let field = elastic_field(16, 16, 3.0, 2.0, &mut rng);
        let peak = field
            .0
            .iter()
            .chain(&field.1)
            .fold(0f32, |m, v| m.max(v.abs()));
        assert!((peak - 3.0).abs() < 1e-5);
        let out = warp(&t, 0.3, Some(&field));
        assert!(out.image.iter().all(|v| (v - 0.25).abs() < 1e-6));
        assert!(out.target.iter().all(|v| (v - 1.0).abs() < 1e-6));
    }

    #[test]
    fn blur_preserves_constants_and_the_mean_of_a_point() {
        assert!(gaussian_blur(&[0.5; 25], 5, 5, 1.0)
            .iter()
            .all(|v| (v - 0.5).abs() < 1e-6));
        let mut point = vec![0f32; 21 * 21];
        point[10 * 21 + 10] = 1.0;
        let b = gaussian_blur(&point, 21, 21, 1.5);
        assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(b[10 * 21 + 10] < 0.1 && b[10 * 21 + 11] > 0.0);
    }

    #[test]
    fn augmentation_is_reproducible_by_seed_and_keeps_values_in_range() {
        let config = AugmentConfig {
            elastic_pixels: 4.0,
            gamma: 0.3,
            blur_probability: 1.0,
            noise_sigma: 0.05,
            cutout: 2,
            cutout_min: 2,
            cutout_max: 5,
            ..AugmentConfig::default()
        };
        let t = ramp(24, 24);
        let run = |seed| config.apply(&t, &mut ChaCha8Rng::seed_from_u64(seed));
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
        let out = run(11);
        assert!(out.image.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(out.target.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(
            AugmentConfig::none().apply(&t, &mut ChaCha8Rng::seed_from_u64(0)),
            t
        );
    }

    #[test]
    fn cutout_clears_the_target() {
        let config = AugmentConfig {
            cutout: 1,
            cutout_min: 8,
            cutout_max: 8,
            ..AugmentConfig::none()
        };
        let t = Tile::new(8, 8, vec![0.5; 64], vec![1.0; 64]);
        let out = config.apply(&t, &mut ChaCha8Rng::seed_from_u64(2));
        assert!(out.target.iter().all(|&v| v == 0.0));
        assert!(out.image.iter().any(|&v| v != 0.5));
    }
}
