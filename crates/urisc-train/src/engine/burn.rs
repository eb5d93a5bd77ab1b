//! The burn engine (feature `burn`): burn's autodiff and Adam on burn's default device (the
//! one `BURN_DEVICE` names, else the first compiled in: a GPU through wgpu with the `gpu`
//! feature, else burn's CPU backend).

use std::io::Write;
use std::path::Path;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use urisc_model::SegmentationModel;
use urisc_nn::urisc_cpu;
use urisc_nn::{from_cpu_net, to_cpu_net, BurnSegmenter, ModelDescriptor, SegmentationNet};

use super::TrainingEngine;
use crate::config::{OptimConfig, TrainConfig};
use crate::error::TrainError;

/// burn's optimizer record and the training module (which keeps parameter ids, so the
/// optimizer's moments find their parameters on resume).
pub(super) const OPTIMIZER_FILE: &str = "last.optimizer.bpk";
const MODEL_FILE: &str = "last.train.bpk";

pub(super) struct BurnEngine {
    model: SegmentationNet,
    optimizer: ModuleOptimizer,
    device: Device,
}

fn optimizer(optim: &OptimConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(optim.beta1 as f32)
        .with_beta_2(optim.beta2 as f32)
        .with_epsilon(optim.epsilon as f32)
        .init()
}

impl BurnEngine {
    /// Starts from `net`'s seeded weights (the same as the CPU engine's).
    pub(super) fn start(config: &TrainConfig, net: &urisc_cpu::Net) -> BurnEngine {
        let device = Device::default();
        let template = SegmentationNet::new(&config.model, &device.clone().autodiff());
        BurnEngine {
            model: from_cpu_net(template, net),
            optimizer: optimizer(&config.optim),
            device,
        }
    }

    pub(super) fn resume(config: &TrainConfig, dir: &Path) -> Result<BurnEngine, TrainError> {
        let setup = |path: &Path, e: String| TrainError::invalid(path, e);
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| TrainError::file(&path, e))
        };
        let device = Device::default();
        let mut model = SegmentationNet::new(&config.model, &device.clone().autodiff());
        let bytes = read(MODEL_FILE)?;
        let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)));
        model
            .load_from(&mut store)
            .map_err(|e| setup(&dir.join(MODEL_FILE), e.to_string()))?;
        let record =
            OptimizerRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(read(OPTIMIZER_FILE)?))
                .map_err(|e| setup(&dir.join(OPTIMIZER_FILE), e.to_string()))?;
        Ok(BurnEngine {
            model,
            optimizer: optimizer(&config.optim).load_record(record),
            device,
        })
    }
}

impl TrainingEngine for BurnEngine {
    fn step(
        &mut self,
        config: &TrainConfig,
        images: Vec<f32>,
        targets: Vec<f32>,
        (b, s): (usize, usize),
        lr: f64,
    ) -> Result<f32, f32> {
        let BurnEngine {
            model,
            optimizer,
            device,
        } = self;
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

    fn inference_net(&self) -> urisc_cpu::Net {
        to_cpu_net(&self.model.valid())
    }

    fn segmenter(&self, descriptor: ModelDescriptor) -> Box<dyn SegmentationModel + Sync> {
        Box::new(BurnSegmenter::new(
            self.model.valid(),
            descriptor,
            &self.device,
        ))
    }

    fn save_state(&self, dir: &Path) -> Result<(), TrainError> {
        let mut store = BurnpackStore::from_bytes(None);
        self.model
            .save_into(&mut store)
            .map_err(|e| TrainError::invalid(&dir.join(MODEL_FILE), e.to_string()))?;
        let bytes = store
            .get_bytes()
            .map_err(|e| TrainError::invalid(&dir.join(MODEL_FILE), e.to_string()))?;
        urisc_io::write_atomically(&dir.join(MODEL_FILE), true, |f| f.write_all(&bytes))?;
        let record = self
            .optimizer
            .to_record()
            .into_bytes()
            .map_err(|e| TrainError::invalid(&dir.join(OPTIMIZER_FILE), e.to_string()))?;
        urisc_io::write_atomically(&dir.join(OPTIMIZER_FILE), true, |f| f.write_all(&record))?;
        Ok(())
    }
}
