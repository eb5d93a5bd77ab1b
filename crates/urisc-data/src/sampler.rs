//! Seeded crop sampling from images of any size, optionally membrane-rich, optionally resized
//! (the authors cut 1024- or 2048-pixel crops and resized them to 512).

use rand::Rng;
use serde::{Deserialize, Serialize};
use urisc_io::{encoding::label_is_membrane, Image};

use crate::tile::{reflect, Tile};

/// How crops are drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CropConfig {
    /// Side of the square crop cut from the image, in image pixels.
    pub crop: usize,
    /// Side of the tile handed to the network; `crop` is area-resized to it when different.
    pub size: usize,
    /// Minimum membrane fraction of a crop (0 accepts any); crops are redrawn up to
    /// `max_tries` times to reach it.
    pub min_membrane: f32,
    /// Draws allowed to reach `min_membrane`; when none does, the most membrane-rich is used.
    pub max_tries: usize,
}

impl Default for CropConfig {
    fn default() -> Self {
        CropConfig {
            crop: 256,
            size: 256,
            min_membrane: 0.0,
            max_tries: 20,
        }
    }
}

/// A training image with its 8-bit label (SPEC §2 polarity: membrane ≤ 122).
pub struct LabelledImage {
    /// The EM image.
    pub image: Image<u8>,
    /// Its label, same size: membrane dark (≤ 122), background white.
    pub label: Image<u8>,
}

/// Draws crops from a set of labelled images; each image is chosen with probability
/// proportional to its area, so a full section counts as much as the tiles it contains.
pub struct CropSampler<'a> {
    images: &'a [LabelledImage],
    cumulative_area: Vec<u64>,
    config: CropConfig,
}

