//! `urisc model …`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use urisc_nn::export::{self, export_model, ExportRequest};
use urisc_nn::import::{import_model, ImportRequest, ImportSettings};
use urisc_nn::info::ModelReport;
use urisc_nn::onnx::OnnxOutput;
use urisc_nn::{Architecture, ModelConfig};

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
    Info(InfoArgs),
    /// Writes a model for other tools: ONNX (ONNX Runtime, tract, ilastik, deepImageJ, …) or a
    /// bioimage.io model package (ONNX weights, test tensors, cover, documentation).
    Export(ExportArgs),
    /// Converts an ONNX U-Net trained elsewhere (e.g. exported from PyTorch) into a urisc model
    /// file run on urisc's kernels. (`--model FILE.onnx` works directly too, with the defaults
    /// below.)
    Import(ImportArgs),
}

#[derive(Args)]
pub struct InfoArgs {
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
}

#[derive(Args)]
pub struct ExportArgs {
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
}

#[derive(Args)]
pub struct ImportArgs {
    /// The ONNX file.
    onnx: PathBuf,
    /// The urisc model file to write (.safetensors; never the ONNX file itself).
    #[arg(long)]
    out: PathBuf,
    /// Input normalisation the network was trained with: x = (v/255 − mean) / std [default:
    /// the file's urisc metadata, else 0.5]. A value given replaces the file's (with a note).
    #[arg(long)]
    mean: Option<f32>,
    /// See --mean (finite and > 0) [default: the file's, else 0.5].
    #[arg(long)]
    std: Option<f32>,
    /// Inference tile side, a multiple of the network's size multiple [default: the file's, else
    /// 512].
    #[arg(long)]
    tile: Option<usize>,
    /// Membrane threshold on the probability, in [0, 1] [default: the file's, else 0.5].
    #[arg(long)]
    threshold: Option<f32>,
    /// Pixel size of the training data, nm/pixel [default: the file's, else unknown].
    #[arg(long)]
    pixel_size: Option<f64>,
    /// Overwrite an existing output.
    #[arg(long)]
    force: bool,
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

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Info(a) => {
            let report = match a.model {
                Some(path) => ModelReport::for_file(&path, a.tile)?,
                None => {
                    let architecture = match a.arch {
                        ArchArg::Unet => Architecture::Unet,
                        ArchArg::ResUnet => Architecture::ResUnet,
                    };
                    let (base_width, depth, coarse) = (a.width, a.depth, None);
                    let config = ModelConfig {
                        architecture,
                        base_width,
                        depth,
                        coarse,
                    };
                    ModelReport::for_config(config, a.tile)?
                }
            };
            print!("{report}");
        }
        ModelCommand::Export(a) => {
            let format = match a.format {
                ExportFormat::Onnx => export::ExportFormat::Onnx(match a.output {
                    OutputArg::Logits => OnnxOutput::Logits,
                    OutputArg::Probability => OnnxOutput::Probability,
                }),
                ExportFormat::Bioimageio => export::ExportFormat::Bioimageio {
                    sample: a
                        .sample
                        .context("--sample IMAGE is needed for a bioimage.io package")?,
                },
            };
            let (model, out, overwrite) = (a.model, a.out, a.force);
            let request = ExportRequest {
                model,
                format,
                out,
                overwrite,
            };
            println!("{}", export_model(&request)?);
        }
        ModelCommand::Import(a) => {
            let settings = ImportSettings {
                mean: a.mean,
                std: a.std,
                tile_size: a.tile,
                threshold: a.threshold,
                pixel_size_nm: a.pixel_size,
            };
            let (onnx, out, overwrite) = (a.onnx, a.out, a.force);
            let request = ImportRequest {
                onnx,
                out,
                settings,
                overwrite,
            };
            let imported = import_model(&request)?;
            if let Some(note) = imported.note() {
                eprintln!("urisc model import: note: {note}");
            }
            println!("{imported}");
        }
    }
    Ok(())
}
