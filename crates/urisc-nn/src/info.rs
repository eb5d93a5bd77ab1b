//! Parameter and FLOP counts and the receptive field, from the architecture alone, and
//! [`ModelReport`]: all of it for one model file or architecture, as `urisc model info` prints
//! it.

use std::fmt;
use std::path::Path;

use crate::config::{Architecture, ModelConfig};
use crate::descriptor::ModelDescriptor;
use crate::file::{load_model, ModelFileError};

/// Trainable parameters: convolution weights and biases, BatchNorm scale and shift (running
/// statistics are buffers, not parameters — PyTorch counts the same way). A two-stage model's
/// coarse stage counts too (it was trained, before the fine stage).
pub fn trainable_parameters(config: &ModelConfig) -> u64 {
    let coarse = config
        .coarse
        .as_ref()
        .map_or(0, |c| stage_parameters(&c.model, c.channels()));
    coarse + stage_parameters(config, 1)
}

fn stage_parameters(config: &ModelConfig, head_channels: usize) -> u64 {
    let conv = |cin: usize, cout: usize, k: usize| (cin * cout * k * k + cout) as u64;
    let conv_bn = |cin: usize, cout: usize| conv(cin, cout, 3) + 2 * cout as u64;
    let residual = config.architecture == Architecture::ResUnet;
    let block = |cin: usize, cout: usize| {
        conv_bn(cin, cout)
            + conv_bn(cout, cout)
            + if residual && cin != cout {
                conv(cin, cout, 1)
            } else {
                0
            }
    };
    let w = config.widths();
    let mut total = 0;
    for k in 0..config.depth {
        total += block(
            if k == 0 {
                config.input_channels()
            } else {
                w[k - 1]
            },
            w[k],
        );
    }
    for k in 0..config.depth - 1 {
        total += conv_bn(w[k + 1], w[k]);
        total += if residual {
            block(w[k], w[k])
        } else {
            block(2 * w[k], w[k])
        };
    }
    total + conv(w[0], head_channels, 1)
}

/// Floating-point operations of one forward pass on a `height × width` tile (batch 1): two per
/// multiply-add of every convolution (BatchNorm, ReLU, pooling and upsampling are ignored: they
/// are < 1 % of the total). A two-stage model adds its coarse stage at its reduced size.
pub fn forward_flops(config: &ModelConfig, height: usize, width: usize) -> u64 {
    let coarse = config.coarse.as_ref().map_or(0, |c| {
        stage_flops(&c.model, c.channels(), height / c.factor, width / c.factor)
    });
    coarse + stage_flops(config, 1, height, width)
}

fn stage_flops(config: &ModelConfig, head_channels: usize, height: usize, width: usize) -> u64 {
    let conv =
        |cin: usize, cout: usize, k: usize, pixels: usize| 2 * (cin * cout * k * k * pixels) as u64;
    let residual = config.architecture == Architecture::ResUnet;
    let block = |cin: usize, cout: usize, px: usize| {
        conv(cin, cout, 3, px)
            + conv(cout, cout, 3, px)
            + if residual && cin != cout {
                conv(cin, cout, 1, px)
            } else {
                0
            }
    };
    let w = config.widths();
    let pixels = |k: usize| (height >> k) * (width >> k);
    let mut total = 0;
    for k in 0..config.depth {
        total += block(
            if k == 0 {
                config.input_channels()
            } else {
                w[k - 1]
            },
            w[k],
            pixels(k),
        );
    }
    for k in 0..config.depth - 1 {
        total += conv(w[k + 1], w[k], 3, pixels(k));
        total += if residual {
            block(w[k], w[k], pixels(k))
        } else {
            block(2 * w[k], w[k], pixels(k))
        };
    }
    total + conv(w[0], head_channels, 1, pixels(0))
}

/// The input rows (or columns) that output row `p` depends on, as `(first, last)` offsets from
/// an unbounded plane: every path through the network is followed backwards (3×3 convolutions
/// widen by one pixel per side at their level's scale, pooling maps a coarse pixel to two fine
/// ones, nearest upsampling a fine pixel to one coarse one) and the intervals are united. For a
/// two-stage model, the coarse map's pixels in the fine stage's interval bring in the coarse
/// stage's intervals, scaled up by its factor.
pub fn receptive_interval(config: &ModelConfig, p: i64) -> (i64, i64) {
    let (lo, hi) = stage_interval(config, p);
    match &config.coarse {
        None => (lo, hi),
        Some(c) => {
            let f = c.factor as i64;
            (lo.div_euclid(f)..=hi.div_euclid(f))
                .map(|q| {
                    let (a, b) = stage_interval(&c.model, q);
                    (a * f, b * f + f - 1)
                })
                .fold((lo, hi), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)))
        }
    }
}

