//! Membrane segmentation networks for urisc, run on urisc's own CPU kernels (`urisc-cpu`,
//! `docs/decisions/0002-own-cpu-kernels.md`); burn's modules behind the `burn` feature (the GPU
//! path, and the reference implementation in tests).
//!
//! - [`ModelConfig`]: the authors' U-Net and a residual-encoder (LinkNet-style) U-Net; 1-channel
//!   image in, 1-channel membrane logits out. [`seeded_net`] initialises one reproducibly.
//! - [`save_model`] / [`load_model`]: safetensors weights with a [`ModelDescriptor`]
//!   (architecture, normalisation, tile size, threshold, pixel size, provenance, a checksum of
//!   the weights) inside, so a model file describes itself; loading validates all of it.
//! - [`bioimageio`]: bioimage.io model packages (ONNX weights, test tensors, cover, docs).
//! - [`onnx`]: ONNX export of urisc networks and import of U-Nets trained elsewhere.
//! - [`trainable_parameters`], [`forward_flops`], [`receptive_field`]: what `urisc model info`
//!   reports, all of it in an [`info::ModelReport`].
//! - [`export`]: a model file (or the embedded model) written as ONNX or a bioimage.io package
//!   (`urisc model export`); [`import`]: an ONNX U-Net saved as a model file (`urisc model
//!   import`).
//! - [`FastSegmenter`] (urisc's kernels) puts a model behind the `urisc-model` traits;
//!   [`Segmenter`] loads one onto an [`Engine`].
//! - With the `burn` feature: `SegmentationNet` (burn modules), `BurnSegmenter`, and
//!   `to_cpu_net` / `from_cpu_net` between the two.

mod batch;
pub mod bioimageio;
mod config;
mod descriptor;
pub mod export;
mod fast;
mod file;
pub mod import;
pub mod info;
mod layout;
pub mod onnx;
mod segmenter;

#[cfg(feature = "burn")]
mod bridge;
#[cfg(feature = "burn")]
mod burn_segmenter;
#[cfg(feature = "burn")]
mod model;

pub use config::{Architecture, CoarseStage, ModelConfig};
pub use descriptor::{ModelDescriptor, Normalization, DESCRIPTOR_FORMAT};
pub use fast::FastSegmenter;
pub use file::{
    load_model, model_bytes, model_from_bytes, read_descriptor, save_model, ModelFileError,
};
pub use info::{forward_flops, receptive_field, receptive_interval, trainable_parameters};
pub use layout::seeded_net;
pub use segmenter::{embedded_model_bytes, Engine, Segmenter, EMBEDDED_MODEL_NAME};
pub use urisc_cpu;

#[cfg(feature = "burn")]
pub use bridge::{from_cpu_net, load_burn_model, to_cpu_net};
#[cfg(feature = "burn")]
pub use burn;
#[cfg(feature = "burn")]
pub use burn_segmenter::BurnSegmenter;
#[cfg(feature = "burn")]
pub use model::{Block, ConvBn, PlainBlock, ResidualBlock, SegmentationNet, UpLevel};

/// Runs a burn network on a batch of normalised images `[n, 1, height, width]` (row-major) and
/// returns the logits in the same layout.
#[cfg(feature = "burn")]
pub fn logits(
    net: &SegmentationNet,
    batch: &[f32],
    n: usize,
    height: usize,
    width: usize,
    device: &burn::prelude::Device,
) -> Vec<f32> {
    use burn::prelude::*;
    let x = Tensor::<4>::from_data(
        TensorData::new(batch.to_vec(), [n, 1, height, width]),
        device,
    );
    net.forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 output")
}
