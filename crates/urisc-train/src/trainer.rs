//! The training loop: seeded, validated every epoch with the best-F1 threshold, checkpointed
//! atomically (last and best), resumable with the same optimizer state, schedule position and
//! RNG stream, and stopped cleanly on a non-finite loss.
//!
//! The network runs on urisc's own CPU kernels (`urisc-cpu`: forward with batch statistics,
//! backward, Adam, the configured loss and its gradient), or on burn with the `burn` feature.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use urisc_data::{CropSampler, LabelledImage};
use urisc_infer::{predict_image_scaled, InferenceOptions};
use urisc_io::{encoding::label_is_membrane, Image};
use urisc_model::SegmentationModel;
use urisc_nn::{load_model, save_model, ModelDescriptor};

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::run::{append_line, check_log, read_log, EpochLog, RunFiles};

/// What the loop reports as it goes (for progress bars).
#[derive(Clone, Debug)]
pub enum Progress {
    /// The run folder was accepted and training begins (at `first_epoch` when resuming).
    Start {
        /// The first epoch to train (0 unless resuming).
        first_epoch: usize,
        /// Steps of the whole run.
        total_steps: usize,
    },
    /// One optimisation step finished.
    Step {
        /// Its epoch.
        epoch: usize,
        /// Its index within the epoch.
        step: usize,
        /// Steps per epoch.
        steps: usize,
        /// Its loss.
        loss: f32,
        /// Crops per second of this step.
        tiles_per_second: f64,
    },
    /// An epoch finished: validated and checkpointed.
    Epoch(EpochLog),
    /// Something the user should know that does not stop training (a resumed run's new epoch
    /// count; a loss that grows by orders of magnitude).
    Warning(String),
    /// Something done for the user that they should know of (a resumed run's log cut back to
    /// its checkpoint after a crash).
    Note(String),
}

/// Where a run stands, written last at every checkpoint (so it always describes files that exist).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RunState {
    epochs_done: usize,
    global_step: usize,
    /// Position in the ChaCha stream (a u128, as a string for JSON).
    rng_word_pos: String,
    best_f1: f64,
}

/// Training and validation images, split by sample name, and the frozen coarse model of a
/// two-stage run.
pub struct Split {
    /// Training images by sample name.
    pub train: Vec<(String, LabelledImage)>,
    /// Validation images by sample name (the config's `data.validation`).
    pub validation: Vec<(String, LabelledImage)>,
    /// The config's `[coarse]` model, loaded and checked (`None` for a one-stage run).
    pub coarse: Option<Coarse>,
    /// The folder the config's relative paths were resolved against (its file's folder): the
    /// config a run records names them from there absolutely ([`TrainConfig::anchored`]).
    pub base: PathBuf,
}

/// The coarse stage of a two-stage run, frozen.
pub struct Coarse {
    /// The coarse network and its factor.
    pub stage: urisc_nn::urisc_cpu::Coarse,
    /// Its model file's descriptor.
    pub descriptor: ModelDescriptor,
}

impl Split {
    /// The network the run trains: the config's, with a frozen coarse stage's architecture.
    pub fn model(&self, config: &TrainConfig) -> urisc_nn::ModelConfig {
        let mut model = config.model.clone();
        if let Some(c) = &self.coarse {
            model.coarse = Some(Box::new(urisc_nn::CoarseStage {
                factor: c.stage.factor,
                features: None,
                model: c.descriptor.model.clone(),
            }));
        }
        model
    }
}

