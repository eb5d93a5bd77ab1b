//! An attribution job: everything `urisc attribute` does between reading its flags and printing
//! its summary, in one place for every entry point to call (the CLI does; the Python module,
//! `bench run` and `plan`/`run-block` are meant to): which pixels are targets, the grid they are
//! attributed on, the memory check, the outputs and the report. Callers build an [`AttributionJob`], split it by section
//! ([`AttributionJob::per_section`]), then [`run`] each part (or [`prepare`] it and
//! [`Prepared::run`] it, to say what was prepared before the long part starts).
//!
//! - The image is a [`Section`]: a multi-page TIFF or a 3-D Zarr array is attributed page by
//!   page, each page into a folder of its own named like every other command's outputs
//!   (`OUT/STEM_zNNN/`, [`urisc_io::sections`]).
//! - The scale is the one `urisc predict` would choose ([`PredictSettings::section_scale`]: the
//!   user's scale, else the ratio of pixel sizes, bounded), and with [`TargetChoice::Label`]
//!   the membrane prediction is `urisc predict`'s own tiling ([`PredictSettings::resolve`]).
//!
//! ```
//! use urisc_attrib::job::{run, AttributionJob, TargetChoice};
//! use urisc_io::{sections::Section, write_png, Image};
//! use urisc_model::{testing::LinearFilter, ModelDefaults};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let image = dir.path().join("a.png");
//! let pixels = (0..32 * 32).map(|i| (i * 37 % 251) as u8).collect();
//! write_png(&image, &Image::new(32, 32, pixels), None, false).unwrap();
//! let model = LinearFilter::new(1, vec![1.0; 9], 0.0);
//! let defaults = ModelDefaults { tile: 32, size_multiple: 1, threshold: 0.5, pixel_size_nm: None };
//! let mut job = AttributionJob::new(
//!     Section::single(&image),
//!     TargetChoice::Grid { step: 16, offset: 4 },
//!     dir.path().join("out"),
//! );
//! job.steps = 4;
//! let outcome = run(&model, &defaults, &job, &mut |_, _| {}).unwrap();
//! assert_eq!(outcome.report.targets.len(), 4);
//! assert_eq!(outcome.report.name, "a");
//! assert!(outcome.paths.json.exists());
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use urisc_infer::job::{PredictFlags, PredictSettings, SettingsError};
use urisc_infer::{predict_image_scaled, resample_image, scaled_len};
use urisc_io::encoding::label_is_membrane;
use urisc_io::sections::{section_name, sections_of, Section};
use urisc_io::{check_writable, write_atomically, Image, IoError};
use urisc_model::{InputGradient, ModelDefaults, ModelError, SegmentationModel};

use crate::context::max_radius_for;
use crate::heatmap::{montage, render_full, write_rgb_png, HeatmapMode, HeatmapStyle};
use crate::ig::{
    check_inputs, integrated_gradients, logit_differences, IgSettings, Rule, TargetClass,
};
use crate::plot::{context_curves_svg, study_svg};
use crate::report::{curve_csv, AttributionReport, CurveCollector};
use crate::study::{study, StudyError, StudyGroup, StudyResult, StudySettings};
use crate::{targets, AttribError};

/// A target pixel: (row, column).
pub type Pixel = (usize, usize);

/// Bytes per image pixel that attribution holds at once: the image (1) and its normalised copy
/// (4), a label (1) and tiled probabilities (4) with a label, one RGB heatmap (3).
pub const BYTES_PER_PIXEL: u64 = 13;

/// Largest batch × crop pixels per gradient call when none is given (on 2 CPU cores, 2^18 was
/// as fast as smaller batches and 30 % faster than 2^22).
pub const DEFAULT_BATCH_PIXELS: usize = 1 << 18;

/// Which pixels are attributed, in the image's own coordinates (before any resampling).
#[derive(Clone, Debug, PartialEq)]
pub enum TargetChoice {
    /// Rows and columns `offset, offset + step, …` ([`targets::grid`]).
    Grid {
        /// Spacing of the grid, at least 1.
        step: usize,
        /// First row and column.
        offset: usize,
    },
    /// These pixels.
    Pixels(Vec<Pixel>),
    /// Every true-positive membrane pixel: membrane in this label and predicted membrane at the
    /// model's threshold, by `urisc predict`'s prediction.
    Label(Section),
}

