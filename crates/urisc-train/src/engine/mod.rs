//! Where a training run's network runs, behind one trait ([`TrainingEngine`]): urisc's own CPU
//! kernels (`engine = "cpu"`, the default) or burn (`engine = "burn"`, feature `burn`). Every
//! engine starts from the same seeded weights, computes the configured loss and Adam with the
//! same hyper-parameters, and keeps its own optimizer state beside `last.safetensors`. The
//! engine kind is matched once, in [`start`] and [`resume`]; engines to come (GPU kernels,
//! ONNX training graphs) are one more module and one more arm there.

use std::path::Path;

use urisc_model::SegmentationModel;
use urisc_nn::urisc_cpu;
use urisc_nn::{Engine as EngineKind, ModelDescriptor};

use crate::config::TrainConfig;
use crate::error::TrainError;

#[cfg(feature = "burn")]
mod burn;
mod cpu;

/// A network being trained with its optimizer state.
pub(crate) trait TrainingEngine {
    /// One optimisation step on a batch `[b, 1, s, s]`; returns the loss, or the non-finite
    /// loss without updating anything.
    fn step(
        &mut self,
        config: &TrainConfig,
        images: Vec<f32>,
        targets: Vec<f32>,
        shape: (usize, usize),
        lr: f64,
    ) -> Result<f32, f32>;

    /// The network for inference and saving (batch norm on running statistics).
    fn inference_net(&self) -> urisc_cpu::Net;

    /// The trained network behind the model traits on the engine's own kernels (what
    /// validation runs).
    fn segmenter(&self, descriptor: ModelDescriptor) -> Box<dyn SegmentationModel + Sync>;

    /// Writes what `--resume` needs besides `last.safetensors`.
    fn save_state(&self, dir: &Path) -> Result<(), TrainError>;
}

/// The optimizer-state file of each engine (a run started with one engine cannot be resumed
/// with another).
fn optimizer_file(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Cpu => cpu::OPTIMIZER_FILE,
        EngineKind::Burn => "last.optimizer.bpk",
        // Refused by the config's validation; never a training engine.
        EngineKind::Onnx => "last.optimizer.onnx",
    }
}

fn name(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Cpu => "cpu",
        EngineKind::Burn => "burn",
        EngineKind::Onnx => "onnx",
    }
}

/// The error for an engine this build does not have.
#[cfg(not(feature = "burn"))]
fn unavailable(kind: EngineKind) -> TrainError {
    TrainError::EngineUnavailable(name(kind))
}

/// Starts training `net`, a fresh network initialised from the config's seed (the same weights
/// on every engine).
pub(crate) fn start(
    config: &TrainConfig,
    net: urisc_cpu::Net,
) -> Result<Box<dyn TrainingEngine>, TrainError> {
    match config.train.engine {
        EngineKind::Cpu => Ok(Box::new(cpu::CpuEngine::start(config, net))),
        #[cfg(feature = "burn")]
        EngineKind::Burn => Ok(Box::new(burn::BurnEngine::start(config, &net))),
        #[cfg(not(feature = "burn"))]
        kind @ EngineKind::Burn => Err(unavailable(kind)),
        EngineKind::Onnx => Err(crate::config::ConfigError::Invalid(
            "train.engine = \"onnx\": the ONNX engine only predicts".into(),
        )
        .into()),
    }
}

/// Continues from the checkpoint in `dir`; `last` is the run's last model (weights and
/// running statistics).
pub(crate) fn resume(
    config: &TrainConfig,
    dir: &Path,
    last: urisc_cpu::Net,
) -> Result<Box<dyn TrainingEngine>, TrainError> {
    let kind = config.train.engine;
    let needed = dir.join(optimizer_file(kind));
    if !needed.exists() {
        let other = [EngineKind::Cpu, EngineKind::Burn]
            .into_iter()
            .any(|k| k != kind && dir.join(optimizer_file(k)).exists());
        return Err(TrainError::invalid(
            &needed,
            if other {
                format!(
                    "missing: the run was trained with the other engine (this config has train.engine = \"{}\")",
                    name(kind)
                )
            } else {
                "missing: no optimizer state to resume from".into()
            },
        ));
    }
    match kind {
        EngineKind::Cpu => Ok(Box::new(cpu::CpuEngine::resume(config, dir, last)?)),
        #[cfg(feature = "burn")]
        EngineKind::Burn => Ok(Box::new(burn::BurnEngine::resume(config, dir)?)),
        #[cfg(not(feature = "burn"))]
        kind @ EngineKind::Burn => Err(unavailable(kind)),
        EngineKind::Onnx => Err(crate::config::ConfigError::Invalid(
            "train.engine = \"onnx\": the ONNX engine only predicts".into(),
        )
        .into()),
    }
}
