//! A run folder's files and its epoch log (`log.jsonl`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// One line of `log.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub global_step: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub val_f1: f64,
    pub val_threshold: f64,
    pub seconds: f64,
}

/// Files of a run folder.
pub struct RunFiles {
    pub dir: PathBuf,
}

impl RunFiles {
    pub fn last(&self) -> PathBuf {
        self.dir.join("last.safetensors")
    }
    pub fn best(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }
    pub(crate) fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn split(&self) -> PathBuf {
        self.dir.join("split.json")
    }
    pub fn curves(&self) -> PathBuf {
        self.dir.join("training-curves.svg")
    }
    pub fn curves_png(&self) -> PathBuf {
        self.dir.join("training-curves.png")
    }
}

/// The epochs logged so far in a run's `log.jsonl`.
pub fn read_log(path: &Path) -> Result<Vec<EpochLog>, TrainError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrainError::Setup(format!("{}: {e}", path.display())))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| TrainError::Setup(format!("{}: bad line: {e}", path.display())))
        })
        .collect()
}

pub(crate) fn append_line(path: &Path, line: &str) -> Result<(), TrainError> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| TrainError::Setup(format!("{}: {e}", path.display())))?;
    writeln!(f, "{line}").map_err(|e| TrainError::Setup(format!("{}: {e}", path.display())))
}
