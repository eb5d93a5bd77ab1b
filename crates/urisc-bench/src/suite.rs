//! The suite file (`SUITE.toml`): datasets (their splits by name or seeded fraction), methods,
//! budget and seeds, parsed with unknown keys named and validated as a whole before any work starts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use urisc_io::dataset::discover;
use urisc_train::TrainConfig;

use crate::error::BenchError;

/// A suite as written in its TOML file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// The suite's name (default: the file's stem).
    #[serde(default)]
    pub name: Option<String>,
    /// One paragraph for the report.
    #[serde(default)]
    pub description: Option<String>,
    /// The metric the leaderboard is ranked by (`f1`, `vrand`, `are`, `phd_3`, …).
    #[serde(default = "default_primary")]
    pub primary_metric: String,
    /// Seeds of every trained method (model files run once).
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// The training budget every trained method gets.
    #[serde(default)]
    pub budget: Budget,
    /// `[[dataset]]` tables.
    #[serde(rename = "dataset", default)]
    pub datasets: Vec<DatasetSpec>,
    /// `[[method]]` tables.
    #[serde(rename = "method", default)]
    pub methods: Vec<MethodSpec>,
    /// `[report]`: what the HTML page shows.
    #[serde(default)]
    pub report: ReportSpec,
}

fn default_primary() -> String {
    "f1".into()
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

/// `[budget]`: overrides of every training config's `[train]` (absent keys keep the config's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Epochs per run.
    #[serde(default)]
    pub epochs: Option<usize>,
    /// Optimisation steps per epoch.
    #[serde(default)]
    pub steps_per_epoch: Option<usize>,
    /// Crops per step.
    #[serde(default)]
    pub batch: Option<usize>,
    /// Wall-clock limit of each training run, minutes (training stops after the epoch that
    /// reaches it; `train.max_minutes`).
    #[serde(default)]
    pub minutes: Option<f64>,
}

/// `[[dataset]]`: a labelled dataset and its three splits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Name in the leaderboard and in run folders (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// A dataset `urisc data info` recognises (relative to the suite file).
    pub path: PathBuf,
    /// Upsample the dataset at `path` by this integer factor first (as `urisc synth upsampled`:
    /// bilinear images, nearest labels), into the suite's output folder.
    #[serde(default)]
    pub upsample: Option<usize>,
    /// Pixel size in nm (default: the layout's, divided by `upsample`).
    #[serde(default)]
    pub pixel_size_nm: Option<f64>,
    /// Training samples by name (default: every sample not in validation or test).
    #[serde(default)]
    pub train: Option<Vec<String>>,
    /// Validation samples by name (threshold search and checkpoint choice).
    #[serde(default)]
    pub validation: Option<Vec<String>>,
    /// Test samples by name (what the leaderboard scores).
    #[serde(default)]
    pub test: Option<Vec<String>>,
    /// Seeded fractions instead of names: `{ validation = 0.2, test = 0.2, seed = 1 }`.
    #[serde(default)]
    pub split: Option<FractionSplit>,
}

/// Validation and test fractions of a seeded shuffle of the sample names; the rest trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FractionSplit {
    /// Fraction of samples for validation (rounded, at least one).
    pub validation: f64,
    /// Fraction of samples for test (rounded, at least one).
    pub test: f64,
    /// Seed of the shuffle.
    #[serde(default)]
    pub seed: u64,
}

