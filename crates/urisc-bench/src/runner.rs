//! Planning the runs of a suite (one per method × dataset × seed, keyed by a hash of the
//! resolved settings and the data's bytes) and carrying one out: train or load, choose the
//! threshold, predict the test split, score it, draw the overlay.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use urisc_data::LabelledImage;
use urisc_eval::{evaluate, ImageReport, MetricSet, Pair, Protocol, Scores};
use urisc_infer::job::{PredictFlags, PredictSettings};
use urisc_infer::{predict_image_scaled, InferenceOptions};
use urisc_io::sections::Section;
use urisc_io::Image;
use urisc_nn::{Engine, Segmenter};
use urisc_train::{load_coarse, read_log, train, Progress, Split, TrainConfig};

use crate::dataset_files::{fingerprint, flat_name, load, materialise, sample_files, SampleFiles};
use crate::error::BenchError;
use crate::hash::{add_file, short, Fnv};
use crate::suite::{MethodSource, Suite, ThresholdPolicy};

/// One run of the plan.
#[derive(Clone, Debug)]
pub struct PlannedRun {
    /// Index into [`Suite::methods`].
    pub method: usize,
    /// Index into [`Suite::datasets`].
    pub dataset: usize,
    /// The seed (`None` for a model file, run once).
    pub seed: Option<u64>,
    /// The run's folder name under `runs/`: method, dataset, seed and the key's hash.
    pub id: String,
    /// The training folder's name under `train/` (shared by methods that differ only in how
    /// they predict), for trained methods.
    pub train_id: Option<String>,
    /// The resolved training config (seed and data set), for trained methods.
    pub config: Option<TrainConfig>,
    /// The folder the dataset's samples are read from.
    pub data_root: PathBuf,
    /// Training, validation and test files.
    pub files: [Vec<SampleFiles>; 3],
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Scored.
    Done,
    /// Stopped by an error (recorded; retried by the next invocation).
    Failed,
}

/// What a run records in `runs/ID/result.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id (its folder).
    pub id: String,
    /// Method name.
    pub method: String,
    /// Dataset name.
    pub dataset: String,
    /// Seed, for trained methods.
    pub seed: Option<u64>,
    /// Done or failed.
    pub status: Status,
    /// The error of a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The model file used.
    #[serde(default)]
    pub model: Option<String>,
    /// The membrane threshold applied.
    #[serde(default)]
    pub threshold: Option<f32>,
    /// Mean scores over the test images (every SPEC §4 metric, on the binary maps).
    #[serde(default)]
    pub scores: Option<Scores>,
    /// Scores per test image.
    #[serde(default)]
    pub images: Vec<ImageReport>,
    /// Training wall time (all epochs, resumed parts included; validation included).
    #[serde(default)]
    pub train_seconds: Option<f64>,
    /// Epochs trained.
    #[serde(default)]
    pub epochs: Option<usize>,
    /// Prediction wall time of the test split (TTA and resampling included).
    #[serde(default)]
    pub inference_seconds: Option<f64>,
    /// Test pixels per second of prediction, in millions.
    #[serde(default)]
    pub inference_mpixel_per_s: Option<f64>,
    /// Peak resident memory of the process during the run, MiB (Linux).
    #[serde(default)]
    pub peak_rss_mib: Option<f64>,
    /// Whether this invocation trained (or resumed training) for the run.
    #[serde(default)]
    pub trained_now: bool,
    /// Binary test maps, relative to the suite folder.
    #[serde(default)]
    pub predictions: Option<String>,
    /// Overlay of prediction against label on the report crop, relative to the suite folder.
    #[serde(default)]
    pub overlay: Option<String>,
    /// Training curves (SVG), relative to the suite folder.
    #[serde(default)]
    pub curves: Option<String>,
    /// Mean instance scores of the cells stage over the test images (`cells_are`, …,
    /// `cells_count`), if the method has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_scores: Option<std::collections::BTreeMap<String, f64>>,
    /// The cells stage's agglomeration threshold (chosen on validation or given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells_merge_threshold: Option<f32>,
}

