//! `urisc model …`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use urisc_nn::{
    forward_flops, load_model, receptive_field, trainable_parameters, Architecture, ModelConfig,
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
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    let ModelCommand::Info {
        model,
        arch,
        width,
        depth,
        tile,
    } = cmd;
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
        tile % multiple == 0,
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
        "training FLOPs:   ≈ {:.2} GFLOP per {tile}×{tile} tile (forward + backward ≈ 3 × forward)",
        3.0 * flops as f64 / 1e9
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