/// `[[method]]`: a training config (or a model file) and how it is run on test images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodSpec {
    /// Name in the leaderboard and in run folders.
    pub name: String,
    /// A `urisc train` config (relative to the suite file).
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// `--set`-style overrides of the config, e.g. `["model.base_width=16", "loss.dice=0"]`.
    #[serde(default)]
    pub set: Vec<String>,
    /// An existing model file instead of training (`"embedded"`: the model built into urisc).
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// Test-time augmentation: 1, 2, 4 or 8 dihedral transforms.
    #[serde(default = "default_tta")]
    pub tta: usize,
    /// `"validation"` (best F1 on the validation split), `"model"` (the model file's stored
    /// threshold) or a number in [0, 1] [default: validation].
    #[serde(default)]
    pub threshold: Option<ThresholdSpec>,
    /// Clean-up: drop membrane specks and fill holes smaller than this many pixels.
    #[serde(default)]
    pub min_size: Option<usize>,
    /// Input scale: the image is resampled by this factor before prediction and the map
    /// resampled back (0.5: predict at half resolution).
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Tile side for prediction [default: the model's training tile].
    #[serde(default)]
    pub tile: Option<usize>,
    /// Only these datasets (default: all).
    #[serde(default)]
    pub datasets: Option<Vec<String>>,
    /// `[method.cells]`: also segment cells from the test probabilities (`urisc cells`) and
    /// score them as instances.
    #[serde(default)]
    pub cells: Option<CellsSpec>,
}

/// `[method.cells]`: the cells stage's parameters (as `urisc cells`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellsSpec {
    /// Membrane iff `p ≥ threshold` for the distance transform (default 0.5).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// Smoothing of the distance map, pixels (default 2).
    #[serde(default)]
    pub sigma: Option<f32>,
    /// Agglomeration threshold: a number, or `"validation"` (the value in 0.1 … 0.9 with the
    /// lowest adapted Rand error of the validation split's cells) [default: 0.5].
    #[serde(default)]
    pub merge_threshold: Option<ThresholdSpec>,
    /// Cells smaller than this join a neighbour (default 0: off).
    #[serde(default)]
    pub min_size: Option<u64>,
}

/// The cells stage, resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellsStage {
    /// Distance-transform threshold.
    pub threshold: f32,
    /// Distance smoothing.
    pub sigma: f32,
    /// Agglomeration threshold (`None`: chosen on the validation split).
    pub merge_threshold: Option<f32>,
    /// Small-cell merging.
    pub min_size: u64,
}

fn default_tta() -> usize {
    1
}

fn default_scale() -> f64 {
    1.0
}

/// A threshold as written: a number or a policy name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ThresholdSpec {
    /// A fixed membrane probability.
    Fixed(f64),
    /// `"validation"` or `"model"`.
    Policy(String),
}

/// How a method's membrane threshold is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdPolicy {
    /// The best F1 over the validation split's pixels (0.01 steps).
    Validation,
    /// The model file's stored threshold.
    Model,
    /// A fixed value.
    Fixed(f32),
}

/// `[report]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSpec {
    /// Side of the overlay crops (the same crop of the first test image for every method).
    pub crop: usize,
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec { crop: 256 }
    }
}

/// Where a method's model comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum MethodSource {
    /// Trained by urisc with this config (budget applied; seed and data set per run).
    Train(Box<TrainConfig>),
    /// A model file (`None`: the embedded default model).
    Model(Option<PathBuf>),
}

/// A method, resolved and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Method {
    /// Its name.
    pub name: String,
    /// What it runs.
    pub source: MethodSource,
    /// Test-time augmentation.
    pub tta: usize,
    /// Threshold policy.
    pub threshold: ThresholdPolicy,
    /// Clean-up size, if any.
    pub min_size: Option<usize>,
    /// Input scale.
    pub scale: f64,
    /// Tile side, if set.
    pub tile: Option<usize>,
    /// Datasets it runs on (indices into [`Suite::datasets`]).
    pub datasets: Vec<usize>,
    /// The cells stage, if any.
    pub cells: Option<CellsStage>,
}

/// A dataset, resolved: its folder and the sample names of each split.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Its name.
    pub name: String,
    /// The folder as written (resolved against the suite file).
    pub source: PathBuf,
    /// Upsampling factor, if generated.
    pub upsample: Option<usize>,
    /// Pixel size in nm, if known.
    pub pixel_size_nm: Option<f64>,
    /// Training sample names.
    pub train: Vec<String>,
    /// Validation sample names.
    pub validation: Vec<String>,
    /// Test sample names.
    pub test: Vec<String>,
}

