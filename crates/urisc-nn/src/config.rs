//! Architecture hyper-parameters, shared by every engine (no deep-learning framework needed).

use serde::{Deserialize, Serialize};

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Levels of two Conv3×3+BN+ReLU, max-pool down, nearest upsample + Conv3×3+BN+ReLU up,
    /// concatenated skips, 1×1 head (the authors' baseline).
    Unet,
    /// Residual encoder blocks and additive (LinkNet) skips, as the competition winner's family.
    ResUnet,
}

/// Architecture hyper-parameters (stored in every model file's descriptor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Which network.
    pub architecture: Architecture,
    /// Channels of the first level; level k has `base_width · 2^k` (authors: 64).
    pub base_width: usize,
    /// Number of levels, including the bottom one (authors: 5).
    pub depth: usize,
}

impl ModelConfig {
    /// The authors' U-Net: width 64, 5 levels.
    pub fn authors_unet() -> ModelConfig {
        ModelConfig {
            architecture: Architecture::Unet,
            base_width: 64,
            depth: 5,
        }
    }

    /// Channels of each level, top first: `base_width · 2^k` for k = 0 … depth − 1.
    pub fn widths(&self) -> Vec<usize> {
        (0..self.depth).map(|k| self.base_width << k).collect()
    }

    /// Tile sides must be multiples of this (each level halves the size).
    pub fn size_multiple(&self) -> usize {
        1 << (self.depth - 1)
    }

    /// Checks the ranges: `base_width` at least 1, `depth` 1 to 8.
    pub fn validate(&self) -> Result<(), String> {
        if self.base_width == 0 {
            return Err("base_width must be at least 1".into());
        }
        if !(1..=8).contains(&self.depth) {
            return Err(format!("depth must be 1 to 8, not {}", self.depth));
        }
        Ok(())
    }
}
