//! Where a training run's network runs: urisc's own CPU kernels (`engine = "cpu"`, the default)
//! or burn on one of its devices (`engine = "burn"`: the device `BURN_DEVICE` names, else the
//! first compiled in — a GPU through wgpu when urisc is built with the `gpu` feature, else
//! burn's CPU backend; feature `burn`). Both compute the configured loss and Adam with the same
//! hyper-parameters and start from the same seeded weights; their checkpoints differ (see
//! [`Runner::save_state`]).

use std::io::Write;
use std::path::Path;

#[cfg(feature = "burn")]
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, OptimizerRecord};
#[cfg(feature = "burn")]
use burn::prelude::*;
#[cfg(feature = "burn")]
use burn::store::{BurnpackStore, ModuleSnapshot};
use urisc_model::SegmentationModel;
use urisc_nn::urisc_cpu::{self, Act, Adam, Mode};
#[cfg(feature = "burn")]
use urisc_nn::{from_cpu_net, to_cpu_net, BurnSegmenter, SegmentationNet};
use urisc_nn::{FastSegmenter, ModelDescriptor};

use crate::config::{OptimConfig, TrainConfig};
use crate::trainer::TrainError;

/// Which engine trains (config key `train.engine`: `"cpu"` or `"burn"`).
pub use urisc_nn::Engine as EngineKind;

/// A network being trained, with its optimizer state (one per run, so the size difference of
/// the variants does not matter).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Runner {
    Cpu {
        net: urisc_cpu::Net,
        adam: Adam,
    },
    #[cfg(feature = "burn")]
    Burn {
        model: SegmentationNet,
        optimizer: ModuleOptimizer,
        device: Device,
    },
}

fn cpu_adam(optim: &OptimConfig) -> Adam {
    Adam::new(optim.beta1 as f32, optim.beta2 as f32, optim.epsilon as f32)
}

#[cfg(feature = "burn")]
fn burn_optimizer(optim: &OptimConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(optim.beta1 as f32)
        .with_beta_2(optim.beta2 as f32)
        .with_epsilon(optim.epsilon as f32)
        .init()
}

/// Checkpoint files of the engines, beside the run's `last.safetensors`.
const CPU_OPTIMIZER: &str = "last.adam.safetensors";
const BURN_OPTIMIZER: &str = "last.optimizer.bpk";
#[cfg(feature = "burn")]
const BURN_MODEL: &str = "last.train.bpk";

/// The error for `engine = "burn"` in a build without it.
#[cfg(not(feature = "burn"))]
fn no_burn() -> TrainError {
    TrainError::Setup(
        "train.engine = \"burn\" needs a urisc built with `--features burn`, `gpu` or `cuda`"
            .into(),
    )
}

impl Runner {
    /// A fresh network, initialised from the config's seed (the same weights on every engine).
    pub fn start(config: &TrainConfig) -> Result<Runner, TrainError> {
        let net = urisc_nn::seeded_net(&config.model, config.seed).map_err(TrainError::Setup)?;
        match config.train.engine {
            EngineKind::Cpu => Ok(Runner::Cpu {
                net,
                adam: cpu_adam(&config.optim),
            }),
            #[cfg(feature = "burn")]
            EngineKind::Burn => {
                let device = Device::default();
                let template = SegmentationNet::new(&config.model, &device.clone().autodiff());
                Ok(Runner::Burn {
                    model: from_cpu_net(template, &net),
                    optimizer: burn_optimizer(&config.optim),
                    device,
                })
            }
            #[cfg(not(feature = "burn"))]
            EngineKind::Burn => Err(no_burn()),
        }
    }

