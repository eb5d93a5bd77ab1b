//! How a prediction is set up, decided once for every entry point: `urisc predict`, `urisc
//! demo`, `urisc plan`, `urisc attribute --label`, `bench run` and the Python module all
//! resolve their options here ([`PredictSettings::resolve`]), so a tile, an overlap, a
//! threshold or a scale means the same everywhere and is refused with the same message.
//!
//! ```
//! use urisc_infer::job::{ModelDefaults, PredictFlags, PredictSettings};
//! let model = ModelDefaults { tile: 256, size_multiple: 16, threshold: 0.4, pixel_size_nm: Some(4.0) };
//! let s = PredictSettings::resolve(&model, &PredictFlags::default()).unwrap();
//! assert_eq!((s.options.tile, s.options.overlap, s.threshold), (256, 64, 0.4));
//! // A section at 8 nm/pixel is predicted at half its resolution.
//! assert_eq!(s.section_scale(Some(8.0)).unwrap().scale, 2.0);
//! let bad = PredictFlags { tile: Some(100), ..Default::default() };
//! assert!(PredictSettings::resolve(&model, &bad).is_err());
//! ```

use std::ops::RangeInclusive;

use crate::tta::TTA_CHOICES;

/// How a section is tiled and augmented.
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceOptions {
    /// Tile side (rounded down to the model's size multiple; never larger than the section
    /// rounded up to it).
    pub tile: usize,
    /// Pixels shared by neighbouring tiles.
    pub overlap: usize,
    /// Tiles per forward pass.
    pub batch: usize,
    /// Test-time augmentation: 1, 2, 4 or 8 elements of the dihedral group, averaged in
    /// probability space.
    pub tta: usize,
}

impl InferenceOptions {
    /// Checks the ranges a user can get wrong (`usize::MAX` as the tile means the whole image);
    /// [`PredictSettings::resolve`] runs it after filling in the defaults.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.tile == 0 {
            return Err(SettingsError::Tile {
                tile: 0,
                multiple: 1,
            });
        }
        if self.batch == 0 {
            return Err(SettingsError::Batch);
        }
        if !TTA_CHOICES.contains(&self.tta) {
            return Err(SettingsError::Tta(self.tta));
        }
        if self.tile != usize::MAX && self.overlap >= self.tile {
            return Err(SettingsError::Overlap {
                overlap: self.overlap,
                tile: self.tile,
            });
        }
        Ok(())
    }
}

impl Default for InferenceOptions {
    fn default() -> Self {
        InferenceOptions {
            tile: 512,
            overlap: default_overlap(512),
            batch: DEFAULT_BATCH,
            tta: 1,
        }
    }
}

/// The factor a section is resampled by for a model: its pixel size over the model's, when both
/// are known and differ by more than 2 % (closer than that, resampling would only blur).
pub fn model_scale(input_nm: Option<f64>, model_nm: Option<f64>) -> f64 {
    match (input_nm, model_nm) {
        (Some(input), Some(model)) if input > 0.0 && model > 0.0 => {
            let scale = input / model;
            if (scale - 1.0).abs() <= 0.02 {
                1.0
            } else {
                scale
            }
        }
        _ => 1.0,
    }
}

/// Overlap of neighbouring tiles when none is given: 64 pixels, or half the tile if smaller.
pub fn default_overlap(tile: usize) -> usize {
    64.min(tile / 2)
}

/// Tiles per forward pass when none is given.
pub const DEFAULT_BATCH: usize = 4;

/// The resampling factors a section may be predicted at (`--scale`, or the ratio of pixel
/// sizes): beyond these a run would predict a handful of pixels or allocate hundreds of
/// gigabytes.
pub const SCALE_RANGE: RangeInclusive<f64> = (1.0 / 16.0)..=16.0;

/// The pixel sizes urisc accepts (one rule for sections and models, in urisc-model). A file
/// header far out of range is refused through the scale it asks for
/// ([`SettingsError::PixelSizeRatio`]).
pub use urisc_model::PIXEL_SIZE_RANGE;

pub use urisc_model::ModelDefaults;

/// What a user may set; `None` takes the model's or the default value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PredictFlags {
    /// Tile side.
    pub tile: Option<usize>,
    /// Overlap of neighbouring tiles.
    pub overlap: Option<usize>,
    /// Tiles per forward pass.
    pub batch: Option<usize>,
    /// Test-time augmentation: 1, 2, 4 or 8.
    pub tta: Option<usize>,
    /// Membrane iff p ≥ this.
    pub threshold: Option<f32>,
    /// The inputs' pixel size, overriding what their files say.
    pub pixel_size_nm: Option<f64>,
    /// The resampling factor, overriding the ratio of pixel sizes.
    pub scale: Option<f64>,
}