/// A whole suite, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Suite {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// The suite file.
    pub path: PathBuf,
    /// The ranking metric and whether higher is better.
    pub primary_metric: String,
    /// Seeds of trained methods.
    pub seeds: Vec<u64>,
    /// Datasets.
    pub datasets: Vec<Dataset>,
    /// Methods.
    pub methods: Vec<Method>,
    /// The report settings.
    pub report: ReportSpec,
    /// The suite file's text (copied into the output folder).
    pub text: String,
    /// Every file and folder the suite reads: the suite file, the datasets, the training
    /// configs and their coarse models, the model files (what the output may not be or hold).
    pub inputs: Vec<PathBuf>,
}

/// Metric names of the leaderboard's columns, and whether higher is better.
pub const METRICS: [(&str, bool); 15] = [
    ("f1", true),
    ("precision", true),
    ("recall", true),
    ("iou", true),
    ("dice", true),
    ("phd_0", false),
    ("phd_1", false),
    ("phd_3", false),
    ("phd_5", false),
    ("phd_10", false),
    ("vrand", true),
    ("vinfo", true),
    ("are", false),
    ("voi_split", false),
    ("voi_merge", false),
];

/// Instance metrics of the cells stage (`urisc eval --instances` on the cells of the test
/// probabilities), and whether higher is better.
pub const CELL_METRICS: [(&str, bool); 6] = [
    ("cells_are", false),
    ("cells_voi_split", false),
    ("cells_voi_merge", false),
    ("cells_cremi", false),
    ("cells_vrand", true),
    ("cells_vinfo", true),
];

/// Whether a higher value of `metric` is better (`None`: not a leaderboard metric).
pub fn higher_is_better(metric: &str) -> Option<bool> {
    METRICS
        .iter()
        .chain(&CELL_METRICS)
        .find(|(m, _)| *m == metric)
        .map(|&(_, h)| h)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
}

