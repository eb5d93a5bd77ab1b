//! `urisc eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use urisc_eval::{evaluate_as, pair_inputs, render, MetricSet, OutputFormat, PredValues, Protocol};

#[derive(Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// GT membrane = value ≤ 122, prediction membrane = value < 128 (the competition rules).
    Binarized,
    /// The competition's eval.py: grey-weighted sums; the prediction must be binary with at most
    /// ~1/6 membrane (black), else an error.
    Faithful,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PredValuesArg {
    /// Float maps marked as membrane probabilities in their metadata (what `urisc predict
    /// --probability-type f32` writes) are read as p and scored as 1 − p; all other maps,
    /// unmarked float maps included, are membrane dark.
    Auto,
    /// Membrane dark (0 = membrane), whatever the metadata says.
    Dark,
    /// Membrane probabilities, whatever the metadata says: float p in [0, 1] with 1 = membrane
    /// (e.g. a sigmoid output saved by another tool), or 8/16-bit maps with membrane at full
    /// scale; inverted before scoring.
    Probability,
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
    /// Prediction: a PNG/TIFF file, a multi-page TIFF stack, an OME-Zarr store, or a folder
    /// (membrane black; see --pred-values for probability maps).
    #[arg(long, value_name = "PATH")]
    pred: PathBuf,
    /// How prediction values are read: `auto` (float maps urisc marked as membrane
    /// probabilities are scored as 1 − p, everything else as membrane dark), `dark`, or
    /// `probability` (membrane bright, e.g. another tool's sigmoid output; inverted).
    #[arg(long, value_enum, default_value = "auto", value_name = "HOW")]
    pred_values: PredValuesArg,
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
        // Refuse before spending minutes on a large section; the table never replaces an
        // input, whatever --force says.
        let inputs = urisc_io::sections::input_files(&[args.pred.clone(), args.gt.clone()])?;
        urisc_io::paths::refuse_input(out, &inputs)?;
        urisc_io::check_writable(out, args.force)?;
    }
    if args.instances {
        if args.pred_values != PredValuesArg::Auto {
            anyhow::bail!(
                "--pred-values does not apply to --instances (label images hold cell ids)"
            );
        }
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
    let values = match args.pred_values {
        PredValuesArg::Auto => PredValues::Auto,
        PredValuesArg::Dark => PredValues::Dark,
        PredValuesArg::Probability => PredValues::Probability,
    };
    let report = evaluate_as(&pairs, protocol, values, &metrics, &|name| {
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
    let inverted = report.images.iter().filter(|i| i.pred_inverted).count();
    if inverted > 0 && args.pred_values == PredValuesArg::Auto {
        eprintln!(
            "urisc: note: {inverted} prediction(s) are marked as membrane probabilities (float p, 1 = membrane) and were scored as 1 − p (--pred-values dark reads them as they are)"
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
