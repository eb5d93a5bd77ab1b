//! Errors of the benchmark; each names the file concerned.

use std::path::{Path, PathBuf};

/// What can stop a suite (a single run's failure is a row of the leaderboard instead).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The suite file is wrong: unknown keys, bad values, missing datasets or models.
    #[error("{}: {message}", path.display())]
    Suite {
        /// The suite file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The output folder holds another suite's results.
    #[error("{}: {message}", path.display())]
    Output {
        /// The folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An image could not be read or written.
    #[error(transparent)]
    Image(#[from] urisc_io::IoError),
    /// A run failed (as a row's error).
    #[error("{0}")]
    Run(String),
}

impl BenchError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> BenchError {
        BenchError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
