//! Dataset discovery without configuration (SPEC §3) and `urisc data info` statistics.
//!
//! Recognised layouts, tried in this order:
//! - **U-RISC release**: `imgs/Track1/{train,val,test}/…`, `imgs/Track2/…`, labels under
//!   `label/…` matched by relative path, else by file stem within the same split; annotation
//!   rounds under `Human_Annotation_Process/{1st,2nd,final}`.
//! - **ISBI 2012 stacks**: `train-volume.tif` with `train-labels.tif` (any `*volume*.tif` with
//!   its `*labels*.tif`), one sample per page.
//! - **Generic pairs**: `images/` + `labels/` (also `image/`+`label/`, `imgs/`+`labels/`)
//!   matched by file stem; ISBI PNG folders are this layout.
//! - **Images only**: a folder of images with no labels.
//!
//! Files are chosen by extension ([`crate::is_image_path`]) and read by content: every read
//! here goes through the format registry ([`crate::read_page`], [`crate::probe`]), which picks
//! the format from the file's first bytes or a folder's layout, like every other entry point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::encoding::label_is_membrane;
use crate::paths::{checked_entries, sub_folders};
use crate::registry::{detect, image_stem, is_image_path, probe, read_page, Format};
use crate::sample::{IoError, IoErrorKind};
use crate::zarr::ZarrArray;

/// U-RISC's pixel size (nm/pixel).
pub const URISC_PIXEL_SIZE_NM: f64 = 2.18;
/// ISBI 2012's pixel size (nm/pixel).
pub const ISBI_PIXEL_SIZE_NM: f64 = 4.0;

/// The layout a folder was recognised as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// The U-RISC release: `imgs/` and `label/` with `Track*/{train,val,test}` splits.
    Urisc,
    /// ISBI 2012 multi-page TIFF stacks, one sample per page.
    IsbiStack,
    /// Image and label folders matched by file stem (also a single-page volume/labels TIFF pair).
    Pairs,
    /// A folder of images without labels.
    ImagesOnly,
}

impl Layout {
    /// A one-line description of the layout, for `urisc data info`.
    pub fn describe(self) -> &'static str {
        match self {
            Layout::Urisc => "U-RISC release (imgs/ + label/)",
            Layout::IsbiStack => "ISBI 2012 multi-page TIFF stacks",
            Layout::Pairs => "image/label folders matched by file stem",
            Layout::ImagesOnly => "images without labels",
        }
    }
}

/// An image in a file or a page of a stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    /// The image file.
    pub path: PathBuf,
    /// Page within the file, 0-based (always 0 for PNG, JPEG and single-page TIFF).
    pub page: usize,
}

/// One image and its label, either of which may be missing (that is then a problem).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// The sample's name: the file stem, the path under `imgs/` without extension (U-RISC), or
    /// `STEM_zNNN` for a page of a stack (the rule of [`crate::sections`]).
    pub name: String,
    /// The split folder (`Track1/train`), if the layout has splits.
    pub split: Option<String>,
    /// The EM image, if one was found.
    pub image: Option<ImageRef>,
    /// The membrane label (membrane = black), if one was found.
    pub label: Option<ImageRef>,
}

/// What [`discover`] found.
#[derive(Clone, Debug, Serialize)]
pub struct Dataset {
    /// The dataset folder (for a stack file, the folder holding it).
    pub root: PathBuf,
    /// The layout the folder was recognised as.
    pub layout: Layout,
    /// Every sample found, including those missing an image or a label.
    pub samples: Vec<Sample>,
    /// Pixel size implied by the layout (files' own metadata is read by [`inspect`]).
    pub layout_pixel_size_nm: Option<f64>,
    /// Annotation rounds (`1st`, `2nd`, `final`) and their file counts, U-RISC only.
    pub annotation_rounds: Vec<(String, usize)>,
}