impl RunRecord {
    /// A record with nothing measured yet (status failed until the run says otherwise).
    pub fn new(id: &str, method: &str, dataset: &str, seed: Option<u64>) -> RunRecord {
        RunRecord {
            id: id.to_string(),
            method: method.to_string(),
            dataset: dataset.to_string(),
            seed,
            status: Status::Failed,
            error: None,
            model: None,
            threshold: None,
            scores: None,
            images: vec![],
            train_seconds: None,
            epochs: None,
            inference_seconds: None,
            inference_mpixel_per_s: None,
            peak_rss_mib: None,
            trained_now: false,
            predictions: None,
            overlay: None,
            curves: None,
            cell_scores: None,
            cells_merge_threshold: None,
        }
    }
}

/// Events of a suite for progress displays.
#[derive(Debug)]
pub enum Event<'a> {
    /// The plan: runs in all and how many are finished already.
    Plan {
        /// Runs of the plan (after `--only`).
        total: usize,
        /// Runs with a finished result that will be reused.
        reused: usize,
    },
    /// A run starts.
    RunStart {
        /// Its position among the runs to do.
        index: usize,
        /// The run.
        id: &'a str,
    },
    /// A stage of the current run (`"training"`, `"validation"`, `"cells threshold"`,
    /// `"predicting"`, `"scoring"`) and how many steps it has.
    Stage(&'a str, usize),
    /// Training progress of the current run.
    Training(&'a Progress),
    /// One unit of the current stage is done.
    Tick,
    /// A run ended.
    RunEnd(&'a RunRecord),
}

/// Whether `--only` names select a run: with method names given, its method must be one; with
/// dataset names given, its dataset must be one.
pub fn selected(suite: &Suite, run: &PlannedRun, only: &[String]) -> bool {
    let method = &suite.methods[run.method].name;
    let dataset = &suite.datasets[run.dataset].name;
    let names_methods = only
        .iter()
        .any(|n| suite.methods.iter().any(|m| &m.name == n));
    let names_datasets = only
        .iter()
        .any(|n| suite.datasets.iter().any(|d| &d.name == n));
    (!names_methods || only.contains(method)) && (!names_datasets || only.contains(dataset))
}

/// Resolves every run of the suite (datasets materialised, data fingerprinted).
pub fn plan(suite: &Suite, out: &Path) -> Result<Vec<PlannedRun>, BenchError> {
    let mut runs = Vec::new();
    let mut roots = Vec::new();
    for d in &suite.datasets {
        roots.push(materialise(d, &out.join("data"))?);
    }
    for (mi, method) in suite.methods.iter().enumerate() {
        for &di in &method.datasets {
            let dataset = &suite.datasets[di];
            let root = &roots[di];
            let files = [
                sample_files(root, &dataset.train)?,
                sample_files(root, &dataset.validation)?,
                sample_files(root, &dataset.test)?,
            ];
            let mut data_hash = Fnv::default();
            fingerprint(&mut data_hash, &files[0])?;
            data_hash.text("validation");
            fingerprint(&mut data_hash, &files[1])?;
            let mut inference = serde_json::json!({
                "tta": method.tta,
                "threshold": method.threshold,
                "min_size": method.min_size,
                "scale": method.scale,
                "tile": method.tile,
            });
            // Only when present, so runs without a cells stage keep their keys.
            if let Some(c) = &method.cells {
                inference["cells"] = serde_json::to_value(c).expect("serialises");
            }
            let inference = inference.to_string();
            let seeds: Vec<Option<u64>> = match method.source {
                MethodSource::Train(_) => suite.seeds.iter().map(|&s| Some(s)).collect(),
                MethodSource::Model(_) => vec![None],
            };
            for seed in seeds {
                let mut key = data_hash.clone();
                let (train_id, config) = match (&method.source, seed) {
                    (MethodSource::Train(config), Some(seed)) => {
                        let mut config = (**config).clone();
                        config.seed = seed;
                        config.data.path = root.clone();
                        config.data.validation = dataset.validation.clone();
                        config.data.pixel_size_nm = dataset.pixel_size_nm;
                        let mut train_key = data_hash.clone();
                        // The data folder is in the config text but not part of the key: the
                        // fingerprint stands for the bytes wherever they are.
                        let mut keyed = config.clone();
                        keyed.data.path = PathBuf::new();
                        train_key.text(&keyed.to_toml());
                        key.text(&keyed.to_toml());
                        // No method name: methods that differ only in how they predict
                        // share one training.
                        let train_id = format!("{}-s{seed}-{}", dataset.name, short(&train_key));
                        (Some(train_id), Some(config))
                    }
                    (MethodSource::Model(path), _) => {
                        match path {
                            Some(p) => add_file(&mut key, p)?,
                            None => key.bytes(urisc_nn::embedded_model_bytes()),
                        };
                        (None, None)
                    }
                    (MethodSource::Train(_), None) => unreachable!("trained methods have seeds"),
                };
                key.text("test");
                fingerprint(&mut key, &files[2])?;
                key.text(&inference);
                let id = match seed {
                    Some(s) => format!("{}-{}-s{s}-{}", method.name, dataset.name, short(&key)),
                    None => format!("{}-{}-{}", method.name, dataset.name, short(&key)),
                };
                runs.push(PlannedRun {
                    method: mi,
                    dataset: di,
                    seed,
                    id,
                    train_id,
                    config,
                    data_root: root.clone(),
                    files: files.clone(),
                });
            }
        }
    }
    Ok(runs)
}

/// The record of a finished run, if its folder holds one.
pub fn finished(out: &Path, run: &PlannedRun) -> Option<RunRecord> {
    let path = out.join("runs").join(&run.id).join("result.json");
    let record: RunRecord = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (record.status == Status::Done).then_some(record)
}

/// Carries out one run; an error becomes a failed record (also written), never a stop.
pub fn execute(
    suite: &Suite,
    out: &Path,
    run: &PlannedRun,
    events: &mut dyn FnMut(Event),
) -> RunRecord {
    let method = &suite.methods[run.method];
    let dataset = &suite.datasets[run.dataset];
    let mut record = RunRecord::new(&run.id, &method.name, &dataset.name, run.seed);
    urisc_eval::memory::reset_peak_rss();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        carry_out(suite, out, run, &mut record, events)
    }));
    match outcome {
        Ok(Ok(())) => record.status = Status::Done,
        Ok(Err(e)) => record.error = Some(e.to_string()),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            record.error = Some(format!("internal error: {message}"));
        }
    }
    record.peak_rss_mib = urisc_eval::memory::peak_rss_mib();
    let path = out.join("runs").join(&run.id).join("result.json");
    let json = serde_json::to_string_pretty(&record).expect("records serialise");
    if let Err(e) = std::fs::create_dir_all(path.parent().expect("has a parent"))
        .map_err(|e| BenchError::io(&path, e))
        .and_then(|_| {
            urisc_io::write_atomically(&path, true, |f| {
                std::io::Write::write_all(f, json.as_bytes())
            })
            .map_err(BenchError::from)
        })
    {
        record.status = Status::Failed;
        record.error = Some(e.to_string());
    }
    record
}

