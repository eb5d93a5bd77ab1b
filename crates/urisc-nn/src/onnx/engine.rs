//! The ONNX engine (`--engine onnx`, feature `tract`): any single-input, single-output ONNX
//! segmentation network run by tract, a pure-Rust ONNX runtime — for graphs that
//! [`super::import_onnx`] cannot map onto urisc's own network. Predictions only: tract gives
//! no input gradients, so attribution needs an importable model.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prost::Message;
use tract_onnx::prelude::*;
use urisc_model::{BatchShape, InputGradient, ModelError, SegmentationModel};

use super::proto::ModelProto;
use crate::descriptor::Normalization;

type Plan = Arc<TypedRunnableModel>;

/// An ONNX network on tract, one optimised plan per batch shape.
pub struct OnnxEngine {
    model: InferenceModel,
    plans: Mutex<HashMap<(usize, usize, usize), Plan>>,
    normalization: Normalization,
    size_multiple: usize,
    /// The graph ends in a Sigmoid: its output is a probability, turned back into logits.
    outputs_probability: bool,
}

impl OnnxEngine {
    /// Reads an ONNX model; `size_multiple` is what its height and width must be multiples of.
    pub fn new(
        bytes: &[u8],
        normalization: Normalization,
        size_multiple: usize,
    ) -> Result<OnnxEngine, String> {
        let proto =
            ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model (protobuf: {e})"))?;
        let graph = proto.graph.as_ref().ok_or("not an ONNX model (no graph)")?;
        if graph.output.len() != 1 {
            return Err(format!(
                "{} graph outputs; a segmentation network has one",
                graph.output.len()
            ));
        }
        let output = &graph.output[0].name;
        let outputs_probability = graph
            .node
            .iter()
            .any(|n| n.output.iter().any(|o| o == output) && n.op_type == "Sigmoid");
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(|e| format!("tract cannot read it: {e}"))?;
        Ok(OnnxEngine {
            model,
            plans: Mutex::new(HashMap::new()),
            normalization,
            size_multiple: size_multiple.max(1),
            outputs_probability,
        })
    }

    fn plan(&self, shape: BatchShape) -> Result<Plan, ModelError> {
        let key = (shape.n, shape.height, shape.width);
        if let Some(p) = self.plans.lock().expect("plan cache").get(&key) {
            return Ok(p.clone());
        }
        let plan = self
            .model
            .clone()
            .with_input_fact(0, f32::fact([shape.n, 1, shape.height, shape.width]).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| {
                ModelError::new(format!(
                    "tract cannot run the network on {}×1×{}×{}: {e}",
                    shape.n, shape.height, shape.width
                ))
            })?;

        self.plans
            .lock()
            .expect("plan cache")
            .insert(key, plan.clone());
        Ok(plan)
    }
}

impl SegmentationModel for OnnxEngine {
    fn size_multiple(&self) -> usize {
        self.size_multiple
    }

    fn normalize(&self, grey: u8) -> f32 {
        self.normalization.apply(grey as f32 / 255.0)
    }

    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError> {
        ModelError::check_shape(input, shape)?;
        let plan = self.plan(shape)?;
        let x = tract_ndarray::Array4::from_shape_vec(
            (shape.n, 1, shape.height, shape.width),
            input.to_vec(),
        )
        .map_err(|e| ModelError::new(e.to_string()))?;
        let out = plan
            .run(tvec!(Tensor::from(x).into()))
            .map_err(|e| ModelError::new(format!("tract: {e}")))?;
        let view = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| ModelError::new(format!("the output is not float32: {e}")))?;
        if view.shape() != [shape.n, 1, shape.height, shape.width] {
            return Err(ModelError::new(format!(
                "the network outputs {:?}; urisc needs one channel at the input's size, {:?}",
                view.shape(),
                [shape.n, 1, shape.height, shape.width]
            )));
        }
        Ok(if self.outputs_probability {
            // Logits back from probabilities (clamped away from 0 and 1 by the rule).
            view.iter()
                .map(|&p| urisc_io::encoding::logit_from_probability(p))
                .collect()
        } else {
            view.iter().copied().collect()
        })
    }

    fn context_radius(&self) -> Option<usize> {
        None
    }
}

impl InputGradient for OnnxEngine {
    fn logit_input_gradient(
        &self,
        _input: &[f32],
        _shape: BatchShape,
        _targets: &[(usize, usize)],
    ) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::new(
            "the ONNX engine (tract) has no gradients; attribution needs a model urisc can import \
             (`urisc model import`) or train",
        ))
    }
}
