//! Where a training run's network runs: urisc's own CPU kernels (`engine = "cpu"`, the default)
//! or burn on one of its devices (`engine = "burn"`: the device `BURN_DEVICE` names, else the
//! first compiled in — a GPU through wgpu when urisc is built with the `gpu` feature, else
//! burn's CPU backend). Both compute the configured loss with burn and Adam with the same
//! hyper-parameters; their checkpoints differ (see [`Runner::save_state`]).

use std::io::Write;
use std::path::Path;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use urisc_nn::urisc_cpu::{self, Act, Adam, Mode};
use urisc_nn::{from_cpu_net, to_cpu_net, SegmentationNet};

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
    Burn {
        model: SegmentationNet,
        optimizer: ModuleOptimizer,
        device: Device,
    },
}

fn cpu_adam(optim: &OptimConfig) -> Adam {
    Adam::new(optim.beta1 as f32, optim.beta2 as f32, optim.epsilon as f32)
}

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
const BURN_MODEL: &str = "last.train.bpk";

impl Runner {
    /// A fresh network, initialised from the config's seed, and the module it was made from
    /// (the template that [`Runner::inference_net`] fills in).
    pub fn start(config: &TrainConfig) -> (SegmentationNet, Runner) {
        match config.train.engine {
            EngineKind::Cpu => {
                let template = SegmentationNet::seeded(&config.model, &Device::flex(), config.seed);
                let runner = Runner::Cpu {
                    net: to_cpu_net(&template),
                    adam: cpu_adam(&config.optim),
                };
                (template, runner)
            }
            EngineKind::Burn => {
                let device = Device::default();
                let model =
                    SegmentationNet::seeded(&config.model, &device.clone().autodiff(), config.seed);
                let runner = Runner::Burn {
                    model: model.clone(),
                    optimizer: burn_optimizer(&config.optim),
                    device,
                };
                (model, runner)
            }
        }
    }

    /// Continues from the checkpoint in `dir`; `last` is the run's last model (weights and
    /// running statistics).
    pub fn resume(
        config: &TrainConfig,
        dir: &Path,
        last: &SegmentationNet,
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
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| setup(&path, e.to_string()))
        };
        Ok(match config.train.engine {
            EngineKind::Cpu => Runner::Cpu {
                net: to_cpu_net(last),
                adam: read_adam(&dir.join(CPU_OPTIMIZER), cpu_adam(&config.optim))?,
            },
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
                let autodiff = Device::flex().autodiff();
                let (logits, tape) =
                    net.forward_recorded(Act::from_vec(b, s, s, 1, images), Mode::Train);
                // The loss and its gradient with respect to the logits, in burn on a leaf.
                let logits =
                    Tensor::<4>::from_data(TensorData::new(logits.data, [b, 1, s, s]), &autodiff)
                        .require_grad();
                let y = Tensor::<4>::from_data(TensorData::new(targets, [b, 1, s, s]), &autodiff);
                let loss = config.loss.loss(logits.clone(), y);
                let value: f32 = loss.clone().into_scalar();
                if !value.is_finite() {
                    return Err(value);
                }
                let dlogits = logits
                    .grad(&loss.backward())
                    .expect("logit gradient")
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32 gradient");
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
            Runner::Burn {
                model,
                optimizer,
                device,
            } => {
                let autodiff = device.clone().autodiff();
                let x = Tensor::<4>::from_data(TensorData::new(images, [b, 1, s, s]), &autodiff);
                let y = Tensor::<4>::from_data(TensorData::new(targets, [b, 1, s, s]), &autodiff);
                let loss = config.loss.loss(model.forward(x), y);
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

    /// The network for inference and saving (batch norm on running statistics): `template`'s
    /// modules with the trained values for the CPU engine, burn's own otherwise.
    pub fn inference_net(&self, template: &SegmentationNet) -> SegmentationNet {
        match self {
            Runner::Cpu { net, .. } => from_cpu_net(template.clone(), net),
            Runner::Burn { model, .. } => model.valid(),
        }
    }

    /// The device [`Runner::inference_net`] lives on.
    pub fn device(&self) -> Device {
        match self {
            Runner::Cpu { .. } => Device::flex(),
            Runner::Burn { device, .. } => device.clone(),
        }
    }

    /// Writes what `--resume` needs besides `last.safetensors`: Adam's moments (CPU engine), or
    /// the training model with its parameter ids and burn's optimizer record (burn engine).
    pub fn save_state(&self, dir: &Path) -> Result<(), TrainError> {
        match self {
            Runner::Cpu { adam, .. } => write_adam(&dir.join(CPU_OPTIMIZER), adam),
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
