//! `urisc bench …`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use urisc_eval::bench::{bench_metrics, synthetic_pair};
use urisc_eval::{evaluate, pair_inputs, MetricSet, Protocol};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time every metric on a full-size U-RISC-like pair (bundled ISBI labels upsampled 2× and
    /// tiled to 9959 × 9958), with peak memory per metric, then `urisc eval` end to end on the
    /// pair written as PNG.
    Eval {
        /// Folder of ISBI label slices to build the pair from.
        #[arg(long, default_value = "data/isbi2012/labels", value_name = "DIR")]
        labels: PathBuf,
        /// Section size as ROWSxCOLUMNS.
        #[arg(long, default_value = "9959x9958", value_name = "HxW")]
        size: String,
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

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
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
            let (h, w) = size
                .split_once(['x', '×'])
                .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
                .with_context(|| format!("--size: '{size}' is not ROWSxCOLUMNS"))?;
            let files = urisc_eval::image_files(&labels)?;
            anyhow::ensure!(
                !files.is_empty(),
                "{}: folder has no label images",
                labels.display()
            );
            let slices = files
                .iter()
                .map(|f| urisc_io::read_u8(f))
                .collect::<Result<Vec<_>, _>>()?;
            eprintln!(
                "building a {h}×{w} pair from {} label slices…",
                slices.len()
            );
            let (gt, pred) = synthetic_pair(&slices, h, w);
            let pred = urisc_io::GreyImage::U8(pred);
            let report = bench_metrics(&gt, &pred);
            let urisc_io::GreyImage::U8(pred) = pred else {
                unreachable!("built as 8-bit")
            };

            // End to end: decode two PNGs and score everything, as a user runs it.
            let dir = tempfile::tempdir()?;
            let (gp, pp) = (dir.path().join("gt.png"), dir.path().join("pred.png"));
            urisc_io::write_png(&gp, &gt, Some(2.18), false)?;
            urisc_io::write_png(&pp, &pred, Some(2.18), false)?;
            drop((gt, pred));
            urisc_eval::bench::reset_peak_rss();
            let t = std::time::Instant::now();
            let pairs = pair_inputs(&pp, &gp)?;
            evaluate(&pairs, Protocol::Binarized, &MetricSet::all(), &|_| {})?;
            let end_to_end = t.elapsed().as_secs_f64();
            let end_to_end_peak = urisc_eval::bench::peak_rss_mib();

            if json {
                let mut v = serde_json::to_value(&report)?;
                v["end_to_end_seconds"] = end_to_end.into();
                v["end_to_end_peak_rss_mib"] = end_to_end_peak.into();
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!(
                    "urisc bench eval: {}×{} pair, {} threads",
                    report.height, report.width, report.threads
                );
                println!(
                    "two 8-bit maps: {:.0} MiB; resident before metrics: {}",
                    report.two_maps_mib,
                    mib(report.baseline_rss_mib)
                );
                println!("{:<36} {:>9} {:>14}", "metric", "seconds", "peak RSS");
                for m in &report.metrics {
                    println!(
                        "{:<36} {:>9.2} {:>14}",
                        m.metric,
                        m.seconds,
                        mib(m.peak_rss_mib)
                    );
                }
                println!(
                    "{:<36} {:>9.2}",
                    "all metrics (in memory)", report.total_seconds
                );
                println!(
                    "{:<36} {:>9.2} {:>14}",
                    "urisc eval end to end (2 PNGs)",
                    end_to_end,
                    mib(end_to_end_peak)
                );
            }
            Ok(())
        }
    }
}

fn mib(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.0} MiB"))
        .unwrap_or_else(|| "n/a".into())
}
