//! `urisc bench …`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar};
use urisc_bench::Event;
use urisc_eval::timing::{read_label_slices, time_evaluation};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Run a benchmark suite (SUITE.toml: datasets, methods, budget, seeds): train or load each
    /// method, predict each dataset's test split, score every metric, and write a leaderboard
    /// (Markdown, CSV, JSON), bar plots and an HTML report. Finished runs are reused,
    /// interrupted training resumes, failed runs are retried.
    Run(BenchRunArgs),
    /// Time every metric on a full-size U-RISC-like pair (bundled ISBI labels upsampled 2× and
    /// tiled to 9959 × 9958), with peak memory per metric, then `urisc eval` end to end on the
    /// pair written as PNG.
    Eval {
        /// Folder of ISBI label slices to build the pair from.
        #[arg(long, default_value = "data/isbi2012/labels", value_name = "DIR")]
        labels: PathBuf,
        /// Section size as ROWSxCOLUMNS.
        #[arg(long, default_value = "9959x9958", value_name = "HxW", value_parser = crate::synth::parse_size)]
        size: (usize, usize),
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Time a U-Net training step (batch 4 × 256², BCE, Adam) and a 512² forward pass on
    /// urisc's CPU kernels, with GFLOP/s against this machine's fp32 peak measured in the same
    /// run. `bench/speed/run.sh` runs the same network in PyTorch beside it.
    Speed {
        /// Base width of the U-Net (channels of the first level).
        #[arg(long, default_value_t = 16)]
        width: usize,
        /// Levels of the U-Net.
        #[arg(long, default_value_t = 5)]
        depth: usize,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Untimed steps first.
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Timed steps (the median is reported).
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Print exactly one JSON line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct BenchRunArgs {
    /// The suite file (see suites/ and docs/commands/bench.md).
    #[arg(value_name = "SUITE.toml")]
    suite: PathBuf,
    /// Output folder [default: bench-results/SUITE-NAME].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run only these methods and/or datasets (names; repeatable); the leaderboard still
    /// shows every finished run.
    #[arg(long, value_name = "NAME", num_args = 1..)]
    only: Vec<String>,
    /// Re-run the selected runs from scratch (training included), and accept an output folder
    /// that holds other results.
    #[arg(long)]
    force: bool,
}

fn run_suite(args: BenchRunArgs) -> Result<()> {
    let suite = urisc_bench::Suite::load(&args.suite)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("bench-results").join(&suite.name));
    let options = urisc_bench::Options {
        out: out.clone(),
        only: args.only.clone(),
        force: args.force,
    };
    let bars = MultiProgress::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let suite_bar = bars.add(crate::progress::bar(0, "suite"));
    let mut run_bar: Option<ProgressBar> = None;
    let mut to_do = 0;
    let outcome = urisc_bench::run_suite(&suite, &options, &mut |event| match event {
        Event::Plan { total, reused } => {
            to_do = total - reused;
            suite_bar.set_length(to_do as u64);
            crate::progress::say(
                &suite_bar,
                format!(
                    "urisc bench: suite {} — {total} runs, {reused} finished already, {to_do} to do, into {}",
                    suite.name,
                    out.display()
                ),
            );
        }
        Event::RunStart { index, id } => {
            suite_bar.set_message(format!("run {}/{to_do}: {id}", index + 1));
        }
        Event::Stage(stage, units) => {
            if let Some(b) = run_bar.take() {
                b.finish_and_clear();
            }
            let b = bars.add(crate::progress::bar(units as u64, stage));
            run_bar = Some(b);
        }
        Event::Training(p) => {
            if let Some(b) = &run_bar {
                match p {
                    urisc_train::Progress::Start {
                        first_epoch: _,
                        total_steps,
                    } => b.set_length(*total_steps as u64),
                    urisc_train::Progress::Step { epoch, loss, .. } => {
                        b.set_message(format!("epoch {epoch} loss {loss:.4}"));
                        b.inc(1);
                    }
                    urisc_train::Progress::Epoch(log) => {
                        b.set_position(log.global_step as u64);
                        if b.is_hidden() {
                            // Logs (no terminal) keep one line per epoch.
                            eprintln!(
                                "urisc bench:   epoch {:>3}: train loss {:.4}, validation F1 {:.4}, {:.0} s",
                                log.epoch, log.train_loss, log.val_f1, log.seconds
                            );
                        }
                    }
                    urisc_train::Progress::Warning(m) => {
                        crate::progress::say(b, format!("urisc bench: warning: {m}"))
                    }
                    urisc_train::Progress::Note(m) => {
                        crate::progress::say(b, format!("urisc bench: note: {m}"))
                    }
                }
            }
        }
        Event::Tick => {
            if let Some(b) = &run_bar {
                b.inc(1);
            }
        }
        Event::RunEnd(record) => {
            if let Some(b) = run_bar.take() {
                b.finish_and_clear();
            }
            suite_bar.inc(1);
            let line = match (&record.status, &record.scores) {
                (urisc_bench::Status::Done, Some(s)) => format!(
                    "urisc bench: {} done: F1 {:.4}, V_rand {:.4}, ARE {:.4}{}",
                    record.id,
                    s.f1.unwrap_or(f64::NAN),
                    s.vrand.unwrap_or(f64::NAN),
                    s.are.unwrap_or(f64::NAN),
                    record
                        .train_seconds
                        .map_or(String::new(), |t| format!(", trained {t:.0} s"))
                ),
                _ => format!(
                    "urisc bench: {} FAILED: {}",
                    record.id,
                    record.error.as_deref().unwrap_or("unknown error")
                ),
            };
            crate::progress::say(&suite_bar, line);
        }
    })?;
    suite_bar.finish_and_clear();
    print!("{}", outcome.leaderboard.markdown());
    eprintln!(
        "urisc bench: {} runs carried out ({} trained, {} failed), {} reused; wrote:",
        outcome.executed, outcome.trained, outcome.failed, outcome.reused
    );
    for f in &outcome.files {
        eprintln!("  {}", f.display());
    }
    anyhow::ensure!(
        outcome.failed == 0,
        "{} run(s) failed (their errors are in the leaderboard); re-run the suite to retry them",
        outcome.failed
    );
    Ok(())
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Run(args) => run_suite(args),
        BenchCommand::Speed {
            width,
            depth,
            threads,
            warmup,
            steps,
            json,
        } => {
            let threads = threads.unwrap_or_else(rayon::current_num_threads);
            anyhow::ensure!(threads >= 1, "--threads must be at least 1");
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build_global()?;
            anyhow::ensure!(width >= 1, "--width must be at least 1");
            anyhow::ensure!(steps >= 1, "--steps must be at least 1 (timed steps)");
            anyhow::ensure!(
                (1..=8).contains(&depth),
                "--depth must be 1 to 8, not {depth}"
            );
            let options = urisc_train::SpeedOptions {
                width,
                depth,
                warmup,
                steps,
            };
            let r = urisc_train::measure_speed(&options, threads);
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("U-Net width {width}, depth {depth}, {threads} threads, {} kernels (median of {steps} after {warmup} warm-up)", r.kernels);
                println!(
                    "  train step 4×256²: {:.3} s  {:.1} GFLOP/s  ({:.0} % of peak)",
                    r.train_step_s,
                    r.gflops_train,
                    100.0 * r.gflops_train / r.peak_gflops
                );
                println!(
                    "  forward 512²:      {:.3} s  {:.1} GFLOP/s  ({:.0} % of peak)",
                    r.fwd512_s,
                    r.gflops_fwd,
                    100.0 * r.gflops_fwd / r.peak_gflops
                );
                println!("  fp32 FMA peak (measured): {:.1} GFLOP/s", r.peak_gflops);
            }
            Ok(())
        }
        BenchCommand::Eval {
            labels,
            size,
            threads,
            json,
        } => {
            if let Some(t) = threads {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build_global()?;
            }
            let (h, w) = size;
            // The pair is a synth mosaic: the same bound on its size.
            urisc_data::synth::check_request(&[], 1, Some(size)).map_err(anyhow::Error::msg)?;
            let slices = read_label_slices(&labels)?;
            eprintln!(
                "building a {h}×{w} pair from {} label slices…",
                slices.len()
            );
            let timings = time_evaluation(&slices, h, w)?;
            print!(
                "{}",
                if json {
                    timings.to_json()
                } else {
                    timings.to_table()
                }
            );
            Ok(())
        }
    }
}
