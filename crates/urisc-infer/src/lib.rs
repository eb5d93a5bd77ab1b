//! Segmenting sections of any size with any [`SegmentationModel`].
//!
//! [`predict_stream`] reads a section top to bottom, runs overlapping tiles band by band (in
//! batches, optionally under test-time augmentation), blends them with a Gaussian window and
//! hands each row to the caller as soon as no later tile can touch it. Memory is the model
//! plus about one band of tiles (`tile` rows of input and of accumulated probabilities),
//! whatever the section's area.
//!
//! ```
//! use urisc_infer::{predict_image, InferenceOptions};
//! use urisc_io::Image;
//! use urisc_model::testing::Constant;
//!
//! let model = Constant { logit: 0.0, size_multiple: 16 };
//! let image = Image::filled(100, 70, 128u8);
//! let p = predict_image(&model, &image, &InferenceOptions { tile: 32, overlap: 8, ..Default::default() })
//!     .expect("the model runs");
//! assert!(p.data.iter().all(|&v| (v - 0.5).abs() < 1e-6));
//! ```

mod blend;
mod cleanup;
pub mod job;
pub mod outputs;
pub mod region;
pub mod scale;
mod tta;

use std::collections::VecDeque;

use urisc_io::{reflect, Image, IoError, RowSource};
use urisc_model::{BatchShape, ModelError, SegmentationModel};

pub use blend::{gaussian_window, origins};
pub use cleanup::clean_up;
pub use region::{input_region, predict_region, Rect};
pub use scale::{
    model_scale, predict_image_scaled, predict_stream_scaled, resample_image, scaled_len,
    ResampledRows,
};
pub use tta::{tta_transforms, TTA_CHOICES};

/// How a section is tiled and augmented.
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceOptions {
    /// Tile side (rounded down to the model's size multiple; never larger than the section
    /// rounded up to it).
    pub tile: usize,
    /// Pixels shared by neighbouring tiles.
    pub overlap: usize,
    /// Tiles per forward pass.
    pub batch: usize,
    /// Test-time augmentation: 1, 2, 4 or 8 elements of the dihedral group, averaged in
    /// probability space.
    pub tta: usize,
}

impl InferenceOptions {
    /// Checks the ranges a user can get wrong (`usize::MAX` as the tile means the whole image);
    /// [`job::PredictSettings::resolve`] runs it after filling in the defaults.
    pub fn validate(&self) -> Result<(), job::SettingsError> {
        if self.tile == 0 {
            return Err(job::SettingsError::Tile {
                tile: 0,
                multiple: 1,
            });
        }
        if self.batch == 0 {
            return Err(job::SettingsError::Batch);
        }
        if !TTA_CHOICES.contains(&self.tta) {
            return Err(job::SettingsError::Tta(self.tta));
        }
        if self.tile != usize::MAX && self.overlap >= self.tile {
            return Err(job::SettingsError::Overlap {
                overlap: self.overlap,
                tile: self.tile,
            });
        }
        Ok(())
    }
}

impl Default for InferenceOptions {
    fn default() -> Self {
        InferenceOptions {
            tile: 512,
            overlap: 64,
            batch: 4,
            tta: 1,
        }
    }
}

/// What a run did, for summaries.
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceStats {
    /// Tile positions (each run `tta` times).
    pub tiles: usize,
    /// Section height in pixels.
    pub height: usize,
    /// Section width in pixels.
    pub width: usize,
}

/// Tiles of one run, for progress bars: positions and forward passes of a `height × width`
/// section.
pub fn tile_count(
    model: &dyn SegmentationModel,
    height: usize,
    width: usize,
    options: &InferenceOptions,
) -> usize {
    let plan = Plan::new(model.size_multiple(), height, width, options);
    plan.rows.len() * plan.cols.len()
}

/// The tile grid of one section.
struct Plan {
    tile_h: usize,
    tile_w: usize,
    rows: Vec<usize>,
    cols: Vec<usize>,
    window_y: Vec<f32>,
    window_x: Vec<f32>,
    /// Σ of window weights over the tiles covering each row / column: the blend's
    /// denominator factorises because the tiles form a grid.
    weight_y: Vec<f32>,
    weight_x: Vec<f32>,
}

impl Plan {
    fn new(multiple: usize, height: usize, width: usize, options: &InferenceOptions) -> Plan {
        let round_up = |n: usize| n.div_ceil(multiple) * multiple;
        let tile = (options.tile / multiple).max(1) * multiple;
        let (tile_h, tile_w) = (tile.min(round_up(height)), tile.min(round_up(width)));
        let overlap = options.overlap.min(tile_h.min(tile_w) / 2);
        let (rows, cols) = (
            origins(height, tile_h, overlap),
            origins(width, tile_w, overlap),
        );
        let (window_y, window_x) = (gaussian_window(tile_h), gaussian_window(tile_w));
        let sums = |len: usize, origins: &[usize], window: &[f32]| {
            let mut s = vec![0f32; len];
            for &o in origins {
                for (i, w) in window.iter().enumerate().take(len.saturating_sub(o)) {
                    s[o + i] += w;
                }
            }
            s
        };
        Plan {
            weight_y: sums(height, &rows, &window_y),
            weight_x: sums(width, &cols, &window_x),
            tile_h,
            tile_w,
            rows,
            cols,
            window_y,
            window_x,
        }
    }
}

