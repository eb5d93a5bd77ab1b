//! `urisc attribute`: integrated gradients at target pixels and the context curve (how much of
//! the attribution lies within distance r), with heatmaps; `urisc attribute compare` draws the
//! curves of several runs (datasets, resolutions, models) in one plot; `urisc attribute study`
//! compares conditions over several training seeds with bootstrap intervals.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use urisc_attrib::context::max_radius_for;
use urisc_attrib::heatmap::{montage, render_full, write_rgb_png, HeatmapMode, HeatmapStyle};
use urisc_attrib::ig::{integrated_gradients, logit_differences, IgSettings, Rule, TargetClass};
use urisc_attrib::plot::{context_curves_svg, study_svg};
use urisc_attrib::report::{curve_csv, AttributionReport, CurveCollector};
use urisc_attrib::study::{study, Interval, StudyGroup, StudySettings};
use urisc_attrib::targets;
use urisc_infer::{predict_image_scaled, InferenceOptions};
use urisc_io::{encoding::label_is_membrane, write_atomically};
use urisc_model::SegmentationModel;
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
    // Model, image and output are checked in `run_attribution` rather than marked required:
    // clap would then demand them of `urisc attribute compare` too.
    /// Model file (.safetensors written by `urisc train`) [default: the model embedded in urisc].
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Kernels: `cpu` (urisc's own), `burn` (burn's default device: `BURN_DEVICE`, or a GPU
    /// when urisc is built with `--features gpu`) or `onnx` (tract, for ONNX graphs urisc cannot
    /// map onto its own network; built with `--features onnx`; predictions only).
    #[arg(long, default_value = "cpu", value_name = "ENGINE")]
    engine: Engine,
    /// The image to attribute (sides must be multiples of the model's size multiple). Required.
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Output folder: attribution.json, context-curve.csv/.svg, heatmaps/, montage.png. Required.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Label of this run in comparison plots [default: the image's file stem].
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
    /// membrane at the model's threshold).
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
    #[arg(long, default_value_t = 1 << 18)]
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

fn read_report(path: &std::path::Path) -> Result<AttributionReport> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str::<AttributionReport>(&text)
        .with_context(|| format!("{}: not an attribution report", path.display()))
}

fn run_study(args: StudyArgs) -> Result<()> {
    let json_path = args.out.with_extension("json");
    for path in [&args.out, &json_path] {
        if path.exists() && !args.force {
            anyhow::bail!("{}: exists (use --force to overwrite)", path.display());
        }
    }
    let groups = args
        .groups
        .iter()
        .map(|spec| {
            let (name, files) = spec
                .split_once('=')
                .with_context(|| format!("--group {spec}: expected NAME=JSON,JSON,…"))?;
            let reports = files
                .split(',')
                .filter(|f| !f.is_empty())
                .map(|f| read_report(std::path::Path::new(f)))
                .collect::<Result<Vec<_>>>()?;
            Ok(StudyGroup {
                name: name.to_string(),
                reports,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let settings = StudySettings {
        resamples: args.resamples,
        confidence: args.confidence,
        seed: args.seed,
    };
    let result =
        study(&groups, &settings).map_err(|e| anyhow::anyhow!("urisc attribute study: {e}"))?;
    let json = serde_json::to_string_pretty(&result)?;
    write_atomically(&json_path, args.force, |f| {
        std::io::Write::write_all(f, json.as_bytes())
    })?;
    let svg = study_svg(&result);
    write_atomically(&args.out, args.force, |f| {
        std::io::Write::write_all(f, svg.as_bytes())
    })?;
    let show = |i: Interval| format!("{:.1} [{:.1}, {:.1}]", i.estimate, i.low, i.high);
    let show_ratio = |i: Interval| format!("{:.2} [{:.2}, {:.2}]", i.estimate, i.low, i.high);
    let percent = args.confidence * 100.0;
    println!(
        "group\tmodels\ttargets\tR50 px ({percent:.0} % CI)\tR90 px\tR50 / first\tR90 / first\tR50 nm\tR90 nm\tseed SD R50, R90\tR90 seeds separated"
    );
    for g in &result.groups {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.1}, {:.1}\t{}",
            g.name,
            g.models.len(),
            g.models.iter().map(|m| m.targets).sum::<usize>(),
            show(g.r50),
            show(g.r90),
            show_ratio(g.r50_ratio),
            show_ratio(g.r90_ratio),
            g.r50_nm.map_or("-".into(), show),
            g.r90_nm.map_or("-".into(), show),
            g.between_model_sd_r50,
            g.between_model_sd_r90,
            match g.r90_seeds_separated {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
        );
        for m in &g.models {
            println!(
                "  {}\truns {}\ttargets {}\tR50 {:.1}\tR90 {:.1}",
                m.model, m.runs, m.targets, m.r50, m.r90
            );
        }
    }
    eprintln!(
        "urisc attribute study: wrote {} and {}",
        args.out.display(),
        json_path.display()
    );
    Ok(())
}

fn run_compare(args: CompareArgs) -> Result<()> {
    let reports = args
        .reports
        .iter()
        .map(|p| read_report(p))
        .collect::<Result<Vec<_>>>()?;
    let svg = context_curves_svg(&reports);
    write_atomically(&args.out, args.force, |f| {
        std::io::Write::write_all(f, svg.as_bytes())
    })?;
    let first = reports[0].summary.as_ref();
    println!("run\ttargets\tR50 px\tR90 px\tR50 median\tR90 median\tR90 / first\tR50 nm\tR90 nm");
    for report in &reports {
        let nm = |px: usize| {
            report
                .pixel_size_nm
                .map_or("-".to_string(), |size| format!("{:.0}", px as f64 * size))
        };
        match &report.summary {
            Some(s) => println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{:.2}\t{}\t{}",
                report.name,
                s.targets,
                s.r50_of_mean,
                s.r90_of_mean,
                s.r50.median,
                s.r90.median,
                first.map_or(f64::NAN, |f| s.r90_of_mean as f64 / f.r90_of_mean as f64),
                nm(s.r50_of_mean),
                nm(s.r90_of_mean)
            ),
            None => println!("{}\t0\t-\t-\t-\t-\t-\t-\t-", report.name),
        }
    }
    eprintln!("urisc attribute compare: wrote {}", args.out.display());
    Ok(())
}

/// Bytes per image pixel that attribution holds at once: the image (1) and its normalised copy
/// (4), a label (1) and tiled probabilities (4) with `--label`, one RGB heatmap (3).
const BYTES_PER_PIXEL: u64 = 13;

/// Refuses, from the image's header and before decoding it, an image whose attribution would
/// not fit in the memory available (instead of an allocation failure part-way).
fn check_memory(image_path: &std::path::Path, args: &RunArgs) -> Result<()> {
    let (height, width) = urisc_io::page_size(image_path, 0)?;
    let needed =
        (height as u64) * (width as u64) * BYTES_PER_PIXEL + args.batch_pixels as u64 * 4 * 64;
    if let Some(available) = urisc_eval::bench::available_memory_bytes() {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        anyhow::ensure!(
            needed <= available,
            "{}: {height}×{width} pixels need ≈ {:.1} GiB to attribute, {:.1} GiB is available (crop the region of interest first)",
            image_path.display(),
            gib(needed),
            gib(available)
        );
    }
    Ok(())
}

/// A target pixel: (row, column).
type Pixel = (usize, usize);

/// The image resampled by `scale` and cropped to a multiple of the model's size multiple, with
/// the targets (in the image's coordinates) moved onto that grid by their pixel centres; targets
/// that fall into the cropped border or onto a pixel taken already are dropped (and counted).
fn onto_scaled_grid(
    image: &urisc_io::Image<u8>,
    targets: &[Pixel],
    scale: f64,
    multiple: usize,
) -> Result<(urisc_io::Image<u8>, Vec<Pixel>)> {
    let (h, w) = (image.height, image.width);
    let (sh, sw) = (
        urisc_infer::scaled_len(h, scale),
        urisc_infer::scaled_len(w, scale),
    );
    let (ch, cw) = (sh / multiple * multiple, sw / multiple * multiple);
    anyhow::ensure!(
        ch > 0 && cw > 0,
        "{h}×{w} at scale {scale} is {sh}×{sw}, smaller than the model's size multiple {multiple}"
    );
    let resampled = urisc_infer::resample_image(image, sh, sw);
    let data = resampled
        .data
        .chunks(sw)
        .take(ch)
        .flat_map(|row| &row[..cw])
        .copied()
        .collect();
    let centre = |v: usize, from: usize, to: usize| {
        ((v as f64 + 0.5) * to as f64 / from as f64 - 0.5)
            .round()
            .max(0.0) as usize
    };
    let mut seen = std::collections::HashSet::new();
    let moved: Vec<Pixel> = targets
        .iter()
        .map(|&(r, c)| (centre(r, h, sh), centre(c, w, sw)))
        .filter(|&(r, c)| r < ch && c < cw && seen.insert((r, c)))
        .collect();
    anyhow::ensure!(
        !moved.is_empty(),
        "no target lies inside the image resampled by {scale} ({ch}×{cw})"
    );
    eprintln!(
        "attributing at scale {scale}: {h}×{w} resampled to {sh}×{sw}, cropped to {ch}×{cw}; {} of {} targets",
        moved.len(),
        targets.len()
    );
    Ok((urisc_io::Image::new(ch, cw, data), moved))
}

/// Targets in `image`'s coordinates; with `--label`, true positives of the model's prediction
/// made at `scale`, as `urisc predict` makes it.
fn choose_targets(
    args: &RunArgs,
    model: &Segmenter,
    image: &urisc_io::Image<u8>,
    scale: f64,
) -> Result<Vec<(usize, usize)>> {
    let (height, width) = (image.height, image.width);
    let all = if let Some(step) = args.grid {
        anyhow::ensure!(step >= 1, "--grid must be at least 1");
        targets::grid(height, width, step, args.grid_offset)
    } else if let Some(list) = &args.pixels {
        targets::parse_pixels(list)?
    } else if let Some(label_path) = &args.label {
        let label = urisc_io::read_u8(label_path)?;
        anyhow::ensure!(
            (label.height, label.width) == (height, width),
            "{}: label is {}×{}, image is {height}×{width}",
            label_path.display(),
            label.height,
            label.width
        );
        let membrane: Vec<bool> = label.data.iter().map(|&v| label_is_membrane(v)).collect();
        // Tiled, as `urisc predict` runs it: memory does not grow with a whole-image forward
        // pass. Probabilities map back to logits for the threshold test.
        let descriptor = model.descriptor();
        let options = InferenceOptions {
            tile: descriptor.tile_size,
            overlap: (descriptor.tile_size / 4).min(64),
            batch: 4,
            tta: 1,
        };
        let logits: Vec<f32> = predict_image_scaled(model, image, &options, scale)?
            .data
            .iter()
            .map(|&p| urisc_io::encoding::logit_from_probability(p))
            .collect();
        targets::true_positive_membrane(
            &membrane,
            &logits,
            targets::logit_threshold(model.descriptor().threshold),
            width,
        )
    } else {
        anyhow::bail!("choose targets with --grid STEP, --pixels \"r,c;r,c\" or --label FILE");
    };
    let chosen = match args.max_targets {
        Some(n) => targets::sample(&all, n, args.seed),
        None => all,
    };
    anyhow::ensure!(!chosen.is_empty(), "no target pixels to attribute");
    Ok(chosen)
}

fn run_attribution(args: RunArgs) -> Result<()> {
    let (Some(image_path), Some(out)) = (&args.image, &args.out) else {
        anyhow::bail!("urisc attribute needs --image FILE and --out DIR");
    };
    anyhow::ensure!(
        args.steps >= 1,
        "--steps {}: integrated gradients need at least 1 interpolation step",
        args.steps
    );
    anyhow::ensure!(
        args.heatmap_gamma.is_finite() && args.heatmap_gamma > 0.0,
        "--heatmap-gamma {}: must be finite and > 0",
        args.heatmap_gamma
    );
    let model = Segmenter::load_or_default(args.model.as_deref(), args.engine)?;
    check_memory(image_path, &args)?;
    for (flag, value) in [("--pixel-size", args.pixel_size), ("--scale", args.scale)] {
        if let Some(v) = value {
            anyhow::ensure!(
                v.is_finite() && v > 0.0,
                "{flag} {v}: must be a positive number"
            );
        }
    }
    let decoded = urisc_io::read_image(image_path)?;
    let input_nm = args.pixel_size.or(decoded.pixel_size_nm);
    let model_nm = model.descriptor().pixel_size_nm;
    let scale = args
        .scale
        .unwrap_or_else(|| urisc_infer::model_scale(input_nm, model_nm));
    let original = decoded.image.into_u8();
    let chosen = choose_targets(&args, &model, &original, scale)?;
    let (image, targets) = if scale == 1.0 {
        (original, chosen)
    } else {
        onto_scaled_grid(&original, &chosen, scale, model.size_multiple())
            .map_err(|e| anyhow::anyhow!("{}: {e}", image_path.display()))?
    };
    let pixel_size_nm = input_nm.map(|p| p / scale).or(model_nm);
    let (height, width) = (image.height, image.width);
    let normalized: Vec<f32> = image.data.iter().map(|&v| model.normalize(v)).collect();
    let in_image = |e: urisc_attrib::AttribError| anyhow::anyhow!("{}: {e}", image_path.display());
    urisc_attrib::ig::check_inputs(model.size_multiple(), height, width, &targets)
        .map_err(in_image)?;

    let json_path = out.join("attribution.json");
    let csv_path = out.join("context-curve.csv");
    let svg_path = out.join("context-curve.svg");
    let heatmap_dir = out.join("heatmaps");
    let montage_path = out.join("montage.png");
    let heatmap_for = targets::spread(targets.len(), args.heatmaps);
    let montage_for = targets::spread(targets.len(), args.montage);
    let heatmap_path =
        |(r, c): (usize, usize)| heatmap_dir.join(format!("target-r{r:04}-c{c:04}.png"));
    // Refuse before computing anything.
    for path in [&json_path, &csv_path, &svg_path] {
        urisc_io::check_writable(path, args.force)?;
    }
    for &k in &heatmap_for {
        urisc_io::check_writable(&heatmap_path(targets[k]), args.force)?;
    }
    if !montage_for.is_empty() {
        urisc_io::check_writable(&montage_path, args.force)?;
    }
    std::fs::create_dir_all(&heatmap_dir)
        .with_context(|| format!("{}: cannot create", heatmap_dir.display()))?;

    let settings = IgSettings {
        steps: args.steps,
        rule: match args.rule {
            RuleArg::Right => Rule::Right,
            RuleArg::Trapezoid => Rule::Trapezoid,
        },
        class: match args.target {
            ClassArg::Membrane => TargetClass::Membrane,
            ClassArg::Background => TargetClass::Background,
        },
        baseline: 0.0,
        max_batch_pixels: args.batch_pixels,
    };
    let differences = logit_differences(&model, &normalized, height, width, &targets, &settings)?;
    let index_of: std::collections::HashMap<(usize, usize), usize> =
        targets.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let evaluations = settings.rule.nodes(settings.steps).len();
    let bar = crate::progress::bar((targets.len() * evaluations) as u64, "target-steps");
    let mut collector = CurveCollector::new(max_radius_for(height, width));
    let mut kept = Vec::new();
    let started = Instant::now();
    integrated_gradients(
        &model,
        &normalized,
        height,
        width,
        &targets,
        &settings,
        |maps, target_steps| {
            for map in maps {
                let i = index_of[&map.target];
                collector.add(&map, differences[i]);
                if heatmap_for.contains(&i) || montage_for.contains(&i) {
                    kept.push((i, map));
                }
            }
            bar.inc(target_steps as u64);
        },
    )
    .map_err(in_image)?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    kept.sort_by_key(|(i, _)| *i);
    let style = HeatmapStyle {
        mode: match args.heatmap_mode {
            HeatmapArg::Signed => HeatmapMode::Signed,
            HeatmapArg::Absolute => HeatmapMode::Absolute,
        },
        gamma: args.heatmap_gamma,
    };
    for (i, map) in &kept {
        if heatmap_for.contains(i) {
            let rgb = render_full(map, Some(&image), style, height, width);
            write_rgb_png(&heatmap_path(map.target), &rgb, args.force)?;
        }
    }
    if !montage_for.is_empty() {
        let tiles: Vec<_> = kept
            .iter()
            .filter(|(i, _)| montage_for.contains(i))
            .map(|(_, m)| m.clone())
            .collect();
        let half = args
            .montage_half
            .unwrap_or_else(|| model.context_radius().unwrap_or(64).min(64));
        let columns = (tiles.len() as f64).sqrt().ceil() as usize;
        let rgb = montage(&tiles, Some(&image), style, half, columns, height, width);
        write_rgb_png(&montage_path, &rgb, args.force)?;
    }

    let summary = collector.summary();
    let name = args.name.clone().unwrap_or_else(|| {
        image_path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    });
    let report = AttributionReport {
        name,
        model: args.model.as_ref().map_or_else(
            || urisc_nn::EMBEDDED_MODEL_NAME.to_string(),
            |p| p.display().to_string(),
        ),
        image: image_path.display().to_string(),
        scale,
        height,
        width,
        pixel_size_nm,
        context_radius: model.context_radius(),
        seconds,
        seconds_per_target_step: seconds / (targets.len() * evaluations) as f64,
        settings,
        targets: collector.results.clone(),
        summary: summary.clone(),
    };
    let json = serde_json::to_string_pretty(&report)?;
    write_atomically(&json_path, args.force, |f| {
        std::io::Write::write_all(f, json.as_bytes())
    })?;
    if let Some(s) = &summary {
        let csv = curve_csv(s);
        write_atomically(&csv_path, args.force, |f| {
            std::io::Write::write_all(f, csv.as_bytes())
        })?;
    }
    let svg = context_curves_svg(std::slice::from_ref(&report));
    write_atomically(&svg_path, args.force, |f| {
        std::io::Write::write_all(f, svg.as_bytes())
    })?;

    let gaps: Vec<f64> = report
        .targets
        .iter()
        .map(|t| (t.sum_ig - t.logit_difference).abs())
        .collect();
    let mean_gap = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let mean_difference = report
        .targets
        .iter()
        .map(|t| t.logit_difference.abs())
        .sum::<f64>()
        / gaps.len() as f64;
    match &summary {
        Some(s) => println!(
            "{}: {} targets × {} gradient evaluations in {:.1} s ({:.1} ms per target-step); \
             R50 = {} px, R90 = {} px of the mean curve (per-target medians {} and {}); \
             completeness: mean |ΣIG − Δlogit| = {:.4} against mean |Δlogit| = {:.4}",
            report.name,
            targets.len(),
            evaluations,
            seconds,
            1e3 * report.seconds_per_target_step,
            s.r50_of_mean,
            s.r90_of_mean,
            s.r50.median,
            s.r90.median,
            mean_gap,
            mean_difference
        ),
        None => println!("{}: every attribution map is zero", report.name),
    }
    eprintln!("urisc attribute: wrote {}", out.display());
    Ok(())
}
