//! The descriptor stored inside every model file, so a model is self-describing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;

/// Format tag of the descriptor, bumped on incompatible changes.
pub const DESCRIPTOR_FORMAT: &str = "urisc-model/1";

/// How 8-bit input intensities become network inputs: `x = (v / 255 − mean) / std`
/// (the authors: mean 0.5, std 0.5, i.e. [−1, 1]; the zero image is then mid-grey).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Subtracted from the intensity scaled to [0, 1].
    pub mean: f32,
    /// Divides the centred intensity (finite, > 0).
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
    /// The network input for an intensity `unit` already scaled to [0, 1] (`v / 255`).
    pub fn apply(&self, unit: f32) -> f32 {
        (unit - self.mean) / self.std
    }
}

/// Everything needed to use a model file without its training config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDescriptor {
    /// The descriptor format, [`DESCRIPTOR_FORMAT`] for files this version reads.
    pub format: String,
    /// The architecture hyper-parameters, which fix every tensor's name and shape.
    pub model: ModelConfig,
    /// How 8-bit input intensities become network inputs.
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
    /// Checksum of the weight tensors (`fnv1a64:…`), written by `save_model` and checked on
    /// load, so damaged weights are named as such. Files from before it was added have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_checksum: Option<String>,
}

impl ModelDescriptor {
    /// The defaults a prediction with this model starts from (tile, size multiple, threshold,
    /// pixel size).
    pub fn defaults(&self) -> urisc_model::ModelDefaults {
        urisc_model::ModelDefaults {
            tile: self.tile_size,
            size_multiple: self.model.size_multiple(),
            threshold: self.threshold,
            pixel_size_nm: self.pixel_size_nm,
        }
    }

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
            weights_checksum: None,
        }
    }

    /// Checks every field's range (a descriptor from a file may say anything).
    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        let n = &self.normalization;
        if !n.mean.is_finite() || !n.std.is_finite() || n.std <= 0.0 {
            return Err(format!(
                "normalization mean {} / std {} (mean must be finite; std must be finite and > 0)",
                n.mean, n.std
            ));
        }
        if !(self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)) {
            return Err(format!(
                "threshold {} (a probability in [0, 1])",
                self.threshold
            ));
        }
        let multiple = self.model.size_multiple();
        if self.tile_size == 0 || !self.tile_size.is_multiple_of(multiple) || self.tile_size > 16384
        {
            return Err(format!(
                "tile_size {} (a multiple of {multiple}, at most 16384)",
                self.tile_size
            ));
        }
        if let Some(p) = self.pixel_size_nm {
            if !urisc_model::PIXEL_SIZE_RANGE.contains(&p) {
                return Err(format!(
                    "pixel_size_nm {p} (must be between 0.01 and 100000 nm/pixel)"
                ));
            }
        }
        Ok(())
    }
}