fn stage_interval(config: &ModelConfig, p: i64) -> (i64, i64) {
    let last = config.depth - 1;
    // Output of encoder level k → input.
    fn encoder(k: usize, (lo, hi): (i64, i64)) -> (i64, i64) {
        let (lo, hi) = (lo - 2, hi + 2);
        if k == 0 {
            (lo, hi)
        } else {
            encoder(k - 1, (2 * lo, 2 * hi + 1))
        }
    }
    // Output of the decoder level that ends at level k → input.
    fn decoder(k: usize, last: usize, (lo, hi): (i64, i64)) -> (i64, i64) {
        let (lo, hi) = (lo - 2, hi + 2);
        let skip = encoder(k, (lo, hi));
        let coarse = ((lo - 1).div_euclid(2), (hi + 1).div_euclid(2));
        let deeper = if k + 1 == last {
            encoder(k + 1, coarse)
        } else {
            decoder(k + 1, last, coarse)
        };
        (skip.0.min(deeper.0), skip.1.max(deeper.1))
    }
    if last == 0 {
        encoder(0, (p, p))
    } else {
        decoder(0, last, (p, p))
    }
}

/// Receptive field along one axis in pixels: the widest [`receptive_interval`] over the
/// output positions (they repeat with period 2^(depth−1)).
pub fn receptive_field(config: &ModelConfig) -> usize {
    (0..config.size_multiple() as i64)
        .map(|p| {
            let (lo, hi) = receptive_interval(config, p);
            (hi - lo + 1) as usize
        })
        .max()
        .expect("depth ≥ 1")
}

/// Tile side of a report when neither the request nor the model names one.
pub const DEFAULT_REPORT_TILE: usize = 512;

/// What `urisc model info` reports on a model file or an architecture: its counts on one tile,
/// and the file's descriptor. `Display` renders the text `urisc model info` prints (one line
/// per item, each ending in a newline).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelReport {
    /// The architecture.
    pub config: ModelConfig,
    /// The model file's descriptor (`None` for an architecture alone).
    pub descriptor: Option<ModelDescriptor>,
    /// The tile side the FLOPs are counted on.
    pub tile: usize,
    /// [`trainable_parameters`].
    pub parameters: u64,
    /// [`forward_flops`] on a `tile × tile` tile.
    pub forward_flops: u64,
    /// The part of `forward_flops` spent in a frozen coarse stage (0 without one, and for a
    /// coarse branch trained jointly): it runs forward only in training.
    pub frozen_coarse_flops: u64,
    /// [`receptive_field`].
    pub receptive_field: usize,
}

/// Why a [`ModelReport`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    /// The model file cannot be read or used (the whole file is checked, so a damaged model
    /// says so).
    #[error(transparent)]
    Model(#[from] ModelFileError),
    /// The architecture is out of range ([`ModelConfig::validate`]).
    #[error("{0}")]
    Config(String),
    /// The tile side is not a multiple of the architecture's size multiple.
    #[error("--tile {tile} is not a multiple of {multiple} (2^(depth−1))")]
    Tile {
        /// The tile side asked for.
        tile: usize,
        /// The architecture's size multiple.
        multiple: usize,
    },
}

impl ModelReport {
    /// The report on an architecture, counted on `tile × tile` tiles (default
    /// [`DEFAULT_REPORT_TILE`]).
    pub fn for_config(config: ModelConfig, tile: Option<usize>) -> Result<ModelReport, InfoError> {
        config.validate().map_err(InfoError::Config)?;
        ModelReport::new(config, None, tile.unwrap_or(DEFAULT_REPORT_TILE))
    }

    /// The report on a model described by `descriptor`, counted on `tile × tile` tiles (default:
    /// the model's tile size).
    pub fn for_descriptor(
        descriptor: ModelDescriptor,
        tile: Option<usize>,
    ) -> Result<ModelReport, InfoError> {
        descriptor.model.validate().map_err(InfoError::Config)?;
        let tile = tile.unwrap_or(descriptor.tile_size);
        ModelReport::new(descriptor.model.clone(), Some(descriptor), tile)
    }

