//! Whole-image prediction by overlapping tiles (images that fit in memory; streaming over full
//! sections is the inference crate's job).

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use urisc_io::{reflect, Image};

use crate::descriptor::ModelDescriptor;
use crate::model::SegmentationNet;

/// Tiling of a prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Tile side (a multiple of the network's size multiple).
    pub tile: usize,
    /// Pixels shared by neighbouring tiles; blended with a linear ramp so no seam shows.
    pub overlap: usize,
    /// Tiles per forward pass.
    pub batch: usize,
}

/// Tile origins along one axis: steps of `tile − overlap`, the last tile flush with the end
/// (shifted inward, as the authors' patching did); one origin if the axis fits in a tile.
fn origins(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let step = (tile - overlap).max(1);
    let mut v: Vec<usize> = (0..)
        .map(|k| k * step)
        .take_while(|&o| o + tile < len)
        .collect();
    v.push(len - tile);
    v
}

/// Blending weight along one axis of a tile: a ramp over the overlap on each side (never 0, so
/// image borders covered by one tile keep full weight).
fn ramp(tile: usize, overlap: usize) -> Vec<f32> {
    (0..tile)
        .map(|i| {
            let d = i.min(tile - 1 - i) as f32;
            if overlap == 0 {
                1.0
            } else {
                ((d + 1.0) / (overlap as f32 + 1.0)).min(1.0)
            }
        })
        .collect()
}

/// Membrane probabilities of a whole 8-bit image (row-major, same size). Images smaller than a
/// tile are padded by reflection.
pub fn predict_probabilities(
    net: &SegmentationNet,
    descriptor: &ModelDescriptor,
    image: &Image<u8>,
    tiling: Tiling,
    device: &Device,
) -> Image<f32> {
    let multiple = descriptor.model.size_multiple();
    let (h, w) = (image.height, image.width);
    // Tiles never larger than the image rounded up to the network's multiple.
    let th = tiling.tile.min(h.div_ceil(multiple) * multiple);
    let tw = tiling.tile.min(w.div_ceil(multiple) * multiple);
    let overlap = tiling.overlap.min(th.min(tw) / 2);
    let (wy, wx) = (ramp(th, overlap), ramp(tw, overlap));
    let tiles: Vec<(usize, usize)> = origins(h, th, overlap)
        .into_iter()
        .flat_map(|r| origins(w, tw, overlap).into_iter().map(move |c| (r, c)))
        .collect();
    let mut acc = vec![0f32; h * w];
    let mut weight = vec![0f32; h * w];
    let norm = descriptor.normalization;
    for chunk in tiles.chunks(tiling.batch.max(1)) {
        let mut input = Vec::with_capacity(chunk.len() * th * tw);
        for &(r0, c0) in chunk {
            for r in 0..th {
                let rr = reflect((r0 + r) as isize, h);
                for c in 0..tw {
                    let cc = reflect((c0 + c) as isize, w);
                    input.push(norm.apply(image.get(rr, cc) as f32 / 255.0));
                }
            }
        }
        let x = Tensor::<4>::from_data(TensorData::new(input, [chunk.len(), 1, th, tw]), device);
        let p: Vec<f32> = sigmoid(net.forward(x))
            .into_data()
            .try_to_vec()
            .expect("f32 output");
        for (k, &(r0, c0)) in chunk.iter().enumerate() {
            for r in 0..th.min(h - r0) {
                for c in 0..tw.min(w - c0) {
                    let v = wy[r] * wx[c];
                    acc[(r0 + r) * w + c0 + c] += v * p[k * th * tw + r * tw + c];
                    weight[(r0 + r) * w + c0 + c] += v;
                }
            }
        }
    }
    Image::new(h, w, acc.iter().zip(&weight).map(|(a, b)| a / b).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_cover_the_axis_and_end_flush() {
        assert_eq!(origins(100, 128, 32), vec![0]);
        assert_eq!(origins(300, 128, 32), vec![0, 96, 172]);
        assert_eq!(origins(256, 128, 0), vec![0, 128]);
        for len in [129, 255, 511, 9958] {
            let o = origins(len, 128, 32);
            assert_eq!(*o.last().unwrap() + 128, len);
            assert!(o.windows(2).all(|p| p[1] > p[0] && p[1] - p[0] <= 96));
        }
    }

    #[test]
    fn ramp_is_positive_and_symmetric() {
        let r = ramp(8, 3);
        assert_eq!(r, vec![0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 0.5, 0.25]);
        assert!(ramp(4, 0).iter().all(|&v| v == 1.0));
    }
}

#[cfg(test)]
mod seam_tests {
    use super::*;
    use crate::info::receptive_interval;
    use crate::model::{Architecture, ModelConfig};

    #[test]
    fn tiled_prediction_equals_whole_image_away_from_tile_borders() {
        let device = Device::flex();
        let config = ModelConfig {
            architecture: Architecture::Unet,
            base_width: 4,
            depth: 2,
        };
        let net = SegmentationNet::new(&config, &device);
        let descriptor = ModelDescriptor::new(config.clone(), 32);
        let (h, w) = (96, 80);
        let image = Image::new(
            h,
            w,
            (0..h * w)
                .map(|i| ((i * 31 + i / w * 7) % 256) as u8)
                .collect(),
        );
        let whole = predict_probabilities(
            &net,
            &descriptor,
            &image,
            Tiling {
                tile: 128,
                overlap: 0,
                batch: 1,
            },
            &device,
        );
        let tiling = Tiling {
            tile: 32,
            overlap: 16,
            batch: 3,
        };
        let tiled = predict_probabilities(&net, &descriptor, &image, tiling, &device);
        // Context each output pixel needs on either side.
        let margin = (0..2)
            .map(|p| {
                let (lo, hi) = receptive_interval(&config, p);
                (p - lo).max(hi - p) as usize
            })
            .max()
            .unwrap();
        let safe = |x: usize, o: usize, len: usize| {
            (x - o >= margin || o == 0) && (o + 32 - 1 - x >= margin || o + 32 == len)
        };
        let (rows, cols) = (origins(h, 32, 16), origins(w, 32, 16));
        let mut compared = 0;
        for r in 0..h {
            for c in 0..w {
                let covering_ok = rows
                    .iter()
                    .filter(|&&o| o <= r && r < o + 32)
                    .all(|&o| safe(r, o, h))
                    && cols
                        .iter()
                        .filter(|&&o| o <= c && c < o + 32)
                        .all(|&o| safe(c, o, w));
                if covering_ok {
                    let (a, b) = (whole.get(r, c), tiled.get(r, c));
                    assert!((a - b).abs() < 1e-5, "({r},{c}): whole {a} vs tiled {b}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 0, "margin {margin} left no pixel to compare");
        // And everywhere the blend is a proper average: probabilities stay in [0, 1].
        assert!(tiled.data.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}
