//! Timing the metrics, as `urisc bench eval` does: every metric on a full-size (9959 × 9958)
//! U-RISC-like synthetic pair, with wall time and peak memory per metric group, then
//! [`crate::evaluate`] end to end on the pair written as two PNGs.
//!
//! ```no_run
//! use std::path::Path;
//! use urisc_eval::timing::{read_label_slices, time_evaluation};
//! let slices = read_label_slices(Path::new("data/isbi2012/labels")).unwrap();
//! print!("{}", time_evaluation(&slices, 9959, 9958).unwrap().to_table());
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use urisc_io::{GreyImage, Image, IoError};

use crate::evaluate::{evaluate, pair_inputs, score_images, EvalError, Protocol};
use crate::memory::{current_rss_mib, peak_rss_mib, reset_peak_rss};
use crate::metrics::{Metric, MetricSet};

/// Errors of [`read_label_slices`] and [`time_evaluation`].
#[derive(Debug, thiserror::Error)]
pub enum TimingError {
    /// A label slice could not be read, or a PNG of the pair not written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The label folder holds no images.
    #[error("{}: folder has no label images", dir.display())]
    NoLabels {
        /// The folder.
        dir: PathBuf,
    },
    /// The end-to-end evaluation failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// No temporary folder for the two PNGs could be made.
    #[error(transparent)]
    Scratch(std::io::Error),
}

