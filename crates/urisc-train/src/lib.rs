//! Training membrane segmentation networks (SPEC §6): a TOML config with `--set` overrides
//! ([`TrainConfig`]), losses ([`LossConfig`]), learning-rate schedules ([`ScheduleConfig`]) and
//! the seeded, validated, checkpointed and resumable loop ([`train`]).

mod config;
mod engine;
mod loss;
mod plot;
mod schedule;
mod speed;
mod trainer;

pub use config::{DataConfig, OptimConfig, RunConfig, TrainConfig};
pub use engine::EngineKind;
pub use loss::LossConfig;
pub use plot::{training_curves_png, training_curves_svg};
pub use schedule::{ScheduleConfig, ScheduleKind};
pub use speed::{measure_speed, SpeedOptions, SpeedReport};
pub use trainer::{load_split, read_log, train, EpochLog, Progress, RunFiles, Split, TrainError};
