//! Errors of scale-out jobs, split by what a scheduler should do about them.

use urisc_io::{IoError, IoErrorKind};

/// Exit code of `urisc run-block` for an error worth retrying (I/O, storage, a killed
/// process): `EX_TEMPFAIL` from `sysexits.h`. Slurm requeues and a Kubernetes
/// `podFailurePolicy` counts it against the retry limit.
pub const EXIT_RETRYABLE: i32 = 75;
/// Exit code for an error no retry can fix (bad manifest, model or input): `EX_CONFIG`. A
/// Kubernetes `podFailurePolicy` fails the job at once.
pub const EXIT_FATAL: i32 = 78;

/// A scale-out error: retryable or fatal.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Transient: reading or writing storage failed; a retry may succeed.
    #[error("{0}")]
    Retryable(String),
    /// Permanent: the manifest, the model or an input is wrong.
    #[error("{0}")]
    Fatal(String),
}

impl ClusterError {
    /// The process exit code for it.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClusterError::Retryable(_) => EXIT_RETRYABLE,
            ClusterError::Fatal(_) => EXIT_FATAL,
        }
    }

    /// Whether a retry may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, ClusterError::Retryable(_))
    }
}

impl From<IoError> for ClusterError {
    /// Opening, reading and writing failures are retryable (shared file systems come back);
    /// damaged, unsupported or mismatched data is not.
    fn from(e: IoError) -> Self {
        match e.kind {
            IoErrorKind::Open | IoErrorKind::Write => ClusterError::Retryable(e.to_string()),
            IoErrorKind::Corrupt
            | IoErrorKind::Unsupported
            | IoErrorKind::Exists
            | IoErrorKind::Invalid => ClusterError::Fatal(e.to_string()),
        }
    }
}