/// Loads and checks the config's `[coarse]` model (paths relative to `base`).
pub fn load_coarse(config: &TrainConfig, base: &Path) -> Result<Option<Coarse>, TrainError> {
    let Some(c) = &config.coarse else {
        return Ok(None);
    };
    let path = if c.model.is_absolute() {
        c.model.clone()
    } else {
        base.join(&c.model)
    };
    let (net, descriptor) = load_model(&path)?;
    if descriptor.model.coarse.is_some() {
        return Err(TrainError::invalid(
            &path,
            "is a two-stage model; the coarse stage must be one-stage",
        ));
    }
    if descriptor.normalization != urisc_nn::Normalization::default() {
        return Err(TrainError::invalid(
            &path,
            "normalises intensities differently from training ((v/255 − 0.5)/0.5)",
        ));
    }
    // The coarse model should see pixels of the size it was trained at.
    let seen = config
        .data
        .pixel_size_nm
        .map(|p| p * (c.factor * config.crop.crop) as f64 / config.crop.size as f64);
    if let (Some(seen), Some(own)) = (seen, descriptor.pixel_size_nm) {
        if (seen / own - 1.0).abs() > 0.1 {
            return Err(TrainError::invalid(
                &path,
                format!(
                    "was trained at {own} nm/pixel, but with coarse.factor = {} it would see {seen} nm/pixel",
                    c.factor
                ),
            ));
        }
    }
    let multiple = c.factor * descriptor.model.size_multiple();
    if !config.crop.size.is_multiple_of(multiple) {
        return Err(TrainError::invalid(
            &path,
            format!(
                "with coarse.factor = {} its input needs crop.size to be a multiple of {multiple}, not {}",
                c.factor, config.crop.size
            ),
        ));
    }
    Ok(Some(Coarse {
        stage: urisc_nn::urisc_cpu::Coarse {
            net,
            factor: c.factor,
            joint: false,
        },
        descriptor,
    }))
}

/// Loads the dataset of `config.data` (relative paths resolved against `base`) and splits it.
pub fn load_split(config: &TrainConfig, base: &Path) -> Result<Split, TrainError> {
    let path = if config.data.path.is_absolute() {
        config.data.path.clone()
    } else {
        base.join(&config.data.path)
    };
    let dataset = urisc_io::dataset::discover(&path)?;
    let mut split = Split {
        train: vec![],
        validation: vec![],
        coarse: load_coarse(config, base)?,
        base: base.to_path_buf(),
    };
    for (sample, image, label) in dataset.pairs() {
        let load = |r: &urisc_io::dataset::ImageRef| -> Result<Image<u8>, TrainError> {
            Ok(urisc_io::read_page(&r.path, r.page)?.image.into_u8())
        };
        let item = LabelledImage {
            image: load(image)?,
            label: load(label)?,
        };
        if (item.image.height, item.image.width) != (item.label.height, item.label.width) {
            return Err(TrainError::invalid(
                &label.path,
                "label size differs from its image",
            ));
        }
        let target = if config.data.validation.contains(&sample.name) {
            &mut split.validation
        } else {
            &mut split.train
        };
        target.push((sample.name.clone(), item));
    }
    for name in &config.data.validation {
        if !split.validation.iter().any(|(n, _)| n == name) {
            return Err(TrainError::invalid(
                &path,
                format!("no sample named '{name}' for validation"),
            ));
        }
    }
    if split.train.is_empty() {
        return Err(TrainError::invalid(&path, "no labelled training images"));
    }
    Ok(split)
}