    /// Continues from the checkpoint in `dir`; `last` is the run's last model (weights and
    /// running statistics).
    pub fn resume(
        config: &TrainConfig,
        dir: &Path,
        last: urisc_cpu::Net,
    ) -> Result<Runner, TrainError> {
        let setup = |path: &Path, e: String| TrainError::Setup(format!("{}: {e}", path.display()));
        // Each engine keeps its own optimizer state: a missing file usually means the run was
        // started with the other engine.
        let engine_files = [CPU_OPTIMIZER, BURN_OPTIMIZER];
        let needed = match config.train.engine {
            EngineKind::Cpu => CPU_OPTIMIZER,
            EngineKind::Burn => BURN_OPTIMIZER,
        };
        if !dir.join(needed).exists() {
            let other = engine_files.iter().find(|f| dir.join(f).exists());
            return Err(setup(
                &dir.join(needed),
                match other {
                    Some(_) => format!(
                        "missing: the run was trained with the other engine (this config has train.engine = \"{}\")",
                        match config.train.engine {
                            EngineKind::Cpu => "cpu",
                            EngineKind::Burn => "burn",
                        }
                    ),
                    None => "missing: no optimizer state to resume from".into(),
                },
            ));
        }
        #[cfg(feature = "burn")]
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| setup(&path, e.to_string()))
        };
        Ok(match config.train.engine {
            EngineKind::Cpu => Runner::Cpu {
                net: last,
                adam: read_adam(&dir.join(CPU_OPTIMIZER), cpu_adam(&config.optim))?,
            },
            #[cfg(not(feature = "burn"))]
            EngineKind::Burn => return Err(no_burn()),
            #[cfg(feature = "burn")]
            EngineKind::Burn => {
                let device = Device::default();
                // Burnpack keeps parameter ids, so the optimizer's moments find their parameters.
                let mut model = SegmentationNet::new(&config.model, &device.clone().autodiff());
                let bytes = read(BURN_MODEL)?;
                let mut store =
                    BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)));
                model
                    .load_from(&mut store)
                    .map_err(|e| setup(&dir.join(BURN_MODEL), e.to_string()))?;
                let record = OptimizerRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(
                    read(BURN_OPTIMIZER)?,
                ))
                .map_err(|e| setup(&dir.join(BURN_OPTIMIZER), format!("{e:?}")))?;
                Runner::Burn {
                    model,
                    optimizer: burn_optimizer(&config.optim).load_record(record),
                    device,
                }
            }
        })
    }

    /// One optimisation step on a batch `[b, 1, s, s]`; returns the loss, or the non-finite loss
    /// without updating anything.
    pub fn step(
        &mut self,
        config: &TrainConfig,
        images: Vec<f32>,
        targets: Vec<f32>,
        (b, s): (usize, usize),
        lr: f64,
    ) -> Result<f32, f32> {
        match self {
            Runner::Cpu { net, adam } => {
                let (logits, tape) =
                    net.forward_recorded(Act::from_vec(b, s, s, 1, images), Mode::Train);
                let (value, dlogits) = config.loss.value_and_gradient(&logits.data, &targets);
                let value = value as f32;
                if !value.is_finite() {
                    return Err(value);
                }
                net.update_running_stats(&tape);
                let dlogits = Act::from_vec(b, s, s, 1, dlogits);
                let (_, grads) = net.backward(tape, &dlogits, false, true);
                adam.step(
                    net.params_mut(),
                    &grads.expect("parameter gradients"),
                    lr as f32,
                );
                Ok(value)
            }
            #[cfg(feature = "burn")]
            Runner::Burn {
                model,
                optimizer,
                device,
            } => {
                let autodiff = device.clone().autodiff();
                let x = Tensor::<4>::from_data(TensorData::new(images, [b, 1, s, s]), &autodiff);
                let y = Tensor::<4>::from_data(TensorData::new(targets, [b, 1, s, s]), &autodiff);
                let loss = config.loss.loss_burn(model.forward(x), y);
                let value: f32 = loss.clone().into_scalar();
                if !value.is_finite() {
                    return Err(value);
                }
                let grads = GradientsParams::from_grads(loss.backward(), &*model);
                *model = optimizer.step(lr, model.clone(), grads);
                Ok(value)
            }
        }
    }

    /// The network for inference and saving (batch norm on running statistics).
    pub fn inference_net(&self) -> urisc_cpu::Net {
        match self {
            Runner::Cpu { net, .. } => net.clone(),
            #[cfg(feature = "burn")]
            Runner::Burn { model, .. } => to_cpu_net(&model.valid()),
        }
    }

    /// The trained network behind the model traits, on the engine's own kernels (what
    /// validation runs).
    pub fn segmenter(&self, descriptor: ModelDescriptor) -> Box<dyn SegmentationModel + Sync> {
        match self {
            Runner::Cpu { net, .. } => {
                Box::new(FastSegmenter::from_cpu_net(net.clone(), descriptor))
            }
            #[cfg(feature = "burn")]
            Runner::Burn { model, device, .. } => {
                Box::new(BurnSegmenter::new(model.valid(), descriptor, device))
            }
        }
    }

    /// Writes what `--resume` needs besides `last.safetensors`: Adam's moments (CPU engine), or
    /// the training model with its parameter ids and burn's optimizer record (burn engine).
    pub fn save_state(&self, dir: &Path) -> Result<(), TrainError> {
        match self {
            Runner::Cpu { adam, .. } => write_adam(&dir.join(CPU_OPTIMIZER), adam),
            #[cfg(feature = "burn")]
            Runner::Burn {
                model, optimizer, ..
            } => {
                let mut store = BurnpackStore::from_bytes(None);
                model
                    .save_into(&mut store)
                    .map_err(|e| TrainError::Setup(format!("training checkpoint: {e}")))?;
                let bytes = store
                    .get_bytes()
                    .map_err(|e| TrainError::Setup(format!("training checkpoint: {e}")))?;
                urisc_io::write_atomically(&dir.join(BURN_MODEL), true, |f| f.write_all(&bytes))?;
                let record = optimizer
                    .to_record()
                    .into_bytes()
                    .map_err(|e| TrainError::Setup(format!("optimizer state: {e:?}")))?;
                urisc_io::write_atomically(&dir.join(BURN_OPTIMIZER), true, |f| {
                    f.write_all(&record)
                })?;
                Ok(())
            }
        }
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
        .map_err(|e| TrainError::Setup(format!("{}: {e}", path.display())))?;
    urisc_io::write_atomically(path, true, |f| f.write_all(&bytes))?;
    Ok(())
}

/// Reads what [`write_adam`] wrote into `adam` (hyper-parameters from the config).
fn read_adam(path: &Path, adam: Adam) -> Result<Adam, TrainError> {
    let bad = |what: String| TrainError::Setup(format!("{}: {what}", path.display()));
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
