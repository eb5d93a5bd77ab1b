//! A run folder's files and its epoch log (`log.jsonl`): which folders hold a run, which inputs
//! a run folder may not be, the log's appends and its repair after a crash.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
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

    /// The names of the files in the folder that a run writes (or a model is), sorted: any of
    /// them makes the folder hold a run, whichever others are missing (a shipped model folder
    /// holds no `state.json`). Besides the files above: the engines' optimizer state
    /// (`last.*`) and any `.safetensors` model.
    pub fn present(&self) -> Vec<String> {
        let named = [
            self.last(),
            self.best(),
            self.state(),
            self.log(),
            self.config(),
            self.split(),
            self.curves(),
            self.curves_png(),
        ];
        let mut found: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                named
                    .iter()
                    .any(|p| p.file_name().is_some_and(|f| f == n.as_str()))
                    || n.starts_with("last.")
                    || n.ends_with(".safetensors")
            })
            .collect();
        found.sort();
        found
    }
}

/// The files and folders a run reads: its config file, the dataset and the coarse model
/// (relative paths against the config file's folder, as `load_split` reads them).
pub fn run_inputs(config_file: &Path, config: &TrainConfig) -> Vec<PathBuf> {
    let base = config_file.parent().unwrap_or(Path::new(""));
    let mut inputs = vec![config_file.to_path_buf(), base.join(&config.data.path)];
    inputs.extend(config.coarse.iter().map(|c| base.join(&c.model)));
    inputs
}

/// Refuses a run folder `out` that is, lies inside or holds one of the run's inputs
/// ([`run_inputs`]), whatever `--force` says ([`urisc_io::paths::refuse_input`]): a run never
/// writes over what it reads. The one exception is the run's own `config.toml` named by
/// `--resume`, which the run keeps as its record.
pub fn refuse_inputs(
    out: &Path,
    config_file: &Path,
    config: &TrainConfig,
    resume: bool,
) -> Result<(), TrainError> {
    let own = RunFiles {
        dir: out.to_path_buf(),
    }
    .config();
    let resolved = urisc_io::paths::resolved;
    let inputs: Vec<PathBuf> = run_inputs(config_file, config)
        .into_iter()
        // An input that does not exist is no file to protect (its reader names it later).
        .filter(|p| p.exists() && !(resume && resolved(p) == resolved(&own)))
        .collect();
    urisc_io::paths::refuse_input(out, &inputs)?;
    Ok(())
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

/// Appends one line: the whole line and its newline in one write, synced before the epoch's
/// `state.json` is written, so a crash leaves at most one partial last line (which
/// [`check_log`] finds on `--resume`).
pub(crate) fn append_line(path: &Path, line: &str) -> Result<(), TrainError> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| TrainError::file(path, e))?;
    f.write_all(format!("{line}\n").as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(|e| TrainError::file(path, e))
}

/// What [`check_log`] found to remove from a resumed run's log, applied once every other check
/// of the resume has passed.
#[derive(Debug)]
pub(crate) struct LogRepair {
    path: PathBuf,
    kept: Vec<u8>,
    note: String,
}

impl LogRepair {
    /// Writes the log cut back to the checkpoint (atomically); returns the note saying so.
    pub(crate) fn apply(self) -> Result<String, TrainError> {
        urisc_io::write_atomically(&self.path, true, |f| f.write_all(&self.kept))?;
        Ok(self.note)
    }
}