/// Trains as configured into `out`, holding its [`urisc_io::lock::FolderLock`] (a second
/// run into the folder is refused, naming the first). A folder that holds a run or a model
/// (any file a run writes, [`RunFiles::present`]) is refused unless `resume` (continue it
/// exactly) or `force` (start over). Callers check the run's inputs first
/// ([`crate::refuse_inputs`]).
pub fn train(
    config: &TrainConfig,
    split: &Split,
    out: &Path,
    resume: bool,
    force: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<EpochLog>, TrainError> {
    let files = RunFiles {
        dir: out.to_path_buf(),
    };
    // Declared before the lock, so a refused run releases the lock before its new, empty
    // folder is removed.
    let mut created = urisc_io::paths::CreatedFolders::new();
    created.create(out)?;
    let _lock = urisc_io::lock::FolderLock::take(out)?;
    let has_state = files.state().exists();
    if resume && !has_state {
        return Err(TrainError::invalid(
            out,
            "no run to resume (state.json missing)",
        ));
    }
    let present = files.present();
    if !resume && !force && !present.is_empty() {
        return Err(TrainError::invalid(
            out,
            if has_state {
                "holds a run already (use --resume to continue it or --force to start over)"
                    .to_string()
            } else {
                format!(
                    "holds a model or run files already ({}): use --force to replace them, or another --out",
                    present.join(", ")
                )
            },
        ));
    }

    // The config as the run folder records it: its paths absolute, so `--resume` with the run's
    // own `config.toml` finds the same files (provenance keeps them as written).
    let record = config.clone().anchored(&split.base);
    let model = split.model(config);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (mut engine, mut state) = if resume {
        let state: RunState = serde_json::from_str(
            &std::fs::read_to_string(files.state())
                .map_err(|e| TrainError::file(&files.state(), e))?,
        )
        .map_err(|e| TrainError::invalid(&files.state(), e.to_string()))?;
        // The last checkpoint holds the weights and running statistics exactly (f32).
        let (last, descriptor) = load_model(&files.last())?;
        if descriptor.model != model {
            return Err(TrainError::invalid(
                &files.last(),
                "the checkpoint's model differs from the config's",
            ));
        }
        let more_epochs = check_resumed_config(&record, &files, state.epochs_done)?;
        let engine = crate::engine::resume(config, out, last)?;
        let pos: u128 = state
            .rng_word_pos
            .parse()
            .map_err(|_| TrainError::invalid(&files.state(), "bad RNG position"))?;
        rng.set_word_pos(pos);
        let repair = check_log(&files.log(), state.epochs_done, state.global_step)?;
        // Every check passed: only now do the run's files change.
        if let Some(repair) = repair {
            progress(Progress::Note(repair.apply()?));
        }
        if let Some(started) = more_epochs {
            let path = files.config();
            urisc_io::write_atomically(&path, true, |f| f.write_all(record.to_toml().as_bytes()))?;
            progress(Progress::Warning(format!(
                "resuming with train.epochs = {} instead of {started} (recorded in {}; the learning-rate schedule stretches to the new length)",
                config.train.epochs,
                path.display()
            )));
        }
        (engine, state)
    } else {
        let mut net = urisc_nn::seeded_net(&model, config.seed)
            .map_err(crate::config::ConfigError::Invalid)?;
        if let Some(c) = &split.coarse {
            net.coarse = Some(Box::new(c.stage.clone()));
        }
        let engine = crate::engine::start(config, net)?;
        let state = RunState {
            epochs_done: 0,
            global_step: 0,
            rng_word_pos: "0".into(),
            best_f1: -1.0,
        };
        // A fresh run starts a fresh log; the config and split are written beside it. A state
        // left by the run it replaces goes first: it describes none of the new files.
        if has_state {
            std::fs::remove_file(files.state()).map_err(|e| TrainError::file(&files.state(), e))?;
        }
        urisc_io::write_atomically(&files.log(), true, |_| Ok(()))?;
        urisc_io::write_atomically(&files.config(), true, |f| {
            f.write_all(record.to_toml().as_bytes())
        })?;
        let split_json = serde_json::json!({
            "train": split.train.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "validation": split.validation.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        });
        urisc_io::write_atomically(&files.split(), true, |f| {
            f.write_all(split_json.to_string().as_bytes())
        })?;
        (engine, state)
    };

    let train_images: Vec<LabelledImage> = split
        .train
        .iter()
        .map(|(_, li)| LabelledImage {
            image: li.image.clone(),
            label: li.label.clone(),
        })
        .collect();
    let sampler = CropSampler::new(&train_images, config.crop.clone());
    let total_steps = config.train.epochs * config.train.steps_per_epoch;
    let (b, s) = (config.train.batch, config.crop.size);
    let mut logs = Vec::new();
    progress(Progress::Start {
        first_epoch: state.epochs_done,
        total_steps,
    });
    // The loss a diverging run is compared with: the first step's (a fresh run), else the
    // first logged epoch's.
    let mut first_loss: Option<f64> = read_log(&files.log())
        .ok()
        .and_then(|l| l.first().map(|e| e.train_loss));
    let mut warned = false;
    // Wall time already spent, for `train.max_minutes` (a resumed run counts its earlier epochs).
    let mut spent: f64 = read_log(&files.log())
        .map(|l| l.iter().map(|e| e.seconds).sum())
        .unwrap_or(0.0);
    for epoch in state.epochs_done..config.train.epochs {
        let started = Instant::now();
        let mut loss_sum = 0f64;
        let mut lr = config.optim.lr;
        for step in 0..config.train.steps_per_epoch {
            let t0 = Instant::now();
            let mut images = Vec::with_capacity(b * s * s);
            let mut targets = Vec::with_capacity(b * s * s);
            for _ in 0..b {
                let tile = config.augment.apply(&sampler.sample(&mut rng), &mut rng);
                images.extend(
                    tile.image
                        .iter()
                        .map(|&v| urisc_nn::Normalization::default().apply(v)),
                );
                targets.extend_from_slice(&tile.target);
            }
            lr = config
                .schedule
                .lr_at(config.optim.lr, state.global_step, total_steps);
            let value = engine
                .step(config, images, targets, (b, s), lr)
                .map_err(|loss| TrainError::NonFinite {
                    loss,
                    epoch,
                    step,
                    checkpoint: if files.last().exists() {
                        files.last().display().to_string()
                    } else {
                        "(none yet)".into()
                    },
                })?;
            state.global_step += 1;
            loss_sum += value as f64;
            first_loss.get_or_insert(value as f64);
            progress(Progress::Step {
                epoch,
                step,
                steps: config.train.steps_per_epoch,
                loss: value,
                tiles_per_second: b as f64 / t0.elapsed().as_secs_f64(),
            });
        }
        let inference = engine.inference_net();
        let (val_f1, threshold) = best_threshold(
            &*engine.segmenter(ModelDescriptor::new(model.clone(), s)),
            &split.validation,
            config.crop.size as f64 / config.crop.crop as f64,
        )?;
        let log = EpochLog {
            epoch,
            global_step: state.global_step,
            lr,
            train_loss: loss_sum / config.train.steps_per_epoch as f64,
            val_f1,
            val_threshold: threshold,
            seconds: started.elapsed().as_secs_f64(),
        };
        let first = first_loss.unwrap_or(log.train_loss);
        if !warned && first > 0.0 && log.train_loss > 100.0 * first {
            warned = true;
            progress(Progress::Warning(format!(
                "training is diverging: epoch {epoch} train loss {:.4} is {:.0}× the first epoch's {first:.4} (lower optim.lr?)",
                log.train_loss,
                log.train_loss / first
            )));
        }
        state.epochs_done = epoch + 1;
        state.rng_word_pos = rng.get_word_pos().to_string();
        let mut descriptor = ModelDescriptor::new(model.clone(), s);
        descriptor.threshold = threshold as f32;
        // Crops of `crop` pixels resized to `size`: the network sees pixels that much larger.
        descriptor.pixel_size_nm = config
            .data
            .pixel_size_nm
            .map(|p| p * config.crop.crop as f64 / config.crop.size as f64);
        descriptor
            .training
            .insert("data".into(), config.data.path.display().to_string());
        descriptor
            .training
            .insert("validation".into(), config.data.validation.join(","));
        descriptor
            .training
            .insert("seed".into(), config.seed.to_string());
        if let Some(c) = &config.coarse {
            descriptor.training.insert(
                "coarse".into(),
                format!(
                    "{} (frozen, input downsampled {}×)",
                    c.model.display(),
                    c.factor
                ),
            );
        }
        descriptor
            .training
            .insert("epochs".into(), state.epochs_done.to_string());
        descriptor
            .training
            .insert("val_f1".into(), format!("{val_f1:.4}"));
        save_model(&files.last(), &inference, &descriptor, true)?;
        if val_f1 > state.best_f1 {
            state.best_f1 = val_f1;
            save_model(&files.best(), &inference, &descriptor, true)?;
        }
        engine.save_state(out)?;
        append_line(
            &files.log(),
            &serde_json::to_string(&log).expect("log serialises"),
        )?;
        draw_curves(&files)?;
        urisc_io::write_atomically(&files.state(), true, |f| {
            f.write_all(serde_json::to_string(&state).unwrap().as_bytes())
        })?;
        spent += log.seconds;
        progress(Progress::Epoch(log.clone()));
        logs.push(log);
        if let Some(limit) = config.train.max_minutes {
            if spent >= limit * 60.0 && epoch + 1 < config.train.epochs {
                progress(Progress::Warning(format!(
                    "wall-clock budget of {limit} min reached after epoch {epoch} ({:.0} s): stopping ({} of {} epochs done)",
                    spent,
                    epoch + 1,
                    config.train.epochs
                )));
                break;
            }
        }
    }
    // Also when there was nothing left to train (a finished run resumed): the plot is current.
    draw_curves(&files)?;
    created.keep();
    Ok(logs)
}

/// Compares the config of a resumed run with the one it was started with: any change but
/// `train.epochs` is refused, naming the keys, and so is an epoch count below the epochs
/// already done; returns the run's own epoch count when the config's differs (the caller
/// records the new one in the run's `config.toml`, and says so).
fn check_resumed_config(
    config: &TrainConfig,
    files: &RunFiles,
    epochs_done: usize,
) -> Result<Option<usize>, TrainError> {
    let path = files.config();
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::file(&path, e))?;
    let started =
        TrainConfig::parse(&text, &[]).map_err(|e| TrainError::invalid(&path, e.to_string()))?;
    let changed: Vec<String> = crate::config::differences(&started, config)
        .into_iter()
        // The epoch count may grow; the engine is checked by its own checkpoint files.
        .filter(|(key, ..)| key != "train.epochs" && key != "train.engine")
        .map(|(key, was, now)| format!("{key} ({was} → {now})"))
        .collect();
    if !changed.is_empty() {
        return Err(TrainError::invalid(
            &files.dir,
            format!(
                "--resume would change {}; resume with the run's own config, or start over with --force",
                changed.join(", ")
            ),
        ));
    }
    if config.train.epochs < epochs_done {
        return Err(TrainError::invalid(
            &files.dir,
            format!(
                "the run has done {epochs_done} epochs already; train.epochs = {} would train nothing (raise it to continue)",
                config.train.epochs
            ),
        ));
    }
    Ok((config.train.epochs != started.train.epochs).then_some(started.train.epochs))
}

