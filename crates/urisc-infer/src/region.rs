//! Prediction of one rectangle of a section (a block of a scale-out manifest): the tiles of the
//! section's own grid that touch the rectangle, blended in the same order with the same
//! weights as [`crate::predict_stream`], so a section cut into blocks equals the section
//! predicted whole, bit for bit.

use serde::{Deserialize, Serialize};
use urisc_io::{reflect, Image, IoError};
use urisc_model::SegmentationModel;

use crate::job::InferenceOptions;
use crate::stream::{InferError, Plan};

/// A rectangle of a section: rows `y0..y1`, columns `x0..x1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    /// First row.
    pub y0: usize,
    /// One past the last row.
    pub y1: usize,
    /// First column.
    pub x0: usize,
    /// One past the last column.
    pub x1: usize,
}

impl Rect {
    /// Rows × columns.
    pub fn area(&self) -> usize {
        (self.y1 - self.y0) * (self.x1 - self.x0)
    }

    /// Height in rows.
    pub fn height(&self) -> usize {
        self.y1 - self.y0
    }

    /// Width in columns.
    pub fn width(&self) -> usize {
        self.x1 - self.x0
    }
}

/// Tile origins of one axis whose extent `[o, o + tile)` meets `[a, b)`.
fn touching(origins: &[usize], tile: usize, a: usize, b: usize) -> Vec<usize> {
    origins
        .iter()
        .copied()
        .filter(|&o| o < b && o + tile > a)
        .collect()
}

/// The input rectangle `predict_region` reads for `write`: the union of the tiles touching it,
/// clipped to the section (tiles larger than the section reflect inside it, so they read all
/// of that axis).
pub fn input_region(
    model: &dyn SegmentationModel,
    height: usize,
    width: usize,
    options: &InferenceOptions,
    write: Rect,
) -> Rect {
    let plan = Plan::new(model.size_multiple(), height, width, options);
    let axis = |origins: &[usize], tile: usize, len: usize, a: usize, b: usize| {
        let t = touching(origins, tile, a, b);
        let first = *t.first().expect("a non-empty rectangle meets a tile");
        let last = *t.last().expect("non-empty");
        (first, (last + tile).min(len))
    };
    let (y0, y1) = axis(&plan.rows, plan.tile_h, height, write.y0, write.y1);
    let (x0, x1) = axis(&plan.cols, plan.tile_w, width, write.x0, write.x1);
    Rect { y0, y1, x0, x1 }
}

