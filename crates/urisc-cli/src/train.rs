//! `urisc train`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use urisc_train::{load_split, refuse_inputs, train, Progress, TrainConfig};

#[derive(Args)]
pub struct TrainArgs {
    /// Training config (TOML); see configs/ for examples. Unknown keys are errors.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Override a config value, e.g. --set optim.lr=0.0005 --set train.epochs=40 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Run folder for checkpoints (last/best), log.jsonl, config.toml and split.json
    /// [default: runs/CONFIG-STEM, the config file's stem].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the run in --out exactly where it stopped (optimizer state, schedule, RNG).
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Start over in an --out that holds a run or a model (replacing it; never one of the run's
    /// inputs).
    #[arg(long)]
    force: bool,
}

pub fn run(args: TrainArgs) -> Result<()> {
    urisc_cpu::Recycling::keep_freed_blocks(true);
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("{}: cannot read", args.config.display()))?;
    let base = args
        .config
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let config = TrainConfig::parse(&text, &args.overrides)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(args.config.file_stem().unwrap_or_default()));
    refuse_inputs(&out, &args.config, &config, args.resume)?;
    let split = load_split(&config, &base)?;
    let total = (config.train.epochs * config.train.steps_per_epoch) as u64;
    let bar = crate::progress::bar(total, "training");
    let (train_count, validation_count) = (split.train.len(), split.validation.len());
    let logs = train(
        &config,
        &split,
        &out,
        args.resume,
        args.force,
        &mut |p| match p {
            Progress::Start { first_epoch, .. } => {
                crate::progress::say(
                    &bar,
                    format!(
                    "urisc train: {train_count} training / {validation_count} validation images, \
                     epochs {first_epoch}..{} × {} steps × batch {}, into {}",
                    config.train.epochs,
                    config.train.steps_per_epoch,
                    config.train.batch,
                    out.display()
                ),
                );
                bar.set_position((first_epoch * config.train.steps_per_epoch) as u64);
            }
            Progress::Step {
                epoch,
                loss,
                tiles_per_second,
                ..
            } => {
                bar.set_message(format!(
                    "epoch {epoch} loss {loss:.4} {tiles_per_second:.1} tiles/s"
                ));
                bar.inc(1);
            }
            Progress::Warning(message) => {
                crate::progress::say(&bar, format!("urisc train: warning: {message}"));
            }
            Progress::Note(message) => {
                crate::progress::say(&bar, format!("urisc train: note: {message}"));
            }
            Progress::Epoch(log) => {
                bar.set_position(log.global_step as u64);
                crate::progress::say(&bar, format!(
                "epoch {:>3}: train loss {:.4}, validation F1 {:.4} at threshold {:.2}, lr {:.2e}, {:.0} s",
                log.epoch, log.train_loss, log.val_f1, log.val_threshold, log.lr, log.seconds
            ));
            }
        },
    )?;
    bar.finish_and_clear();
    if let Some(last) = logs.last() {
        eprintln!(
            "urisc train: done, validation F1 {:.4}; best model {}, log {}",
            last.val_f1,
            out.join("best.safetensors").display(),
            out.join("log.jsonl").display()
        );
    }
    Ok(())
}
