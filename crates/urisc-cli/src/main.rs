//! `urisc`: membrane segmentation for ultra-high-resolution EM. This binary only parses
//! arguments and prints; every capability lives in the library crates.

mod attribute;
mod bench;
mod cells;
mod cells_blocks;
mod cluster;
mod data;
mod eval;
mod model;
mod predict;
mod progress;
mod synth;
mod train;

use std::process::ExitCode;

/// Training keeps large freed buffers for the next one of their size (see `urisc_cpu::Recycling`:
/// fresh mappings and their page faults were 11 % of a width-64 training step).
#[global_allocator]
static ALLOCATOR: urisc_cpu::Recycling = urisc_cpu::Recycling;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "urisc",
    version,
    about = "Membrane segmentation for ultra-high-resolution electron microscopy",
    long_about = "Membrane segmentation for ultra-high-resolution electron microscopy (U-RISC, \
                  ISBI 2012). Images on disk use membrane = black (0), background = white (255)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score predictions against ground truth with the U-RISC and ISBI 2012 protocols.
    Eval(eval::EvalArgs),
    /// Inspect datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Run the shipped model on bundled ISBI slices, write U-RISC-format maps and score them.
    Demo(predict::DemoArgs),
    /// Segment images with a trained model (binary U-RISC-format maps, optional probabilities).
    Predict(predict::PredictArgs),
    /// Cells from membrane probability maps: seeded watershed and agglomeration, label images.
    Cells(cells::CellsArgs),
    /// Plan block-wise cells (descent watershed) for a scheduler: five stages, three of them
    /// array stages over blocks; the labels equal `urisc cells --watershed descent`.
    CellsPlan(cells_blocks::CellsPlanArgs),
    /// Run one stage (or one array task of a stage) of a planned block-wise cells run.
    CellsRun(cells_blocks::CellsRunArgs),
    /// Train a membrane segmentation network from a TOML config.
    Train(train::TrainArgs),
    /// Inspect networks and model files.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Make U-RISC-like test inputs (full-size sections, upsampled datasets) from labelled slices.
    #[command(subcommand)]
    Synth(synth::SynthCommand),
    /// Benchmarks: this machine's speed and memory (`bench speed`, …) and method suites with
    /// leaderboards and a report (`bench run`).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Integrated gradients at target pixels: how much context does a pixel need?
    Attribute(attribute::AttributeArgs),
    /// Plan a whole dataset for a cluster: output OME-Zarr stores and a block manifest for
    /// Slurm job arrays, Kubernetes Indexed Jobs or any sharding runner.
    Plan(cluster::PlanArgs),
    /// Process the blocks of one array task of a manifest (skips finished blocks). Exit codes:
    /// 0 done, 75 retryable (I/O), 78 fatal (bad manifest, model or input).
    RunBlock(cluster::RunBlockArgs),
    /// Done, failed and pending blocks of a manifest, per section.
    Status(cluster::StatusArgs),
    /// A finished manifest's stores to one PNG or TIFF per section (U-RISC format).
    Assemble(cluster::AssembleArgs),
}

/// Keeps freed activation buffers in the heap: glibc otherwise maps every buffer above its
/// mmap threshold afresh and returns it on free, so each training step or tile batch pays
/// page faults on tens of MB (measured: ~14 % of a training step).
fn keep_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// A bug must not print a Rust backtrace at a user: one line saying where, and that it is ours.
fn report_panics_in_one_line() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        // `urisc status | head`: the reader left, which is no bug. End as a Unix tool does when
        // its pipe closes (128 + SIGPIPE), silently.
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("urisc: internal error{place}: {message} (a bug in urisc: please report it)");
    }));
}

fn main() -> ExitCode {
    keep_large_allocations();
    report_panics_in_one_line();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => eval::run(args),
        Command::Data(cmd) => data::run(cmd),
        Command::Demo(args) => predict::run_demo(args),
        Command::Predict(args) => predict::run_predict(args),
        Command::Cells(args) => cells::run(args),
        Command::CellsPlan(args) => cells_blocks::run_plan(args),
        Command::CellsRun(args) => cells_blocks::run_stage(args),
        Command::Train(args) => train::run(args),
        Command::Model(cmd) => model::run(cmd),
        Command::Synth(cmd) => synth::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Attribute(args) => attribute::run(args),
        Command::Plan(args) => cluster::run_plan(args),
        Command::RunBlock(args) => cluster::run_block(args),
        Command::Status(args) => cluster::run_status(args),
        Command::Assemble(args) => cluster::run_assemble(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the file and the problem (SPEC §11), even when a file name holds
            // a newline or another control character.
            eprintln!("urisc: error: {}", urisc_io::one_line(&message(&e)));
            // Scale-out errors tell the scheduler whether a retry can help.
            match e.downcast_ref::<urisc_cluster::ClusterError>() {
                Some(c) => ExitCode::from(c.exit_code() as u8),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// The error and its causes, each said once: a cause whose message its wrapper already quotes
/// (a `#[from]` error shown as `{0}`) is not repeated.
fn message(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
