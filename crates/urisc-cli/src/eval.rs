//! `urisc eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use urisc_eval::{evaluate, pair_inputs, render, MetricSet, OutputFormat, Protocol};

#[derive(Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// GT membrane = value ≤ 122, prediction membrane = value < 128 (the competition rules).
    Binarized,
    /// The competition's eval.py: grey-weighted sums; the prediction must be binary with at most
    /// ~1/6 membrane (black), else an error.
    Faithful,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Aligned columns for reading.
    Table,
    /// The stable interface: {"protocol", "images": [{"name", …}], "mean"}.
    Json,
    /// One row per image, then a "mean" row.
    Csv,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Prediction: a PNG/TIFF file, a multi-page TIFF stack, or a folder (membrane black).
    #[arg(long, value_name = "PATH")]
    pred: PathBuf,
    /// Ground truth of the same kind; folders are matched by file stem (membrane ≤ 122).
    #[arg(long, value_name = "PATH")]
    gt: PathBuf,
    /// How precision, recall and F1 are computed; every other metric uses binarised masks.
    #[arg(long, value_enum, default_value = "binarized")]
    protocol: ProtocolArg,
    /// Metrics to compute, comma-separated: f1, precision, recall, iou, dice, phd, vrand,
    /// vinfo, are, voi_split, voi_merge, or the groups all, pixel, isbi, voi.
    #[arg(long, default_value = "all", value_name = "LIST")]
    metrics: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: FormatArg,
    /// Write the result to FILE (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    force: bool,
    /// Score cells: --pred holds label images (cell ids, 0 = boundary, e.g. from `urisc cells`)
    /// and gets adapted Rand error, VOI split/merge, CREMI score, V_rand and V_info against the
    /// GT cells (--metrics and --protocol do not apply).
    #[arg(long)]
    instances: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let metrics = MetricSet::parse(&args.metrics).map_err(|e| anyhow::anyhow!("--metrics: {e}"))?;
    if let Some(out) = &args.out {
        // Refuse before spending minutes on a large section.
        urisc_io::check_writable(out, args.force)?;
    }
    if args.instances {
        let format = match args.format {
            FormatArg::Table => OutputFormat::Table,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Csv => OutputFormat::Csv,
        };
        let text = crate::cells::eval_instances(&args.pred, &args.gt, format)?;
        return match &args.out {
            Some(out) => {
                urisc_io::write_atomically(out, args.force, |f| {
                    std::io::Write::write_all(f, text.as_bytes())
                })?;
                eprintln!("urisc: wrote {}", out.display());
                Ok(())
            }
            None => {
                print!("{text}");
                Ok(())
            }
        };
    }
    let protocol = match args.protocol {
        ProtocolArg::Binarized => Protocol::Binarized,
        ProtocolArg::Faithful => Protocol::Faithful,
    };
    let format = match args.format {
        FormatArg::Table => OutputFormat::Table,
        FormatArg::Json => OutputFormat::Json,
        FormatArg::Csv => OutputFormat::Csv,
    };
    let pairs = pair_inputs(&args.pred, &args.gt)?;
    let bar = crate::progress::bar(pairs.len() as u64, "scoring");
    let report = evaluate(&pairs, protocol, &metrics, &|name| {
        bar.set_message(name.to_string());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let converted = report.images.iter().filter(|i| i.colour_converted).count();
    if converted > 0 {
        eprintln!(
            "urisc: warning: {converted} image(s) were colour with unequal channels; converted to grey with luma weights"
        );
    }
    let clamped: usize = report.images.iter().map(|i| i.out_of_range).sum();
    if clamped > 0 {
        let files = report.images.iter().filter(|i| i.out_of_range > 0);
        let names: Vec<&str> = files.map(|i| i.name.as_str()).take(3).collect();
        eprintln!(
            "urisc: warning: {clamped} floating-point pixel(s) outside [0, 1] were clamped (in {})",
            names.join(", ")
        );
    }
    let text = render(&report, format);
    match &args.out {
        Some(out) => {
            urisc_io::write_atomically(out, args.force, |f| {
                std::io::Write::write_all(f, text.as_bytes())
            })?;
            eprintln!(
                "urisc: scored {} image(s); wrote {}",
                report.images.len(),
                out.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
