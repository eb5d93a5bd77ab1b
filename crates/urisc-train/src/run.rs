//! A run folder's files and its epoch log (`log.jsonl`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// One line of `log.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// The epoch, from 0.
    pub epoch: usize,
    /// Optimisation steps done by the end of the epoch.
    pub global_step: usize,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Best binarised F1 on the validation images (0 without validation data).
    pub val_f1: f64,
    /// The probability threshold that gave it.
    pub val_threshold: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

/// Files of a run folder.
pub struct RunFiles {
    /// The run folder.
    pub dir: PathBuf,
}

impl RunFiles {
    /// The model after the latest epoch (what `--resume` continues from).
    pub fn last(&self) -> PathBuf {
        self.dir.join("last.safetensors")
    }
    /// The model of the epoch with the best validation F1.
    pub fn best(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }
    pub(crate) fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// One JSON line per epoch ([`EpochLog`]).
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }
    /// The run's resolved config (overrides applied).
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// The sample names of the training and validation split.
    pub fn split(&self) -> PathBuf {
        self.dir.join("split.json")
    }
    /// Loss and validation F1 per epoch, as SVG.
    pub fn curves(&self) -> PathBuf {
        self.dir.join("training-curves.svg")
    }
    /// The same curves as PNG.
    pub fn curves_png(&self) -> PathBuf {
        self.dir.join("training-curves.png")
    }
}

/// The epochs logged so far in a run's `log.jsonl`.
pub fn read_log(path: &Path) -> Result<Vec<EpochLog>, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::file(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| TrainError::invalid(path, format!("bad line: {e}")))
        })
        .collect()
}

pub(crate) fn append_line(path: &Path, line: &str) -> Result<(), TrainError> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| TrainError::file(path, e))?;
    writeln!(f, "{line}").map_err(|e| TrainError::file(path, e))
}
