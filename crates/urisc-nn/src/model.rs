//! The networks: the authors' U-Net (SPEC §5) and a residual-encoder, LinkNet-style U-Net.
//! Both map a 1-channel image tile to a 1-channel membrane logit map of the same size.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::config::{Architecture, ModelConfig};

fn conv3x3(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// Conv3×3 + BatchNorm (+ ReLU in `forward`).
#[derive(Module, Debug)]
pub struct ConvBn {
    pub(crate) conv: Conv2d,
    pub(crate) bn: BatchNorm,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        ConvBn {
            conv: conv3x3(cin, cout, device),
            bn: BatchNormConfig::new(cout).init(device),
        }
    }

    fn forward_linear(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.forward_linear(x))
    }
}

/// Two Conv3×3+BN+ReLU.
#[derive(Module, Debug)]
pub struct PlainBlock {
    pub(crate) a: ConvBn,
    pub(crate) b: ConvBn,
}

/// Conv+BN+ReLU, Conv+BN, plus the input (through a 1×1 projection when channels change),
/// then ReLU.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub(crate) a: ConvBn,
    pub(crate) b: ConvBn,
    pub(crate) projection: Option<Conv2d>,
}

/// A level's feature block. (Modules are built once per network, so the size difference of the
/// variants does not matter.)
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Block {
    /// Two Conv3×3+BN+ReLU (the U-Net's blocks).
    Plain(PlainBlock),
    /// A residual block (the LinkNet-style U-Net's blocks).
    Residual(ResidualBlock),
}

impl Block {
    fn plain(cin: usize, cout: usize, device: &Device) -> Block {
        Block::Plain(PlainBlock {
            a: ConvBn::new(cin, cout, device),
            b: ConvBn::new(cout, cout, device),
        })
    }

    fn residual(cin: usize, cout: usize, device: &Device) -> Block {
        Block::Residual(ResidualBlock {
            a: ConvBn::new(cin, cout, device),
            b: ConvBn::new(cout, cout, device),
            projection: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Block::Plain(p) => p.b.forward(p.a.forward(x)),
            Block::Residual(r) => {
                let shortcut = match &r.projection {
                    Some(p) => p.forward(x.clone()),
                    None => x.clone(),
                };
                relu(r.b.forward_linear(r.a.forward(x)) + shortcut)
            }
        }
    }
}

/// One decoder level: upsample ×2 (nearest), Conv3×3+BN+ReLU to the skip's width, merge with
/// the skip (concatenation for the U-Net, addition for LinkNet-style), then a block.
#[derive(Module, Debug)]
pub struct UpLevel {
    pub(crate) reduce: ConvBn,
    pub(crate) block: Block,
}

/// A segmentation network; see [`Architecture`].
#[derive(Module, Debug)]
pub struct SegmentationNet {
    pub(crate) down: Vec<Block>,
    pub(crate) up: Vec<UpLevel>,
    pub(crate) head: Conv2d,
    /// Concatenated (U-Net) or added (LinkNet-style) skips.
    #[module(skip)]
    pub(crate) concat_skips: bool,
}

/// burn's initialisers draw from one process-wide generator: every build holds this lock, so a
/// seeded build ([`SegmentationNet::seeded`]) is never interleaved with another build's draws.
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl SegmentationNet {
    /// A randomly initialised network on `device`.
    pub fn new(config: &ModelConfig, device: &Device) -> SegmentationNet {
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        SegmentationNet::build(config, device)
    }

    /// A network initialised from `seed` (reproducible even with other builds in the process).
    pub fn seeded(config: &ModelConfig, device: &Device, seed: u64) -> SegmentationNet {
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        device.seed(seed);
        SegmentationNet::build(config, device)
    }

    fn build(config: &ModelConfig, device: &Device) -> SegmentationNet {
        config.validate().expect("valid model config");
        let w = config.widths();
        let residual = config.architecture == Architecture::ResUnet;
        let block = |cin, cout| {
            if residual {
                Block::residual(cin, cout, device)
            } else {
                Block::plain(cin, cout, device)
            }
        };
        let down = (0..config.depth)
            .map(|k| {
                block(
                    if k == 0 {
                        config.input_channels()
                    } else {
                        w[k - 1]
                    },
                    w[k],
                )
            })
            .collect();
        // up[0] goes from the bottom level to the one above it; the last ends at level 0.
        let up = (0..config.depth - 1)
            .rev()
            .map(|k| UpLevel {
                reduce: ConvBn::new(w[k + 1], w[k], device),
                block: if residual {
                    block(w[k], w[k])
                } else {
                    block(2 * w[k], w[k])
                },
            })
            .collect();
        SegmentationNet {
            down,
            up,
            head: Conv2dConfig::new([w[0], 1], [1, 1]).init(device),
            concat_skips: !residual,
        }
    }

    /// Membrane logits `[N, 1, H, W]` of images `[N, 1, H, W]`; H and W must be multiples of
    /// the config's [`ModelConfig::size_multiple`].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pool = MaxPool2dConfig::new([2, 2]).init();
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = x;
        for (k, level) in self.down.iter().enumerate() {
            if k > 0 {
                x = pool.forward(x);
            }
            x = level.forward(x);
            skips.push(x.clone());
        }
        skips.pop(); // the bottom level is `x` itself
        for level in &self.up {
            let [_, _, h, w] = x.dims();
            let options =
                InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]);
            x = level.reduce.forward(interpolate(x, options));
            let skip = skips.pop().expect("one skip per decoder level");
            x = if self.concat_skips {
                Tensor::cat(vec![x, skip], 1)
            } else {
                x + skip
            };
            x = level.block.forward(x);
        }
        self.head.forward(x)
    }
}