impl Dataset {
    /// Samples with both an image and a label.
    pub fn pairs(&self) -> impl Iterator<Item = (&Sample, &ImageRef, &ImageRef)> {
        self.samples
            .iter()
            .filter_map(|s| Some((s, s.image.as_ref()?, s.label.as_ref()?)))
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The image files in `dir` (none when it is no folder), by the rule of command inputs
/// ([`checked_entries`]): an entry with an image extension that is not a readable file (a
/// folder, a FIFO, a broken link) or whose name is not UTF-8 is an error naming it, and so are
/// two images of one name (`a.png` and `a.tif`: samples are matched by name).
fn images_in(dir: &Path) -> Result<Vec<PathBuf>, IoError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let found = checked_entries(dir, is_image_path)?;
    let mut names: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for p in &found {
        if let Some(first) = names.insert(stem(p), p) {
            return Err(IoError::new(
                p,
                IoErrorKind::Invalid,
                format!(
                    "has the name of {} (samples are matched by name: rename or remove one)",
                    first.display()
                ),
            ));
        }
    }
    Ok(found)
}

/// The image files in `dir` and every folder below it, each folder visited once (a link that
/// loops back is not followed again, so no file is listed twice).
fn images_under(dir: &Path) -> Result<Vec<PathBuf>, IoError> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if !d.is_dir() || !seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone())) {
            continue;
        }
        out.extend(images_in(&d)?);
        stack.extend(sub_folders(&d)?);
    }
    out.sort();
    Ok(out)
}

fn file_ref(path: &Path) -> ImageRef {
    ImageRef {
        path: path.to_path_buf(),
        page: 0,
    }
}

/// Recognises the layout of `root` and lists its samples.
pub fn discover(root: &Path) -> Result<Dataset, IoError> {
    if !root.exists() {
        return Err(IoError::new(
            root,
            IoErrorKind::Open,
            "no such file or folder",
        ));
    }
    if root.is_file() {
        return discover_stack_file(root);
    }
    if Format::of_folder(root) == Some(Format::Zarr) {
        return discover_zarr(root);
    }
    if root.join("imgs").is_dir() && root.join("label").is_dir() {
        return discover_urisc(root);
    }
    if let Some(volume) = images_in(root)?.into_iter().find(|p| {
        let s = stem(p).to_ascii_lowercase();
        s.contains("volume") && Format::from_path(p) == Some(Format::Tiff)
    }) {
        return discover_stack_file(&volume);
    }
    for (img, lab) in [
        ("images", "labels"),
        ("image", "label"),
        ("imgs", "labels"),
        ("img", "label"),
    ] {
        if root.join(img).is_dir() && root.join(lab).is_dir() {
            return discover_pairs(root, &root.join(img), &root.join(lab));
        }
    }
    let images = images_in(root)?;
    if images.is_empty() {
        return Err(IoError::new(
            root,
            IoErrorKind::Invalid,
            "no dataset found: expected imgs/ + label/ (U-RISC), *volume*.tif (ISBI), \
             images/ + labels/, image files, or a Zarr store",
        ));
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        layout: Layout::ImagesOnly,
        samples: images
            .iter()
            .map(|p| Sample {
                name: stem(p),
                split: None,
                image: Some(file_ref(p)),
                label: None,
            })
            .collect(),
        layout_pixel_size_nm: isbi_hint(root),
        annotation_rounds: vec![],
    })
}

/// A Zarr store: its planes as images without labels (page = z plane), named `STEM_zNNN`.
fn discover_zarr(root: &Path) -> Result<Dataset, IoError> {
    let array = ZarrArray::open(root)?;
    let base = image_stem(root);
    Ok(Dataset {
        root: root.to_path_buf(),
        layout: Layout::ImagesOnly,
        samples: (0..array.planes())
            .map(|page| Sample {
                name: crate::sections::section_name(&base, Some(page)),
                split: None,
                image: Some(ImageRef {
                    path: root.to_path_buf(),
                    page,
                }),
                label: None,
            })
            .collect(),
        layout_pixel_size_nm: array.pixel_size_nm(),
        annotation_rounds: vec![],
    })
}

/// ISBI's pixel size when the folder is named after it; otherwise unknown.
fn isbi_hint(root: &Path) -> Option<f64> {
    let name = root
        .canonicalize()
        .ok()?
        .to_string_lossy()
        .to_ascii_lowercase();
    name.contains("isbi").then_some(ISBI_PIXEL_SIZE_NM)
}

fn discover_pairs(root: &Path, img_dir: &Path, lab_dir: &Path) -> Result<Dataset, IoError> {
    let images = images_in(img_dir)?;
    let labels: BTreeMap<String, PathBuf> = images_in(lab_dir)?
        .into_iter()
        .map(|p| (stem(&p), p))
        .collect();
    let mut samples: Vec<Sample> = images
        .iter()
        .map(|p| Sample {
            name: stem(p),
            split: None,
            image: Some(file_ref(p)),
            label: labels.get(&stem(p)).map(|l| file_ref(l)),
        })
        .collect();
    let image_stems: std::collections::BTreeSet<String> = images.iter().map(|p| stem(p)).collect();
    for (s, l) in &labels {
        if !image_stems.contains(s) {
            samples.push(Sample {
                name: s.clone(),
                split: None,
                image: None,
                label: Some(file_ref(l)),
            });
        }
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        layout: Layout::Pairs,
        samples,
        layout_pixel_size_nm: isbi_hint(root),
        annotation_rounds: vec![],
    })
}

