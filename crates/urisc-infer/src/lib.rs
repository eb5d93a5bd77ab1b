//! Segmenting sections of any size with any [`urisc_model::SegmentationModel`].
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
pub mod run;
pub mod scale;
mod stream;
mod tta;

pub use blend::{gaussian_window, origins};
pub use cleanup::clean_up;
pub use job::InferenceOptions;
pub use region::{input_region, predict_region, Rect};
pub use scale::{
    predict_image, predict_image_scaled, predict_stream_scaled, resample_image, scaled_len,
    ResampledRows,
};
pub use stream::{predict_stream, tile_count, InferError, InferenceStats, RowSink};
pub use tta::{tta_transforms, TTA_CHOICES};
