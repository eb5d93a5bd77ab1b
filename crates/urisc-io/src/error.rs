//! [`IoError`]: every I/O failure names its file and says what kind of failure it is.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, for callers that react differently (tests, exit codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoErrorKind {
    /// The file could not be opened or read.
    Open,
    /// The file is damaged or truncated.
    Corrupt,
    /// A valid file in a form urisc does not read (e.g. CMYK).
    Unsupported,
    /// An output exists and overwriting was not allowed.
    Exists,
    /// Writing failed (disk full, permissions).
    Write,
    /// The data is readable but does not fit the task (size mismatch, empty folder, …).
    Invalid,
}

/// An error that always names the file it is about; displays as one line `PATH: problem`.
#[derive(Debug)]
pub struct IoError {
    /// The file or folder the error is about.
    pub path: PathBuf,
    /// What kind of failure it is.
    pub kind: IoErrorKind,
    /// The problem in words, one line, without the path.
    pub message: String,
}

impl IoError {
    /// An error about `path`; `message` is what is shown after `PATH: `.
    pub fn new(path: &Path, kind: IoErrorKind, message: impl Into<String>) -> Self {
        IoError {
            path: path.to_path_buf(),
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn open(path: &Path, e: std::io::Error) -> Self {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => format!("cannot read: {e}"),
        };
        IoError::new(path, IoErrorKind::Open, message)
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for IoError {}
