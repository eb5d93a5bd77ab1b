//! The training configuration: one TOML file, optionally overridden by `--set key=value`;
//! unknown keys are rejected by name.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use urisc_data::{AugmentConfig, CropConfig};
use urisc_nn::Engine as EngineKind;
use urisc_nn::ModelConfig;

use crate::loss::LossConfig;
use crate::schedule::ScheduleConfig;

/// A whole training run, as one TOML file (`urisc train --config`), sections as below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds model initialisation, crop sampling and augmentation.
    pub seed: u64,
    /// `[data]`: the dataset and its validation split.
    pub data: DataConfig,
    /// `[model]`: architecture, base width, depth.
    pub model: ModelConfig,
    /// `[crop]`: training crops (size, membrane-rich sampling).
    #[serde(default)]
    pub crop: CropConfig,
    /// `[augment]`: dihedral, rotation, intensity, noise, blur, elastic, cutout.
    #[serde(default)]
    pub augment: AugmentConfig,
    /// `[loss]`: weights of the loss terms.
    #[serde(default)]
    pub loss: LossConfig,
    /// `[optim]`: Adam's hyper-parameters.
    #[serde(default)]
    pub optim: OptimConfig,
    /// `[schedule]`: the learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// `[train]`: epochs, steps, batch, engine.
    pub train: RunConfig,
    /// `[coarse]`: train the fine stage of a two-stage model on a frozen coarse model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coarse: Option<CoarseConfig>,
}

/// `[coarse]`: the competition winner's coarse-to-fine scheme. A trained model (frozen) runs on
/// each crop downsampled by `factor`; its membrane probability, upsampled back, is the second
/// input channel of the network trained here. Both stages go into the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoarseConfig {
    /// The coarse model file (relative paths are relative to the config file).
    pub model: PathBuf,
    /// Downsampling factor of the coarse stage's input: 1, 2 or 4 (2 for a 4 nm/pixel model on
    /// 2 nm/pixel data).
    pub factor: usize,
}

/// `[data]`: where the training data is and how it is split.
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
    /// Peak learning rate (the schedule scales it), finite and > 0.
    pub lr: f64,
    /// Decay of the first moment, in [0, 1).
    pub beta1: f64,
    /// Decay of the second moment, in [0, 1).
    pub beta2: f64,
    /// Added to the second moment's square root, > 0.
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

/// `[train]`: how long, in what batches, on which engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Epochs; validation and checkpoints after each.
    pub epochs: usize,
    /// Optimisation steps per epoch.
    pub steps_per_epoch: usize,
    /// Crops per step.
    pub batch: usize,
    /// `"cpu"`: urisc's own kernels; `"burn"`: burn on its default device (a GPU with the
    /// `gpu` feature, chosen by `BURN_DEVICE`).
    #[serde(default)]
    pub engine: EngineKind,
    /// A wall-clock budget in minutes (training and validation, resumed parts included):
    /// training stops after the epoch that reaches it; the schedule still spans `epochs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_minutes: Option<f64>,
}

