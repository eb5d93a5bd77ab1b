//! Timing the metrics, as `urisc bench eval` does: every metric on a full-size (9959 × 9958)
//! U-RISC-like synthetic pair, with wall time and peak memory per metric group.

use std::time::Instant;

use serde::Serialize;
use urisc_io::{GreyImage, Image};

use crate::evaluate::{score_images, Protocol};
use crate::memory::{current_rss_mib, peak_rss_mib, reset_peak_rss};
use crate::metrics::{Metric, MetricSet};

/// A U-RISC-like pair built from ISBI label slices: each slice upsampled 2× (nearest, ≈2 nm/px
/// like U-RISC) and tiled into a `height × width` mosaic (ground truth); the prediction is that
/// map shifted by one pixel, blurred into grey values and sprinkled with deterministic noise, so
/// every ISBI threshold, skeleton and cell boundary differs from the ground truth.
pub fn synthetic_pair(labels: &[Image<u8>], height: usize, width: usize) -> (Image<u8>, Image<u8>) {
    assert!(!labels.is_empty(), "need at least one label slice");
    let (lh, lw) = (labels[0].height * 2, labels[0].width * 2);
    let tiles_across = width.div_ceil(lw);
    let mut gt = Image::filled(height, width, 255u8);
    for r in 0..height {
        let tile_row = r / lh;
        for c in 0..width {
            let slice = &labels[(tile_row * tiles_across + c / lw) % labels.len()];
            let (sr, sc) = ((r % lh) / 2, (c % lw) / 2);
            let v = if sr < slice.height && sc < slice.width {
                slice.get(sr, sc)
            } else {
                255
            };
            gt.data[r * width + c] = if v <= 122 { 0 } else { 255 };
        }
    }
    // Prediction: shift by (1, 1), 5×5 box blur via running row/column sums, plus noise.
    let shifted: Vec<u16> = (0..height * width)
        .map(|i| {
            let (r, c) = ((i / width).saturating_sub(1), (i % width).saturating_sub(1));
            gt.data[r * width + c] as u16
        })
        .collect();
    let radius = 2usize;
    let mut rows_blurred = vec![0u16; height * width];
    for r in 0..height {
        let row = &shifted[r * width..(r + 1) * width];
        for c in 0..width {
            let (a, b) = (c.saturating_sub(radius), (c + radius + 1).min(width));
            rows_blurred[r * width + c] =
                (row[a..b].iter().map(|&v| v as u32).sum::<u32>() / (b - a) as u32) as u16;
        }
    }
    let mut pred = Image::filled(height, width, 0u8);
    let mut state = 0x9e3779b97f4a7c15u64;
    for r in 0..height {
        let (a, b) = (r.saturating_sub(radius), (r + radius + 1).min(height));
        for c in 0..width {
            let s: u32 = (a..b).map(|rr| rows_blurred[rr * width + c] as u32).sum();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 41) as i32 - 20;
            pred.data[r * width + c] = ((s / (b - a) as u32) as i32 + noise).clamp(0, 255) as u8;
        }
    }
    (gt, pred)
}

/// One timed metric group.
#[derive(Clone, Debug, Serialize)]
pub struct MetricTiming {
    /// The metric group, e.g. `phd (t = 0, 1, 3, 5, 10)`.
    pub metric: String,
    /// Wall time of the group, seconds.
    pub seconds: f64,
    /// Peak resident memory of the process while this metric ran (Linux only).
    pub peak_rss_mib: Option<f64>,
}

/// The metric timings on a pair in memory ([`time_metrics`]).
#[derive(Clone, Debug, Serialize)]
pub struct InMemoryTimings {
    /// Rows of the timed pair.
    pub height: usize,
    /// Columns of the timed pair.
    pub width: usize,
    /// Rayon worker threads the metrics ran on.
    pub threads: usize,
    /// Resident memory with both 8-bit maps loaded, before any metric runs.
    pub baseline_rss_mib: Option<f64>,
    /// Size of two 8-bit maps of this size in MiB, the memory any scorer must hold.
    pub two_maps_mib: f64,
    /// One timing per metric group, in the order they ran.
    pub metrics: Vec<MetricTiming>,
    /// Wall time of all groups together, seconds.
    pub total_seconds: f64,
}

/// Times each metric group on a pair already in memory.
pub fn time_metrics(gt: &Image<u8>, pred: &GreyImage) -> InMemoryTimings {
    let groups: [(&str, &[Metric]); 4] = [
        (
            "f1, precision, recall, iou, dice",
            &[
                Metric::F1,
                Metric::Precision,
                Metric::Recall,
                Metric::Iou,
                Metric::Dice,
            ],
        ),
        ("phd (t = 0, 1, 3, 5, 10)", &[Metric::Phd]),
        (
            "vrand + vinfo (11 thresholds)",
            &[Metric::Vrand, Metric::Vinfo],
        ),
        (
            "are + voi split/merge",
            &[Metric::Are, Metric::VoiSplit, Metric::VoiMerge],
        ),
    ];
    let baseline = current_rss_mib();
    let mut metrics = Vec::new();
    let all = Instant::now();
    for (name, set) in groups {
        reset_peak_rss();
        let t = Instant::now();
        let set = MetricSet(set.iter().copied().collect());
        score_images(gt, pred, Protocol::Binarized, &set)
            .expect("binarised protocol never refuses");
        metrics.push(MetricTiming {
            metric: name.into(),
            seconds: t.elapsed().as_secs_f64(),
            peak_rss_mib: peak_rss_mib(),
        });
    }
    InMemoryTimings {
        height: gt.height,
        width: gt.width,
        threads: rayon::current_num_threads(),
        baseline_rss_mib: baseline,
        two_maps_mib: 2.0 * (gt.len() as f64) / (1 << 20) as f64,
        metrics,
        total_seconds: all.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_pair_is_a_2x_mosaic_with_a_grey_prediction() {
        let slice = Image::new(2, 3, vec![0, 255, 255, 255, 0, 255]);
        let (gt, pred) = synthetic_pair(&[slice], 5, 7);
        assert_eq!((gt.height, gt.width), (5, 7));
        // Upsampled 2×: the first slice pixel (membrane) covers a 2 × 2 block.
        assert_eq!(
            [gt.get(0, 0), gt.get(0, 1), gt.get(1, 0), gt.get(1, 1)],
            [0, 0, 0, 0]
        );
        assert_eq!(gt.get(0, 2), 255);
        // Mosaic: column 6 starts the second tile, i.e. the slice's first column again.
        assert_eq!(gt.get(0, 6), 0);
        assert!(
            pred.data.iter().any(|&v| v != 0 && v != 255),
            "prediction has grey values"
        );
    }
}
