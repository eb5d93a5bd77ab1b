//! `urisc predict` and `urisc demo`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use urisc_eval::{evaluate, pair_inputs, render, MetricSet, OutputFormat, Protocol};
use urisc_io::{write_png, Image};
use urisc_nn::burn::prelude::Device;
use urisc_nn::{load_model, predict_probabilities, Tiling};

#[derive(Args)]
pub struct PredictArgs {
    /// Model file (.safetensors written by `urisc train`).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Images (PNG/TIFF) or folders of images.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Folder for binary U-RISC-format maps (membrane black, background white), one per input.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write 8-bit probability maps here (membrane dark: value = 255·(1 − p)), which keep
    /// the full threshold sweep for V_rand / V_info.
    #[arg(long, value_name = "DIR")]
    probabilities: Option<PathBuf>,
    /// Membrane iff probability ≥ this [default: the model's validation threshold].
    #[arg(long)]
    threshold: Option<f32>,
    /// Tile side [default: the model's training tile].
    #[arg(long)]
    tile: Option<usize>,
    /// Overlap of neighbouring tiles in pixels (blended linearly).
    #[arg(long, default_value_t = 64)]
    overlap: usize,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
}

fn inputs_of(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let found = urisc_eval::image_files(p)?;
            anyhow::ensure!(
                !found.is_empty(),
                "{}: folder has no PNG or TIFF files",
                p.display()
            );
            files.extend(found);
        } else {
            anyhow::ensure!(p.exists(), "{}: no such file", p.display());
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Predicts every input; returns the binary maps written.
fn predict_files(args: &PredictArgs) -> Result<Vec<PathBuf>> {
    let device = Device::flex();
    let (net, descriptor) = load_model(&args.model, &device)?;
    let threshold = args.threshold.unwrap_or(descriptor.threshold);
    let tile = args.tile.unwrap_or(descriptor.tile_size);
    let multiple = descriptor.model.size_multiple();
    anyhow::ensure!(
        tile.is_multiple_of(multiple),
        "--tile {tile} is not a multiple of {multiple}"
    );
    let files = inputs_of(&args.inputs)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    if let Some(dir) = &args.probabilities {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let name = |dir: &Path, f: &Path| {
        dir.join(format!(
            "{}.png",
            f.file_stem().unwrap_or_default().to_string_lossy()
        ))
    };
    // Refuse before computing anything.
    for f in &files {
        urisc_io::check_writable(&name(&args.out, f), args.force)?;
        if let Some(dir) = &args.probabilities {
            urisc_io::check_writable(&name(dir, f), args.force)?;
        }
    }
    let bar = crate::progress::bar(files.len() as u64, "predicting");
    let mut written = Vec::new();
    for f in &files {
        bar.set_message(f.display().to_string());
        let decoded = urisc_io::read_image(f)?;
        let pixel_size = decoded.pixel_size_nm.or(descriptor.pixel_size_nm);
        let image = decoded.image.into_u8();
        let p = predict_probabilities(
            &net,
            &descriptor,
            &image,
            Tiling {
                tile,
                overlap: args.overlap,
                batch: 4,
            },
            &device,
        );
        let binary = Image::new(
            p.height,
            p.width,
            p.data
                .iter()
                .map(|&v| if v >= threshold { 0 } else { 255 })
                .collect(),
        );
        let out = name(&args.out, f);
        write_png(&out, &binary, pixel_size, args.force)?;
        if let Some(dir) = &args.probabilities {
            let grey = Image::new(
                p.height,
                p.width,
                p.data
                    .iter()
                    .map(|&v| urisc_io::unit_to_u8(1.0 - v))
                    .collect(),
            );
            write_png(&name(dir, f), &grey, pixel_size, args.force)?;
        }
        written.push(out);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(written)
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
    /// The model to run [default: the shipped models/default/best.safetensors].
    #[arg(
        long,
        value_name = "FILE",
        default_value = "models/default/best.safetensors"
    )]
    model: PathBuf,
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
        args.model.exists(),
        "{}: no such model (run from the repository root, or train one: urisc train --config configs/isbi-unet16.toml)",
        args.model.display()
    );
    let inputs: Vec<PathBuf> = args
        .slices
        .iter()
        .map(|s| args.data.join("images").join(format!("{s}.png")))
        .collect();
    let (binary, probability) = (args.out.join("predictions"), args.out.join("probabilities"));
    let predict = PredictArgs {
        model: args.model.clone(),
        inputs,
        out: binary.clone(),
        probabilities: Some(probability.clone()),
        threshold: None,
        tile: None,
        overlap: 64,
        force: args.force,
    };
    predict_files(&predict)?;
    // Score against the labels of the same slices (copied beside them so names match).
    let gt = args.out.join("labels");
    std::fs::create_dir_all(&gt).with_context(|| format!("{}: cannot create", gt.display()))?;
    for s in &args.slices {
        let src = args.data.join("labels").join(format!("{s}.png"));
        let dst = gt.join(format!("{s}.png"));
        urisc_io::check_writable(&dst, args.force)?;
        std::fs::copy(&src, &dst).with_context(|| format!("{}: cannot copy", src.display()))?;
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
    let report_path = args.out.join("scores.json");
    let json = render(&binary_report, OutputFormat::Json);
    urisc_io::write_atomically(&report_path, args.force, |f| {
        std::io::Write::write_all(f, json.as_bytes())
    })?;
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
