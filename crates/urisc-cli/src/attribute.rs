//! `urisc attribute`: integrated gradients at target pixels and the context curve (how much of
//! the attribution lies within distance r), with heatmaps; `urisc attribute compare` draws the
//! curves of several runs (datasets, resolutions, models) in one plot; `urisc attribute study`
//! compares conditions over several training seeds with bootstrap intervals.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use urisc_attrib::heatmap::{HeatmapMode, HeatmapStyle};
use urisc_attrib::ig::{Rule, TargetClass};
use urisc_attrib::job::{self, AttribJobError, AttributionJob, AttributionOutcome, TargetChoice};
use urisc_attrib::report::compare_table;
use urisc_attrib::study::{study_table, StudySettings};
use urisc_attrib::targets;
use urisc_io::sections::Section;
use urisc_nn::{Engine, Segmenter};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AttributeArgs {
    #[command(subcommand)]
    command: Option<AttributeCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum AttributeCommand {
    /// Draw the context curves of several `urisc attribute` runs (their attribution.json) in one
    /// SVG plot and print their R50/R90 side by side.
    Compare(CompareArgs),
    /// Compare conditions (e.g. training resolutions), each with several models (training
    /// seeds) and images: mean per-target R50/R90 with two-level bootstrap intervals (models,
    /// then targets), ratios to the first group, a JSON report and an SVG plot.
    Study(StudyArgs),
}

#[derive(Args)]
struct StudyArgs {
    /// A condition: its label, then its runs' attribution.json files; runs of the same model
    /// file are pooled as one model. Repeat per condition; ratios are to the first.
    #[arg(
        long = "group",
        value_name = "NAME=JSON,JSON,…",
        required = true,
        num_args = 1
    )]
    groups: Vec<String>,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 10_000)]
    resamples: usize,
    /// Coverage of the percentile intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Seed of the resampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The SVG plot to write; the numbers go beside it as the same name with .json.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct CompareArgs {
    /// attribution.json files written by `urisc attribute`.
    #[arg(required = true, num_args = 2.., value_name = "JSON")]
    reports: Vec<PathBuf>,
    /// The SVG plot to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Overwrite an existing plot.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum RuleArg {
    /// Right Riemann sum α = i/n, i = 1..n (the authors').
    Right,
    /// Trapezoid rule over α = i/n, i = 0..n.
    Trapezoid,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClassArg {
    /// The membrane logit.
    Membrane,
    /// The negated membrane logit (the authors attributed the non-membrane output).
    Background,
}

#[derive(Clone, Copy, ValueEnum)]
enum HeatmapArg {
    /// Red positive, blue negative (normalised by max |IG|).
    Signed,
    /// |IG| in red.
    Absolute,
}