/// Why a prediction stopped: reading or writing rows, or running the model.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// Reading the section or writing a row failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The model could not run a batch of tiles.
    #[error("the model failed: {0}")]
    Model(#[from] ModelError),
}

/// Receives each finished row of probabilities: `(row index, values)`.
pub type RowSink<'a> = dyn FnMut(usize, &[f32]) -> Result<(), IoError> + 'a;

/// Membrane probabilities of a section read from `source`, row by row: `emit(row, values)`
/// is called once per row, top to bottom, as soon as the row is final. `progress(done, total)`
/// counts tile positions.
pub fn predict_stream(
    model: &dyn SegmentationModel,
    source: &mut dyn RowSource,
    options: &InferenceOptions,
    progress: &mut dyn FnMut(usize, usize),
    emit: &mut RowSink,
) -> Result<InferenceStats, InferError> {
    let (height, width) = (source.height(), source.width());
    let plan = Plan::new(model.size_multiple(), height, width, options);
    let transforms = tta_transforms(options.tta);
    let (th, tw) = (plan.tile_h, plan.tile_w);
    let total = plan.rows.len() * plan.cols.len();
    let lut: Vec<f32> = (0..=255u8).map(|v| model.normalize(v)).collect();

    // Input rows [input_first, input_first + input.len()) and accumulated rows likewise.
    let mut input: VecDeque<Vec<u8>> = VecDeque::new();
    let mut input_first = 0;
    let mut acc: VecDeque<Vec<f32>> = VecDeque::new();
    let mut acc_first = 0;
    let mut done = 0;
    progress(0, total);
    for (band, &r0) in plan.rows.iter().enumerate() {
        // Read what this band needs (rows beyond the section reflect back into it).
        let last_needed = (r0 + th).min(height);
        while input_first + input.len() < last_needed {
            let mut row = vec![0u8; width];
            source.read_row(&mut row)?;
            input.push_back(row);
        }
        while input_first < r0 {
            input.pop_front();
            input_first += 1;
        }
        while acc_first + acc.len() < last_needed {
            acc.push_back(vec![0f32; width]);
        }
        for batch in plan.cols.chunks(options.batch.max(1)) {
            let mut tiles = Vec::with_capacity(batch.len() * th * tw);
            for &c0 in batch {
                for r in 0..th {
                    let row = &input[reflect((r0 + r) as isize, height) - input_first];
                    tiles.extend(
                        (0..tw).map(|c| lut[row[reflect((c0 + c) as isize, width)] as usize]),
                    );
                }
            }
            let probabilities =
                tta::predict_augmented(model, &tiles, batch.len(), th, tw, &transforms)?;
            for (k, &c0) in batch.iter().enumerate() {
                let tile = &probabilities[k * th * tw..][..th * tw];
                for r in 0..th.min(height - r0) {
                    let out = &mut acc[r0 + r - acc_first];
                    let wy = plan.window_y[r];
                    for c in 0..tw.min(width - c0) {
                        out[c0 + c] += wy * plan.window_x[c] * tile[r * tw + c];
                    }
                }
            }
            done += batch.len();
            progress(done, total);
        }
        // Rows above the next band's first row receive nothing more.
        let final_below = plan.rows.get(band + 1).copied().unwrap_or(height);
        while acc_first < final_below {
            let mut row = acc.pop_front().expect("accumulated row");
            let wy = plan.weight_y[acc_first];
            for (v, wx) in row.iter_mut().zip(&plan.weight_x) {
                *v /= wy * wx;
            }
            emit(acc_first, &row)?;
            acc_first += 1;
        }
    }
    Ok(InferenceStats {
        tiles: total,
        height,
        width,
    })
}

/// Membrane probabilities of an image in memory (same size), by [`predict_stream`].
pub fn predict_image(
    model: &dyn SegmentationModel,
    image: &Image<u8>,
    options: &InferenceOptions,
) -> Result<Image<f32>, ModelError> {
    predict_image_scaled(model, image, options, 1.0)
}

/// Logits → probabilities of one batch (shared by the augmentation code).
fn probabilities(
    model: &dyn SegmentationModel,
    tiles: &[f32],
    shape: BatchShape,
) -> Result<Vec<f32>, ModelError> {
    Ok(model
        .logits(tiles, shape)?
        .into_iter()
        .map(urisc_io::encoding::probability_from_logit)
        .collect())
}
