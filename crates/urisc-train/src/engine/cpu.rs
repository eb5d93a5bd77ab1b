//! The CPU engine: urisc's own kernels (`urisc-cpu`) for forward, backward and Adam, the loss
//! and its logit gradient on urisc's own code (`LossConfig::value_and_gradient`).

use std::io::Write;
use std::path::Path;

use urisc_model::SegmentationModel;
use urisc_nn::urisc_cpu::{self, Act, Adam, Mode};
use urisc_nn::{FastSegmenter, ModelDescriptor};

use super::TrainingEngine;
use crate::config::{OptimConfig, TrainConfig};
use crate::error::TrainError;

/// Adam's moments, beside the run's `last.safetensors`.
pub(super) const OPTIMIZER_FILE: &str = "last.adam.safetensors";

pub(super) struct CpuEngine {
    net: urisc_cpu::Net,
    adam: Adam,
}

fn adam(optim: &OptimConfig) -> Adam {
    Adam::new(optim.beta1 as f32, optim.beta2 as f32, optim.epsilon as f32)
}

impl CpuEngine {
    pub(super) fn start(config: &TrainConfig, net: urisc_cpu::Net) -> CpuEngine {
        CpuEngine {
            net,
            adam: adam(&config.optim),
        }
    }

    pub(super) fn resume(
        config: &TrainConfig,
        dir: &Path,
        last: urisc_cpu::Net,
    ) -> Result<CpuEngine, TrainError> {
        Ok(CpuEngine {
            net: last,
            adam: read_adam(&dir.join(OPTIMIZER_FILE), adam(&config.optim))?,
        })
    }
}

impl TrainingEngine for CpuEngine {
    fn step(
        &mut self,
        config: &TrainConfig,
        images: Vec<f32>,
        targets: Vec<f32>,
        (b, s): (usize, usize),
        lr: f64,
    ) -> Result<f32, f32> {
        let (logits, tape) = self
            .net
            .forward_recorded(Act::from_vec(b, s, s, 1, images), Mode::Train);
        let (value, dlogits) = config
            .loss
            .value_and_gradient(&logits.data, &targets, (b, s, s));
        let value = value as f32;
        if !value.is_finite() {
            return Err(value);
        }
        self.net.update_running_stats(&tape);
        let dlogits = Act::from_vec(b, s, s, 1, dlogits);
        let (_, grads) = self
            .net
            .backward(tape, &dlogits, urisc_nn::urisc_cpu::Gradients::PARAMS);
        self.adam.step(
            self.net.params_mut(),
            &grads.expect("parameter gradients"),
            lr as f32,
        );
        Ok(value)
    }

    fn inference_net(&self) -> urisc_cpu::Net {
        self.net.clone()
    }

    fn segmenter(&self, descriptor: ModelDescriptor) -> Box<dyn SegmentationModel + Sync> {
        Box::new(FastSegmenter::from_cpu_net(self.net.clone(), descriptor))
    }

    fn save_state(&self, dir: &Path) -> Result<(), TrainError> {
        write_adam(&dir.join(OPTIMIZER_FILE), &self.adam)
    }
}

/// Writes Adam's step count and moments (`m.K`, `v.K` per parameter K) atomically.
fn write_adam(path: &Path, adam: &Adam) -> Result<(), TrainError> {
    let (step, moments) = adam.state();
    let bytes_of = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let buffers: Vec<(String, Vec<u8>, usize)> = moments
        .iter()
        .enumerate()
        .flat_map(|(k, (m, v))| {
            [
                (format!("m.{k}"), bytes_of(m), m.len()),
                (format!("v.{k}"), bytes_of(v), v.len()),
            ]
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = buffers
        .iter()
        .map(|(name, bytes, len)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![*len], bytes)
                    .expect("consistent tensor view");
            (name.clone(), view)
        })
        .collect();
    let metadata = std::collections::HashMap::from([("step".to_string(), step.to_string())]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| TrainError::invalid(path, e.to_string()))?;
    urisc_io::write_atomically(path, true, |f| f.write_all(&bytes))?;
    Ok(())
}

/// Reads what [`write_adam`] wrote into `adam` (hyper-parameters from the config).
fn read_adam(path: &Path, adam: Adam) -> Result<Adam, TrainError> {
    let bad = |what: String| TrainError::invalid(path, what);
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let (_, metadata) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let step: i32 = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get("step"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no step count".into()))?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let floats = |name: &str| -> Result<Vec<f32>, TrainError> {
        let t = tensors
            .tensor(name)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let count = tensors.len() / 2;
    let moments = (0..count)
        .map(|k| Ok((floats(&format!("m.{k}"))?, floats(&format!("v.{k}"))?)))
        .collect::<Result<Vec<_>, TrainError>>()?;
    Ok(adam.with_state(step, moments))
}