fn carry_out(
    suite: &Suite,
    out: &Path,
    run: &PlannedRun,
    record: &mut RunRecord,
    events: &mut dyn FnMut(Event),
) -> Result<(), BenchError> {
    let method = &suite.methods[run.method];
    let run_dir = out.join("runs").join(&run.id);
    std::fs::create_dir_all(&run_dir).map_err(|e| BenchError::io(&run_dir, e))?;
    let [train_files, validation_files, test_files] = &run.files;
    let validation = load(validation_files)?;

    let model = match (&method.source, &run.config, &run.train_id) {
        (MethodSource::Train(_), Some(config), Some(train_id)) => {
            let dir = out.join("train").join(train_id);
            let complete = dir.join("complete.json");
            if !complete.exists() {
                let split = Split {
                    train: load(train_files)?,
                    validation: validation
                        .iter()
                        .map(|(n, li)| (n.clone(), clone_labelled(li)))
                        .collect(),
                    // Made absolute when the suite was read.
                    coarse: load_coarse(config, Path::new(""))
                        .map_err(|e| BenchError::Run(format!("training: {e}")))?,
                    base: PathBuf::new(),
                };
                let resume = dir.join("state.json").exists();
                events(Event::Stage(
                    "training",
                    config.train.epochs * config.train.steps_per_epoch,
                ));
                record.trained_now = true;
                train(config, &split, &dir, resume, !resume, &mut |p| {
                    events(Event::Training(&p))
                })
                .map_err(|e| BenchError::Run(format!("training: {e}")))?;
                let logs =
                    read_log(&dir.join("log.jsonl")).map_err(|e| BenchError::Run(e.to_string()))?;
                let summary = serde_json::json!({
                    "epochs": logs.len(),
                    "seconds": logs.iter().map(|l| l.seconds).sum::<f64>(),
                });
                urisc_io::write_atomically(&complete, true, |f| {
                    std::io::Write::write_all(f, summary.to_string().as_bytes())
                })?;
            }
            let logs =
                read_log(&dir.join("log.jsonl")).map_err(|e| BenchError::Run(e.to_string()))?;
            record.train_seconds = Some(logs.iter().map(|l| l.seconds).sum());
            record.epochs = Some(logs.len());
            record.curves = Some(format!("train/{train_id}/training-curves.svg"));
            let best = dir.join("best.safetensors");
            record.model = Some(format!("train/{train_id}/best.safetensors"));
            Segmenter::load(&best, Engine::Cpu).map_err(|e| BenchError::Run(e.to_string()))?
        }
        (MethodSource::Model(Some(path)), _, _) => {
            record.model = Some(path.display().to_string());
            Segmenter::load(path, Engine::Cpu).map_err(|e| BenchError::Run(e.to_string()))?
        }
        (MethodSource::Model(None), _, _) => {
            record.model = Some(urisc_nn::EMBEDDED_MODEL_NAME.to_string());
            Segmenter::embedded_default(Engine::Cpu).map_err(|e| BenchError::Run(e.to_string()))?
        }
        _ => unreachable!("the plan pairs trained methods with configs"),
    };
    let descriptor = model.descriptor().clone();
    // Tiled as `urisc predict` tiles (the same overlap rule and checks).
    let options = PredictSettings::resolve(
        &descriptor.defaults(),
        &PredictFlags {
            tile: method.tile,
            tta: Some(method.tta),
            ..PredictFlags::default()
        },
    )
    .map_err(|e| BenchError::Run(format!("inference settings: {e}")))?
    .options;

    // Validation probabilities, when the threshold or the cells stage is chosen on them.
    let needs_validation = method.threshold == ThresholdPolicy::Validation
        || method
            .cells
            .as_ref()
            .is_some_and(|c| c.merge_threshold.is_none());
    let mut validation_maps = Vec::new();
    if needs_validation {
        events(Event::Stage("validation", validation.len()));
        for (_, li) in &validation {
            validation_maps.push(predict_scaled(&model, &li.image, &options, method.scale)?);
            events(Event::Tick);
        }
    }
    let threshold = match method.threshold {
        ThresholdPolicy::Fixed(t) => t,
        ThresholdPolicy::Model => descriptor.threshold,
        ThresholdPolicy::Validation => {
            let probabilities: Vec<f32> = validation_maps
                .iter()
                .flat_map(|p| p.data.iter().copied())
                .collect();
            let membrane: Vec<bool> = validation
                .iter()
                .flat_map(|(_, li)| {
                    li.label
                        .data
                        .iter()
                        .map(|&v| urisc_io::encoding::label_is_membrane(v))
                })
                .collect();
            urisc_metrics::best_f1_threshold(&probabilities, &membrane, 100).threshold as f32
        }
    };
    let cell_params = match &method.cells {
        None => None,
        Some(stage) => {
            let merge = match stage.merge_threshold {
                Some(m) => m,
                None => {
                    events(Event::Stage("cells threshold", 9));
                    let pairs: Vec<(&Image<f32>, &Image<u8>)> = validation_maps
                        .iter()
                        .zip(&validation)
                        .map(|(p, (_, li))| (p, &li.label))
                        .collect();
                    crate::cells::choose_merge_threshold(stage, &pairs, &mut || {
                        events(Event::Tick)
                    })?
                }
            };
            record.cells_merge_threshold = Some(merge);
            Some(crate::cells::params(stage, merge))
        }
    };
    let mut cell_scores = Vec::new();
    record.threshold = Some(threshold);

    let predictions = run_dir.join("predictions");
    std::fs::create_dir_all(&predictions).map_err(|e| BenchError::io(&predictions, e))?;
    events(Event::Stage("predicting", test_files.len()));
    let mut pairs = Vec::new();
    let (mut seconds, mut pixels) = (0f64, 0usize);
    for (i, f) in test_files.iter().enumerate() {
        let image = urisc_io::read_page(&f.image.path, f.image.page)?
            .image
            .into_u8();
        let started = Instant::now();
        let p = predict_scaled(&model, &image, &options, method.scale)?;
        let mut membrane = Image::new(
            p.height,
            p.width,
            p.data
                .iter()
                .map(|&v| urisc_io::encoding::is_membrane(v, threshold))
                .collect(),
        );
        if let Some(min_size) = method.min_size {
            urisc_infer::clean_up(&mut membrane, min_size);
        }
        seconds += started.elapsed().as_secs_f64();
        if let Some(params) = &cell_params {
            let label = urisc_io::read_page(&f.label.path, f.label.page)?
                .image
                .into_u8();
            cell_scores.push(crate::cells::score(&p, &label, params)?);
        }
        pixels += image.height * image.width;
        let binary = Image::new(
            membrane.height,
            membrane.width,
            membrane
                .data
                .iter()
                .map(|&m| {
                    if m {
                        urisc_io::encoding::MEMBRANE
                    } else {
                        urisc_io::encoding::BACKGROUND
                    }
                })
                .collect(),
        );
        let path = predictions.join(format!("{}.png", flat_name(&f.name)));
        urisc_io::write_png(&path, &binary, None, true)?;
        if i == 0 {
            let label = urisc_io::read_page(&f.label.path, f.label.page)?
                .image
                .into_u8();
            let overlay = run_dir.join("overlay.png");
            crate::overlay::write_overlay(&overlay, &image, &label, &binary, suite.report.crop)?;
            record.overlay = Some(format!("runs/{}/overlay.png", run.id));
        }
        pairs.push(Pair {
            name: f.name.clone(),
            pred: Section::single(&path),
            gt: Section {
                path: f.label.path.clone(),
                plane: (f.label.page > 0).then_some(f.label.page),
                name: f.name.clone(),
            },
        });
        events(Event::Tick);
    }
    record.inference_seconds = Some(seconds);
    record.inference_mpixel_per_s = Some(pixels as f64 / 1e6 / seconds.max(1e-9));
    record.predictions = Some(format!("runs/{}/predictions", run.id));

    events(Event::Stage("scoring", 1));
    let report = evaluate(&pairs, Protocol::Binarized, &MetricSet::all(), &|_| {})
        .map_err(|e| BenchError::Run(format!("scoring: {e}")))?;
    events(Event::Tick);
    record.scores = Some(report.mean);
    record.images = report.images;
    if !cell_scores.is_empty() {
        record.cell_scores = Some(crate::cells::mean(&cell_scores));
    }
    Ok(())
}

fn clone_labelled(li: &LabelledImage) -> LabelledImage {
    LabelledImage {
        image: li.image.clone(),
        label: li.label.clone(),
    }
}

/// Membrane probabilities of `image` predicted at `scale` × its resolution, on its own grid.
fn predict_scaled(
    model: &Segmenter,
    image: &Image<u8>,
    options: &InferenceOptions,
    scale: f64,
) -> Result<Image<f32>, BenchError> {
    predict_image_scaled(model, image, options, scale)
        .map_err(|e| BenchError::Run(format!("prediction: {e}")))
}