impl Suite {
    /// Reads, parses and validates a suite file: every dataset is discovered and its splits
    /// checked, every training config parsed with its overrides, every model file loaded.
    pub fn load(path: &Path) -> Result<Suite, BenchError> {
        let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(path, e))?;
        Suite::parse(&text, path)
    }

    /// [`Suite::load`] of text already read (`path` names it and anchors relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Suite, BenchError> {
        let bad = |m: String| BenchError::Suite {
            path: path.to_path_buf(),
            message: m,
        };
        let file: SuiteFile = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    bad(format!("line {line}: {message}"))
                }
                None => bad(message),
            }
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let name = file.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "suite".into())
        });
        if !valid_name(&name) {
            return Err(bad(format!(
                "name {name:?}: use letters, digits, '-', '_' and '.'"
            )));
        }
        if higher_is_better(&file.primary_metric).is_none() {
            return Err(bad(format!(
                "primary_metric {:?} is not a metric; one of {}",
                file.primary_metric,
                METRICS
                    .iter()
                    .chain(&CELL_METRICS)
                    .map(|(m, _)| *m)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if file.seeds.is_empty() {
            return Err(bad("seeds: give at least one seed".into()));
        }
        if file.seeds.iter().collect::<BTreeSet<_>>().len() != file.seeds.len() {
            return Err(bad("seeds: a seed is listed twice".into()));
        }
        if file.datasets.is_empty() {
            return Err(bad("no [[dataset]]: a suite needs at least one".into()));
        }
        if file.methods.is_empty() {
            return Err(bad("no [[method]]: a suite needs at least one".into()));
        }
        if file.report.crop < 16 {
            return Err(bad("report.crop must be at least 16 pixels".into()));
        }
        let budget = &file.budget;
        if budget.epochs == Some(0) || budget.steps_per_epoch == Some(0) || budget.batch == Some(0)
        {
            return Err(bad(
                "budget: epochs, steps_per_epoch and batch must be at least 1".into(),
            ));
        }
        if let Some(m) = budget.minutes {
            if !(m.is_finite() && m > 0.0) {
                return Err(bad(format!(
                    "budget.minutes must be a positive number, not {m}"
                )));
            }
        }

        let mut inputs = vec![path.to_path_buf()];
        let mut names = BTreeSet::new();
        let mut datasets = Vec::new();
        for d in &file.datasets {
            if !valid_name(&d.name) {
                return Err(bad(format!(
                    "dataset name {:?}: use letters, digits, '-', '_' and '.'",
                    d.name
                )));
            }
            if !names.insert(d.name.clone()) {
                return Err(bad(format!("dataset {:?} is defined twice", d.name)));
            }
            inputs.push(resolve(&d.path));
            datasets.push(
                resolve_dataset(d, &resolve(&d.path))
                    .map_err(|m| bad(format!("dataset {:?}: {m}", d.name)))?,
            );
        }

        let mut method_names = BTreeSet::new();
        let mut methods = Vec::new();
        for m in &file.methods {
            let fail = |msg: String| bad(format!("method {:?}: {msg}", m.name));
            if !valid_name(&m.name) {
                return Err(fail(
                    "use letters, digits, '-', '_' and '.' in names".into(),
                ));
            }
            if !method_names.insert(m.name.clone()) {
                return Err(fail("defined twice".into()));
            }
            let source = match (&m.config, &m.model) {
                (Some(config), None) => {
                    let config_path = resolve(config);
                    let text = std::fs::read_to_string(&config_path).map_err(|e| {
                        fail(format!(
                            "config {}: cannot read ({e})",
                            config_path.display()
                        ))
                    })?;
                    let mut overrides = Vec::new();
                    if let Some(e) = budget.epochs {
                        overrides.push(format!("train.epochs={e}"));
                    }
                    if let Some(s) = budget.steps_per_epoch {
                        overrides.push(format!("train.steps_per_epoch={s}"));
                    }
                    if let Some(b) = budget.batch {
                        overrides.push(format!("train.batch={b}"));
                    }
                    if let Some(minutes) = budget.minutes {
                        overrides.push(format!("train.max_minutes={minutes:?}"));
                    }
                    overrides.extend(m.set.iter().cloned());
                    let mut config = TrainConfig::parse(&text, &overrides)
                        .map_err(|e| fail(format!("config {}: {e}", config_path.display())))?;
                    // The coarse model of a two-stage config is relative to the config file.
                    if let (Some(c), Some(dir)) = (&mut config.coarse, config_path.parent()) {
                        c.model = dir.join(&c.model);
                        inputs.push(c.model.clone());
                    }
                    inputs.push(config_path);
                    MethodSource::Train(Box::new(config))
                }
                (None, Some(model)) => {
                    if !m.set.is_empty() {
                        return Err(fail(
                            "`set` applies to a training config, not a model file".into(),
                        ));
                    }
                    if model.as_os_str() == "embedded" {
                        MethodSource::Model(None)
                    } else {
                        let model_path = resolve(model);
                        urisc_nn::load_model(&model_path)
                            .map_err(|e| fail(format!("model: {e}")))?;
                        inputs.push(model_path.clone());
                        MethodSource::Model(Some(model_path))
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(fail("give either `config` or `model`, not both".into()))
                }
                (None, None) => {
                    return Err(fail(
                        "give `config` (a training config) or `model` (a model file)".into(),
                    ))
                }
            };
            // `urisc predict`'s own checks: TTA, a fixed threshold, the scale.
            let fixed = match &m.threshold {
                Some(ThresholdSpec::Fixed(t)) => Some(*t as f32),
                _ => None,
            };
            urisc_infer::job::PredictFlags {
                tta: Some(m.tta),
                threshold: fixed,
                scale: Some(m.scale),
                ..Default::default()
            }
            .check()
            .map_err(|e| fail(e.to_string()))?;
            let threshold = match &m.threshold {
                None => match source {
                    MethodSource::Train(_) => ThresholdPolicy::Validation,
                    MethodSource::Model(_) => ThresholdPolicy::Model,
                },
                Some(ThresholdSpec::Fixed(t)) => ThresholdPolicy::Fixed(*t as f32),
                Some(ThresholdSpec::Policy(p)) if p == "validation" => ThresholdPolicy::Validation,
                Some(ThresholdSpec::Policy(p)) if p == "model" => ThresholdPolicy::Model,
                Some(ThresholdSpec::Policy(p)) => {
                    return Err(fail(format!(
                        "threshold {p:?}: \"validation\", \"model\" or a number in [0, 1]"
                    )))
                }
            };
            if m.tile == Some(0) {
                return Err(fail("tile must be at least 1".into()));
            }
            let selected = match &m.datasets {
                None => (0..datasets.len()).collect(),
                Some(list) => {
                    let mut out = Vec::new();
                    for n in list {
                        match datasets.iter().position(|d| &d.name == n) {
                            Some(i) => out.push(i),
                            None => return Err(fail(format!("unknown dataset {n:?}"))),
                        }
                    }
                    out
                }
            };
            for &d in &selected {
                let ds: &Dataset = &datasets[d];
                if matches!(source, MethodSource::Train(_)) && ds.train.is_empty() {
                    return Err(fail(format!(
                        "dataset {:?} has no training samples to train on",
                        ds.name
                    )));
                }
                if threshold == ThresholdPolicy::Validation && ds.validation.is_empty() {
                    return Err(fail(format!(
                        "threshold \"validation\" needs validation samples, dataset {:?} has none",
                        ds.name
                    )));
                }
            }
            let cells = match &m.cells {
                None => None,
                Some(c) => {
                    let merge_threshold = match &c.merge_threshold {
                        None => Some(0.5),
                        Some(ThresholdSpec::Fixed(t)) => Some(*t as f32),
                        Some(ThresholdSpec::Policy(p)) if p == "validation" => None,
                        Some(ThresholdSpec::Policy(p)) => {
                            return Err(fail(format!(
                                "cells.merge_threshold {p:?}: a number in [0, 1] or \"validation\""
                            )))
                        }
                    };
                    let stage = CellsStage {
                        threshold: c.threshold.unwrap_or(0.5),
                        sigma: c.sigma.unwrap_or(2.0),
                        merge_threshold,
                        min_size: c.min_size.unwrap_or(0),
                    };
                    urisc_cells::CellParams {
                        threshold: stage.threshold,
                        sigma: stage.sigma,
                        merge_threshold: stage.merge_threshold.unwrap_or(0.5),
                        min_size: stage.min_size,
                        ..Default::default()
                    }
                    .validate()
                    .map_err(|e| fail(format!("cells: {e}")))?;
                    if merge_threshold.is_none() {
                        for &d in &selected {
                            if datasets[d].validation.is_empty() {
                                return Err(fail(format!(
                                    "cells.merge_threshold \"validation\" needs validation samples, dataset {:?} has none",
                                    datasets[d].name
                                )));
                            }
                        }
                    }
                    Some(stage)
                }
            };
            methods.push(Method {
                cells,
                name: m.name.clone(),
                source,
                tta: m.tta,
                threshold,
                min_size: m.min_size,
                scale: m.scale,
                tile: m.tile,
                datasets: selected,
            });
        }
        Ok(Suite {
            name,
            description: file.description,
            path: path.to_path_buf(),
            primary_metric: file.primary_metric,
            seeds: file.seeds,
            datasets,
            methods,
            report: file.report,
            text: text.to_string(),
            inputs,
        })
    }

    /// Checks `--only` names: each must name a method or a dataset of the suite.
    pub fn check_only(&self, only: &[String]) -> Result<(), BenchError> {
        for n in only {
            if !self.methods.iter().any(|m| &m.name == n)
                && !self.datasets.iter().any(|d| &d.name == n)
            {
                return Err(BenchError::Suite {
                    path: self.path.clone(),
                    message: format!(
                        "--only {n:?} is neither a method nor a dataset of the suite (methods: {}; datasets: {})",
                        self.methods.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
                        self.datasets.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Discovers the dataset and resolves its splits; errors are messages for the suite error.
fn resolve_dataset(spec: &DatasetSpec, path: &Path) -> Result<Dataset, String> {
    if !path.exists() {
        return Err(format!("{}: no such folder", path.display()));
    }
    let found = discover(path).map_err(|e| e.to_string())?;
    let names: Vec<String> = found.pairs().map(|(s, _, _)| s.name.clone()).collect();
    if names.is_empty() {
        return Err(format!("{}: no labelled images found", path.display()));
    }
    if spec.upsample == Some(0) {
        return Err("upsample must be at least 1".into());
    }
    let known: BTreeSet<&String> = names.iter().collect();
    let check = |list: &Option<Vec<String>>, what: &str| -> Result<Vec<String>, String> {
        let list = list.clone().unwrap_or_default();
        for n in &list {
            if !known.contains(n) {
                return Err(format!(
                    "{what} sample {n:?} is not in {} (it has {})",
                    path.display(),
                    shorten(&names)
                ));
            }
        }
        Ok(list)
    };
    let (mut train, validation, test) = match &spec.split {
        Some(f) => {
            if spec.train.is_some() || spec.validation.is_some() || spec.test.is_some() {
                return Err("give either `split` fractions or train/validation/test names".into());
            }
            if !(f.validation >= 0.0 && f.test > 0.0 && f.validation + f.test < 1.0) {
                return Err(format!(
                    "split fractions validation {} and test {} must be ≥ 0, > 0 and sum below 1",
                    f.validation, f.test
                ));
            }
            let mut shuffled = names.clone();
            shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(f.seed));
            let n = shuffled.len();
            let count = |fraction: f64| ((fraction * n as f64).round() as usize).max(1);
            let v = if f.validation > 0.0 {
                count(f.validation)
            } else {
                0
            };
            let t = count(f.test);
            if v + t >= n {
                return Err(format!(
                    "{n} samples leave none for training with these fractions"
                ));
            }
            let mut validation = shuffled[..v].to_vec();
            let mut test = shuffled[v..v + t].to_vec();
            let mut train = shuffled[v + t..].to_vec();
            validation.sort();
            test.sort();
            train.sort();
            (Some(train), validation, test)
        }
        None => (
            spec.train
                .as_ref()
                .map(|_| check(&spec.train, "train"))
                .transpose()?,
            check(&spec.validation, "validation")?,
            check(&spec.test, "test")?,
        ),
    };
    if test.is_empty() {
        return Err("no test samples: give `test` names or a `split`".into());
    }
    let held: BTreeSet<&String> = validation.iter().chain(&test).collect();
    if held.len() != validation.len() + test.len() {
        return Err("a sample is in both validation and test (or listed twice)".into());
    }
    let train = match train.take() {
        Some(t) => {
            if let Some(n) = t.iter().find(|n| held.contains(n)) {
                return Err(format!(
                    "sample {n:?} is both a training and a held-out sample"
                ));
            }
            t
        }
        None => names
            .iter()
            .filter(|n| !held.contains(n))
            .cloned()
            .collect(),
    };
    let factor = spec.upsample.unwrap_or(1);
    let pixel_size_nm = spec
        .pixel_size_nm
        .or(found.layout_pixel_size_nm.map(|p| p / factor as f64));
    if let Some(p) = pixel_size_nm {
        if !(p.is_finite() && p > 0.0) {
            return Err(format!("pixel_size_nm {p} must be positive"));
        }
    }
    Ok(Dataset {
        name: spec.name.clone(),
        source: path.to_path_buf(),
        upsample: spec.upsample.filter(|&f| f > 1),
        pixel_size_nm,
        train,
        validation,
        test,
    })
}

fn shorten(names: &[String]) -> String {
    if names.len() <= 8 {
        names.join(", ")
    } else {
        format!("{}, … ({} samples)", names[..6].join(", "), names.len())
    }
}
