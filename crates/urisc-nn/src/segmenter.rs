//! [`BurnSegmenter`]: a loaded network behind the [`urisc_model`] traits, so tiling,
//! attribution and benchmarks use it without knowing burn.

use std::path::Path;

use burn::prelude::*;
use urisc_model::{BatchShape, InputGradient, SegmentationModel};

use crate::descriptor::ModelDescriptor;
use crate::file::{load_model, ModelFileError};
use crate::info::receptive_interval;
use crate::model::{ModelConfig, SegmentationNet};

/// A network with its descriptor, ready for inference and input gradients (batch norm on its
/// running statistics in both).
pub struct BurnSegmenter {
    inference: SegmentationNet,
    /// Forked at construction: a fork made after the inference copy has run gives zero input
    /// gradients in burn 0.22 (tested), and the copy costs only the weights' memory.
    differentiable: SegmentationNet,
    descriptor: ModelDescriptor,
    device: Device,
    autodiff: Device,
}

impl BurnSegmenter {
    /// Wraps a network whose parameters live on the (non-autodiff) `device`.
    pub fn new(net: SegmentationNet, descriptor: ModelDescriptor, device: &Device) -> Self {
        let autodiff = device.clone().autodiff();
        BurnSegmenter {
            differentiable: net.clone().fork(&autodiff).freeze(),
            inference: net,
            descriptor,
            device: device.clone(),
            autodiff,
        }
    }

    /// Loads a model file onto the pure-Rust CPU backend.
    pub fn load(path: &Path) -> Result<BurnSegmenter, ModelFileError> {
        let device = Device::flex();
        let (net, descriptor) = load_model(path, &device)?;
        Ok(BurnSegmenter::new(net, descriptor, &device))
    }

    pub fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }

    pub fn net(&self) -> &SegmentationNet {
        &self.inference
    }
}

impl SegmentationModel for BurnSegmenter {
    fn size_multiple(&self) -> usize {
        self.descriptor.model.size_multiple()
    }

    fn normalize(&self, grey: u8) -> f32 {
        self.descriptor.normalization.apply(grey as f32 / 255.0)
    }

    fn logits(&self, input: &[f32], shape: BatchShape) -> Vec<f32> {
        let x = Tensor::<4>::from_data(
            TensorData::new(input.to_vec(), [shape.n, 1, shape.height, shape.width]),
            &self.device,
        );
        self.inference
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 logits")
    }

    fn context_radius(&self) -> Option<usize> {
        Some(context_radius(&self.descriptor.model))
    }
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

impl InputGradient for BurnSegmenter {
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Vec<f32> {
        let dims = [shape.n, 1, shape.height, shape.width];
        let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), dims), &self.autodiff)
            .require_grad();
        // A mask selecting the targets turns Σ_t logit[t] into one reduction.
        let mut mask = vec![0f32; shape.height * shape.width];
        for &(r, c) in targets {
            mask[r * shape.width + c] += 1.0;
        }
        let mask = Tensor::<4>::from_data(
            TensorData::new(mask, [1, 1, shape.height, shape.width]),
            &self.autodiff,
        );
        let grads = (self.differentiable.forward(x.clone()) * mask)
            .sum()
            .backward();
        x.grad(&grads)
            .expect("input gradient")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 gradient")
    }
}

/// Which kernels run a network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// urisc's own CPU kernels (`urisc-cpu`).
    #[default]
    Cpu,
    /// burn on its default device: the one `BURN_DEVICE` names, else the first compiled in (a
    /// GPU through wgpu when built with the `gpu` feature, else burn's CPU backend).
    Burn,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "cpu" => Ok(Engine::Cpu),
            "burn" => Ok(Engine::Burn),
            _ => Err(format!("unknown engine '{s}' (cpu or burn)")),
        }
    }
}

/// A loaded model on the chosen [`Engine`], behind the model traits. (One per process: the
/// size difference of the variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum Segmenter {
    Cpu(crate::FastSegmenter),
    Burn(BurnSegmenter),
}

impl Segmenter {
    pub fn load(path: &Path, engine: Engine) -> Result<Segmenter, ModelFileError> {
        Ok(match engine {
            Engine::Cpu => Segmenter::Cpu(crate::FastSegmenter::load(path)?),
            Engine::Burn => {
                let device = Device::default();
                let (net, descriptor) = load_model(path, &device)?;
                Segmenter::Burn(BurnSegmenter::new(net, descriptor, &device))
            }
        })
    }

    pub fn descriptor(&self) -> &ModelDescriptor {
        match self {
            Segmenter::Cpu(m) => m.descriptor(),
            Segmenter::Burn(m) => m.descriptor(),
        }
    }

    fn model(&self) -> &dyn InputGradient {
        match self {
            Segmenter::Cpu(m) => m,
            Segmenter::Burn(m) => m,
        }
    }
}

impl SegmentationModel for Segmenter {
    fn size_multiple(&self) -> usize {
        self.model().size_multiple()
    }
    fn normalize(&self, grey: u8) -> f32 {
        self.model().normalize(grey)
    }
    fn logits(&self, input: &[f32], shape: BatchShape) -> Vec<f32> {
        self.model().logits(input, shape)
    }
    fn context_radius(&self) -> Option<usize> {
        self.model().context_radius()
    }
}

impl InputGradient for Segmenter {
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Vec<f32> {
        self.model().logit_input_gradient(input, shape, targets)
    }
}