    /// The report on a model file, which is loaded and checked whole (tensors against the
    /// architecture, finite weights, the checksum), not only its descriptor.
    pub fn for_file(path: &Path, tile: Option<usize>) -> Result<ModelReport, InfoError> {
        let (_, descriptor) = load_model(path)?;
        ModelReport::for_descriptor(descriptor, tile)
    }

    fn new(
        config: ModelConfig,
        descriptor: Option<ModelDescriptor>,
        tile: usize,
    ) -> Result<ModelReport, InfoError> {
        let multiple = config.size_multiple();
        if !tile.is_multiple_of(multiple) {
            return Err(InfoError::Tile { tile, multiple });
        }
        // A two-stage model trains only its fine stage (the frozen coarse one runs forward); a
        // two-scale model trains both.
        let frozen_coarse_flops = config.coarse.as_ref().map_or(0, |c| match c.features {
            None => forward_flops(&c.model, tile / c.factor, tile / c.factor),
            Some(_) => 0,
        });
        Ok(ModelReport {
            parameters: trainable_parameters(&config),
            forward_flops: forward_flops(&config, tile, tile),
            frozen_coarse_flops,
            receptive_field: receptive_field(&config),
            config,
            descriptor,
            tile,
        })
    }

    /// Floating-point operations of one training step on a tile (batch 1): forward + backward
    /// ≈ 3 × forward for what is trained, plus the forward pass of a frozen coarse stage.
    pub fn training_flops(&self) -> u64 {
        3 * (self.forward_flops - self.frozen_coarse_flops) + self.frozen_coarse_flops
    }
}

impl fmt::Display for ModelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        let tile = self.tile;
        writeln!(
            f,
            "architecture:     {:?}, base width {}, depth {} (widths {:?})",
            config.architecture,
            config.base_width,
            config.depth,
            config.widths()
        )?;
        if let Some(c) = &config.coarse {
            let (kind, handed) = match c.features {
                None => (
                    "frozen",
                    "its membrane probability the second input channel".to_string(),
                ),
                Some(k) => (
                    "trained jointly",
                    format!("its {k} head channels fused into the input"),
                ),
            };
            writeln!(
                f,
                "coarse stage:     {:?}, base width {}, depth {} on the input downsampled {}× \
                 ({kind}), {handed}",
                c.model.architecture, c.model.base_width, c.model.depth, c.factor
            )?;
        }
        writeln!(
            f,
            "parameters:       {} trainable",
            group_digits(self.parameters)
        )?;
        let flops = self.forward_flops as f64;
        writeln!(
            f,
            "forward FLOPs:    {:.2} GFLOP per {tile}×{tile} tile ({:.1} kFLOP/pixel)",
            flops / 1e9,
            flops / (tile * tile) as f64 / 1e3
        )?;
        writeln!(
            f,
            "training FLOPs:   ≈ {:.2} GFLOP per {tile}×{tile} tile (forward + backward ≈ 3 × \
             forward{})",
            self.training_flops() as f64 / 1e9,
            if self.frozen_coarse_flops > 0 {
                " of the fine stage, + the frozen coarse forward"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "receptive field:  {} pixels along each axis",
            self.receptive_field
        )?;
        writeln!(
            f,
            "tile sides:       multiples of {}",
            config.size_multiple()
        )?;
        if let Some(d) = &self.descriptor {
            writeln!(
                f,
                "normalisation:    (v/255 − {}) / {}",
                d.normalization.mean, d.normalization.std
            )?;
            writeln!(f, "tile size:        {}", d.tile_size)?;
            writeln!(
                f,
                "threshold:        {} (membrane iff probability ≥ threshold)",
                d.threshold
            )?;
            match d.pixel_size_nm {
                Some(p) => writeln!(f, "pixel size:       {p} nm/pixel")?,
                None => writeln!(f, "pixel size:       unknown")?,
            }
            for (k, v) in &d.training {
                writeln!(f, "training {k}: {v}")?;
            }
            match &d.weights_checksum {
                Some(c) => writeln!(f, "weights:          checked ({c})")?,
                None => writeln!(
                    f,
                    "weights:          checked (shapes and finite values; file has no checksum)"
                )?,
            }
        }
        Ok(())
    }
}

