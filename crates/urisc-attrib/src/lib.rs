//! How much context does a pixel need? Integrated-gradients attribution of a segmentation
//! network's pre-sigmoid membrane logit at chosen pixels, and the statistic that answers the
//! question: the fraction of |IG| within distance r of the target, with R50 and R90.
//!
//! Everything is written against the [`urisc_model`] traits, so it runs on any network and is
//! tested on hand-made models whose gradients are known exactly.
//!
//! - [`ig`]: integrated gradients for many targets (crops aligned to the network's size
//!   multiple, shared backward passes for targets with disjoint receptive fields, interpolation
//!   steps batched).
//! - [`targets`]: the authors' grids, pixel lists, true-positive membrane pixels.
//! - [`context`]: the context curve, R50/R90, summaries over targets.
//! - [`heatmap`], [`plot`], [`report`]: PNG heatmaps, SVG curves, JSON/CSV reports.
//! - [`study`]: conditions compared over several models (training seeds) and images, with
//!   two-level bootstrap intervals.
//! - [`job`]: a whole `urisc attribute` run (target choice, scaled grid, memory check, outputs,
//!   report) as one typed request, page by page for stacks; `compare` and `study` over files.
//!
//! ```
//! use urisc_attrib::context::{context_curve, radius_holding};
//! use urisc_attrib::ig::{integrated_gradients, IgSettings};
//! use urisc_model::testing::LinearFilter;
//!
//! // A linear 3×3 box filter: IG = (x − baseline) · weight, nonzero only next to the target.
//! let model = LinearFilter::new(1, vec![1.0; 9], 0.0);
//! let image = vec![0.5f32; 8 * 8];
//! let settings = IgSettings { steps: 10, ..IgSettings::default() };
//! let mut maps = Vec::new();
//! integrated_gradients(&model, &image, 8, 8, &[(4, 4)], &settings, |group, _| maps.extend(group))
//!     .unwrap();
//! assert!((maps[0].sum() - 9.0 * 0.5).abs() < 1e-5);
//! let curve = context_curve(&maps[0], 10).unwrap();
//! assert_eq!(radius_holding(&curve, 0.5), 1); // 5 of 9 pixels within r = 1
//! assert_eq!(radius_holding(&curve, 0.9), 2); // the corners at √2
//! ```

pub mod context;
pub mod heatmap;
pub mod ig;
pub mod job;
pub mod plot;
pub mod report;
pub mod study;
pub mod targets;

/// Problems with the inputs of an attribution run (the CLI adds the file name).
#[derive(Debug, thiserror::Error)]
pub enum AttribError {
    /// The image's sides are not multiples of the model's size multiple.
    #[error(
        "{height}×{width} is not a multiple of the model's size multiple {multiple}; crop or pad the image"
    )]
    NotAligned {
        /// Image height in pixels.
        height: usize,
        /// Image width in pixels.
        width: usize,
        /// The model's [`urisc_model::SegmentationModel::size_multiple`].
        multiple: usize,
    },
    /// A target pixel lies outside the image.
    #[error("target pixel ({row}, {col}) is outside the {height}×{width} image")]
    TargetOutside {
        /// The target's row.
        row: usize,
        /// The target's column.
        col: usize,
        /// Image height in pixels.
        height: usize,
        /// Image width in pixels.
        width: usize,
    },
    /// A pixel of a target list that is not `row,col` (the offending text, trimmed).
    #[error("cannot read target pixel \"{0}\": expected \"row,col\"")]
    BadPixel(String),
    /// The model could not compute logits or input gradients.
    #[error("the model failed: {0}")]
    Model(#[from] urisc_model::ModelError),
}