/// Redraws the training curves from the whole log, so a resumed run's plot shows every epoch.
fn draw_curves(files: &RunFiles) -> Result<(), TrainError> {
    let history = read_log(&files.log())?;
    let svg = crate::plot::training_curves_svg(&history);
    urisc_io::write_atomically(&files.curves(), true, |f| f.write_all(svg.as_bytes()))?;
    let png = crate::plot::training_curves_png(&history);
    urisc_io::write_atomically(&files.curves_png(), true, |f| f.write_all(&png))?;
    Ok(())
}

/// Best validation F1 and its threshold (100 steps of 0.01); (0, 0.5) without validation data.
/// Validates on the engine's kernels: urisc's own for the CPU engine, burn's on its device, at
/// the training `scale` (crop.size / crop.crop), the map back on the validation image's grid.
fn best_threshold(
    segmenter: &(dyn SegmentationModel + Sync),
    validation: &[(String, LabelledImage)],
    scale: f64,
) -> Result<(f64, f64), urisc_model::ModelError> {
    if validation.is_empty() {
        return Ok((0.0, 0.5));
    }
    // The whole image in one tile (padded by reflection): no blending seams in validation.
    let whole = InferenceOptions {
        tile: usize::MAX,
        overlap: 0,
        batch: 1,
        tta: 1,
    };
    let mut probs = Vec::new();
    let mut membrane = Vec::new();
    for (_, li) in validation {
        probs.extend(predict_image_scaled(segmenter, &li.image, &whole, scale)?.data);
        membrane.extend(li.label.data.iter().map(|&v| label_is_membrane(v)));
    }
    let best = urisc_metrics::best_f1_threshold(&probs, &membrane, 100);
    Ok((best.scores.f1, best.threshold))
}
