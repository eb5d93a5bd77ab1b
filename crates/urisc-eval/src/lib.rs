//! Scoring membrane predictions against ground truth, as `urisc eval` does: pairing files or
//! folders, both U-RISC protocols, every SPEC §4 metric per image and as a macro mean, and the
//! stable JSON/CSV/table outputs. [`instances`] scores label images against ground-truth cells
//! (`urisc eval --instances`), [`timing`] times the metrics on a full-size synthetic pair
//! (`urisc bench eval`), and [`memory`] reads this process's memory use.
//!
//! ```no_run
//! use std::path::Path;
//! use urisc_eval::{evaluate, pair_inputs, render, MetricSet, OutputFormat, Protocol};
//! let pairs = pair_inputs(Path::new("predictions/"), Path::new("labels/")).unwrap();
//! let report = evaluate(&pairs, Protocol::Binarized, &MetricSet::all(), &|_| {}).unwrap();
//! print!("{}", render(&report, OutputFormat::Table));
//! ```

mod evaluate;
pub mod instances;
pub mod memory;
mod metrics;
mod render;
pub mod timing;

pub use evaluate::{
    evaluate, evaluate_as, evaluate_pair, evaluate_pair_as, io_kind, pair_inputs, score_images,
    EvalError, EvalReport, ImageReport, Pair, PredValues, Protocol,
};
pub use metrics::{Metric, MetricSet, PhdScores, Scores};
pub use render::{render, OutputFormat};
