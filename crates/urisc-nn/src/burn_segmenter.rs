//! [`BurnSegmenter`]: a network in burn's modules behind the [`urisc_model`] traits (feature
//! `burn`): the reference implementation in tests, and the GPU path.

use std::path::Path;

use burn::prelude::*;
use urisc_model::{BatchShape, InputGradient, ModelError, SegmentationModel};

use crate::batch::check_batch;
use crate::bridge::load_burn_model;
use crate::descriptor::ModelDescriptor;
use crate::file::ModelFileError;
use crate::info::context_radius;
use crate::model::SegmentationNet;

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
        let (net, descriptor) = load_burn_model(path, &device)?;
        Ok(BurnSegmenter::new(net, descriptor, &device))
    }

    /// The model's descriptor.
    pub fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }

    /// The network used for inference (parameters on the non-autodiff device).
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

    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError> {
        check_batch(self, input, shape, &[])?;
        on_device(|| {
            let x = Tensor::<4>::from_data(
                TensorData::new(input.to_vec(), [shape.n, 1, shape.height, shape.width]),
                &self.device,
            );
            self.inference
                .forward(x)
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 logits")
        })
    }

    fn context_radius(&self) -> Option<usize> {
        Some(context_radius(&self.descriptor.model))
    }
}

impl InputGradient for BurnSegmenter {
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Result<Vec<f32>, ModelError> {
        check_batch(self, input, shape, targets)?;
        on_device(|| self.input_gradient(input, shape, targets))
    }
}

/// Runs burn work, turning a panic (burn reports device errors — out of GPU memory, a lost
/// device — by panicking) into a [`ModelError`].
fn on_device<R>(work: impl FnOnce() -> R) -> Result<R, ModelError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown error".into());
        ModelError::new(format!("burn failed: {message}"))
    })
}

impl BurnSegmenter {
    fn input_gradient(
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