/// One attribution run: an image section, its targets, how they are attributed and where the
/// outputs go. [`AttributionJob::new`] fills in `urisc attribute`'s defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributionJob {
    /// The image (one section; [`AttributionJob::per_section`] splits a stack).
    pub image: Section,
    /// Which pixels are attributed.
    pub targets: TargetChoice,
    /// Attribute at most this many targets, sampled uniformly with `seed`.
    pub max_targets: Option<usize>,
    /// Seed of the target sample.
    pub seed: u64,
    /// Interpolation steps between the baseline (mid-grey) and the image, at least 1.
    pub steps: usize,
    /// The quadrature rule.
    pub rule: Rule,
    /// Which logit is attributed.
    pub class: TargetClass,
    /// Whole-image heatmaps for this many targets, evenly spread.
    pub heatmaps: usize,
    /// How heatmaps and montage tiles are coloured (gamma finite and > 0).
    pub heatmap_style: HeatmapStyle,
    /// Montage tiles of up to this many targets; 0 for no montage.
    pub montage: usize,
    /// Half-side of montage tiles; `None`: the model's context radius, at most 64.
    pub montage_half: Option<usize>,
    /// Largest batch × crop pixels per gradient call (bounds memory).
    pub batch_pixels: usize,
    /// The report's name (the label in comparison plots); `None`: the section's name.
    pub name: Option<String>,
    /// The model as the report names it (its file, or the embedded model's name).
    pub model_name: String,
    /// Overwrite existing outputs.
    pub force: bool,
    /// Output folder: attribution.json, context-curve.csv/.svg, heatmaps/, montage.png.
    pub out: PathBuf,
    /// The image's pixel size in nm/pixel, overriding its file's.
    pub pixel_size_nm: Option<f64>,
    /// The resampling factor, overriding the ratio of pixel sizes.
    pub scale: Option<f64>,
    /// Memory available to the run (the CLI passes the OS's MemAvailable); `None`: unchecked.
    pub available_memory_bytes: Option<u64>,
}

/// Most interpolation steps a job takes: integrated gradients converge in 20–300 (Sundararajan
/// et al. 2017; urisc's default is 100); beyond 10 000 a typo would run for days.
pub const MAX_STEPS: usize = 10_000;

