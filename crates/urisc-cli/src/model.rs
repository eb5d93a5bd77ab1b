//! `urisc model …`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use urisc_nn::onnx::{export_onnx, import_onnx, ImportDefaults, OnnxOutput};
use urisc_nn::{
    forward_flops, load_model, model_from_bytes, receptive_field, save_model, trainable_parameters,
    Architecture, ModelConfig, Normalization, EMBEDDED_MODEL_NAME,
};

#[derive(Clone, Copy, ValueEnum)]
pub enum ArchArg {
    /// The authors' U-Net: two Conv3×3+BN+ReLU per level, concatenated skips.
    Unet,
    /// Residual encoder blocks with additive (LinkNet-style) skips.
    ResUnet,
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Parameters, FLOPs per tile and receptive field of a model file or of an architecture.
    Info {
        /// A model file (.safetensors written by urisc); its descriptor is printed too.
        model: Option<PathBuf>,
        /// Architecture, when no model file is given.
        #[arg(long, value_enum, default_value = "unet")]
        arch: ArchArg,
        /// Channels of the first level (authors: 64).
        #[arg(long, default_value_t = 64)]
        width: usize,
        /// Levels including the bottom one (authors: 5).
        #[arg(long, default_value_t = 5)]
        depth: usize,
        /// Tile side for the FLOP count (default: the model's tile size, else 512).
        #[arg(long)]
        tile: Option<usize>,
    },
    /// Writes a model for other tools: ONNX (ONNX Runtime, tract, ilastik, deepImageJ, …) or a
    /// bioimage.io model package (ONNX weights, test tensors, cover, documentation).
    Export {
        /// A model file [default: the model embedded in urisc].
        model: Option<PathBuf>,
        /// What to write.
        #[arg(long, value_enum, default_value = "onnx")]
        format: ExportFormat,
        /// The file to write (.onnx, or .zip for bioimage.io).
        #[arg(long)]
        out: PathBuf,
        /// What the ONNX graph outputs (bioimage.io packages always output probabilities).
        #[arg(long, value_enum, default_value = "probability")]
        output: OutputArg,
        /// bioimage.io: an EM image of the kind the model is for; a centred crop (up to
        /// 256×256) becomes the package's test input and cover.
        #[arg(long, required_if_eq("format", "bioimageio"))]
        sample: Option<PathBuf>,
        /// Overwrite an existing output.
        #[arg(long)]
        force: bool,
    },
    /// Converts an ONNX U-Net trained elsewhere (e.g. exported from PyTorch) into a urisc model
    /// file run on urisc's kernels. (`--model FILE.onnx` works directly too, with the defaults
    /// below.)
    Import {
        /// The ONNX file.
        onnx: PathBuf,
        /// The urisc model file to write (.safetensors).
        #[arg(long)]
        out: PathBuf,
        /// Input normalisation the network was trained with: x = (v/255 − mean) / std.
        #[arg(long, default_value_t = 0.5)]
        mean: f32,
        /// See --mean.
        #[arg(long, default_value_t = 0.5)]
        std: f32,
        /// Inference tile side.
        #[arg(long, default_value_t = 512)]
        tile: usize,
        /// Membrane threshold on the probability.
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Pixel size of the training data, nm/pixel.
        #[arg(long)]
        pixel_size: Option<f64>,
        /// Overwrite an existing output.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// An ONNX model (opset 17, dynamic batch, height and width, batch norm folded).
    Onnx,
    /// A bioimage.io model package (.zip, model spec 0.5).
    Bioimageio,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputArg {
    /// Membrane logits.
    Logits,
    /// Membrane probabilities (a Sigmoid in the graph).
    Probability,
}

fn load_or_embedded(
    model: Option<&Path>,
) -> Result<(urisc_nn::urisc_cpu::Net, urisc_nn::ModelDescriptor)> {
    Ok(match model {
        Some(path) => load_model(path)?,
        None => model_from_bytes(
            Path::new(EMBEDDED_MODEL_NAME),
            urisc_nn::embedded_model_bytes(),
        )?,
    })
}

/// Files of a training run (`urisc train`'s output folder) a bioimage.io package carries.
const TRAINING_FILES: [&str; 5] = [
    "config.toml",
    "log.jsonl",
    "split.json",
    "training-curves.png",
    "training-curves.svg",
];

fn export(
    model: Option<PathBuf>,
    format: ExportFormat,
    out: PathBuf,
    output: OutputArg,
    sample: Option<PathBuf>,
    force: bool,
) -> Result<()> {
    urisc_io::check_writable(&out, force)?;
    let (net, descriptor) = load_or_embedded(model.as_deref())?;
    match format {
        ExportFormat::Onnx => {
            let output = match output {
                OutputArg::Logits => OnnxOutput::Logits,
                OutputArg::Probability => OnnxOutput::Probability,
            };
            let bytes = export_onnx(&net, &descriptor, output);
            urisc_io::write_atomically(&out, force, |f| std::io::Write::write_all(f, &bytes))?;
            println!(
                "wrote {} ({} kB, ONNX opset {}, input 'input' [N, 1, H, W] with H and W \
                 multiples of {}, normalised as (v/255 − {}) / {})",
                out.display(),
                bytes.len() / 1000,
                urisc_nn::onnx::OPSET,
                descriptor.model.size_multiple(),
                descriptor.normalization.mean,
                descriptor.normalization.std
            );
        }
        ExportFormat::Bioimageio => {
            // `urisc train` names its models best/last: the run's folder names them better.
            let name = model.as_deref().map_or("default".to_string(), |p| {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                let folder = p
                    .parent()
                    .and_then(|d| d.file_name())
                    .map(|s| s.to_string_lossy().into_owned());
                match (stem, folder) {
                    (Some(s), Some(f)) if s == "best" || s == "last" => f,
                    (Some(s), _) => s,
                    _ => "model".into(),
                }
            });
            let sample_path =
                sample.context("--sample IMAGE is needed for a bioimage.io package")?;
            let sample = urisc_io::read_u8(&sample_path)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // The training run's files, where `urisc train` left them beside the model.
            let attachments: Vec<(String, Vec<u8>)> = model
                .as_deref()
                .and_then(|m| m.parent())
                .map(|dir| {
                    TRAINING_FILES
                        .iter()
                        .filter_map(|n| std::fs::read(dir.join(n)).ok().map(|b| (n.to_string(), b)))
                        .collect()
                })
                .unwrap_or_default();
            let bytes =
                urisc_nn::bioimageio::package(&net, &descriptor, &name, &sample, now, &attachments)
                    .map_err(|e| {
                        anyhow::anyhow!("{}: cannot make the package: {e}", out.display())
                    })?;
            urisc_io::write_atomically(&out, force, |f| std::io::Write::write_all(f, &bytes))?;
            println!(
                "wrote {} ({} kB, bioimage.io model package, spec {})",
                out.display(),
                bytes.len() / 1000,
                urisc_nn::bioimageio::FORMAT_VERSION
            );
        }
    }
    Ok(())
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Info {
            model,
            arch,
            width,
            depth,
            tile,
        } => info(model, arch, width, depth, tile),
        ModelCommand::Export {
            model,
            format,
            out,
            output,
            sample,
            force,
        } => export(model, format, out, output, sample, force),
        ModelCommand::Import {
            onnx,
            out,
            mean,
            std,
            tile,
            threshold,
            pixel_size,
            force,
        } => {
            urisc_io::check_writable(&out, force)?;
            let bytes =
                std::fs::read(&onnx).with_context(|| format!("{}: cannot read", onnx.display()))?;
            let defaults = ImportDefaults {
                normalization: Normalization { mean, std },
                tile_size: tile,
                threshold,
                pixel_size_nm: pixel_size,
            };
            let (net, descriptor) = import_onnx(&bytes, &defaults)
                .map_err(|e| anyhow::anyhow!("{}: {e}", onnx.display()))?;
            save_model(&out, &net, &descriptor, force)?;
            println!(
                "wrote {}: {:?}, base width {}, depth {}, tile {}, normalisation (v/255 − {}) / {}",
                out.display(),
                descriptor.model.architecture,
                descriptor.model.base_width,
                descriptor.model.depth,
                descriptor.tile_size,
                descriptor.normalization.mean,
                descriptor.normalization.std
            );
            Ok(())
        }
    }
}

fn info(
    model: Option<PathBuf>,
    arch: ArchArg,
    width: usize,
    depth: usize,
    tile: Option<usize>,
) -> Result<()> {
    let (config, descriptor) = match &model {
        Some(path) => {
            // The whole file is checked (tensors against the architecture, finite weights,
            // the checksum), not only its descriptor: info on a damaged model says so.
            let (_, d) = load_model(path)?;
            (d.model.clone(), Some(d))
        }
        None => {
            let architecture = match arch {
                ArchArg::Unet => Architecture::Unet,
                ArchArg::ResUnet => Architecture::ResUnet,
            };
            let c = ModelConfig {
                architecture,
                base_width: width,
                depth,
                coarse: None,
            };
            c.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
            (c, None)
        }
    };
    let tile = tile
        .or(descriptor.as_ref().map(|d| d.tile_size))
        .unwrap_or(512);
    let multiple = config.size_multiple();
    anyhow::ensure!(
        tile.is_multiple_of(multiple),
        "--tile {tile} is not a multiple of {multiple} (2^(depth−1))"
    );
    let flops = forward_flops(&config, tile, tile);
    println!(
        "architecture:     {:?}, base width {}, depth {} (widths {:?})",
        config.architecture,
        config.base_width,
        config.depth,
        config.widths()
    );
    // A two-stage model trains only its fine stage (the frozen coarse one runs forward); a
    // two-scale model trains both.
    let coarse_flops = config.coarse.as_ref().map_or(0, |c| {
        let (kind, handed) = match c.features {
            None => ("frozen", "its membrane probability the second input channel".to_string()),
            Some(k) => ("trained jointly", format!("its {k} head channels fused into the input")),
        };
        println!(
            "coarse stage:     {:?}, base width {}, depth {} on the input downsampled {}× ({kind}), {handed}",
            c.model.architecture, c.model.base_width, c.model.depth, c.factor
        );
        match c.features {
            None => forward_flops(&c.model, tile / c.factor, tile / c.factor),
            Some(_) => 0,
        }
    });
    println!(
        "parameters:       {} trainable",
        group(trainable_parameters(&config))
    );
    println!(
        "forward FLOPs:    {:.2} GFLOP per {tile}×{tile} tile ({:.1} kFLOP/pixel)",
        flops as f64 / 1e9,
        flops as f64 / (tile * tile) as f64 / 1e3
    );
    println!(
        "training FLOPs:   ≈ {:.2} GFLOP per {tile}×{tile} tile (forward + backward ≈ 3 × forward{})",
        (3 * (flops - coarse_flops) + coarse_flops) as f64 / 1e9,
        if coarse_flops > 0 {
            " of the fine stage, + the frozen coarse forward"
        } else {
            ""
        }
    );
    println!(
        "receptive field:  {} pixels along each axis",
        receptive_field(&config)
    );
    println!("tile sides:       multiples of {multiple}");
    if let Some(d) = descriptor {
        println!(
            "normalisation:    (v/255 − {}) / {}",
            d.normalization.mean, d.normalization.std
        );
        println!("tile size:        {}", d.tile_size);
        println!(
            "threshold:        {} (membrane iff probability ≥ threshold)",
            d.threshold
        );
        match d.pixel_size_nm {
            Some(p) => println!("pixel size:       {p} nm/pixel"),
            None => println!("pixel size:       unknown"),
        }
        for (k, v) in &d.training {
            println!("training {k}: {v}");
        }
        println!(
            "weights:          {}",
            match &d.weights_checksum {
                Some(c) => format!("checked ({c})"),
                None => "checked (shapes and finite values; file has no checksum)".into(),
            }
        );
    }
    Ok(())
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