/// A setting out of its range: the message names the setting and the rule.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// The threshold is not a probability.
    #[error("threshold {0}: a membrane probability in [0, 1]")]
    Threshold(f32),
    /// The tile is not a positive multiple of the model's size multiple.
    #[error("tile {tile} is not a multiple of {multiple}")]
    Tile {
        /// The tile asked for.
        tile: usize,
        /// The model's size multiple.
        multiple: usize,
    },
    /// The overlap is not smaller than the tile.
    #[error("overlap {overlap} must be smaller than the tile side {tile}")]
    Overlap {
        /// The overlap asked for.
        overlap: usize,
        /// The tile side.
        tile: usize,
    },
    /// No tiles per batch.
    #[error("batch 0: at least 1 tile per forward pass")]
    Batch,
    /// Test-time augmentation other than 1, 2, 4 or 8 transforms.
    #[error("tta {0}: must be one of 1, 2, 4, 8")]
    Tta(usize),
    /// A pixel size that is not a positive number within [`PIXEL_SIZE_RANGE`].
    #[error("pixel-size {0}: must be between 0.01 and 100000 nm/pixel")]
    PixelSize(f64),
    /// A scale that is not a positive number, or outside [`SCALE_RANGE`].
    #[error("scale {0}: must be between 1/16 and 16")]
    Scale(f64),
    /// The pixel sizes of a section and of the model ask for a scale outside [`SCALE_RANGE`].
    #[error(
        "pixel size {input} nm against the model's {model} nm is a scale of {scale:.4}, outside 1/16 to 16 (set the pixel size or the scale)"
    )]
    PixelSizeRatio {
        /// The section's pixel size.
        input: f64,
        /// The model's pixel size.
        model: f64,
        /// Their ratio.
        scale: f64,
    },
}

impl SettingsError {
    /// The message as a command line says it: the setting named as its flag (`--tile 17 is not
    /// a multiple of 16`).
    pub fn with_flag(&self) -> String {
        match self {
            SettingsError::PixelSizeRatio { .. } => self.to_string(),
            _ => format!("--{self}"),
        }
    }
}

/// Everything a prediction run needs besides the model and the sections.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictSettings {
    /// Tiling, batching and augmentation.
    pub options: InferenceOptions,
    /// Membrane iff p ≥ this.
    pub threshold: f32,
    /// The inputs' pixel size as given by the user (overrides their files).
    pub pixel_size_nm: Option<f64>,
    /// The resampling factor as given by the user (overrides the pixel sizes).
    pub scale: Option<f64>,
    /// The model's pixel size.
    pub model_pixel_size_nm: Option<f64>,
}

/// The scale one section is predicted at, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionScale {
    /// The resampling factor (1: the section's own grid).
    pub scale: f64,
    /// The section's pixel size: the user's, else its file's.
    pub input_nm: Option<f64>,
    /// The pixel size of the maps written on the section's grid: the section's, else the
    /// model's at this scale.
    pub output_nm: Option<f64>,
    /// Whether the scale came from the two pixel sizes (not from `scale` or the default 1).
    pub from_pixel_sizes: bool,
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

fn valid_threshold(t: f32) -> bool {
    t.is_finite() && (0.0..=1.0).contains(&t)
}

impl PredictFlags {
    /// The checks that need no model: threshold, batch, TTA, pixel size and scale, each in its
    /// range where given (tile and overlap need the model: [`PredictSettings::resolve`]).
    /// Commands run it before loading a model or reading an input.
    pub fn check(&self) -> Result<(), SettingsError> {
        if let Some(t) = self.threshold {
            if !valid_threshold(t) {
                return Err(SettingsError::Threshold(t));
            }
        }
        if self.batch == Some(0) {
            return Err(SettingsError::Batch);
        }
        if let Some(tta) = self.tta {
            if !TTA_CHOICES.contains(&tta) {
                return Err(SettingsError::Tta(tta));
            }
        }
        if let Some(nm) = self.pixel_size_nm {
            if !PIXEL_SIZE_RANGE.contains(&nm) {
                return Err(SettingsError::PixelSize(nm));
            }
        }
        if let Some(scale) = self.scale {
            if !(positive(scale) && SCALE_RANGE.contains(&scale)) {
                return Err(SettingsError::Scale(scale));
            }
        }
        Ok(())
    }
}

impl PredictSettings {
    /// Checks every flag against the model and fills in what is not given: the model's tile
    /// and threshold, [`default_overlap`] of the tile, [`DEFAULT_BATCH`], TTA 1.
    pub fn resolve(
        model: &ModelDefaults,
        flags: &PredictFlags,
    ) -> Result<PredictSettings, SettingsError> {
        flags.check()?;
        let threshold = flags.threshold.unwrap_or(model.threshold);
        if !valid_threshold(threshold) {
            return Err(SettingsError::Threshold(threshold));
        }
        let tile = flags.tile.unwrap_or(model.tile);
        let multiple = model.size_multiple.max(1);
        if tile == 0 || !tile.is_multiple_of(multiple) {
            return Err(SettingsError::Tile { tile, multiple });
        }
        let options = InferenceOptions {
            tile,
            overlap: flags.overlap.unwrap_or_else(|| default_overlap(tile)),
            batch: flags.batch.unwrap_or(DEFAULT_BATCH),
            tta: flags.tta.unwrap_or(1),
        };
        options.validate()?;
        Ok(PredictSettings {
            options,
            threshold,
            pixel_size_nm: flags.pixel_size_nm,
            scale: flags.scale,
            model_pixel_size_nm: model.pixel_size_nm,
        })
    }

