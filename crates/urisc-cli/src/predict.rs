//! `urisc predict` and `urisc demo`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use urisc_eval::{evaluate, pair_inputs, render, MetricSet, OutputFormat, Protocol};
use urisc_infer::job::{PredictFlags, PredictSettings};
use urisc_infer::outputs::{OutputPlan, ProbabilitySamples};
use urisc_infer::run::{predict_planned, MapOptions, PredictEvent};
use urisc_infer::TTA_CHOICES;
use urisc_io::paths::{CreatedFolders, Inputs};
use urisc_io::StreamFormat;
use urisc_nn::{Engine, Segmenter};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MapFormat {
    Png,
    Tiff,
    /// Zarr v3 with OME-Zarr 0.5 metadata (chunked; pixel size in nm), for large sections.
    OmeZarr,
}

impl MapFormat {
    fn stream(self) -> StreamFormat {
        match self {
            MapFormat::Png => StreamFormat::Png,
            MapFormat::Tiff => StreamFormat::Tiff,
            MapFormat::OmeZarr => StreamFormat::OmeZarr,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbabilityType {
    /// 8-bit, membrane dark: value = 255·(1 − p), the U-RISC polarity `urisc eval` reads.
    U8,
    /// 32-bit float membrane probability p in [0, 1], 1 = membrane (TIFF or OME-Zarr), marked as
    /// such in the file (TIFF ImageDescription `urisc=membrane-probability`, OME-Zarr attribute
    /// "urisc": {"values": "membrane-probability"}); `urisc eval` sees the mark and scores 1 − p.
    F32,
}

#[derive(Args)]
pub struct PredictArgs {
    /// Model file (.safetensors written by `urisc train`, or an ONNX graph) [default: the model embedded in urisc,
    /// models/default/best.safetensors: a width-8 U-Net for ISBI 2012 at 4 nm/pixel].
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Kernels: `cpu` (urisc's own), `burn` (burn's default device: `BURN_DEVICE`, or a GPU
    /// when urisc is built with `--features gpu`) or `onnx` (tract, for ONNX graphs urisc cannot
    /// map onto its own network; built with `--features onnx`; predictions only).
    #[arg(long, default_value = "cpu", value_name = "ENGINE")]
    engine: Engine,
    /// Images (PNG, TIFF, JPEG), Zarr v3 / OME-Zarr stores, or folders of them; a multi-page
    /// TIFF or a 3-D Zarr is predicted plane by plane into STEM_zNNN maps.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Folder for binary U-RISC-format maps (membrane black, background white), one per input.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Format of the maps written.
    #[arg(long, value_enum, default_value_t = MapFormat::Png)]
    format: MapFormat,
    /// Also write probability maps here (they keep the full threshold sweep for V_rand / V_info).
    #[arg(long, value_name = "DIR")]
    probabilities: Option<PathBuf>,
    /// Sample type of the probability maps: `u8` is membrane dark like every urisc map, `f32` is
    /// p itself (membrane bright), marked in its metadata so `urisc eval` inverts it (other
    /// tools' float maps without the mark: `urisc eval --pred-values probability`).
    #[arg(long, value_enum, default_value_t = ProbabilityType::U8)]
    probability_type: ProbabilityType,
    /// Membrane iff probability ≥ this [default: the model's validation threshold].
    #[arg(long)]
    threshold: Option<f32>,
    /// Tile side [default: the model's training tile].
    #[arg(long)]
    tile: Option<usize>,
    /// Overlap of neighbouring tiles in pixels (blended with a Gaussian window; at most half the
    /// tile is used) [default: 64, or half the tile if smaller]. Must be smaller than the tile.
    #[arg(long)]
    overlap: Option<usize>,
    /// Tiles per forward pass.
    #[arg(long, default_value_t = urisc_infer::job::DEFAULT_BATCH)]
    batch: usize,
    /// Test-time augmentation: 1, 2, 4 or 8 dihedral transforms averaged in probability space.
    #[arg(long, default_value_t = 1, value_parser = parse_tta)]
    tta: usize,
    /// Clean-up: drop membrane specks and fill holes smaller than this many pixels (holds the
    /// binary map in memory, 1 byte per pixel).
    #[arg(long, value_name = "PIXELS")]
    min_size: Option<usize>,
    /// Pixel size of the inputs in nm/pixel, where their files do not record it (or record it
    /// wrongly). With the model's pixel size it sets the scale sections are predicted at.
    #[arg(long, value_name = "NM")]
    pixel_size: Option<f64>,
    /// Resample each section by this factor before predicting and its maps back onto its grid
    /// (0.5: predict at half the resolution) [default: the input's pixel size over the model's,
    /// when both are known; else 1].
    #[arg(long)]
    scale: Option<f64>,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
}

fn parse_tta(s: &str) -> Result<usize, String> {
    let tta: usize = s.parse().map_err(|_| format!("TTA {s}: not a number"))?;
    if TTA_CHOICES.contains(&tta) {
        Ok(tta)
    } else {
        Err(urisc_infer::job::SettingsError::Tta(tta).with_flag())
    }
}

impl PredictArgs {
    fn flags(&self) -> PredictFlags {
        PredictFlags {
            tile: self.tile,
            overlap: self.overlap,
            batch: Some(self.batch),
            tta: Some(self.tta),
            threshold: self.threshold,
            pixel_size_nm: self.pixel_size,
            scale: self.scale,
        }
    }
}

/// Predicts every section of the inputs; returns the binary maps written. Every output is
/// checked before anything is computed; a failed run removes the output folders it created
/// while still empty.
fn predict_files(args: &PredictArgs) -> Result<Vec<PathBuf>> {
    let model = Segmenter::load_or_default(args.model.as_deref(), args.engine)?;
    let settings = PredictSettings::resolve(&model.descriptor().defaults(), &args.flags())
        .map_err(|e| anyhow::anyhow!(e.with_flag()))?;
    if args.probability_type == ProbabilityType::F32 && args.probabilities.is_some() {
        anyhow::ensure!(
            args.format != MapFormat::Png,
            "--probability-type f32 needs --format tiff or ome-zarr (PNG holds 8-bit values)"
        );
    }
    let sections = urisc_io::sections::sections(&args.inputs)?;
    let mut plan = OutputPlan::new(
        &sections,
        &args.out,
        args.probabilities.as_deref(),
        args.format.stream().extension(),
        args.force,
    )?;
    // Dropped without `keep` (any error below), the plan removes the folders it created.
    plan.create_folders()?;
    let written = write_maps(args, &model, &plan, &settings)?;
    plan.keep();
    Ok(written)
}

fn write_maps(
    args: &PredictArgs,
    model: &Segmenter,
    plan: &OutputPlan,
    settings: &PredictSettings,
) -> Result<Vec<PathBuf>> {
    let options = MapOptions {
        format: args.format.stream(),
        probability: match args.probability_type {
            ProbabilityType::U8 => ProbabilitySamples::U8,
            ProbabilityType::F32 => ProbabilitySamples::F32,
        },
        min_size: args.min_size,
        overwrite: args.force,
    };
    let mut bar = None;
    let reports = predict_planned(model, plan, settings, &options, &mut |event| match event {
        PredictEvent::Start {
            section,
            size: (h, w),
            scale,
            scaled: (sh, sw),
            tiles,
        } => {
            if scale.scale != 1.0 {
                eprintln!(
                    "urisc predict: {}: predicting at scale {:.3} ({sh}×{sw}{}), maps back to {h}×{w}",
                    section.describe(),
                    scale.scale,
                    match (scale.input_nm, settings.model_pixel_size_nm, scale.from_pixel_sizes) {
                        (Some(i), Some(m), true) => format!(": input {i} nm/pixel, model {m} nm/pixel"),
                        _ => String::new(),
                    }
                );
            }
            let b = crate::progress::bar(tiles as u64, "tiles");
            b.set_message(section.describe());
            bar = Some(b);
        }
        PredictEvent::Tiles(done) => {
            if let Some(b) = &bar {
                b.set_position(done as u64);
            }
        }
        PredictEvent::Done(r) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            if let Some(changed) = r.cleaned {
                eprintln!(
                    "urisc predict: clean-up changed {changed} pixels of {}",
                    r.section.describe()
                );
            }
            let (h, w) = r.size;
            eprintln!(
                "urisc predict: {} ({h}×{w}): {:.1} s, {:.2} tiles/s ×{} TTA, {:.2} MPixel/s, peak memory {}",
                r.section.describe(),
                r.seconds,
                r.tiles as f64 / r.seconds,
                settings.options.tta,
                (h * w) as f64 / 1e6 / r.seconds,
                urisc_eval::memory::peak_rss_mib()
                    .map_or("unknown".into(), |m| format!("{m:.0} MiB")),
            );
        }
    })?;
    // The same warning `urisc eval` gives.
    let converted = reports.iter().filter(|r| r.colour_converted).count();
    if converted > 0 {
        eprintln!(
            "urisc: warning: {converted} image(s) were colour with unequal channels; converted to grey with luma weights"
        );
    }
    Ok(reports.into_iter().map(|r| r.binary).collect())
}

pub fn run_predict(args: PredictArgs) -> Result<()> {
    let written = predict_files(&args)?;
    eprintln!(
        "urisc predict: wrote {} map(s) to {}",
        written.len(),
        args.out.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct DemoArgs {
    /// The model to run [default: the shipped model, embedded in urisc].
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Bundled data: images/ and labels/ of the ISBI 2012 slices.
    #[arg(long, value_name = "DIR", default_value = "data/isbi2012")]
    data: PathBuf,
    /// Slices to segment (the default model's validation slices, not seen in training).
    #[arg(long, value_delimiter = ',', default_value = "16,17,18,19")]
    slices: Vec<String>,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "demo-output")]
    out: PathBuf,
    /// Overwrite a previous demo's outputs.
    #[arg(long)]
    force: bool,
}

/// The README's main job: segment bundled slices with the shipped model and score them.
pub fn run_demo(args: DemoArgs) -> Result<()> {
    anyhow::ensure!(
        args.data.join("images").is_dir(),
        "{}: no bundled data here (run from the repository root, or give --data DIR with images/ and labels/)",
        args.data.display()
    );
    let predict_inputs: Vec<PathBuf> = args
        .slices
        .iter()
        .map(|s| args.data.join("images").join(format!("{s}.png")))
        .collect();
    let (binary, probability) = (args.out.join("predictions"), args.out.join("probabilities"));
    // Every output and every label is checked before predicting, so a demo that cannot finish
    // fails before it writes anything; no output replaces a slice it reads, even with --force.
    let gt = args.out.join("labels");
    let report_path = args.out.join("scores.json");
    let sources: Vec<PathBuf> = args
        .slices
        .iter()
        .map(|s| args.data.join("labels").join(format!("{s}.png")))
        .chain(predict_inputs.iter().cloned())
        .collect();
    let inputs = Inputs::new(&sources);
    inputs.refuse(&report_path)?;
    urisc_io::check_writable(&report_path, args.force)?;
    anyhow::ensure!(
        !gt.exists() || gt.is_dir(),
        "{}: exists and is not a folder (the demo copies the labels there)",
        gt.display()
    );
    let mut copies = Vec::new();
    for s in &args.slices {
        let src = args.data.join("labels").join(format!("{s}.png"));
        anyhow::ensure!(src.is_file(), "{}: no such label", src.display());
        let dst = gt.join(format!("{s}.png"));
        inputs.refuse(&dst)?;
        urisc_io::check_writable(&dst, args.force)?;
        copies.push((src, dst));
    }
    // Dropped without `keep` (any error below), it removes the folders made while still empty.
    let mut created = CreatedFolders::new();
    created.create(&args.out)?;
    let predict = PredictArgs {
        model: args.model.clone(),
        engine: Engine::Cpu,
        inputs: predict_inputs,
        out: binary.clone(),
        format: MapFormat::Png,
        probabilities: Some(probability.clone()),
        probability_type: ProbabilityType::U8,
        threshold: None,
        tile: None,
        overlap: None,
        batch: urisc_infer::job::DEFAULT_BATCH,
        tta: 1,
        min_size: None,
        // The bundled slices are at the default model's 4 nm/pixel.
        pixel_size: None,
        scale: None,
        force: args.force,
    };
    predict_files(&predict)?;
    // Score against the labels of the same slices (copied beside them so names match).
    created.create(&gt)?;
    for (src, dst) in &copies {
        std::fs::copy(src, dst).with_context(|| format!("{}: cannot copy", src.display()))?;
    }
    let binary_report = evaluate(
        &pair_inputs(&binary, &gt)?,
        Protocol::Binarized,
        &MetricSet::all(),
        &|_| {},
    )?;
    let prob_report = evaluate(
        &pair_inputs(&probability, &gt)?,
        Protocol::Binarized,
        &MetricSet::parse("vrand,vinfo").expect("valid"),
        &|_| {},
    )?;
    let json = render(&binary_report, OutputFormat::Json);
    urisc_io::write_atomically(&report_path, args.force, |f| {
        std::io::Write::write_all(f, json.as_bytes())
    })?;
    created.keep();
    print!("{}", render(&binary_report, OutputFormat::Table));
    println!(
        "probability maps (full threshold sweep): V_rand {:.4}, V_info {:.4}",
        prob_report.mean.vrand.unwrap_or(f64::NAN),
        prob_report.mean.vinfo.unwrap_or(f64::NAN)
    );
    println!("binary U-RISC-format maps: {}", binary.display());
    println!("probability maps:          {}", probability.display());
    println!("labels used:               {}", gt.display());
    println!("scores (JSON):             {}", report_path.display());
    Ok(())
}