/// Why an attribution job cannot run; each message names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum AttribJobError {
    /// Interpolation steps outside 1..=[`MAX_STEPS`].
    #[error("--steps {0}: integrated gradients need 1 to {MAX_STEPS} interpolation steps")]
    Steps(usize),
    /// A heatmap gamma that is not a positive number.
    #[error("--heatmap-gamma {0}: must be finite and > 0")]
    HeatmapGamma(f32),
    /// A grid step of 0.
    #[error("--grid must be at least 1")]
    GridStep,
    /// A setting `urisc predict` refuses too (a scale out of bounds, a model's odd tile),
    /// named as its flag.
    #[error("{}", .0.with_flag())]
    Settings(#[from] SettingsError),
    /// The pixel sizes of the image and the model ask for a scale out of bounds.
    #[error("{image}: {problem}")]
    SectionScale {
        /// The image section.
        image: String,
        /// The refused scale.
        problem: SettingsError,
    },
    /// The image would not fit in the memory available.
    #[error(
        "{image}: {height}×{width} pixels need ≈ {:.1} GiB to attribute, {:.1} GiB is available (crop the region of interest first)",
        gib(*.needed), gib(*.available)
    )]
    Memory {
        /// The image section.
        image: String,
        /// Its rows.
        height: usize,
        /// Its columns.
        width: usize,
        /// Bytes the run would hold.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A label whose size is not the image's.
    #[error("{label}: label is {label_height}×{label_width}, image is {height}×{width}")]
    LabelSize {
        /// The label section.
        label: String,
        /// Its rows.
        label_height: usize,
        /// Its columns.
        label_width: usize,
        /// The image's rows.
        height: usize,
        /// The image's columns.
        width: usize,
    },
    /// A label whose sections do not pair one to one with the image's.
    #[error(
        "{label}: {label_sections} label section(s) for the {image_sections} section(s) of {image} (give one label page per image page)"
    )]
    LabelSections {
        /// The label file.
        label: String,
        /// Its sections.
        label_sections: usize,
        /// The image file.
        image: String,
        /// Its sections.
        image_sections: usize,
    },
    /// No targets were chosen (an empty list, a label without true positives).
    #[error("no target pixels to attribute")]
    NoTargets,
    /// The resampled image is smaller than the model's size multiple.
    #[error(
        "{image}: {height}×{width} at scale {scale} is {scaled_height}×{scaled_width}, smaller than the model's size multiple {multiple}"
    )]
    TooSmall {
        /// The image section.
        image: String,
        /// Its rows.
        height: usize,
        /// Its columns.
        width: usize,
        /// The resampling factor.
        scale: f64,
        /// Rows after resampling.
        scaled_height: usize,
        /// Columns after resampling.
        scaled_width: usize,
        /// The model's size multiple.
        multiple: usize,
    },
    /// Every target fell into the border cropped after resampling.
    #[error("{image}: no target lies inside the image resampled by {scale} ({height}×{width})")]
    NoTargetInside {
        /// The image section.
        image: String,
        /// The resampling factor.
        scale: f64,
        /// Rows of the cropped grid.
        height: usize,
        /// Columns of the cropped grid.
        width: usize,
    },
    /// The image does not fit the model, or a target lies outside it.
    #[error("{image}: {problem}")]
    Inputs {
        /// The image section.
        image: String,
        /// What is wrong.
        problem: AttribError,
    },
    /// The model failed (no gradients on this engine, a device error).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Reading or writing a file failed (the message names it).
    #[error(transparent)]
    Io(#[from] IoError),
    /// The heatmap folder cannot be created.
    #[error("{}: cannot create: {problem}", .dir.display())]
    CreateDir {
        /// The folder.
        dir: PathBuf,
        /// The OS's reason.
        problem: std::io::Error,
    },
    /// A report file cannot be read.
    #[error("{}: cannot read: {problem}", .path.display())]
    ReadReport {
        /// The file.
        path: PathBuf,
        /// The OS's reason.
        problem: std::io::Error,
    },
    /// A file that is not an attribution report.
    #[error("{}: not an attribution report: {problem}", .path.display())]
    NotAReport {
        /// The file.
        path: PathBuf,
        /// What the JSON reader says.
        problem: serde_json::Error,
    },
    /// An output that exists, without `force`.
    #[error("{}: exists (use --force to overwrite)", .0.display())]
    Exists(PathBuf),
    /// The study cannot be computed from these runs.
    #[error(transparent)]
    Study(#[from] StudyError),
    /// A report could not be serialised.
    #[error("cannot write the report: {0}")]
    Json(#[from] serde_json::Error),
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// Bytes an attribution of a `height × width` image holds at once ([`BYTES_PER_PIXEL`] per
/// pixel, plus the gradient batches).
pub fn memory_needed(height: usize, width: usize, batch_pixels: usize) -> u64 {
    (height as u64) * (width as u64) * BYTES_PER_PIXEL + batch_pixels as u64 * 4 * 64
}

/// The files a job writes.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputPaths {
    /// The report, `attribution.json`.
    pub json: PathBuf,
    /// The summary curve, `context-curve.csv` (not written when every map is zero).
    pub csv: PathBuf,
    /// The curve plot, `context-curve.svg`.
    pub svg: PathBuf,
    /// The folder of whole-image heatmaps, `heatmaps/`.
    pub heatmaps: PathBuf,
    /// The tiles of several targets, `montage.png` (only with a montage).
    pub montage: PathBuf,
}

impl OutputPaths {
    /// The heatmap of target `(r, c)`: `heatmaps/target-rRRRR-cCCCC.png`.
    pub fn heatmap(&self, (r, c): Pixel) -> PathBuf {
        self.heatmaps.join(format!("target-r{r:04}-c{c:04}.png"))
    }
}

impl AttributionJob {
    /// A job with `urisc attribute`'s defaults: 100 right-Riemann steps on the membrane logit,
    /// 4 heatmaps (signed, gamma 0.5), a montage of 64, [`DEFAULT_BATCH_PIXELS`], all targets,
    /// no memory check, the scale from the pixel sizes, no overwriting.
    pub fn new(image: Section, targets: TargetChoice, out: PathBuf) -> AttributionJob {
        AttributionJob {
            image,
            targets,
            max_targets: None,
            seed: 0,
            steps: 100,
            rule: Rule::Right,
            class: TargetClass::Membrane,
            heatmaps: 4,
            heatmap_style: HeatmapStyle {
                mode: HeatmapMode::Signed,
                gamma: 0.5,
            },
            montage: 64,
            montage_half: None,
            batch_pixels: DEFAULT_BATCH_PIXELS,
            name: None,
            model_name: String::new(),
            force: false,
            out,
            pixel_size_nm: None,
            scale: None,
            available_memory_bytes: None,
        }
    }

    /// The flags of `urisc predict` this job sets: its pixel size and scale.
    pub fn predict_flags(&self) -> PredictFlags {
        PredictFlags {
            pixel_size_nm: self.pixel_size_nm,
            scale: self.scale,
            ..PredictFlags::default()
        }
    }

    /// Checks the settings that need no file: steps, heatmap gamma, grid step, pixel size and
    /// scale.
    pub fn validate(&self) -> Result<(), AttribJobError> {
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(AttribJobError::Steps(self.steps));
        }
        let gamma = self.heatmap_style.gamma;
        if !(gamma.is_finite() && gamma > 0.0) {
            return Err(AttribJobError::HeatmapGamma(gamma));
        }
        if let TargetChoice::Grid { step: 0, .. } = self.targets {
            return Err(AttribJobError::GridStep);
        }
        // The pixel size and the scale follow `urisc predict`'s rules (before any model loads).
        self.predict_flags().check()?;
        Ok(())
    }

    /// Refuses, from the image's header and before decoding it, an image whose attribution
    /// would not fit in [`AttributionJob::available_memory_bytes`] (instead of an allocation
    /// failure part-way).
    pub fn check_memory(&self) -> Result<(), AttribJobError> {
        let (height, width) = self.image.size()?;
        let needed = memory_needed(height, width, self.batch_pixels);
        match self.available_memory_bytes {
            Some(available) if needed > available => Err(AttribJobError::Memory {
                image: self.image.describe(),
                height,
                width,
                needed,
                available,
            }),
            _ => Ok(()),
        }
    }

    /// Where the outputs go.
    pub fn paths(&self) -> OutputPaths {
        OutputPaths {
            json: self.out.join("attribution.json"),
            csv: self.out.join("context-curve.csv"),
            svg: self.out.join("context-curve.svg"),
            heatmaps: self.out.join("heatmaps"),
            montage: self.out.join("montage.png"),
        }
    }

    /// Refuses existing outputs (without `force`) that do not depend on the targets: the
    /// report, the curve, the montage. [`prepare`] checks the heatmaps too.
    pub fn check_outputs(&self) -> Result<(), AttribJobError> {
        let paths = self.paths();
        for path in [&paths.json, &paths.csv, &paths.svg, &paths.heatmaps] {
            self.check_output(path)?;
        }
        if self.montage > 0 {
            self.check_output(&paths.montage)?;
        }
        Ok(())
    }

    /// Refuses an output that is an input — the image, the label, the model file — (never
    /// written over, even with `force`), or that exists without `force`.
    fn check_output(&self, path: &Path) -> Result<(), IoError> {
        let mut inputs = vec![self.image.path.clone()];
        if let TargetChoice::Label(label) = &self.targets {
            inputs.push(label.path.clone());
        }
        let model = PathBuf::from(&self.model_name);
        if model.is_file() {
            inputs.push(model);
        }
        urisc_io::paths::refuse_input(path, &inputs)?;
        check_writable(path, self.force)
    }

    /// The job split by the image's sections ([`sections_of`]): itself for a single image (its
    /// outputs in `out`); for a multi-page TIFF or a 3-D Zarr array one job per page, writing
    /// to `out/STEM_zNNN/` and named `STEM_zNNN` (or `NAME_zNNN` when a name is given). A
    /// [`TargetChoice::Label`] is split the same way: its sections pair one to one with the
    /// image's, so a stack needs a label stack of as many pages, and a single image a single
    /// label.
    pub fn per_section(self) -> Result<Vec<AttributionJob>, AttribJobError> {
        let images = sections_of(&self.image.path)?;
        let labels = match &self.targets {
            TargetChoice::Label(label) => {
                let labels = sections_of(&label.path)?;
                if labels.len() != images.len() {
                    return Err(AttribJobError::LabelSections {
                        label: label.path.display().to_string(),
                        label_sections: labels.len(),
                        image: self.image.path.display().to_string(),
                        image_sections: images.len(),
                    });
                }
                Some(labels)
            }
            _ => None,
        };
        let several = images.len() > 1;
        Ok(images
            .into_iter()
            .enumerate()
            .map(|(k, section)| {
                let mut job = self.clone();
                if several {
                    job.out = self.out.join(&section.name);
                    job.name = self.name.as_ref().map(|n| section_name(n, section.plane));
                }
                if let Some(labels) = &labels {
                    job.targets = TargetChoice::Label(labels[k].clone());
                }
                job.image = section;
                job
            })
            .collect())
    }
}

/// The flags a job hands to [`PredictSettings::resolve`]: its pixel size and scale.
fn predict_settings(
    defaults: &ModelDefaults,
    job: &AttributionJob,
) -> Result<PredictSettings, SettingsError> {
    PredictSettings::resolve(defaults, &job.predict_flags())
}

/// The job's targets in `image`'s coordinates (the section decoded, before resampling),
/// sampled down to `max_targets`. With [`TargetChoice::Label`], the true positives of the
/// model's prediction made at `scale` with `settings` — pass [`PredictSettings::resolve`]'s,
/// as [`prepare`] does, and the prediction is `urisc predict`'s.
pub fn choose_targets<M: SegmentationModel>(
    model: &M,
    settings: &PredictSettings,
    job: &AttributionJob,
    image: &Image<u8>,
    scale: f64,
) -> Result<Vec<Pixel>, AttribJobError> {
    let (height, width) = (image.height, image.width);
    let all = match &job.targets {
        TargetChoice::Grid { step: 0, .. } => return Err(AttribJobError::GridStep),
        &TargetChoice::Grid { step, offset } => targets::grid(height, width, step, offset),
        TargetChoice::Pixels(pixels) => pixels.clone(),
        TargetChoice::Label(section) => {
            let label = section.read()?.image.into_u8();
            if (label.height, label.width) != (height, width) {
                return Err(AttribJobError::LabelSize {
                    label: section.describe(),
                    label_height: label.height,
                    label_width: label.width,
                    height,
                    width,
                });
            }
            let membrane: Vec<bool> = label.data.iter().map(|&v| label_is_membrane(v)).collect();
            // The membrane prediction exactly as `urisc predict` makes it: the tile, overlap
            // (`default_overlap`), batch and threshold of `PredictSettings::resolve`, at the
            // same scale. Tiled, memory does not grow with a whole-image forward pass.
            // Membrane by predict's binary rule, p ≥ threshold.
            let p = predict_image_scaled(model, image, &settings.options, scale)?;
            targets::true_positive_membrane(&membrane, &p.data, settings.threshold, width)
        }
    };
    let chosen = match job.max_targets {
        Some(n) => targets::sample(&all, n, job.seed),
        None => all,
    };
    if chosen.is_empty() {
        return Err(AttribJobError::NoTargets);
    }
    Ok(chosen)
}

/// How the image was resampled before attribution (a scale other than 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Resampling {
    /// The resampling factor.
    pub scale: f64,
    /// The section's rows × columns.
    pub original: (usize, usize),
    /// Rows × columns after resampling.
    pub resampled: (usize, usize),
    /// Rows × columns after cropping to the model's size multiple: the attributed grid.
    pub cropped: (usize, usize),
    /// Targets chosen in the section's coordinates.
    pub chosen: usize,
    /// Targets left on the attributed grid (the others fell into the cropped border or onto
    /// a pixel taken already).
    pub kept: usize,
}