/// Reads every image of a folder of ISBI label slices (8-bit, membrane dark) for
/// [`synthetic_pair`]; an empty folder is an error.
pub fn read_label_slices(dir: &Path) -> Result<Vec<Image<u8>>, TimingError> {
    let files = urisc_io::sections::image_files(dir)?;
    if files.is_empty() {
        return Err(TimingError::NoLabels {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files
        .iter()
        .map(|f| urisc_io::read_u8(f))
        .collect::<Result<Vec<_>, _>>()?)
}

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
            gt.data[r * width + c] = if urisc_io::encoding::label_is_membrane(v) {
                urisc_io::encoding::MEMBRANE
            } else {
                urisc_io::encoding::BACKGROUND
            };
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

/// The whole timing of `urisc bench eval`: the metrics in memory, then `urisc eval` end to end.
#[derive(Clone, Debug, Serialize)]
pub struct EvalTimings {
    /// The metric groups on the pair in memory ([`time_metrics`]).
    #[serde(flatten)]
    pub in_memory: InMemoryTimings,
    /// Wall time of pairing, decoding both PNGs and scoring every metric, seconds.
    pub end_to_end_seconds: f64,
    /// Peak resident memory of the process during the end-to-end run (Linux only).
    pub end_to_end_peak_rss_mib: Option<f64>,
}

/// Builds a `height × width` [`synthetic_pair`] from `labels`, times every metric group on it in
/// memory ([`time_metrics`]), then writes it as two PNGs into a temporary folder and times
/// [`evaluate`] on them (every metric, binarised protocol), as a user runs `urisc eval`. The
/// pair is dropped before the end-to-end run, so its peak memory is that of `urisc eval`.
///
/// # Panics
///
/// If `labels` is empty.
pub fn time_evaluation(
    labels: &[Image<u8>],
    height: usize,
    width: usize,
) -> Result<EvalTimings, TimingError> {
    let (gt, pred) = synthetic_pair(labels, height, width);
    let pred = GreyImage::U8(pred);
    let in_memory = time_metrics(&gt, &pred);
    let GreyImage::U8(pred) = pred else {
        unreachable!("built as 8-bit")
    };

    let dir = tempfile::tempdir().map_err(TimingError::Scratch)?;
    let (gp, pp) = (dir.path().join("gt.png"), dir.path().join("pred.png"));
    urisc_io::write_png(&gp, &gt, Some(2.18), false)?;
    urisc_io::write_png(&pp, &pred, Some(2.18), false)?;
    drop((gt, pred));
    reset_peak_rss();
    let t = Instant::now();
    let pairs = pair_inputs(&pp, &gp)?;
    evaluate(&pairs, Protocol::Binarized, &MetricSet::all(), &|_| {})?;
    Ok(EvalTimings {
        in_memory,
        end_to_end_seconds: t.elapsed().as_secs_f64(),
        end_to_end_peak_rss_mib: peak_rss_mib(),
    })
}

impl EvalTimings {
    /// One JSON object on one line (keys sorted, ends with a newline): the fields of
    /// [`InMemoryTimings`] and the two end-to-end fields.
    pub fn to_json(&self) -> String {
        let v = serde_json::to_value(self).expect("timings serialise");
        serde_json::to_string(&v).expect("timings serialise") + "\n"
    }

    /// The table for people: the pair, then one line per metric group (seconds, peak memory),
    /// all groups together and the end-to-end run (ends with a newline).
    pub fn to_table(&self) -> String {
        let m = &self.in_memory;
        let mut out = format!(
            "urisc bench eval: {}×{} pair, {} threads\n",
            m.height, m.width, m.threads
        );
        out += &format!(
            "two 8-bit maps: {:.0} MiB; resident before metrics: {}\n",
            m.two_maps_mib,
            mib(m.baseline_rss_mib)
        );
        out += &format!("{:<36} {:>9} {:>14}\n", "metric", "seconds", "peak RSS");
        for g in &m.metrics {
            out += &format!(
                "{:<36} {:>9.2} {:>14}\n",
                g.metric,
                g.seconds,
                mib(g.peak_rss_mib)
            );
        }
        out += &format!(
            "{:<36} {:>9.2}\n",
            "all metrics (in memory)", m.total_seconds
        );
        out += &format!(
            "{:<36} {:>9.2} {:>14}\n",
            "urisc eval end to end (2 PNGs)",
            self.end_to_end_seconds,
            mib(self.end_to_end_peak_rss_mib)
        );
        out
    }
}

fn mib(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.0} MiB"))
        .unwrap_or_else(|| "n/a".into())
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

    #[test]
    fn a_small_pair_is_timed_per_group_and_end_to_end() {
        let slice = Image::new(
            4,
            4,
            (0..16).map(|i| if i % 4 == 0 { 0 } else { 255 }).collect(),
        );
        let t = time_evaluation(&[slice], 20, 30).unwrap();
        let m = &t.in_memory;
        assert_eq!((m.height, m.width), (20, 30));
        let groups: Vec<&str> = m.metrics.iter().map(|g| g.metric.as_str()).collect();
        assert_eq!(
            groups,
            [
                "f1, precision, recall, iou, dice",
                "phd (t = 0, 1, 3, 5, 10)",
                "vrand + vinfo (11 thresholds)",
                "are + voi split/merge"
            ]
        );
        assert!(t.end_to_end_seconds > 0.0);

        let v: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "baseline_rss_mib",
                "end_to_end_peak_rss_mib",
                "end_to_end_seconds",
                "height",
                "metrics",
                "threads",
                "total_seconds",
                "two_maps_mib",
                "width"
            ]
        );
        assert_eq!(v["metrics"][1]["metric"], "phd (t = 0, 1, 3, 5, 10)");
        assert_eq!(t.to_json().lines().count(), 1);

        let table = t.to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 9);
        assert!(
            lines[0].starts_with("urisc bench eval: 20×30 pair, "),
            "{}",
            lines[0]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["metric", "seconds", "peak", "RSS"]
        );
        assert!(lines[7].starts_with("all metrics (in memory)"));
        assert!(lines[8].starts_with("urisc eval end to end (2 PNGs)"));
    }

    #[test]
    fn an_empty_label_folder_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_label_slices(dir.path()).unwrap_err();
        assert!(matches!(e, TimingError::NoLabels { .. }), "{e:?}");
        assert!(
            e.to_string().ends_with(": folder has no label images"),
            "{e}"
        );
        let missing = dir.path().join("missing");
        assert!(matches!(
            read_label_slices(&missing),
            Err(TimingError::Io(_))
        ));
    }
}
