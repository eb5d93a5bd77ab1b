//! The streamed prediction of a section: the tile grid ([`Plan`]), rows read top to bottom,
//! tiles run band by band and blended, rows handed on as soon as they are final.

use std::collections::VecDeque;

use urisc_io::{reflect, IoError, RowSource};
use urisc_model::{ModelError, SegmentationModel};

use crate::blend::{gaussian_window, origins};
use crate::job::InferenceOptions;
use crate::tta::{self, tta_transforms};

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
pub(crate) struct Plan {
    pub(crate) tile_h: usize,
    pub(crate) tile_w: usize,
    pub(crate) rows: Vec<usize>,
    pub(crate) cols: Vec<usize>,
    pub(crate) window_y: Vec<f32>,
    pub(crate) window_x: Vec<f32>,
    /// Σ of window weights over the tiles covering each row / column: the blend's
    /// denominator factorises because the tiles form a grid.
    pub(crate) weight_y: Vec<f32>,
    pub(crate) weight_x: Vec<f32>,
}

impl Plan {
    pub(crate) fn new(
        multiple: usize,
        height: usize,
        width: usize,
        options: &InferenceOptions,
    ) -> Plan {
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