impl std::fmt::Display for Resampling {
    /// `at scale 0.5: 512×512 resampled to 256×256, cropped to 256×256; 16 of 16 targets`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [(h, w), (sh, sw), (ch, cw)] = [self.original, self.resampled, self.cropped];
        write!(
            f,
            "at scale {}: {h}×{w} resampled to {sh}×{sw}, cropped to {ch}×{cw}; {} of {} targets",
            self.scale, self.kept, self.chosen
        )
    }
}

/// The image resampled by `scale` and cropped to a multiple of the model's size multiple, with
/// the targets (in the image's coordinates) moved onto that grid by their pixel centres; targets
/// that fall into the cropped border or onto a pixel taken already are dropped (and counted).
fn onto_scaled_grid(
    section: &Section,
    image: &Image<u8>,
    targets: &[Pixel],
    scale: f64,
    multiple: usize,
) -> Result<(Image<u8>, Vec<Pixel>, Resampling), AttribJobError> {
    let (h, w) = (image.height, image.width);
    let (sh, sw) = (scaled_len(h, scale), scaled_len(w, scale));
    let (ch, cw) = (sh / multiple * multiple, sw / multiple * multiple);
    if ch == 0 || cw == 0 {
        return Err(AttribJobError::TooSmall {
            image: section.describe(),
            height: h,
            width: w,
            scale,
            scaled_height: sh,
            scaled_width: sw,
            multiple,
        });
    }
    let resampled = resample_image(image, sh, sw);
    let data = resampled
        .data
        .chunks(sw)
        .take(ch)
        .flat_map(|row| &row[..cw])
        .copied()
        .collect();
    let centre = |v: usize, from: usize, to: usize| {
        ((v as f64 + 0.5) * to as f64 / from as f64 - 0.5)
            .round()
            .max(0.0) as usize
    };
    let mut seen = HashSet::new();
    let moved: Vec<Pixel> = targets
        .iter()
        .map(|&(r, c)| (centre(r, h, sh), centre(c, w, sw)))
        .filter(|&(r, c)| r < ch && c < cw && seen.insert((r, c)))
        .collect();
    if moved.is_empty() {
        return Err(AttribJobError::NoTargetInside {
            image: section.describe(),
            scale,
            height: ch,
            width: cw,
        });
    }
    let resampling = Resampling {
        scale,
        original: (h, w),
        resampled: (sh, sw),
        cropped: (ch, cw),
        chosen: targets.len(),
        kept: moved.len(),
    };
    Ok((Image::new(ch, cw, data), moved, resampling))
}