fn discover_stack_file(volume: &Path) -> Result<Dataset, IoError> {
    let (pages, ..) = probe(volume)?;
    let file_name = volume
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let labels = ["labels", "label"].iter().find_map(|l| {
        let candidate = volume.with_file_name(file_name.replace("volume", l));
        (candidate != volume && candidate.is_file()).then_some(candidate)
    });
    let label_pages = match &labels {
        Some(l) => probe(l)?.0,
        None => 0,
    };
    let base = stem(volume);
    let samples = (0..pages.max(label_pages))
        .map(|page| Sample {
            name: crate::sections::section_name(&base, Some(page)),
            split: None,
            image: (page < pages).then(|| ImageRef {
                path: volume.to_path_buf(),
                page,
            }),
            label: labels
                .as_ref()
                .filter(|_| page < label_pages)
                .map(|l| ImageRef {
                    path: l.clone(),
                    page,
                }),
        })
        .collect();
    Ok(Dataset {
        root: volume.parent().unwrap_or(Path::new(".")).to_path_buf(),
        layout: if pages > 1 {
            Layout::IsbiStack
        } else {
            Layout::Pairs
        },
        samples,
        layout_pixel_size_nm: Some(ISBI_PIXEL_SIZE_NM),
        annotation_rounds: vec![],
    })
}

fn discover_urisc(root: &Path) -> Result<Dataset, IoError> {
    let imgs = root.join("imgs");
    let label_root = root.join("label");
    let labels = images_under(&label_root)?;
    let mut by_stem: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for l in &labels {
        by_stem.entry(stem(l)).or_default().push(l.clone());
    }
    let mut used = std::collections::BTreeSet::new();
    let mut samples = Vec::new();
    for img in images_under(&imgs)? {
        let rel = img.strip_prefix(&imgs).unwrap_or(&img).to_path_buf();
        let split = rel
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty());
        // Same relative path (any image extension), else the same stem in a folder that shares
        // the split's last component (train/val/test).
        let same_path = labels.iter().find(|l| {
            l.strip_prefix(&label_root)
                .ok()
                .map(|r| r.with_extension(""))
                == Some(rel.with_extension(""))
        });
        let label = same_path.cloned().or_else(|| {
            let candidates = by_stem.get(&stem(&img))?;
            let split_leaf = rel
                .parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_os_string());
            candidates
                .iter()
                .find(|c| {
                    split_leaf
                        .as_ref()
                        .is_some_and(|leaf| c.components().any(|x| x.as_os_str() == leaf))
                })
                .or_else(|| (candidates.len() == 1).then(|| &candidates[0]))
                .cloned()
        });
        if let Some(l) = &label {
            used.insert(l.clone());
        }
        samples.push(Sample {
            name: rel.with_extension("").to_string_lossy().into_owned(),
            split,
            image: Some(file_ref(&img)),
            label: label.as_deref().map(file_ref),
        });
    }
    for l in labels.iter().filter(|l| !used.contains(*l)) {
        let rel = l.strip_prefix(&label_root).unwrap_or(l);
        samples.push(Sample {
            name: rel.with_extension("").to_string_lossy().into_owned(),
            split: rel.parent().map(|p| p.to_string_lossy().into_owned()),
            image: None,
            label: Some(file_ref(l)),
        });
    }
    let rounds_dir = root.join("Human_Annotation_Process");
    let annotation_rounds = ["1st", "2nd", "final"]
        .iter()
        .filter(|r| rounds_dir.join(r).is_dir())
        .map(|r| Ok((r.to_string(), images_under(&rounds_dir.join(r))?.len())))
        .collect::<Result<_, IoError>>()?;
    Ok(Dataset {
        root: root.to_path_buf(),
        layout: Layout::Urisc,
        samples,
        layout_pixel_size_nm: Some(URISC_PIXEL_SIZE_NM),
        annotation_rounds,
    })
}

