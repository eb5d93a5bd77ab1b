//! Datasets of a suite: splits by name or seeded fraction, generated (upsampled) copies,
//! loading, and the fingerprint of the bytes a run depends on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use urisc_data::LabelledImage;
use urisc_io::dataset::discover;

use crate::error::BenchError;
use crate::hash::Fnv;
use crate::suite::{Dataset, DatasetSpec};

/// Discovers the dataset and resolves its splits; errors are messages for the suite error.
pub fn resolve_dataset(spec: &DatasetSpec, path: &Path) -> Result<Dataset, String> {
    if !path.exists() {
        return Err(format!("{}: no such folder", path.display()));
    }
    let found = discover(path).map_err(|e| e.to_string())?;
    let names: Vec<String> = found.pairs().map(|(s, _, _)| s.name.clone()).collect();
    if names.is_empty() {
        return Err(format!("{}: no labelled images found", path.display()));
    }
    if spec.upsample == Some(0) {
        return Err("upsample must be at least 1".into());
    }
    let known: BTreeSet<&String> = names.iter().collect();
    let check = |list: &Option<Vec<String>>, what: &str| -> Result<Vec<String>, String> {
        let list = list.clone().unwrap_or_default();
        for n in &list {
            if !known.contains(n) {
                return Err(format!(
                    "{what} sample {n:?} is not in {} (it has {})",
                    path.display(),
                    shorten(&names)
                ));
            }
        }
        Ok(list)
    };
    let (mut train, validation, test) = match &spec.split {
        Some(f) => {
            if spec.train.is_some() || spec.validation.is_some() || spec.test.is_some() {
                return Err("give either `split` fractions or train/validation/test names".into());
            }
            if !(f.validation >= 0.0 && f.test > 0.0 && f.validation + f.test < 1.0) {
                return Err(format!(
                    "split fractions validation {} and test {} must be ≥ 0, > 0 and sum below 1",
                    f.validation, f.test
                ));
            }
            let mut shuffled = names.clone();
            shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(f.seed));
            let n = shuffled.len();
            let count = |fraction: f64| ((fraction * n as f64).round() as usize).max(1);
            let v = if f.validation > 0.0 {
                count(f.validation)
            } else {
                0
            };
            let t = count(f.test);
            if v + t >= n {
                return Err(format!(
                    "{n} samples leave none for training with these fractions"
                ));
            }
            let mut validation = shuffled[..v].to_vec();
            let mut test = shuffled[v..v + t].to_vec();
            let mut train = shuffled[v + t..].to_vec();
            validation.sort();
            test.sort();
            train.sort();
            (Some(train), validation, test)
        }
        None => (
            spec.train
                .as_ref()
                .map(|_| check(&spec.train, "train"))
                .transpose()?,
            check(&spec.validation, "validation")?,
            check(&spec.test, "test")?,
        ),
    };
    if test.is_empty() {
        return Err("no test samples: give `test` names or a `split`".into());
    }
    let held: BTreeSet<&String> = validation.iter().chain(&test).collect();
    if held.len() != validation.len() + test.len() {
        return Err("a sample is in both validation and test (or listed twice)".into());
    }
    let train = match train.take() {
        Some(t) => {
            if let Some(n) = t.iter().find(|n| held.contains(n)) {
                return Err(format!(
                    "sample {n:?} is both a training and a held-out sample"
                ));
            }
            t
        }
        None => names
            .iter()
            .filter(|n| !held.contains(n))
            .cloned()
            .collect(),
    };
    let factor = spec.upsample.unwrap_or(1);
    let pixel_size_nm = spec
        .pixel_size_nm
        .or(found.layout_pixel_size_nm.map(|p| p / factor as f64));
    if let Some(p) = pixel_size_nm {
        if !(p.is_finite() && p > 0.0) {
            return Err(format!("pixel_size_nm {p} must be positive"));
        }
    }
    Ok(Dataset {
        name: spec.name.clone(),
        source: path.to_path_buf(),
        upsample: spec.upsample.filter(|&f| f > 1),
        pixel_size_nm,
        train,
        validation,
        test,
    })
}

fn shorten(names: &[String]) -> String {
    if names.len() <= 8 {
        names.join(", ")
    } else {
        format!("{}, … ({} samples)", names[..6].join(", "), names.len())
    }
}

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
                let file = format!("{}.png", sample.name.replace(['/', '#'], "_"));
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
            let flat = n.replace(['/', '#'], "_");
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
            hash.file(&r.path)?;
        }
    }
    Ok(())
}
