//! `urisc synth`: U-RISC-like test inputs made from the bundled ISBI slices.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use urisc_data::synth::{mosaic, upsample_bilinear, upsample_nearest, LabelledSection};
use urisc_io::dataset::discover;
use urisc_io::paths::{CreatedFolders, Inputs};
use urisc_io::{write_png, write_tiff, GreyImage, Image};

#[derive(Subcommand)]
pub enum SynthCommand {
    /// A full-size section (9959 × 9958 by default): the slices upsampled and tiled into a
    /// mosaic, with its label. Writes OUT/images/NAME and OUT/labels/NAME.
    Section(SectionArgs),
    /// Every labelled slice upsampled (bilinear image, replicated label), as an images/ +
    /// labels/ dataset that `urisc train` and `urisc eval` read.
    Upsampled(UpsampledArgs),
}

#[derive(Args)]
pub struct Source {
    /// Labelled slices to build from (any layout `urisc data info` recognises).
    #[arg(long, value_name = "DIR", default_value = "data/isbi2012")]
    data: PathBuf,
    /// Integer upsampling factor (2: ISBI's ≈4 nm/px becomes ≈2 nm/px, like U-RISC's 2.18).
    #[arg(long, default_value_t = 2)]
    scale: usize,
    /// Pixel size of the source slices in nm, when their files do not say [default: the
    /// layout's, e.g. 4 nm for ISBI 2012].
    #[arg(long, value_name = "NM")]
    pixel_size: Option<f64>,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FileFormat {
    Png,
    Tiff,
}

#[derive(Args)]
pub struct SectionArgs {
    #[command(flatten)]
    source: Source,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Section size, ROWSxCOLUMNS.
    #[arg(long, default_value = "9959x9958", value_parser = parse_size)]
    size: (usize, usize),
    /// Seed of the tile arrangement.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// File name stem of the section.
    #[arg(long, default_value = "section")]
    name: String,
    #[arg(long, value_enum, default_value_t = FileFormat::Png)]
    format: FileFormat,
}

#[derive(Args)]
pub struct UpsampledArgs {
    #[command(flatten)]
    source: Source,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub(crate) fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (r, c) = s
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("{s}: expected ROWSxCOLUMNS, e.g. 9959x9958"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{s}: sizes must be positive integers"))
    };
    Ok((parse(r)?, parse(c)?))
}

/// Named labelled slices.
type Slices = Vec<(String, LabelledSection)>;

/// The dataset's slices and its files (which synth never writes over, even with --force), after
/// refusing a scale or `section` size beyond synth's bounds.
fn load(source: &Source, section: Option<(usize, usize)>) -> Result<(Slices, Option<f64>, Inputs)> {
    let dataset = discover(&source.data)?;
    let mut inputs = Vec::new();
    let mut sizes = Vec::new();
    for (_, image, label) in dataset.pairs() {
        sizes.push(urisc_io::page_size(&image.path, image.page)?);
        inputs.extend([image.path.clone(), label.path.clone()]);
    }
    urisc_data::synth::check_request(&sizes, source.scale, section).map_err(anyhow::Error::msg)?;
    let inputs = Inputs::new(&inputs);
    let mut slices = Vec::new();
    let mut file_pixel_size = None;
    for (sample, image, label) in dataset.pairs() {
        let decoded = urisc_io::read_page(&image.path, image.page)?;
        file_pixel_size = file_pixel_size.or(decoded.pixel_size_nm);
        let label = urisc_io::read_page(&label.path, label.page)?;
        slices.push((
            sample.name.clone(),
            LabelledSection {
                image: decoded.image.into_u8(),
                label: label.image.into_u8(),
            },
        ));
    }
    anyhow::ensure!(
        !slices.is_empty(),
        "{}: no labelled images found",
        source.data.display()
    );
    let pixel_size = source
        .pixel_size
        .or(file_pixel_size)
        .or(dataset.layout_pixel_size_nm)
        .map(|nm| nm / source.scale as f64);
    Ok((slices, pixel_size, inputs))
}

fn write(path: &Path, image: Image<u8>, nm: Option<f64>, force: bool) -> Result<()> {
    if path.extension().is_some_and(|e| e == "tif") {
        write_tiff(path, &GreyImage::U8(image), nm, force)?;
    } else {
        write_png(path, &image, nm, force)?;
    }
    Ok(())
}

pub fn run(cmd: SynthCommand) -> Result<()> {
    match cmd {
        SynthCommand::Section(args) => {
            let (slices, nm, inputs) = load(&args.source, Some(args.size))?;
            let ext = match args.format {
                FileFormat::Png => "png",
                FileFormat::Tiff => "tif",
            };
            let (images, labels) = (args.out.join("images"), args.out.join("labels"));
            let file = format!("{}.{ext}", args.name);
            let (image_path, label_path) = (images.join(&file), labels.join(&file));
            for p in [&image_path, &label_path] {
                inputs.refuse(p)?;
                urisc_io::check_writable(p, args.source.force)?;
            }
            // Dropped without `keep` (any error below), it removes the folders it made.
            let mut created = CreatedFolders::new();
            created.create(&images)?;
            created.create(&labels)?;
            eprintln!(
                "urisc synth: {}×{} mosaic of {} slices upsampled {}×",
                args.size.0,
                args.size.1,
                slices.len(),
                args.source.scale
            );
            let sections: Vec<LabelledSection> = slices.into_iter().map(|(_, s)| s).collect();
            let m = mosaic(
                &sections,
                args.size.0,
                args.size.1,
                args.source.scale,
                args.seed,
            );
            write(&image_path, m.image, nm, args.source.force)?;
            write(&label_path, m.label, nm, args.source.force)?;
            created.keep();
            println!("image: {}", image_path.display());
            println!("label: {}", label_path.display());
        }
        SynthCommand::Upsampled(args) => {
            let (slices, nm, inputs) = load(&args.source, None)?;
            let (images, labels) = (args.out.join("images"), args.out.join("labels"));
            for (name, _) in &slices {
                for dir in [&images, &labels] {
                    let path = dir.join(format!("{name}.png"));
                    inputs.refuse(&path)?;
                    urisc_io::check_writable(&path, args.source.force)?;
                }
            }
            let mut created = CreatedFolders::new();
            created.create(&images)?;
            created.create(&labels)?;
            let bar = crate::progress::bar(slices.len() as u64, "upsampling");
            for (name, s) in &slices {
                let file = format!("{name}.png");
                let image = upsample_bilinear(&s.image, args.source.scale);
                write(&images.join(&file), image, nm, args.source.force)?;
                let label = upsample_nearest(&s.label, args.source.scale);
                write(&labels.join(&file), label, nm, args.source.force)?;
                bar.inc(1);
            }
            bar.finish_and_clear();
            created.keep();
            println!(
                "{} slices upsampled {}× ({}) into {}",
                slices.len(),
                args.source.scale,
                nm.map_or("pixel size unknown".into(), |v| format!("{v} nm/pixel")),
                args.out.display()
            );
        }
    }
    Ok(())
}