/// A job ready to attribute: the section decoded and resampled, its targets chosen and every
/// output checked. Nothing has been written but the (empty) heatmap folder.
#[derive(Debug)]
pub struct Prepared<'a> {
    job: &'a AttributionJob,
    /// The attributed grid: the section, resampled and cropped when the scale is not 1.
    pub image: Image<u8>,
    /// The targets on that grid.
    pub targets: Vec<Pixel>,
    /// The resampling factor.
    pub scale: f64,
    /// How the section was resampled, when it was.
    pub resampling: Option<Resampling>,
    /// The pixel size of the attributed grid, nm/pixel, when known.
    pub pixel_size_nm: Option<f64>,
    /// Indices (into `targets`) of the targets given whole-image heatmaps.
    pub heatmap_for: Vec<usize>,
    /// Indices (into `targets`) of the targets in the montage.
    pub montage_for: Vec<usize>,
}

/// Everything before the integrated gradients: checks the settings and the memory, decodes the
/// section, chooses its scale and targets, moves them onto the attributed grid and refuses
/// existing outputs (without `force`) before anything is computed.
pub fn prepare<'a, M: InputGradient + Sync>(
    model: &M,
    defaults: &ModelDefaults,
    job: &'a AttributionJob,
) -> Result<Prepared<'a>, AttribJobError> {
    job.validate()?;
    job.check_memory()?;
    let settings = predict_settings(defaults, job)?;
    let decoded = job.image.read()?;
    let scale = settings
        .section_scale(decoded.pixel_size_nm)
        .map_err(|problem| AttribJobError::SectionScale {
            image: job.image.describe(),
            problem,
        })?;
    let original = decoded.image.into_u8();
    let chosen = choose_targets(model, &settings, job, &original, scale.scale)?;
    let (image, targets, resampling) = if scale.scale == 1.0 {
        (original, chosen, None)
    } else {
        let (image, targets, resampling) = onto_scaled_grid(
            &job.image,
            &original,
            &chosen,
            scale.scale,
            model.size_multiple(),
        )?;
        (image, targets, Some(resampling))
    };
    check_inputs(model.size_multiple(), image.height, image.width, &targets).map_err(
        |problem| AttribJobError::Inputs {
            image: job.image.describe(),
            problem,
        },
    )?;
    let heatmap_for = targets::spread(targets.len(), job.heatmaps);
    let montage_for = targets::spread(targets.len(), job.montage);
    // Refuse before computing anything.
    let paths = job.paths();
    for path in [&paths.json, &paths.csv, &paths.svg] {
        job.check_output(path)?;
    }
    for &k in &heatmap_for {
        job.check_output(&paths.heatmap(targets[k]))?;
    }
    if !montage_for.is_empty() {
        job.check_output(&paths.montage)?;
    }
    std::fs::create_dir_all(&paths.heatmaps).map_err(|problem| AttribJobError::CreateDir {
        dir: paths.heatmaps.clone(),
        problem,
    })?;
    Ok(Prepared {
        job,
        image,
        targets,
        scale: scale.scale,
        resampling,
        // On the attributed grid: the section's pixel size over the scale, else the model's.
        pixel_size_nm: scale
            .input_nm
            .map(|p| p / scale.scale)
            .or(defaults.pixel_size_nm),
        heatmap_for,
        montage_for,
    })
}