/// Membrane probabilities of `write` (a rectangle of a `height × width` section), reading the
/// input through `read` (called once, with [`input_region`]'s rectangle). Memory is that of the
/// read rectangle plus one batch of tiles.
pub fn predict_region(
    model: &dyn SegmentationModel,
    height: usize,
    width: usize,
    options: &InferenceOptions,
    write: Rect,
    read: &mut dyn FnMut(Rect) -> Result<Image<u8>, IoError>,
) -> Result<Image<f32>, InferError> {
    assert!(write.y0 < write.y1 && write.y1 <= height && write.x0 < write.x1 && write.x1 <= width);
    let plan = Plan::new(model.size_multiple(), height, width, options);
    let transforms = crate::tta::tta_transforms(options.tta);
    let (th, tw) = (plan.tile_h, plan.tile_w);
    let area = input_region(model, height, width, options, write);
    let input = read(area)?;
    assert_eq!((input.height, input.width), (area.height(), area.width()));
    let lut: Vec<f32> = (0..=255u8).map(|v| model.normalize(v)).collect();
    let rows = touching(&plan.rows, th, write.y0, write.y1);
    let cols = touching(&plan.cols, tw, write.x0, write.x1);
    let (wh, ww) = (write.height(), write.width());
    let mut acc = vec![0f32; wh * ww];
    // The same order as predict_stream: bands top to bottom, tiles left to right, so every
    // pixel's sum adds the same terms in the same order.
    for &r0 in &rows {
        for batch in cols.chunks(options.batch.max(1)) {
            let mut tiles = Vec::with_capacity(batch.len() * th * tw);
            for &c0 in batch {
                for r in 0..th {
                    let y = reflect((r0 + r) as isize, height) - area.y0;
                    let row = &input.data[y * area.width()..][..area.width()];
                    tiles.extend(
                        (0..tw).map(|c| {
                            lut[row[reflect((c0 + c) as isize, width) - area.x0] as usize]
                        }),
                    );
                }
            }
            let probabilities =
                crate::tta::predict_augmented(model, &tiles, batch.len(), th, tw, &transforms)?;
            for (k, &c0) in batch.iter().enumerate() {
                let tile = &probabilities[k * th * tw..][..th * tw];
                let (ry0, ry1) = (r0.max(write.y0), (r0 + th).min(write.y1));
                let (cx0, cx1) = (c0.max(write.x0), (c0 + tw).min(write.x1));
                for y in ry0..ry1 {
                    let r = y - r0;
                    let wy = plan.window_y[r];
                    let out = &mut acc[(y - write.y0) * ww..][..ww];
                    for x in cx0..cx1 {
                        let c = x - c0;
                        out[x - write.x0] += wy * plan.window_x[c] * tile[r * tw + c];
                    }
                }
            }
        }
    }
    for (i, row) in acc.chunks_exact_mut(ww).enumerate() {
        let wy = plan.weight_y[write.y0 + i];
        for (v, wx) in row.iter_mut().zip(&plan.weight_x[write.x0..write.x1]) {
            *v /= wy * wx;
        }
    }
    Ok(Image::new(wh, ww, acc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict_image;
    use urisc_model::testing::LinearFilter;

    /// Cuts a section into blocks of `block` pixels and predicts each on its own.
    fn blockwise(
        model: &dyn SegmentationModel,
        image: &Image<u8>,
        options: &InferenceOptions,
        block: (usize, usize),
    ) -> Vec<f32> {
        let (h, w) = (image.height, image.width);
        let mut out = vec![f32::NAN; h * w];
        for y0 in (0..h).step_by(block.0) {
            for x0 in (0..w).step_by(block.1) {
                let write = Rect {
                    y0,
                    y1: (y0 + block.0).min(h),
                    x0,
                    x1: (x0 + block.1).min(w),
                };
                let mut reads = 0;
                let p = predict_region(model, h, w, options, write, &mut |r: Rect| {
                    reads += 1;
                    let mut data = Vec::with_capacity(r.area());
                    for y in r.y0..r.y1 {
                        data.extend_from_slice(&image.data[y * w + r.x0..y * w + r.x1]);
                    }
                    Ok(Image::new(r.height(), r.width(), data))
                })
                .unwrap();
                assert_eq!(reads, 1);
                for y in write.y0..write.y1 {
                    out[y * w + write.x0..y * w + write.x1]
                        .copy_from_slice(&p.data[(y - y0) * write.width()..][..write.width()]);
                }
            }
        }
        out
    }

    #[test]
    fn blocks_equal_the_whole_section_bit_for_bit() {
        let kernel: Vec<f32> = (0..49)
            .map(|i| ((i * 7) % 11) as f32 / 40.0 - 0.12)
            .collect();
        let model = LinearFilter::new(3, kernel, -0.3).with_size_multiple(8);
        let (h, w) = (203, 150);
        let image = Image::new(
            h,
            w,
            (0..h * w)
                .map(|i| ((i * 37 + i / w * 11) % 256) as u8)
                .collect(),
        );
        for (tile, overlap, tta, batch, block) in [
            (64, 16, 1, 4, (64, 64)),
            (64, 16, 1, 3, (50, 37)),
            (48, 20, 8, 2, (100, 150)),
            (256, 64, 2, 4, (64, 32)),
        ] {
            let options = InferenceOptions {
                tile,
                overlap,
                batch,
                tta,
            };
            let whole = predict_image(&model, &image, &options).unwrap();
            let blocks = blockwise(&model, &image, &options, block);
            assert!(
                whole
                    .data
                    .iter()
                    .zip(&blocks)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "tile {tile}, overlap {overlap}, tta {tta}, block {block:?}"
            );
        }
    }

    #[test]
    fn the_input_region_covers_the_touching_tiles() {
        let model = LinearFilter::new(1, vec![0.0; 9], 0.0).with_size_multiple(16);
        let options = InferenceOptions {
            tile: 64,
            overlap: 16,
            ..Default::default()
        };
        // Origins along 200: 0, 48, 96, 136; rows 100..120 meet the tiles at 48 and 96.
        let r = input_region(
            &model,
            200,
            200,
            &options,
            Rect {
                y0: 100,
                y1: 120,
                x0: 0,
                x1: 10,
            },
        );
        assert_eq!(
            r,
            Rect {
                y0: 48,
                y1: 160,
                x0: 0,
                x1: 64
            }
        );
    }
}
