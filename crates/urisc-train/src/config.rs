//! The training configuration: one TOML file, optionally overridden by `--set key=value`;
//! unknown keys are rejected by name.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::EngineKind;
use urisc_data::{AugmentConfig, CropConfig};
use urisc_nn::ModelConfig;

use crate::loss::LossConfig;
use crate::schedule::ScheduleConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds model initialisation, crop sampling and augmentation.
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    #[serde(default)]
    pub crop: CropConfig,
    #[serde(default)]
    pub augment: AugmentConfig,
    #[serde(default)]
    pub loss: LossConfig,
    #[serde(default)]
    pub optim: OptimConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    pub train: RunConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A dataset `urisc data info` recognises (relative paths are relative to the config file).
    pub path: PathBuf,
    /// Sample names held out for validation (e.g. `["16", "17", "18", "19"]`).
    #[serde(default)]
    pub validation: Vec<String>,
    /// Pixel size of the data (nm/pixel), stored in the model.
    #[serde(default)]
    pub pixel_size_nm: Option<f64>,
}

/// Adam (the authors: β₁ = 0.5, β₂ = 0.999).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 1e-3,
            beta1: 0.5,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub batch: usize,
    /// `"cpu"`: urisc's own kernels; `"burn"`: burn on its default device (a GPU with the
    /// `gpu` feature, chosen by `BURN_DEVICE`).
    #[serde(default)]
    pub engine: EngineKind,
}

impl TrainConfig {
    /// Parses a config with `key=value` overrides (dotted keys, TOML values; a value that is not
    /// valid TOML is taken as a string).
    pub fn parse(text: &str, overrides: &[String]) -> Result<TrainConfig, String> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| e.message().to_string())?;
        for o in overrides {
            let (key, value) = o
                .split_once('=')
                .ok_or_else(|| format!("--set '{o}': expected key=value"))?;
            let value: toml::Value = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(value.to_string()));
            set_path(&mut table, key.trim(), value)?;
        }
        let config: TrainConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| e.message().to_string())?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        self.loss.validate()?;
        let m = self.model.size_multiple();
        if !self.crop.size.is_multiple_of(m) {
            return Err(format!(
                "crop.size {} must be a multiple of {m} (2^(depth−1))",
                self.crop.size
            ));
        }
        if self.train.epochs == 0 || self.train.steps_per_epoch == 0 || self.train.batch == 0 {
            return Err(
                "train.epochs, train.steps_per_epoch and train.batch must be at least 1".into(),
            );
        }
        if self.optim.lr.is_nan() || self.optim.lr <= 0.0 {
            return Err("optim.lr must be positive".into());
        }
        Ok(())
    }

    /// The config as TOML (written next to the checkpoints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }
}

fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts
        .pop()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("--set: empty key in '{key}'"))?;
    let mut t = table;
    for p in parts {
        t = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("--set {key}: '{p}' is not a section"))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
seed = 1
[data]
path = "data/isbi2012"
validation = ["19"]
[model]
architecture = "unet"
base_width = 4
depth = 3
[train]
epochs = 2
steps_per_epoch = 3
batch = 2
"#;

    #[test]
    fn defaults_overrides_and_unknown_keys() {
        let c = TrainConfig::parse(BASE, &[]).unwrap();
        assert_eq!(c.optim.beta1, 0.5);
        assert_eq!(c.crop.size, 256);
        let c = TrainConfig::parse(
            BASE,
            &[
                "optim.lr=0.01".into(),
                "loss.dice=0.5".into(),
                "crop.size=64".into(),
            ],
        )
        .unwrap();
        assert_eq!((c.optim.lr, c.loss.dice, c.crop.size), (0.01, 0.5, 64));
        let err = TrainConfig::parse(BASE, &["optim.learning_rate=0.01".into()]).unwrap_err();
        assert!(err.contains("learning_rate"), "{err}");
        let err =
            TrainConfig::parse(&BASE.replace("seed = 1", "seed = 1\nsed = 2"), &[]).unwrap_err();
        assert!(err.contains("sed"), "{err}");
        let err = TrainConfig::parse(BASE, &["crop.size=102".into()]).unwrap_err();
        assert!(err.contains("multiple of 4"), "{err}");
        // The written config parses back to the same thing.
        assert_eq!(TrainConfig::parse(&c.to_toml(), &[]).unwrap(), c);
    }
}
