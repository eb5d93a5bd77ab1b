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
    /// A frozen coarse stage (the competition winner's coarse-to-fine scheme): a network run on
    /// the input downsampled by `factor`, whose membrane probability, upsampled back, is this
    /// network's second input channel. `None`: a one-stage network on the image alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coarse: Option<Box<CoarseStage>>,
}

/// The coarse stage of a two-stage or two-scale model: its architecture, the factor its input is
/// downsampled by (means over `factor × factor` blocks; its output is upsampled back by nearest
/// neighbour) and what it hands the fine network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoarseStage {
    /// Downsampling factor of the coarse stage's input: 1, 2 or 4.
    pub factor: usize,
    /// `None`: a separately trained, frozen coarse model whose membrane probability is one extra
    /// input channel (two-stage, coarse-to-fine). `Some(k)`: a coarse branch trained with the
    /// fine network whose head's `k` feature channels are fused into its input (two-scale U-Net).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<usize>,
    /// The coarse network (itself one-stage).
    pub model: ModelConfig,
}

impl CoarseStage {
    /// Channels the coarse stage adds to the fine network's input.
    pub fn channels(&self) -> usize {
        self.features.unwrap_or(1)
    }
}

impl ModelConfig {
    /// The authors' U-Net: width 64, 5 levels.
    pub fn authors_unet() -> ModelConfig {
        ModelConfig {
            architecture: Architecture::Unet,
            base_width: 64,
            depth: 5,
            coarse: None,
        }
    }

    /// Channels of each level, top first: `base_width · 2^k` for k = 0 … depth − 1.
    pub fn widths(&self) -> Vec<usize> {
        (0..self.depth).map(|k| self.base_width << k).collect()
    }

    /// Tile sides must be multiples of this (each level halves the size; a coarse stage needs
    /// its own multiple at its reduced scale).
    pub fn size_multiple(&self) -> usize {
        let own = 1 << (self.depth - 1);
        match &self.coarse {
            Some(c) => own.max(c.factor * c.model.size_multiple()),
            None => own,
        }
    }

    /// Channels of the first convolution's input: the image, plus the coarse stage's
    /// probability map or features.
    pub fn input_channels(&self) -> usize {
        1 + self.coarse.as_ref().map_or(0, |c| c.channels())
    }

    /// Checks the ranges: `base_width` at least 1, `depth` 1 to 8.
    pub fn validate(&self) -> Result<(), String> {
        if self.base_width == 0 {
            return Err("base_width must be at least 1".into());
        }
        if !(1..=8).contains(&self.depth) {
            return Err(format!("depth must be 1 to 8, not {}", self.depth));
        }
        if let Some(c) = &self.coarse {
            if ![1, 2, 4].contains(&c.factor) {
                return Err(format!("coarse.factor must be 1, 2 or 4, not {}", c.factor));
            }
            if let Some(k) = c.features {
                if !(1..=64).contains(&k) {
                    return Err(format!("coarse.features must be 1 to 64, not {k}"));
                }
            }
            if c.model.coarse.is_some() {
                return Err("the coarse stage must itself be one-stage".into());
            }
            c.model
                .validate()
                .map_err(|e| format!("coarse stage: {e}"))?;
        }
        Ok(())
    }
}