/// Statistics and problems of a dataset (what `urisc data info` prints).
#[derive(Clone, Debug, Serialize)]
pub struct DatasetInfo {
    /// The dataset folder, as in [`Dataset::root`].
    pub root: PathBuf,
    /// The recognised layout.
    pub layout: Layout,
    /// Samples with an image.
    pub images: usize,
    /// Samples with a label.
    pub labels: usize,
    /// Samples with both an image and a label.
    pub pairs: usize,
    /// Image count per split (empty when the layout has no splits).
    pub splits: BTreeMap<String, usize>,
    /// `"rows×columns"` → number of images of that size.
    pub sizes: BTreeMap<String, usize>,
    /// Pixel size in nm/pixel: from file metadata where present, else implied by the layout.
    pub pixel_size_nm: Option<f64>,
    /// Where the pixel size came from: `file metadata`, `implied by the layout` or
    /// `unknown (no metadata)`.
    pub pixel_size_source: String,
    /// Fraction of label pixels that are membrane (≤ 122), over all labels, and per label min/max.
    pub membrane_fraction: Option<f64>,
    /// Smallest and largest membrane fraction of a single label.
    pub membrane_fraction_range: Option<(f64, f64)>,
    /// Annotation rounds (`1st`, `2nd`, `final`) and their file counts, U-RISC only.
    pub annotation_rounds: Vec<(String, usize)>,
    /// Every problem found, one line each, naming the file.
    pub problems: Vec<String>,
}

/// What one sample's files showed.
#[derive(Default)]
struct Findings {
    size: Option<(usize, usize)>,
    pixel_size_nm: Option<f64>,
    /// Membrane pixels, label pixels.
    label_counts: Option<(u64, u64)>,
    problems: Vec<String>,
}

/// Decodes one sample's image and label completely (a truncated or damaged file is a problem
/// here, not later in training) and checks them against each other.
fn examine(s: &Sample) -> Findings {
    let mut f = Findings::default();
    if let Some(img) = &s.image {
        match read_page(&img.path, img.page) {
            Ok(d) => {
                f.size = Some((d.image.height(), d.image.width()));
                f.pixel_size_nm = d.pixel_size_nm;
                if d.out_of_range > 0 {
                    f.problems.push(format!(
                        "{}: {} floating-point pixel(s) outside [0, 1] (clamped when read)",
                        page_name(img),
                        d.out_of_range
                    ));
                }
            }
            Err(e) => f.problems.push(e.to_string()),
        }
    }
    let Some(label) = &s.label else {
        return f;
    };
    match read_page(&label.path, label.page) {
        Err(e) => f.problems.push(e.to_string()),
        Ok(decoded) => {
            let where_ = page_name(label);
            if decoded.colour_converted {
                f.problems.push(format!(
                    "{where_}: colour label with unequal channels (converted with luma weights)"
                ));
            }
            let lab = decoded.image.into_u8();
            if let Some((h, w)) = f.size {
                if (lab.height, lab.width) != (h, w) {
                    f.problems.push(format!(
                        "{where_}: label is {}×{} but its image is {h}×{w}",
                        lab.height, lab.width
                    ));
                }
            }
            let m = lab.data.iter().filter(|&&v| label_is_membrane(v)).count() as u64;
            let grey = lab.data.iter().filter(|&&v| v != 0 && v != 255).count();
            if grey > 0 {
                f.problems.push(format!(
                    "{where_}: label is not binary ({:.3}% of pixels are neither 0 nor 255; binarised at ≤ 122)",
                    100.0 * grey as f64 / lab.len().max(1) as f64
                ));
            }
            f.label_counts = Some((m, lab.len() as u64));
        }
    }
    f
}