/// Checks a resumed run's log against its checkpoint (`epochs_done` epochs, ending at
/// `global_step`). What a crash left after the checkpoint's epochs — a partial last line, or
/// epochs logged before their `state.json` was written, which are trained again — is to be
/// removed (the returned repair). A log that lacks the checkpoint's epochs, or is damaged among
/// them, is refused: it cannot be told apart from a different run's.
pub(crate) fn check_log(
    path: &Path,
    epochs_done: usize,
    global_step: usize,
) -> Result<Option<LogRepair>, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::file(path, e))?;
    let mut kept = 0; // bytes of the checkpoint's epochs
    let mut epochs = 0;
    for (number, piece) in (1..).zip(bytes.split_inclusive(|&b| b == b'\n')) {
        if epochs == epochs_done {
            break;
        }
        if piece.iter().all(u8::is_ascii_whitespace) && piece.ends_with(b"\n") {
            kept += piece.len();
            continue;
        }
        let entry = piece
            .strip_suffix(b"\n")
            .and_then(|l| serde_json::from_slice::<EpochLog>(l).ok());
        let Some(entry) = entry.filter(|e| e.epoch == epochs) else {
            return Err(TrainError::invalid(
                path,
                format!(
                    "line {number} is not epoch {epochs}'s record, but the checkpoint has done {epochs_done} epochs: the log does not belong to the checkpoint (start over with --force)"
                ),
            ));
        };
        epochs += 1;
        kept += piece.len();
        if epochs == epochs_done && entry.global_step != global_step {
            return Err(TrainError::invalid(
                path,
                format!(
                    "epoch {} ends at step {}, the checkpoint at step {global_step}: the log does not belong to the checkpoint (start over with --force)",
                    entry.epoch, entry.global_step
                ),
            ));
        }
    }
    if epochs < epochs_done {
        return Err(TrainError::invalid(
            path,
            format!(
                "holds {epochs} epochs, the checkpoint {epochs_done}: the log does not belong to the checkpoint (start over with --force)"
            ),
        ));
    }
    let rest = &bytes[kept..];
    if rest.is_empty() {
        return Ok(None);
    }
    let complete = rest.iter().filter(|&&b| b == b'\n').count();
    let partial = !rest.ends_with(b"\n");
    let what = match (complete, partial) {
        (0, _) => "a partial last line (a crash while it was written)".to_string(),
        (n, false) => format!("{n} line(s) logged after the checkpoint"),
        (n, true) => format!("{n} line(s) logged after the checkpoint and a partial last line"),
    };
    let note = format!(
        "{}: removed {what}; the log ends at the checkpoint (epoch {epochs_done}, step {global_step}), and training continues from there",
        path.display()
    );
    Ok(Some(LogRepair {
        path: path.to_path_buf(),
        kept: bytes[..kept].to_vec(),
        note,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(epoch: usize, global_step: usize) -> String {
        let log = EpochLog {
            epoch,
            global_step,
            lr: 1e-3,
            train_loss: 0.5,
            val_f1: 0.6,
            val_threshold: 0.5,
            seconds: 1.0,
        };
        serde_json::to_string(&log).unwrap() + "\n"
    }

    #[test]
    fn a_log_is_cut_back_to_the_checkpoint_or_refused() {
        let repair_log = |path: &Path, epochs: usize, step: usize| {
            check_log(path, epochs, step).map(|r| r.map(|r| r.apply().unwrap()))
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let good = line(0, 4) + &line(1, 8);

        std::fs::write(&path, &good).unwrap();
        assert_eq!(repair_log(&path, 2, 8).unwrap(), None, "nothing to repair");

        std::fs::write(&path, good.clone() + "{\"epoch\":2,\"glo").unwrap();
        let note = repair_log(&path, 2, 8).unwrap().unwrap();
        assert!(note.contains("removed a partial last line"), "{note}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), good);

        // Logged, then killed before state.json: the epoch is trained again.
        std::fs::write(&path, good.clone() + &line(2, 12) + "{").unwrap();
        let note = repair_log(&path, 2, 8).unwrap().unwrap();
        assert!(
            note.contains("1 line(s) logged after the checkpoint and a partial last line"),
            "{note}"
        );
        assert_eq!(read_log(&path).unwrap().len(), 2);

        for (text, needle) in [
            (line(0, 4), "holds 1 epochs, the checkpoint 2"),
            (
                line(0, 4) + "{\"epo\n" + &line(1, 8),
                "line 2 is not epoch 1's record",
            ),
            (line(0, 4) + &line(1, 9), "the checkpoint at step 8"),
        ] {
            std::fs::write(&path, &text).unwrap();
            let e = repair_log(&path, 2, 8).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                text,
                "left as it was"
            );
        }
    }

    #[test]
    fn any_file_a_run_writes_makes_a_folder_hold_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let files = RunFiles {
            dir: dir.path().to_path_buf(),
        };
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        std::fs::write(dir.path().join(urisc_io::lock::LOCK_FILE), "").unwrap();
        assert!(files.present().is_empty());
        std::fs::write(files.log(), "").unwrap();
        std::fs::write(dir.path().join("best.safetensors"), "").unwrap();
        std::fs::write(dir.path().join("last.optimizer.bpk"), "").unwrap();
        assert_eq!(
            files.present(),
            ["best.safetensors", "last.optimizer.bpk", "log.jsonl"]
        );
    }
}
