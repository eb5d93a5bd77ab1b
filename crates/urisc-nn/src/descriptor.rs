//! The descriptor stored inside every model file, so a model is self-describing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::ModelConfig;

/// Format tag of the descriptor, bumped on incompatible changes.
pub const DESCRIPTOR_FORMAT: &str = "urisc-model/1";

/// How 8-bit input intensities become network inputs: `x = (v / 255 − mean) / std`
/// (the authors: mean 0.5, std 0.5, i.e. [−1, 1]; the zero image is then mid-grey).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    pub mean: f32,
    pub std: f32,
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization {
            mean: 0.5,
            std: 0.5,
        }
    }
}

impl Normalization {
    pub fn apply(&self, unit: f32) -> f32 {
        (unit - self.mean) / self.std
    }
}

/// Everything needed to use a model file without its training config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDescriptor {
    pub format: String,
    pub model: ModelConfig,
    pub normalization: Normalization,
    /// Tile side the model was trained on (inference tiles default to it).
    pub tile_size: usize,
    /// A pixel is membrane iff its probability is ≥ this (best F1 on validation).
    pub threshold: f32,
    /// Pixel size of the training data, nm/pixel.
    pub pixel_size_nm: Option<f64>,
    /// Provenance: training data, split, seed, steps, … (free-form, shown by `urisc model info`).
    #[serde(default)]
    pub training: BTreeMap<String, String>,
}

impl ModelDescriptor {
    /// A descriptor for an untrained model: threshold 0.5, authors' normalisation.
    pub fn new(model: ModelConfig, tile_size: usize) -> ModelDescriptor {
        ModelDescriptor {
            format: DESCRIPTOR_FORMAT.into(),
            model,
            normalization: Normalization::default(),
            tile_size,
            threshold: 0.5,
            pixel_size_nm: None,
            training: BTreeMap::new(),
        }
    }
}