/// How well Σ IG matched `f(x) − f(baseline)` over the targets (completeness).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Completeness {
    /// Mean |Σ IG − Δlogit|.
    pub mean_gap: f64,
    /// Mean |Δlogit|, the scale the gap is to be read against.
    pub mean_difference: f64,
}

/// What a job wrote and found.
#[derive(Clone, Debug)]
pub struct AttributionOutcome {
    /// The report, as written to `attribution.json`.
    pub report: AttributionReport,
    /// The output folder.
    pub out: PathBuf,
    /// Where each output went.
    pub paths: OutputPaths,
    /// The heatmaps written.
    pub heatmaps: Vec<PathBuf>,
    /// Whether `montage.png` was written.
    pub montage: bool,
    /// Whether `context-curve.csv` was written (not when every map is zero).
    pub csv: bool,
    /// Gradient evaluations per target (quadrature nodes).
    pub evaluations: usize,
    /// Σ IG against Δlogit.
    pub completeness: Completeness,
    /// How the section was resampled, when it was.
    pub resampling: Option<Resampling>,
}

impl Prepared<'_> {
    /// The integrated gradients of every target, the context curves, heatmaps, montage and
    /// report. `progress(done, total)` is told the target-steps done (from 0, before the
    /// first gradient).
    pub fn run<M: InputGradient + Sync>(
        self,
        model: &M,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<AttributionOutcome, AttribJobError> {
        let job = self.job;
        let (image, targets) = (&self.image, &self.targets);
        let (height, width) = (image.height, image.width);
        let normalized: Vec<f32> = image.data.iter().map(|&v| model.normalize(v)).collect();
        let in_image = |problem: AttribError| AttribJobError::Inputs {
            image: job.image.describe(),
            problem,
        };
        let settings = IgSettings {
            steps: job.steps,
            rule: job.rule,
            class: job.class,
            baseline: 0.0,
            max_batch_pixels: job.batch_pixels,
        };
        let differences = logit_differences(model, &normalized, height, width, targets, &settings)?;
        let index_of: HashMap<Pixel, usize> =
            targets.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        let evaluations = settings.rule.nodes(settings.steps).len();
        let total = targets.len() * evaluations;
        let mut collector = CurveCollector::new(max_radius_for(height, width));
        let mut kept = Vec::new();
        let mut done = 0;
        progress(done, total);
        let started = Instant::now();
        integrated_gradients(
            model,
            &normalized,
            height,
            width,
            targets,
            &settings,
            |maps, target_steps| {
                for map in maps {
                    let i = index_of[&map.target];
                    collector.add(&map, differences[i]);
                    if self.heatmap_for.contains(&i) || self.montage_for.contains(&i) {
                        kept.push((i, map));
                    }
                }
                done += target_steps;
                progress(done, total);
            },
        )
        .map_err(in_image)?;
        let seconds = started.elapsed().as_secs_f64();

        kept.sort_by_key(|(i, _)| *i);
        let paths = job.paths();
        let style = job.heatmap_style;
        let mut heatmaps = Vec::new();
        for (i, map) in &kept {
            if self.heatmap_for.contains(i) {
                let rgb = render_full(map, Some(image), style, height, width);
                let path = paths.heatmap(map.target);
                write_rgb_png(&path, &rgb, job.force)?;
                heatmaps.push(path);
            }
        }
        let montage_written = !self.montage_for.is_empty();
        if montage_written {
            let tiles: Vec<_> = kept
                .iter()
                .filter(|(i, _)| self.montage_for.contains(i))
                .map(|(_, m)| m.clone())
                .collect();
            let half = job
                .montage_half
                .unwrap_or_else(|| model.context_radius().unwrap_or(64).min(64));
            let columns = (tiles.len() as f64).sqrt().ceil() as usize;
            let rgb = montage(&tiles, Some(image), style, half, columns, height, width);
            write_rgb_png(&paths.montage, &rgb, job.force)?;
        }

        let summary = collector.summary();
        let report = AttributionReport {
            name: job.name.clone().unwrap_or_else(|| job.image.name.clone()),
            model: job.model_name.clone(),
            image: job.image.path.display().to_string(),
            plane: job.image.plane,
            scale: self.scale,
            height,
            width,
            pixel_size_nm: self.pixel_size_nm,
            context_radius: model.context_radius(),
            seconds,
            seconds_per_target_step: seconds / total as f64,
            settings,
            targets: collector.results,
            summary,
        };
        write_text(
            &paths.json,
            job.force,
            &serde_json::to_string_pretty(&report)?,
        )?;
        if let Some(s) = &report.summary {
            write_text(&paths.csv, job.force, &curve_csv(s))?;
        }
        let svg = context_curves_svg(std::slice::from_ref(&report));
        write_text(&paths.svg, job.force, &svg)?;

        let n = report.targets.len() as f64;
        let completeness = Completeness {
            mean_gap: report
                .targets
                .iter()
                .map(|t| (t.sum_ig - t.logit_difference).abs())
                .sum::<f64>()
                / n,
            mean_difference: report
                .targets
                .iter()
                .map(|t| t.logit_difference.abs())
                .sum::<f64>()
                / n,
        };
        Ok(AttributionOutcome {
            csv: report.summary.is_some(),
            report,
            out: job.out.clone(),
            paths,
            heatmaps,
            montage: montage_written,
            evaluations,
            completeness,
            resampling: self.resampling,
        })
    }
}

