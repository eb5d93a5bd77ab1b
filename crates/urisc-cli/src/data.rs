//! `urisc data …`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use urisc_io::dataset::{discover, inspect, inspect_file, DatasetInfo, FileInfo};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Recognise a dataset's layout and print counts, sizes, pixel size, membrane fraction and
    /// every problem found (unmatched names, size mismatches, non-binary labels, bad files).
    Info {
        /// Dataset folder (U-RISC release, ISBI stacks, images/ + labels/, or images only), a Zarr
        /// store, a TIFF stack (pages named STEM_zNNN, as every command names them) or one image.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Info { path, json } => {
            // One image is described as a file; a stack (the section rule) is a dataset.
            if path.is_file() && !urisc_io::sections::sections_of(&path)?[0].is_plane() {
                let info = inspect_file(&path)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&info)?);
                } else {
                    print!("{}", describe_file(&info));
                }
                return Ok(());
            }
            let dataset = discover(&path)?;
            let bar = crate::progress::bar(dataset.samples.len() as u64, "reading");
            let info = inspect(&dataset, &|| bar.inc(1));
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", describe(&info));
            }
            Ok(())
        }
    }
}

fn describe(info: &DatasetInfo) -> String {
    let mut s = format!(
        "dataset:     {}\nlayout:      {}\n",
        info.root.display(),
        info.layout.describe()
    );
    s += &format!(
        "images:      {}\nlabels:      {}\npairs:       {}\n",
        info.images, info.labels, info.pairs
    );
    for (split, n) in &info.splits {
        s += &format!("  split {split}: {n} image(s)\n");
    }
    let sizes: Vec<String> = info
        .sizes
        .iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    s += &format!(
        "sizes:       {} (rows×columns)\n",
        if sizes.is_empty() {
            "-".into()
        } else {
            sizes.join(", ")
        }
    );
    s += &match info.pixel_size_nm {
        Some(p) => format!(
            "pixel size:  {p:.3} nm/pixel ({})\n",
            info.pixel_size_source
        ),
        None => format!("pixel size:  {}\n", info.pixel_size_source),
    };
    if let (Some(f), Some((lo, hi))) = (info.membrane_fraction, info.membrane_fraction_range) {
        s += &format!(
            "membrane:    {:.2}% of label pixels (per label {:.2}%–{:.2}%; membrane = value ≤ 122)\n",
            100.0 * f,
            100.0 * lo,
            100.0 * hi
        );
    }
    for (round, n) in &info.annotation_rounds {
        s += &format!("annotation round {round}: {n} file(s)\n");
    }
    if info.problems.is_empty() {
        s += "problems:    none\n";
    } else {
        s += &format!("problems:    {}\n", info.problems.len());
        for p in &info.problems {
            s += &format!("  - {p}\n");
        }
    }
    s
}

fn describe_file(info: &FileInfo) -> String {
    let mut s = format!(
        "file:        {}\nformat:      {}, {}-bit\nsize:        {}×{} (rows×columns)\n",
        info.path.display(),
        info.format,
        info.bits_per_sample,
        info.height,
        info.width
    );
    s += &match info.pixel_size_nm {
        Some(p) => format!("pixel size:  {p:.3} nm/pixel (file metadata)\n"),
        None => "pixel size:  unknown (no metadata)\n".to_string(),
    };
    s += &format!(
        "as a label:  {:.2}% membrane (value ≤ 122)\n",
        100.0 * info.membrane_fraction_as_label
    );
    let mut problems = Vec::new();
    if info.colour_converted {
        problems.push("colour with unequal channels (converted with luma weights)".to_string());
    }
    if info.out_of_range > 0 {
        problems.push(format!(
            "{} floating-point pixel(s) outside [0, 1] (clamped when read)",
            info.out_of_range
        ));
    }
    if problems.is_empty() {
        s += "problems:    none (decoded completely)\n";
    } else {
        s += &format!("problems:    {}\n", problems.len());
        for p in problems {
            s += &format!("  - {p}\n");
        }
    }
    s
}
