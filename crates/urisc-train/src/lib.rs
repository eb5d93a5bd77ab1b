//! Training membrane segmentation networks (SPEC §6): a TOML config with `--set` overrides
//! ([`TrainConfig`]), losses ([`LossConfig`]), learning-rate schedules ([`ScheduleConfig`]) and
//! the seeded, validated, checkpointed and resumable loop ([`train`]).

mod config;
mod engine;
mod error;
mod loss;
mod plot;
mod run;
mod schedule;
mod speed;
mod trainer;

pub use config::{ConfigError, DataConfig, OptimConfig, RunConfig, TrainConfig};
pub use error::TrainError;
pub use loss::LossConfig;
pub use plot::{training_curves_png, training_curves_svg};
pub use run::{read_log, refuse_inputs, run_inputs, EpochLog, RunFiles};
pub use schedule::{ScheduleConfig, ScheduleKind};
pub use speed::{measure_speed, SpeedOptions, SpeedReport};
pub use trainer::{load_coarse, load_split, train, Coarse, Progress, Split};
/// Which engine trains (config key `train.engine`: `"cpu"` or `"burn"`).
pub use urisc_nn::Engine as EngineKind;