/// [`prepare`], then [`Prepared::run`]: the whole job.
pub fn run<M: InputGradient + Sync>(
    model: &M,
    defaults: &ModelDefaults,
    job: &AttributionJob,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<AttributionOutcome, AttribJobError> {
    prepare(model, defaults, job)?.run(model, progress)
}

fn write_text(path: &Path, force: bool, text: &str) -> Result<(), IoError> {
    write_atomically(path, force, |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
}

/// Reads an `attribution.json` a job wrote.
pub fn read_report(path: &Path) -> Result<AttributionReport, AttribJobError> {
    let text = std::fs::read_to_string(path).map_err(|problem| AttribJobError::ReadReport {
        path: path.to_path_buf(),
        problem,
    })?;
    serde_json::from_str(&text).map_err(|problem| AttribJobError::NotAReport {
        path: path.to_path_buf(),
        problem,
    })
}

/// `urisc attribute compare`: reads the runs' reports and draws their context curves in one
/// SVG at `out`; returns the reports, in order.
pub fn compare_runs(
    reports: &[PathBuf],
    out: &Path,
    force: bool,
) -> Result<Vec<AttributionReport>, AttribJobError> {
    urisc_io::paths::refuse_input(out, reports)?;
    check_writable(out, force)?;
    let reports = reports
        .iter()
        .map(|p| read_report(p))
        .collect::<Result<Vec<_>, _>>()?;
    write_text(out, force, &context_curves_svg(&reports))?;
    Ok(reports)
}

/// What [`study_runs`] computed and wrote.
#[derive(Clone, Debug)]
pub struct StudyOutcome {
    /// The numbers.
    pub result: StudyResult,
    /// The plot.
    pub svg: PathBuf,
    /// The numbers as JSON, beside the plot.
    pub json: PathBuf,
}

/// `urisc attribute study`: each group is a name and its runs' `attribution.json` files; writes
/// the plot to `out` and the numbers beside it (`out` with `.json`). Both outputs are refused
/// before anything is read when they exist (without `force`) or are one of the reports.
pub fn study_runs(
    groups: &[(String, Vec<PathBuf>)],
    settings: &StudySettings,
    out: &Path,
    force: bool,
) -> Result<StudyOutcome, AttribJobError> {
    let json = out.with_extension("json");
    let inputs: Vec<&PathBuf> = groups.iter().flat_map(|(_, files)| files).collect();
    for path in [out, json.as_path()] {
        // `--out run/attribution.svg` would put its numbers over run/attribution.json.
        urisc_io::paths::refuse_input(path, &inputs)?;
        if path.exists() && !force {
            return Err(AttribJobError::Exists(path.to_path_buf()));
        }
    }
    let groups = groups
        .iter()
        .map(|(name, files)| {
            Ok(StudyGroup {
                name: name.clone(),
                reports: files
                    .iter()
                    .map(|f| read_report(f))
                    .collect::<Result<_, AttribJobError>>()?,
            })
        })
        .collect::<Result<Vec<_>, AttribJobError>>()?;
    let result = study(&groups, settings)?;
    write_text(&json, force, &serde_json::to_string_pretty(&result)?)?;
    write_text(out, force, &study_svg(&result))?;
    Ok(StudyOutcome {
        result,
        svg: out.to_path_buf(),
        json,
    })
}
