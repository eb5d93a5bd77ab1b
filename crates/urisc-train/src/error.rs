//! Why training stopped early.

/// Why training stopped early; every message names the file or the step.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Io(#[from] urisc_io::IoError),
    #[error(transparent)]
    Model(#[from] urisc_nn::ModelFileError),
    #[error("validation: the model failed: {0}")]
    Run(#[from] urisc_model::ModelError),
    #[error("loss became {loss} at epoch {epoch}, step {step}: training stopped; the last good checkpoint is {checkpoint}")]
    NonFinite {
        loss: f32,
        epoch: usize,
        step: usize,
        checkpoint: String,
    },
}