impl TrainConfig {
    /// Parses a config with `key=value` overrides (dotted keys, TOML values; a value that is not
    /// valid TOML is taken as a string). Errors in the text name the line and key; errors that
    /// only the overrides cause are blamed on the `--set` that causes them.
    pub fn parse(text: &str, overrides: &[String]) -> Result<TrainConfig, ConfigError> {
        let located = |e: toml::de::Error| -> ConfigError {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    let source = text.lines().nth(line - 1).unwrap_or("").trim();
                    ConfigError::Text {
                        line,
                        text: source.to_string(),
                        message,
                    }
                }
                None => ConfigError::Syntax(message),
            }
        };
        let table: toml::Table = text.parse().map_err(located)?;
        // The text alone first, with positions, so its own mistakes point at their lines.
        let from_text: Result<TrainConfig, ConfigError> = toml::from_str(text).map_err(located);
        if overrides.is_empty() {
            let config = from_text?;
            config.validate().map_err(ConfigError::Invalid)?;
            return Ok(config);
        }
        let blame = |set: &str, message: String| ConfigError::Override {
            set: set.to_string(),
            message,
        };
        let mut with_overrides = table;
        for o in overrides {
            let (key, value) = o
                .split_once('=')
                .ok_or_else(|| blame(o, "expected key=value".into()))?;
            set_path(&mut with_overrides, key.trim(), parse_value(value))
                .map_err(|e| blame(o, e))?;
        }
        match toml::Value::Table(with_overrides).try_into::<TrainConfig>() {
            Ok(config) => {
                config.validate().map_err(|e| match from_text {
                    // The text was valid on its own: the overrides made it invalid.
                    Ok(ref c) if c.validate().is_ok() => blame(&overrides.join(" --set "), e),
                    _ => ConfigError::Invalid(e),
                })?;
                Ok(config)
            }
            Err(e) => {
                from_text?;
                // Find the override that breaks it, to name it.
                let culprit = overrides
                    .iter()
                    .find(|o| {
                        let mut t: toml::Table = text.parse().expect("parsed above");
                        o.split_once('=').is_some_and(|(k, v)| {
                            set_path(&mut t, k.trim(), parse_value(v)).is_err()
                                || toml::Value::Table(t).try_into::<TrainConfig>().is_err()
                        })
                    })
                    .cloned()
                    .unwrap_or_else(|| overrides.join(" --set "));
                Err(blame(&culprit, e.message().trim().to_string()))
            }
        }
    }

    /// Checks every value's range (what deserialisation cannot), naming the key.
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
        if let Some(m) = self.train.max_minutes {
            if !(m.is_finite() && m > 0.0) {
                return Err(format!(
                    "train.max_minutes must be a positive number, not {m}"
                ));
            }
        }
        if let Some(c) = &self.coarse {
            if ![1, 2, 4].contains(&c.factor) {
                return Err(format!("coarse.factor must be 1, 2 or 4, not {}", c.factor));
            }
            if self.train.engine != EngineKind::Cpu {
                return Err(
                    "[coarse]: two-stage models train on train.engine = \"cpu\" only".into(),
                );
            }
        }
        if let Some(c) = &self.model.coarse {
            if c.features.is_none() {
                return Err(
                    "model.coarse without features is a frozen coarse model: set [coarse] model and factor instead"
                        .into(),
                );
            }
            if self.coarse.is_some() {
                return Err(
                    "[coarse] (a frozen coarse model) and model.coarse (a jointly trained coarse branch) exclude each other"
                        .into(),
                );
            }
            if self.train.engine != EngineKind::Cpu {
                return Err(
                    "model.coarse: two-scale models train on train.engine = \"cpu\" only".into(),
                );
            }
        }
        if self.train.engine == EngineKind::Onnx {
            return Err(
                "train.engine = \"onnx\": the ONNX engine only predicts; train on \"cpu\" or \"burn\""
                    .into(),
            );
        }
        if self.train.epochs == 0 || self.train.steps_per_epoch == 0 || self.train.batch == 0 {
            return Err(
                "train.epochs, train.steps_per_epoch and train.batch must be at least 1".into(),
            );
        }
        let o = &self.optim;
        if !o.lr.is_finite() || o.lr <= 0.0 {
            return Err(format!("optim.lr = {}: must be finite and > 0", o.lr));
        }
        for (key, v) in [("optim.beta1", o.beta1), ("optim.beta2", o.beta2)] {
            if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                return Err(format!("{key} = {v}: must be in [0, 1)"));
            }
        }
        if !o.epsilon.is_finite() || o.epsilon <= 0.0 {
            return Err(format!(
                "optim.epsilon = {}: must be finite and > 0",
                o.epsilon
            ));
        }
        if let Some(p) = self.data.pixel_size_nm {
            if !(p.is_finite() && p > 0.0) {
                return Err(format!("data.pixel_size_nm = {p}: must be > 0"));
            }
        }
        Ok(())
    }

    /// The config with its relative paths (the data, a coarse model) made absolute against
    /// `base`, the folder of the file it was read from: the copy a run records in its folder then
    /// names the same files from there (`--resume` with the run's own `config.toml`).
    pub fn anchored(mut self, base: &std::path::Path) -> TrainConfig {
        let anchor = |p: &std::path::Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                urisc_io::paths::resolved(&base.join(p))
            }
        };
        self.data.path = anchor(&self.data.path);
        if let Some(c) = &mut self.coarse {
            c.model = anchor(&c.model);
        }
        self
    }

    /// The config as TOML (written next to the checkpoints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }
}

/// Why a training config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is wrong at a known place.
    #[error("line {line} (`{text}`): {message}")]
    Text {
        /// Line number, from 1.
        line: usize,
        /// That line, trimmed.
        text: String,
        /// What is wrong (unknown key, wrong type, bad syntax).
        message: String,
    },
    /// The text is wrong, at no particular place.
    #[error("{0}")]
    Syntax(String),
    /// A `--set` override is wrong, or makes the config invalid.
    #[error("--set {set}: {message}")]
    Override {
        /// The override(s), as given.
        set: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of its range.
    #[error("{0}")]
    Invalid(String),
}

/// The settings in which two configs differ: (dotted key, old value, new value), in key order.
pub fn differences(a: &TrainConfig, b: &TrainConfig) -> Vec<(String, String, String)> {
    fn flatten(
        prefix: &str,
        value: &toml::Value,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let table = |c: &TrainConfig| {
        let mut out = std::collections::BTreeMap::new();
        flatten(
            "",
            &toml::Value::try_from(c).expect("config serialises"),
            &mut out,
        );
        out
    };
    let (ta, tb) = (table(a), table(b));
    let keys: std::collections::BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
    keys.into_iter()
        .filter(|k| ta.get(*k) != tb.get(*k))
        .map(|k| {
            let show = |t: &std::collections::BTreeMap<String, String>| {
                t.get(k).cloned().unwrap_or_else(|| "unset".into())
            };
            (k.clone(), show(&ta), show(&tb))
        })
        .collect()
}

fn parse_value(value: &str) -> toml::Value {
    format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()))
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
            .ok_or_else(|| format!("'{p}' is not a section"))?;
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
        let err = TrainConfig::parse(BASE, &["optim.learning_rate=0.01".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("learning_rate"), "{err}");
        let err = TrainConfig::parse(&BASE.replace("seed = 1", "seed = 1\nsed = 2"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("sed"), "{err}");
        let err = TrainConfig::parse(BASE, &["crop.size=102".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("multiple of 4"), "{err}");
        // A type error in the text names its line and key; one from --set names the --set.
        let err = TrainConfig::parse(&BASE.replace("epochs = 2", "epochs = \"two\""), &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 11 (`epochs = \"two\"`)"), "{err}");
        let err = TrainConfig::parse(BASE, &["train.batch=lots".into()])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--set train.batch=lots:"), "{err}");
        let err = TrainConfig::parse(BASE, &["optim.lr=inf".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--set optim.lr=inf") && err.contains("finite"),
            "{err}"
        );
        let err = TrainConfig::parse(BASE, &["train.batch=0".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 1"), "{err}");
        // The written config parses back to the same thing.
        assert_eq!(TrainConfig::parse(&c.to_toml(), &[]).unwrap(), c);
    }
}
