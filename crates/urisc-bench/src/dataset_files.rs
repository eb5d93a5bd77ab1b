//! Datasets of a suite once resolved ([`crate::suite`] resolves their splits): generated
//! (upsampled) copies, loading, and the fingerprint of the bytes a run depends on.

use std::path::{Path, PathBuf};

use urisc_data::LabelledImage;
use urisc_io::dataset::discover;

use crate::error::BenchError;
use crate::hash::Fnv;
use crate::suite::Dataset;

/// The folder a dataset's samples are read from: its own, or the upsampled copy (made once,
/// under `data_dir`, as `urisc synth upsampled` makes it).
pub fn materialise(dataset: &Dataset, data_dir: &Path) -> Result<PathBuf, BenchError> {
    let Some(factor) = dataset.upsample else {
        return Ok(dataset.source.clone());
    };
    let root = data_dir.join(format!("{}-x{factor}", dataset.name));
    let done = root.join(".complete");
    if done.exists() {
        return Ok(root);
    }
    let found = discover(&dataset.source)?;
    let (images, labels) = (root.join("images"), root.join("labels"));
    for d in [&images, &labels] {
        std::fs::create_dir_all(d).map_err(|e| BenchError::io(d, e))?;
    }
    let pairs: Vec<_> = found.pairs().collect();
    let results: Vec<Result<(), BenchError>> = {
        use rayon::prelude::*;
        pairs
            .par_iter()
            .map(|(sample, image, label)| {
                let file = format!("{}.png", flat_name(&sample.name));
                let img = urisc_io::read_page(&image.path, image.page)?
                    .image
                    .into_u8();
                let lab = urisc_io::read_page(&label.path, label.page)?
                    .image
                    .into_u8();
                let img = urisc_data::synth::upsample_bilinear(&img, factor);
                let lab = urisc_data::synth::upsample_nearest(&lab, factor);
                urisc_io::write_png(&images.join(&file), &img, dataset.pixel_size_nm, true)?;
                urisc_io::write_png(&labels.join(&file), &lab, dataset.pixel_size_nm, true)?;
                Ok(())
            })
            .collect()
    };
    results.into_iter().collect::<Result<(), _>>()?;
    std::fs::write(&done, b"").map_err(|e| BenchError::io(&done, e))?;
    Ok(root)
}

/// A sample's files.
#[derive(Clone, Debug)]
pub struct SampleFiles {
    /// Its name.
    pub name: String,
    /// The EM image.
    pub image: urisc_io::dataset::ImageRef,
    /// The label.
    pub label: urisc_io::dataset::ImageRef,
}

/// The files of the named samples under `root`, in the order given. An upsampled copy names
/// files by sample name with `/` and `#` replaced by `_`.
pub fn sample_files(root: &Path, names: &[String]) -> Result<Vec<SampleFiles>, BenchError> {
    let found = discover(root)?;
    names
        .iter()
        .map(|n| {
            let flat = flat_name(n);
            found
                .pairs()
                .find(|(s, _, _)| &s.name == n || s.name == flat)
                .map(|(_, i, l)| SampleFiles {
                    name: n.clone(),
                    image: i.clone(),
                    label: l.clone(),
                })
                .ok_or_else(|| {
                    BenchError::Run(format!("{}: sample {n:?} not found", root.display()))
                })
        })
        .collect()
}

/// Loads samples (8-bit image and label, sizes checked).
pub fn load(files: &[SampleFiles]) -> Result<Vec<(String, LabelledImage)>, BenchError> {
    files
        .iter()
        .map(|f| {
            let image = urisc_io::read_page(&f.image.path, f.image.page)?
                .image
                .into_u8();
            let label = urisc_io::read_page(&f.label.path, f.label.page)?
                .image
                .into_u8();
            if (image.height, image.width) != (label.height, label.width) {
                return Err(BenchError::Run(format!(
                    "{}: label size {}×{} differs from its image's {}×{}",
                    f.label.path.display(),
                    label.height,
                    label.width,
                    image.height,
                    image.width
                )));
            }
            Ok((f.name.clone(), LabelledImage { image, label }))
        })
        .collect()
}

/// Adds the names, pages and bytes of samples' images and labels to a hash.
pub fn fingerprint(hash: &mut Fnv, files: &[SampleFiles]) -> Result<(), BenchError> {
    for f in files {
        hash.text(&f.name);
        for r in [&f.image, &f.label] {
            hash.text(&r.page.to_string());
            crate::hash::add_file(hash, &r.path)?;
        }
    }
    Ok(())
}
/// A sample name as a file name (U-RISC names hold folders).
pub fn flat_name(name: &str) -> String {
    name.replace(['/', '\\'], "_")
}