/// `n` with its digits grouped in threes by commas (`34,525,889`).
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Half-width of the receptive field, over all positions modulo the size multiple.
pub(crate) fn context_radius(config: &ModelConfig) -> usize {
    (0..config.size_multiple() as i64)
        .map(|p| {
            let (lo, hi) = receptive_interval(config, p);
            (p - lo).max(hi - p)
        })
        .max()
        .unwrap_or(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CoarseStage;

    fn unet(base_width: usize, depth: usize) -> ModelConfig {
        ModelConfig {
            architecture: Architecture::Unet,
            base_width,
            depth,
            coarse: None,
        }
    }

    #[test]
    fn digits_are_grouped_in_threes() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (123_456, "123,456"),
            (34_525_889, "34,525,889"),
        ] {
            assert_eq!(group_digits(n), text);
        }
    }

    #[test]
    fn the_authors_unet_is_reported_on_512_tiles() {
        let report = ModelReport::for_config(ModelConfig::authors_unet(), None).unwrap();
        assert_eq!(report.tile, 512);
        assert_eq!(report.parameters, 34_525_889);
        assert_eq!(report.receptive_field, 236);
        assert_eq!(report.training_flops(), 3 * report.forward_flops);
        assert_eq!(
            report.to_string(),
            "architecture:     Unet, base width 64, depth 5 (widths [64, 128, 256, 512, 1024])\n\
             parameters:       34,525,889 trainable\n\
             forward FLOPs:    522.17 GFLOP per 512×512 tile (1991.9 kFLOP/pixel)\n\
             training FLOPs:   ≈ 1566.52 GFLOP per 512×512 tile (forward + backward ≈ 3 × forward)\n\
             receptive field:  236 pixels along each axis\n\
             tile sides:       multiples of 16\n"
        );
    }

    #[test]
    fn a_small_config_on_a_chosen_tile() {
        let report = ModelReport::for_config(unet(16, 5), Some(256)).unwrap();
        assert_eq!(report.parameters, 2_161_841);
        let text = report.to_string();
        assert!(
            text.contains("8.17 GFLOP per 256×256 tile (124.7 kFLOP/pixel)"),
            "{text}"
        );
        let e = ModelReport::for_config(unet(16, 5), Some(100)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--tile 100 is not a multiple of 16 (2^(depth−1))"
        );
        let e = ModelReport::for_config(unet(16, 9), None).unwrap_err();
        assert!(matches!(e, InfoError::Config(_)), "{e:?}");
    }

    #[test]
    fn a_frozen_coarse_stage_trains_forward_only_and_a_descriptor_is_shown() {
        let mut config = unet(4, 2);
        config.coarse = Some(Box::new(CoarseStage {
            factor: 2,
            features: None,
            model: unet(4, 2),
        }));
        let mut descriptor = ModelDescriptor::new(config.clone(), 16);
        descriptor.pixel_size_nm = Some(4.0);
        descriptor.training.insert("seed".into(), "1".into());
        let report = ModelReport::for_descriptor(descriptor, Some(48)).unwrap();
        assert_eq!(report.tile, 48);
        let coarse = forward_flops(&unet(4, 2), 24, 24);
        assert_eq!(report.frozen_coarse_flops, coarse);
        assert_eq!(
            report.training_flops(),
            3 * (report.forward_flops - coarse) + coarse
        );
        let text = report.to_string();
        for line in [
            "coarse stage:     Unet, base width 4, depth 2 on the input downsampled 2× (frozen), \
             its membrane probability the second input channel\n",
            "parameters:       3,790 trainable\n",
            "(forward + backward ≈ 3 × forward of the fine stage, + the frozen coarse forward)\n",
            "tile sides:       multiples of 4\n",
            "tile size:        16\n",
            "pixel size:       4 nm/pixel\n",
            "training seed: 1\n",
            "weights:          checked (shapes and finite values; file has no checksum)\n",
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
        // Jointly trained: all of it trains.
        let joint = ModelConfig {
            coarse: Some(Box::new(CoarseStage {
                factor: 2,
                features: Some(3),
                model: unet(4, 2),
            })),
            ..unet(4, 2)
        };
        let report = ModelReport::for_config(joint, Some(48)).unwrap();
        assert_eq!(report.training_flops(), 3 * report.forward_flops);
        assert!(report
            .to_string()
            .contains("(trained jointly), its 3 head channels fused"));
    }
}