impl<'a> CropSampler<'a> {
    /// A sampler over `images`; panics if there are none, if `crop` or `size` is 0, or if an
    /// image and its label differ in size.
    pub fn new(images: &'a [LabelledImage], config: CropConfig) -> CropSampler<'a> {
        assert!(!images.is_empty(), "no training images");
        assert!(
            config.crop > 0 && config.size > 0,
            "crop and size must be positive"
        );
        for im in images {
            assert_eq!(
                (im.image.height, im.image.width),
                (im.label.height, im.label.width)
            );
        }
        let mut total = 0u64;
        let cumulative_area = images
            .iter()
            .map(|im| {
                total += im.image.len() as u64;
                total
            })
            .collect();
        CropSampler {
            images,
            cumulative_area,
            config,
        }
    }

    /// One crop: image in [0, 1], target = membrane fraction per output pixel.
    pub fn sample(&self, rng: &mut impl Rng) -> Tile {
        let mut best: Option<Tile> = None;
        for _ in 0..self.config.max_tries.max(1) {
            let tile = self.draw(rng);
            let fraction = tile.membrane_fraction();
            if fraction >= self.config.min_membrane {
                return tile;
            }
            if best
                .as_ref()
                .is_none_or(|b| fraction > b.membrane_fraction())
            {
                best = Some(tile);
            }
        }
        best.expect("at least one draw")
    }

    fn draw(&self, rng: &mut impl Rng) -> Tile {
        let total = *self.cumulative_area.last().expect("non-empty");
        let pick = rng.random_range(0..total);
        let k = self.cumulative_area.partition_point(|&c| c <= pick);
        let im = &self.images[k];
        let (h, w, c) = (im.image.height, im.image.width, self.config.crop);
        // Crops larger than the image are centred and filled by reflection.
        let top = if h > c {
            rng.random_range(0..=h - c) as isize
        } else {
            -(((c - h) / 2) as isize)
        };
        let left = if w > c {
            rng.random_range(0..=w - c) as isize
        } else {
            -(((c - w) / 2) as isize)
        };
        let mut image = Vec::with_capacity(c * c);
        let mut target = Vec::with_capacity(c * c);
        for r in 0..c as isize {
            let rr = reflect(top + r, h);
            for cc in 0..c as isize {
                let i = rr * w + reflect(left + cc, w);
                image.push(im.image.data[i] as f32 / 255.0);
                target.push(label_is_membrane(im.label.data[i]) as u8 as f32);
            }
        }
        let tile = Tile::new(c, c, image, target);
        if self.config.size == c {
            tile
        } else {
            resize_area(&tile, self.config.size)
        }
    }
}

/// Area resize to `size × size`: each output pixel averages the input area it covers (exact
/// box averaging when shrinking by an integer factor), for image and target alike, so thin
/// membranes survive as fractional targets instead of vanishing.
pub fn resize_area(tile: &Tile, size: usize) -> Tile {
    let resample = |plane: &[f32], h: usize, w: usize| -> Vec<f32> {
        let (sy, sx) = (h as f64 / size as f64, w as f64 / size as f64);
        let mut out = vec![0f32; size * size];
        for oy in 0..size {
            let (y0, y1) = (oy as f64 * sy, (oy + 1) as f64 * sy);
            for ox in 0..size {
                let (x0, x1) = (ox as f64 * sx, (ox + 1) as f64 * sx);
                let (mut acc, mut area) = (0f64, 0f64);
                for y in y0.floor() as usize..(y1.ceil() as usize).min(h) {
                    let wy = (y1.min(y as f64 + 1.0) - y0.max(y as f64)).max(0.0);
                    for x in x0.floor() as usize..(x1.ceil() as usize).min(w) {
                        let wx = (x1.min(x as f64 + 1.0) - x0.max(x as f64)).max(0.0);
                        acc += plane[y * w + x] as f64 * wy * wx;
                        area += wy * wx;
                    }
                }
                out[oy * size + ox] = (acc / area) as f32;
            }
        }
        out
    };
    Tile::new(
        size,
        size,
        resample(&tile.image, tile.height, tile.width),
        resample(&tile.target, tile.height, tile.width),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn stripes(h: usize, w: usize, period: usize) -> LabelledImage {
        let label: Vec<u8> = (0..h * w)
            .map(|i| {
                if (i % w).is_multiple_of(period) {
                    0
                } else {
                    255
                }
            })
            .collect();
        let image: Vec<u8> = (0..h * w).map(|i| (i % 251) as u8).collect();
        LabelledImage {
            image: Image::new(h, w, image),
            label: Image::new(h, w, label),
        }
    }

    #[test]
    fn same_seed_same_crops() {
        let data = [stripes(40, 50, 7), stripes(90, 30, 5)];
        let sampler = CropSampler::new(
            &data,
            CropConfig {
                crop: 16,
                size: 16,
                ..Default::default()
            },
        );
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..5).map(|_| sampler.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn crops_come_from_the_image_with_matching_labels() {
        // Image value = column index, label membrane on every 7th column.
        let (h, w) = (40usize, 50usize);
        let image: Vec<u8> = (0..h * w).map(|i| (i % w) as u8).collect();
        let label: Vec<u8> = (0..h * w)
            .map(|i| if (i % w).is_multiple_of(7) { 0 } else { 255 })
            .collect();
        let data = [LabelledImage {
            image: Image::new(h, w, image),
            label: Image::new(h, w, label),
        }];
        let sampler = CropSampler::new(
            &data,
            CropConfig {
                crop: 8,
                size: 8,
                ..Default::default()
            },
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut lefts = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let t = sampler.sample(&mut rng);
            let c0 = (t.image[0] * 255.0).round() as usize;
            assert!(c0 + 8 <= w);
            lefts.insert(c0);
            for r in 0..8 {
                for c in 0..8 {
                    assert_eq!((t.image[r * 8 + c] * 255.0).round() as usize, c0 + c);
                    let expect = if (c0 + c).is_multiple_of(7) { 1.0 } else { 0.0 };
                    assert_eq!(t.target[r * 8 + c], expect);
                }
            }
        }
        assert!(lefts.len() > 10, "crops spread over the image: {lefts:?}");
    }

    #[test]
    fn membrane_rich_crops_reach_the_minimum() {
        // Membrane only in the left 10 columns of a wide image.
        let (h, w) = (20, 200);
        let label: Vec<u8> = (0..h * w)
            .map(|i| if i % w < 10 { 0 } else { 255 })
            .collect();
        let data = [LabelledImage {
            image: Image::filled(h, w, 128),
            label: Image::new(h, w, label),
        }];
        let config = CropConfig {
            crop: 10,
            size: 10,
            min_membrane: 0.3,
            max_tries: 200,
        };
        let sampler = CropSampler::new(&data, config);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..10 {
            assert!(sampler.sample(&mut rng).membrane_fraction() >= 0.3);
        }
    }

    #[test]
    fn crops_larger_than_the_image_are_reflected() {
        let data = [stripes(5, 6, 3)];
        let sampler = CropSampler::new(
            &data,
            CropConfig {
                crop: 12,
                size: 12,
                ..Default::default()
            },
        );
        let t = sampler.sample(&mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!((t.height, t.width), (12, 12));
    }

    #[test]
    fn area_resize_averages_blocks() {
        let tile = Tile::new(
            2,
            4,
            vec![0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.5, 0.5],
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        );
        let r = resize_area(&tile, 1);
        assert_eq!(r.image, vec![0.5]);
        assert_eq!(r.target, vec![0.25]);
        let big = Tile::new(4, 4, (0..16).map(|v| v as f32).collect(), vec![0.0; 16]);
        let half = resize_area(&big, 2);
        assert_eq!(half.image, vec![2.5, 4.5, 10.5, 12.5]);
    }
}