#[derive(Args)]
struct RunArgs {
    // Model, image and output are checked in `RunArgs::job` rather than marked required:
    // clap would then demand them of `urisc attribute compare` too.
    /// Model file (.safetensors written by `urisc train`) [default: the model embedded in urisc].
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Kernels: `cpu` (urisc's own), `burn` (burn's default device: `BURN_DEVICE`, or a GPU
    /// when urisc is built with `--features gpu`) or `onnx` (tract, for ONNX graphs urisc cannot
    /// map onto its own network; built with `--features onnx`; predictions only).
    #[arg(long, default_value = "cpu", value_name = "ENGINE")]
    engine: Engine,
    /// The image to attribute (sides must be multiples of the model's size multiple); each page
    /// of a multi-page TIFF or plane of a 3-D Zarr array is attributed on its own. Required.
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Output folder: attribution.json, context-curve.csv/.svg, heatmaps/, montage.png; for a
    /// stack, one folder OUT/STEM_zNNN/ of these per page. Required.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Label of this run in comparison plots [default: the image's file stem; STEM_zNNN (or
    /// NAME_zNNN) for the pages of a stack].
    #[arg(long)]
    name: Option<String>,
    /// Targets on a grid with this step (authors: 10 on 512² with offset 4, 8 on 256²).
    #[arg(long, value_name = "STEP", conflicts_with_all = ["pixels", "label"])]
    grid: Option<usize>,
    /// First row and column of the grid.
    #[arg(long, value_name = "O", default_value_t = 0, requires = "grid")]
    grid_offset: usize,
    /// Targets given as "row,col;row,col;…".
    #[arg(long, value_name = "LIST", conflicts_with = "label")]
    pixels: Option<String>,
    /// Targets: every true-positive membrane pixel (membrane in this label and predicted
    /// membrane at the model's threshold, as `urisc predict` tiles it). For a stack, a label
    /// stack of as many pages.
    #[arg(long, value_name = "FILE")]
    label: Option<PathBuf>,
    /// Attribute at most this many targets, sampled uniformly with --seed.
    #[arg(long, value_name = "N")]
    max_targets: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Pixel size of the image in nm/pixel, where its file does not record it (or records it
    /// wrongly). With the model's pixel size it sets the scale the image is attributed at.
    #[arg(long, value_name = "NM")]
    pixel_size: Option<f64>,
    /// Resample the image by this factor before attributing (0.5: at half the resolution), then
    /// crop it to the model's size multiple. Targets are chosen in the image's coordinates and
    /// mapped onto the resampled grid; radii are in its pixels [default: the image's pixel size
    /// over the model's, when both are known; else 1].
    #[arg(long, value_name = "SCALE")]
    scale: Option<f64>,
    /// Interpolation steps between the baseline (mid-grey) and the image.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    #[arg(long, value_enum, default_value_t = RuleArg::Right)]
    rule: RuleArg,
    /// Which logit to attribute.
    #[arg(long, value_enum, default_value_t = ClassArg::Membrane)]
    target: ClassArg,
    /// Whole-image heatmaps (over the image) for this many targets, evenly spread.
    #[arg(long, default_value_t = 4)]
    heatmaps: usize,
    #[arg(long, value_enum, default_value_t = HeatmapArg::Signed)]
    heatmap_mode: HeatmapArg,
    /// Colour opacity |v|^gamma of the normalised IG v: 1 is the authors' linear scale; the
    /// default 0.5 shows the many small values too.
    #[arg(long, default_value_t = 0.5)]
    heatmap_gamma: f32,
    /// Tiles of up to this many targets (evenly spread) in montage.png; 0 for none.
    #[arg(long, default_value_t = 64)]
    montage: usize,
    /// Half-side of montage tiles [default: the model's context radius, at most 64].
    #[arg(long)]
    montage_half: Option<usize>,
    /// Largest batch × crop pixels per gradient call: bounds memory (on 2 CPU cores, 2^18 was
    /// as fast as smaller batches and 30 % faster than 2^22).
    #[arg(long, default_value_t = job::DEFAULT_BATCH_PIXELS)]
    batch_pixels: usize,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
}

pub fn run(args: AttributeArgs) -> Result<()> {
    match args.command {
        Some(AttributeCommand::Compare(compare)) => run_compare(compare),
        Some(AttributeCommand::Study(args)) => run_study(args),
        None => run_attribution(args.run),
    }
}

impl RunArgs {
    /// The job over the whole image (before [`AttributionJob::per_section`] splits a stack).
    fn job(&self) -> Result<AttributionJob> {
        let (Some(image), Some(out)) = (&self.image, &self.out) else {
            anyhow::bail!("urisc attribute needs --image FILE and --out DIR");
        };
        let targets = if let Some(step) = self.grid {
            TargetChoice::Grid {
                step,
                offset: self.grid_offset,
            }
        } else if let Some(list) = &self.pixels {
            TargetChoice::Pixels(targets::parse_pixels(list)?)
        } else if let Some(label) = &self.label {
            TargetChoice::Label(Section::single(label))
        } else {
            anyhow::bail!("choose targets with --grid STEP, --pixels \"r,c;r,c\" or --label FILE");
        };
        Ok(AttributionJob {
            max_targets: self.max_targets,
            seed: self.seed,
            steps: self.steps,
            rule: match self.rule {
                RuleArg::Right => Rule::Right,
                RuleArg::Trapezoid => Rule::Trapezoid,
            },
            class: match self.target {
                ClassArg::Membrane => TargetClass::Membrane,
                ClassArg::Background => TargetClass::Background,
            },
            heatmaps: self.heatmaps,
            heatmap_style: HeatmapStyle {
                mode: match self.heatmap_mode {
                    HeatmapArg::Signed => HeatmapMode::Signed,
                    HeatmapArg::Absolute => HeatmapMode::Absolute,
                },
                gamma: self.heatmap_gamma,
            },
            montage: self.montage,
            montage_half: self.montage_half,
            batch_pixels: self.batch_pixels,
            name: self.name.clone(),
            model_name: self.model.as_ref().map_or_else(
                || urisc_nn::EMBEDDED_MODEL_NAME.to_string(),
                |p| p.display().to_string(),
            ),
            force: self.force,
            pixel_size_nm: self.pixel_size,
            scale: self.scale,
            available_memory_bytes: urisc_eval::memory::available_memory_bytes(),
            ..AttributionJob::new(Section::single(image), targets, out.clone())
        })
    }
}

fn run_attribution(args: RunArgs) -> Result<()> {
    let job = args.job()?;
    job.validate()?;
    let model = Segmenter::load_or_default(args.model.as_deref(), args.engine)?;
    let defaults = model.descriptor().defaults();
    let jobs = job.per_section()?;
    // Every page's memory and fixed outputs are checked before the first is computed.
    for job in &jobs {
        job.check_memory()?;
        job.check_outputs()?;
    }
    for job in &jobs {
        let prepared = job::prepare(&model, &defaults, job)?;
        if let Some(resampling) = &prepared.resampling {
            eprintln!("attributing {resampling}");
        }
        let mut bar = None;
        let outcome = prepared.run(&model, &mut |done, total| {
            bar.get_or_insert_with(|| crate::progress::bar(total as u64, "target-steps"))
                .set_position(done as u64);
        })?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        print_outcome(&outcome);
    }
    Ok(())
}

fn print_outcome(outcome: &AttributionOutcome) {
    let report = &outcome.report;
    let c = outcome.completeness;
    match &report.summary {
        Some(s) => println!(
            "{}: {} targets × {} gradient evaluations in {:.1} s ({:.1} ms per target-step); \
             R50 = {} px, R90 = {} px of the mean curve (per-target medians {} and {}); \
             completeness: mean |ΣIG − Δlogit| = {:.4} against mean |Δlogit| = {:.4}",
            report.name,
            report.targets.len(),
            outcome.evaluations,
            report.seconds,
            1e3 * report.seconds_per_target_step,
            s.r50_of_mean,
            s.r90_of_mean,
            s.r50.median,
            s.r90.median,
            c.mean_gap,
            c.mean_difference
        ),
        None => println!("{}: every attribution map is zero", report.name),
    }
    eprintln!("urisc attribute: wrote {}", outcome.out.display());
}

fn run_study(args: StudyArgs) -> Result<()> {
    let groups = args
        .groups
        .iter()
        .map(|spec| {
            let (name, files) = spec
                .split_once('=')
                .with_context(|| format!("--group {spec}: expected NAME=JSON,JSON,…"))?;
            let files = files
                .split(',')
                .filter(|f| !f.is_empty())
                .map(PathBuf::from);
            Ok((name.to_string(), files.collect()))
        })
        .collect::<Result<Vec<_>>>()?;
    let settings = StudySettings {
        resamples: args.resamples,
        confidence: args.confidence,
        seed: args.seed,
    };
    let outcome =
        job::study_runs(&groups, &settings, &args.out, args.force).map_err(|e| match e {
            AttribJobError::Study(e) => anyhow::anyhow!("urisc attribute study: {e}"),
            e => e.into(),
        })?;
    print!("{}", study_table(&outcome.result, args.confidence));
    eprintln!(
        "urisc attribute study: wrote {} and {}",
        outcome.svg.display(),
        outcome.json.display()
    );
    Ok(())
}

fn run_compare(args: CompareArgs) -> Result<()> {
    let reports = job::compare_runs(&args.reports, &args.out, args.force)?;
    print!("{}", compare_table(&reports));
    eprintln!("urisc attribute compare: wrote {}", args.out.display());
    Ok(())
}
