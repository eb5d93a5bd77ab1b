//! Membrane segmentation networks for urisc as burn modules (see
//! `docs/decisions/0001-deep-learning-framework.md`), run on urisc's own CPU kernels
//! (`urisc-cpu`, `docs/decisions/0002-own-cpu-kernels.md`) or on burn's devices.
//!
//! - [`SegmentationNet`]: the authors' U-Net and a residual-encoder (LinkNet-style) U-Net,
//!   configured by [`ModelConfig`]; 1-channel image in, 1-channel membrane logits out.
//! - [`save_model`] / [`load_model`]: safetensors weights with a [`ModelDescriptor`]
//!   (architecture, normalisation, tile size, threshold, pixel size, provenance) inside, so
//!   a model file describes itself.
//! - [`trainable_parameters`], [`forward_flops`], [`receptive_field`]: what `urisc model info`
//!   reports.
//! - [`to_cpu_net`] / [`from_cpu_net`]: parameters and running statistics to and from
//!   `urisc-cpu`; [`FastSegmenter`] (urisc's kernels) and [`BurnSegmenter`] (burn's) put a
//!   model behind the `urisc-model` traits; [`Segmenter`] picks one by [`Engine`].

mod descriptor;
mod fast;
mod file;
mod info;
mod model;
mod segmenter;

pub use burn;
pub use descriptor::{ModelDescriptor, Normalization, DESCRIPTOR_FORMAT};
pub use fast::{from_cpu_net, to_cpu_net, FastSegmenter};
pub use file::{load_model, read_descriptor, save_model, ModelFileError};
pub use info::{forward_flops, receptive_field, receptive_interval, trainable_parameters};
pub use model::{
    Architecture, Block, ConvBn, ModelConfig, PlainBlock, ResidualBlock, SegmentationNet, UpLevel,
};
pub use segmenter::{BurnSegmenter, Engine, Segmenter};
pub use urisc_cpu;

use burn::prelude::*;

/// Runs the network on a batch of normalised images `[n, 1, height, width]` (row-major) and
/// returns the logits in the same layout.
pub fn logits(
    net: &SegmentationNet,
    batch: &[f32],
    n: usize,
    height: usize,
    width: usize,
    device: &Device,
) -> Vec<f32> {
    let x = Tensor::<4>::from_data(
        TensorData::new(batch.to_vec(), [n, 1, height, width]),
        device,
    );
    net.forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 output")
}