    /// The scale a section whose file records `file_nm` is predicted at: the user's scale, else
    /// its pixel size (the user's, else the file's) over the model's ([`model_scale`]), else 1.
    /// A ratio outside [`SCALE_RANGE`] is refused (a wrong pixel size in a header, usually).
    pub fn section_scale(&self, file_nm: Option<f64>) -> Result<SectionScale, SettingsError> {
        let input_nm = self.pixel_size_nm.or(file_nm.filter(|&v| positive(v)));
        let (scale, from_pixel_sizes) = match self.scale {
            Some(s) => (s, false),
            None => {
                let s = model_scale(input_nm, self.model_pixel_size_nm);
                (s, s != 1.0)
            }
        };
        if !SCALE_RANGE.contains(&scale) {
            return Err(SettingsError::PixelSizeRatio {
                input: input_nm.unwrap_or(f64::NAN),
                model: self.model_pixel_size_nm.unwrap_or(f64::NAN),
                scale,
            });
        }
        Ok(SectionScale {
            scale,
            input_nm,
            output_nm: input_nm.or(self.model_pixel_size_nm.map(|m| m * scale)),
            from_pixel_sizes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelDefaults {
        ModelDefaults {
            tile: 96,
            size_multiple: 16,
            threshold: 0.45,
            pixel_size_nm: Some(4.0),
        }
    }

    fn resolve(flags: PredictFlags) -> Result<PredictSettings, SettingsError> {
        PredictSettings::resolve(&model(), &flags)
    }

    #[test]
    fn defaults_come_from_the_model_and_the_overlap_rule() {
        let s = resolve(PredictFlags::default()).unwrap();
        assert_eq!(
            s.options,
            InferenceOptions {
                tile: 96,
                overlap: 48,
                batch: 4,
                tta: 1
            }
        );
        assert_eq!(s.threshold, 0.45);
        assert_eq!(default_overlap(512), 64);
        assert_eq!(default_overlap(32), 16);
    }

    #[test]
    fn every_flag_is_range_checked() {
        let cases = [
            PredictFlags {
                threshold: Some(2.0),
                ..Default::default()
            },
            PredictFlags {
                threshold: Some(f32::NAN),
                ..Default::default()
            },
            PredictFlags {
                tile: Some(17),
                ..Default::default()
            },
            PredictFlags {
                tile: Some(0),
                ..Default::default()
            },
            PredictFlags {
                overlap: Some(96),
                ..Default::default()
            },
            PredictFlags {
                batch: Some(0),
                ..Default::default()
            },
            PredictFlags {
                tta: Some(3),
                ..Default::default()
            },
            PredictFlags {
                pixel_size_nm: Some(-1.0),
                ..Default::default()
            },
            PredictFlags {
                scale: Some(100.0),
                ..Default::default()
            },
            PredictFlags {
                scale: Some(f64::NAN),
                ..Default::default()
            },
        ];
        for flags in cases {
            assert!(resolve(flags.clone()).is_err(), "{flags:?} accepted");
        }
    }

    #[test]
    fn the_scale_follows_the_pixel_sizes_within_bounds() {
        let s = resolve(PredictFlags::default()).unwrap();
        assert_eq!(s.section_scale(None).unwrap().scale, 1.0);
        let half = s.section_scale(Some(2.0)).unwrap();
        assert_eq!((half.scale, half.from_pixel_sizes), (0.5, true));
        assert_eq!(half.output_nm, Some(2.0));
        // Within 2 %: the section's own grid.
        assert_eq!(s.section_scale(Some(4.05)).unwrap().scale, 1.0);
        // A header saying 1e9 nm/pixel is refused, not planned as a scale of 2.5e8.
        assert!(s.section_scale(Some(1e9)).is_err());
        // The user's pixel size overrides the file's; the user's scale overrides both.
        let user = resolve(PredictFlags {
            pixel_size_nm: Some(8.0),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(user.section_scale(Some(2.0)).unwrap().scale, 2.0);
        let fixed = resolve(PredictFlags {
            scale: Some(1.0),
            ..Default::default()
        })
        .unwrap();
        let one = fixed.section_scale(Some(8.0)).unwrap();
        assert_eq!((one.scale, one.from_pixel_sizes), (1.0, false));
        assert_eq!(one.output_nm, Some(8.0));
        // Unknown section pixel size: the maps carry the model's at the scale.
        assert_eq!(fixed.section_scale(None).unwrap().output_nm, Some(4.0));
    }
}
