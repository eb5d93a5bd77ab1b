//! [`FastSegmenter`]: a network on urisc's own CPU kernels behind the model traits, what
//! inference, attribution and validation use by default.

use std::path::Path;

use urisc_cpu::{Act, Kernels, Mode};
use urisc_model::{BatchShape, InputGradient, ModelError, SegmentationModel};

use crate::batch::check_batch;
use crate::descriptor::ModelDescriptor;
use crate::file::{load_model, ModelFileError};
use crate::info::context_radius;

/// A model on urisc's own CPU kernels (batch norm on running statistics), behind the
/// [`urisc_model`] traits.
pub struct FastSegmenter {
    net: urisc_cpu::Net,
    descriptor: ModelDescriptor,
    /// The kernel path and 3×3 algorithm every pass runs on.
    kernels: Kernels,
}

impl FastSegmenter {
    /// Wraps a `urisc-cpu` network (same architecture as `descriptor.model`), on
    /// [`Kernels::default`] (what `URISC_KERNELS` and `URISC_CONV` choose).
    pub fn from_cpu_net(net: urisc_cpu::Net, descriptor: ModelDescriptor) -> FastSegmenter {
        FastSegmenter {
            net,
            descriptor,
            kernels: Kernels::default(),
        }
    }

    /// Loads a model file, on [`Kernels::default`].
    pub fn load(path: &Path) -> Result<FastSegmenter, ModelFileError> {
        let (net, descriptor) = load_model(path)?;
        Ok(FastSegmenter::from_cpu_net(net, descriptor))
    }

    /// The same model on `kernels` (a kernel path and 3×3 algorithm) instead.
    pub fn with_kernels(self, kernels: Kernels) -> FastSegmenter {
        FastSegmenter { kernels, ..self }
    }

    /// The kernels every pass runs on.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The model file's descriptor (normalisation, tile size, threshold, provenance).
    pub fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }

    /// The network, e.g. for training or for conversion to burn's modules.
    pub fn cpu_net(&self) -> &urisc_cpu::Net {
        &self.net
    }
}

impl SegmentationModel for FastSegmenter {
    fn size_multiple(&self) -> usize {
        self.descriptor.model.size_multiple()
    }

    fn normalize(&self, grey: u8) -> f32 {
        self.descriptor.normalization.apply(grey as f32 / 255.0)
    }

    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError> {
        check_batch(self, input, shape, &[])?;
        let x = Act::from_vec(shape.n, shape.height, shape.width, 1, input.to_vec());
        Ok(self.net.infer_with(self.kernels, x).data)
    }

    fn context_radius(&self) -> Option<usize> {
        Some(context_radius(&self.descriptor.model))
    }
}

impl InputGradient for FastSegmenter {
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Result<Vec<f32>, ModelError> {
        check_batch(self, input, shape, targets)?;
        let x = Act::from_vec(shape.n, shape.height, shape.width, 1, input.to_vec());
        let (logits, tape) = self.net.forward_recorded_with(self.kernels, x, Mode::Eval);
        let mut seed = Act::zeros(logits.n, logits.h, logits.w, 1);
        let plane = shape.height * shape.width;
        for item in seed.data.chunks_exact_mut(plane) {
            for &(r, c) in targets {
                item[r * shape.width + c] += 1.0;
            }
        }
        let (dx, _) = self.net.backward(tape, &seed, urisc_cpu::Gradients::INPUT);
        Ok(dx.expect("input gradient").data)
    }
}
