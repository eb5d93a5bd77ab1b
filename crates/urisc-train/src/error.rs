//! Why training stopped early: typed, each naming the file or the step, with the underlying
//! error as its source where there is one.

use std::path::{Path, PathBuf};

/// Why training could not start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file of the run or of the dataset could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file or folder exists but cannot be used as it is (a run folder that holds a run, a
    /// damaged run state, a dataset without training images, …).
    #[error("{}: {problem}", path.display())]
    Invalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong, in a phrase.
        problem: String,
    },
    /// The config or an override is wrong.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The engine the config names is not compiled into this build.
    #[error("train.engine = \"{0}\" needs a urisc built with `--features burn`, `gpu` or `cuda`")]
    EngineUnavailable(&'static str),
    /// An image of the dataset could not be read, or a file could not be written.
    #[error(transparent)]
    Io(#[from] urisc_io::IoError),
    /// A checkpoint could not be read or written.
    #[error(transparent)]
    Model(#[from] urisc_nn::ModelFileError),
    /// The network failed while validating.
    #[error("validation: the model failed: {0}")]
    Run(#[from] urisc_model::ModelError),
    /// The loss became NaN or infinite; nothing after the last good checkpoint was kept.
    #[error("loss became {loss} at epoch {epoch}, step {step}: training stopped; the last good checkpoint is {checkpoint}")]
    NonFinite {
        /// The non-finite loss.
        loss: f32,
        /// Epoch of the step (from 0).
        epoch: usize,
        /// Step within the epoch (from 0).
        step: usize,
        /// The last checkpoint written, or "(none yet)".
        checkpoint: String,
    },
}

impl TrainError {
    /// A file operation on `path` failed.
    pub fn file(path: &Path, source: std::io::Error) -> TrainError {
        TrainError::File {
            path: path.to_path_buf(),
            source,
        }
    }

    /// `path` exists but cannot be used.
    pub fn invalid(path: &Path, problem: impl Into<String>) -> TrainError {
        TrainError::Invalid {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}