/// Decodes every image and label (in parallel; `on_item` is called once per sample, for
/// progress) and reports statistics and problems, in the dataset's order.
pub fn inspect(dataset: &Dataset, on_item: &(dyn Fn() + Sync)) -> DatasetInfo {
    use rayon::prelude::*;
    let findings: Vec<Findings> = dataset
        .samples
        .par_iter()
        .map(|s| {
            let f = examine(s);
            on_item();
            f
        })
        .collect();
    let mut problems = Vec::new();
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    let mut splits: BTreeMap<String, usize> = BTreeMap::new();
    let (mut membrane, mut total) = (0u64, 0u64);
    let mut range: Option<(f64, f64)> = None;
    let mut file_pixel_size: Option<f64> = None;
    let mut no_label = Vec::new();
    let mut no_image = Vec::new();
    for (s, f) in dataset.samples.iter().zip(findings) {
        if let Some(split) = &s.split {
            if s.image.is_some() {
                *splits.entry(split.clone()).or_default() += 1;
            }
        }
        if s.image.is_none() {
            no_image.push(s.name.clone());
        }
        if s.label.is_none() {
            no_label.push(s.name.clone());
        }
        if let Some((h, w)) = f.size {
            *sizes.entry(format!("{h}×{w}")).or_default() += 1;
        }
        file_pixel_size = file_pixel_size.or(f.pixel_size_nm);
        problems.extend(f.problems);
        if let Some((m, n)) = f.label_counts {
            let fraction = m as f64 / n.max(1) as f64;
            range = Some(match range {
                None => (fraction, fraction),
                Some((lo, hi)) => (lo.min(fraction), hi.max(fraction)),
            });
            membrane += m;
            total += n;
        }
    }
    if !no_label.is_empty() && dataset.layout != Layout::ImagesOnly {
        problems.push(format!(
            "{} image(s) without a label: {}",
            no_label.len(),
            sample_list(&no_label)
        ));
    }
    if !no_image.is_empty() {
        problems.push(format!(
            "{} label(s) without an image: {}",
            no_image.len(),
            sample_list(&no_image)
        ));
    }
    if dataset.layout == Layout::ImagesOnly {
        problems.push(format!(
            "{}: no labels found (images only)",
            dataset.root.display()
        ));
    }
    let (pixel_size_nm, pixel_size_source) = match (file_pixel_size, dataset.layout_pixel_size_nm) {
        (Some(p), _) => (Some(p), "file metadata".to_string()),
        (None, Some(p)) => (Some(p), "implied by the layout".to_string()),
        (None, None) => (None, "unknown (no metadata)".to_string()),
    };
    DatasetInfo {
        root: dataset.root.clone(),
        layout: dataset.layout,
        images: dataset.samples.iter().filter(|s| s.image.is_some()).count(),
        labels: dataset.samples.iter().filter(|s| s.label.is_some()).count(),
        pairs: dataset.pairs().count(),
        splits,
        sizes,
        pixel_size_nm,
        pixel_size_source,
        membrane_fraction: (total > 0).then(|| membrane as f64 / total as f64),
        membrane_fraction_range: range,
        annotation_rounds: dataset.annotation_rounds.clone(),
        problems,
    }
}

fn page_name(r: &ImageRef) -> String {
    let (pages, ..) = probe(&r.path).unwrap_or((1, 0, 0));
    if pages > 1 {
        format!("{} (page {})", r.path.display(), r.page)
    } else {
        r.path.display().to_string()
    }
}

fn sample_list(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    if names.len() > 5 {
        format!("{} …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// What `urisc data info FILE` reports about one image file (a multi-page TIFF is a stack and
/// goes through [`discover`] instead).
#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    /// The file.
    pub path: PathBuf,
    /// The format the file's content holds: `PNG`, `TIFF` or `JPEG`, whatever its extension.
    pub format: String,
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
    /// Bits per sample as stored: 8, 16 or 32 (float).
    pub bits_per_sample: u8,
    /// Pixel size in nm/pixel from the file's metadata, if it carries one.
    pub pixel_size_nm: Option<f64>,
    /// Fraction of pixels that would be membrane if this were a label (≤ 122).
    pub membrane_fraction_as_label: f64,
    /// Colour with unequal channels, converted with luma weights.
    pub colour_converted: bool,
    /// Floating-point pixels outside [0, 1] (clamped when read).
    pub out_of_range: usize,
}

/// Decodes one image file completely (so a damaged one is an error naming it) and describes it.
pub fn inspect_file(path: &Path) -> Result<FileInfo, IoError> {
    let format = detect(path)?;
    let d = format.reader().read_page(path, 0)?;
    let bits_per_sample = d.image.bit_depth();
    let (height, width) = (d.image.height(), d.image.width());
    let grey = d.image.into_u8();
    let membrane = grey.data.iter().filter(|&&v| label_is_membrane(v)).count();
    Ok(FileInfo {
        path: path.to_path_buf(),
        format: format!("{format:?}").to_uppercase(),
        height,
        width,
        bits_per_sample,
        pixel_size_nm: d.pixel_size_nm,
        membrane_fraction_as_label: membrane as f64 / grey.len().max(1) as f64,
        colour_converted: d.colour_converted,
        out_of_range: d.out_of_range,
    })
}
