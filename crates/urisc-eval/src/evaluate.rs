//! Pairing prediction and ground-truth files, scoring each pair, and the report.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use urisc_io::sections::{sections, Section};
use urisc_io::{GreyImage, Image, IoError, IoErrorKind};
use urisc_metrics::{
    connected_components, partition_scores, phd_of_points, skeleton_points, vrand_vinfo, Confusion,
    IsbiScores, Proposal, PHD_TOLERANCES,
};

use crate::metrics::{Metric, MetricSet, PhdScores, Scores};

/// How precision, recall and F1 are computed (SPEC §4.1–4.2). Every other metric always uses
/// the binarised masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// GT membrane = value ≤ 122, prediction membrane = value < 128 (what the rules intend).
    #[default]
    Binarized,
    /// The competition's `eval.py`: grey-weighted sums, binary prediction with ≤ 1/6 membrane.
    Faithful,
}

impl Protocol {
    /// The protocol's name in reports and JSON: `binarized` or `faithful`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Binarized => "binarized",
            Protocol::Faithful => "faithful",
        }
    }
}

/// How prediction values are read. Scoring uses the on-disk convention, membrane dark
/// (SPEC §2); a prediction read as membrane probabilities is inverted first (`1 − p` for float,
/// `255 − v` / `65535 − v` for 8/16-bit), so it scores as the same map written membrane dark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PredValues {
    /// The file decides: float maps marked as membrane probabilities (what
    /// `urisc predict --probability-type f32` writes, [`urisc_io::Decoded::membrane_probability`])
    /// are probabilities, everything else (unmarked float maps included) is membrane dark.
    #[default]
    Auto,
    /// Membrane dark, whatever the file's metadata says.
    Dark,
    /// Membrane probabilities (membrane bright), whatever the metadata says: float p in [0, 1]
    /// with 1 = membrane (e.g. a sigmoid output saved by another tool), or 8/16-bit maps with
    /// membrane at full scale.
    Probability,
}

impl PredValues {
    /// Whether a decoded prediction is inverted before scoring.
    pub fn inverts(self, pred: &urisc_io::Decoded) -> bool {
        match self {
            PredValues::Auto => pred.membrane_probability,
            PredValues::Dark => false,
            PredValues::Probability => true,
        }
    }
}

/// A prediction and its ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// Name in the report: the prediction's section name (`STEM`, or `STEM_zNNN` for a plane
    /// of a stack; see [`urisc_io::sections`]).
    pub name: String,
    /// The prediction map (membrane dark: binary black on white, or grey/float values; float
    /// maps marked as membrane probabilities are read as such, see [`PredValues`]).
    pub pred: Section,
    /// The ground-truth label (membrane = value ≤ 122).
    pub gt: Section,
}

/// Errors of an evaluation; each names the file(s) concerned.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read, or is damaged or unsupported.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The inputs do not fit together: a missing or unmatched file, a size mismatch, an empty
    /// folder, or a prediction the faithful protocol refuses.
    #[error("{path}: {message}")]
    Input {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong, one line.
        message: String,
    },
}

impl EvalError {
    fn input(path: &Path, message: impl Into<String>) -> EvalError {
        EvalError::Input {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Pairs predictions with ground truth, section by section ([`urisc_io::sections`]): two
/// images (one section each) whatever their names; two stacks page by page (the same number of
/// pages); otherwise — folders, or a folder and a stack — by section name, so that the
/// `STEM_zNNN` maps `urisc predict` writes for a stack pair with that stack's pages. Unmatched
/// names and empty folders are errors.
pub fn pair_inputs(pred: &Path, gt: &Path) -> Result<Vec<Pair>, EvalError> {
    for p in [pred, gt] {
        if !p.exists() {
            return Err(EvalError::input(p, "no such file or folder"));
        }
    }
    let preds = sections(&[pred.to_path_buf()])?;
    let gts = sections(&[gt.to_path_buf()])?;
    // A Zarr store is an image (its planes are pages), not a folder of images.
    let folder = |p: &Path| p.is_dir() && !urisc_io::zarr_store::is_zarr(p);
    if !folder(pred) && !folder(gt) {
        if preds.len() != gts.len() {
            return Err(EvalError::input(
                pred,
                format!(
                    "has {} page(s) but ground truth {} has {}",
                    preds.len(),
                    gt.display(),
                    gts.len()
                ),
            ));
        }
        return Ok(preds
            .into_iter()
            .zip(gts)
            .map(|(pred, gt)| Pair {
                name: pred.name.clone(),
                pred,
                gt,
            })
            .collect());
    }
    let mut gt_by_name: std::collections::BTreeMap<String, Section> =
        std::collections::BTreeMap::new();
    for g in gts {
        if let Some(first) = gt_by_name.insert(g.name.clone(), g.clone()) {
            return Err(EvalError::input(
                &g.path,
                format!(
                    "is named '{}' like {} (two ground truths of one name)",
                    g.name,
                    first.describe()
                ),
            ));
        }
    }
    let pred_names: std::collections::BTreeSet<String> =
        preds.iter().map(|p| p.name.clone()).collect();
    if pred_names.len() < preds.len() {
        return Err(EvalError::input(
            pred,
            "holds two predictions of one name (e.g. a.png and a.tif)",
        ));
    }
    let missing_gt: Vec<&String> = pred_names
        .iter()
        .filter(|s| !gt_by_name.contains_key(*s))
        .collect();
    let missing_pred: Vec<&String> = gt_by_name
        .keys()
        .filter(|s| !pred_names.contains(*s))
        .collect();
    if !missing_gt.is_empty() {
        return Err(EvalError::input(
            gt,
            format!("no ground truth for prediction(s) {}", list(&missing_gt)),
        ));
    }
    if !missing_pred.is_empty() {
        return Err(EvalError::input(
            pred,
            format!("no prediction for ground truth {}", list(&missing_pred)),
        ));
    }
    Ok(preds
        .into_iter()
        .map(|p| Pair {
            name: p.name.clone(),
            gt: gt_by_name[&p.name].clone(),
            pred: p,
        })
        .collect())
}

fn list<T: std::fmt::Display>(names: &[T]) -> String {
    let shown: Vec<String> = names.iter().take(5).map(|n| format!("'{n}'")).collect();
    let more = names.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Scores of one pair, with the ISBI threshold sweep kept for stack-style aggregation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageReport {
    /// The pair's name ([`Pair::name`]).
    pub name: String,
    /// The image's scores, flattened into its JSON object.
    #[serde(flatten)]
    pub scores: Scores,
    /// The V_rand/V_info scores at every threshold, when computed (for
    /// [`EvalReport::stack_isbi`]); not serialised.
    #[serde(skip)]
    pub isbi_sweep: Option<IsbiScores>,
    /// The prediction or ground truth was colour with unequal channels (converted with luma).
    #[serde(skip)]
    pub colour_converted: bool,
    /// Floating-point pixels outside [0, 1] in either map (clamped to 0 or 255).
    #[serde(skip)]
    pub out_of_range: usize,
    /// The prediction was read as membrane probabilities and inverted before scoring
    /// ([`PredValues`]).
    #[serde(skip)]
    pub pred_inverted: bool,
}

/// The result of `urisc eval`: the stable JSON interface `{"protocol", "images", "mean"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The protocol precision, recall and F1 were computed with.
    pub protocol: Protocol,
    /// One report per pair, in the order of the pairs.
    pub images: Vec<ImageReport>,
    /// Macro mean over the images ([`Scores::mean`]).
    pub mean: Scores,
}

impl EvalReport {
    /// V_rand and V_info of all images as one stack, ISBI-challenge style (per-threshold mean
    /// over slices, then maximum); differs from `mean` when slices peak at different thresholds.
    pub fn stack_isbi(&self) -> Option<IsbiScores> {
        let sweeps: Vec<IsbiScores> = self
            .images
            .iter()
            .filter_map(|i| i.isbi_sweep.clone())
            .collect();
        (!sweeps.is_empty() && sweeps.len() == self.images.len())
            .then(|| IsbiScores::stack(&sweeps))
    }
}

/// Scores a prediction against ground truth already in memory. `gt` is 8-bit (binarised at
/// 122); `pred` keeps its stored sample type so probability maps are thresholded at full
/// precision by the ISBI sweep (binary rules use its 8-bit view).
pub fn score_images(
    gt: &Image<u8>,
    pred: &GreyImage,
    protocol: Protocol,
    metrics: &MetricSet,
) -> Result<(Scores, Option<IsbiScores>), urisc_metrics::FaithfulFormatError> {
    let (h, w) = (gt.height, gt.width);
    assert_eq!(
        (pred.height(), pred.width()),
        (h, w),
        "sizes are checked by the caller"
    );
    let pred8_owned;
    let pred8: &Image<u8> = match pred {
        GreyImage::U8(i) => i,
        other => {
            pred8_owned = other.clone().into_u8();
            &pred8_owned
        }
    };
    let mut s = Scores::default();
    if metrics.any(&[
        Metric::F1,
        Metric::Precision,
        Metric::Recall,
        Metric::Iou,
        Metric::Dice,
    ]) {
        let px = match protocol {
            Protocol::Binarized => Confusion::binarized(&gt.data, &pred8.data).scores(),
            Protocol::Faithful => urisc_metrics::faithful(&gt.data, &pred8.data)?,
        };
        let keep = |m, v| metrics.contains(m).then_some(v);
        s.f1 = keep(Metric::F1, px.f1);
        s.precision = keep(Metric::Precision, px.precision);
        s.recall = keep(Metric::Recall, px.recall);
        s.iou = keep(Metric::Iou, px.iou);
        s.dice = keep(Metric::Dice, px.dice);
    }
    if metrics.contains(Metric::Phd) {
        // One membrane mask at a time, skeletonised in place: only the point lists are kept.
        let gt_mask = gt
            .data
            .iter()
            .map(|&v| urisc_io::encoding::label_is_membrane(v) as u8)
            .collect();
        let gt_skeleton = skeleton_points(gt_mask, h, w);
        let pred_mask = pred8
            .data
            .iter()
            .map(|&v| urisc_io::encoding::prediction_is_membrane(v) as u8)
            .collect();
        let pred_skeleton = skeleton_points(pred_mask, h, w);
        let v = phd_of_points(&gt_skeleton, &pred_skeleton, h, w, &PHD_TOLERANCES);
        s.phd = Some(PhdScores([v[0], v[1], v[2], v[3], v[4]]));
    }
    let mut sweep = None;
    if metrics.any(&[Metric::Vrand, Metric::Vinfo]) {
        let proposal = match pred {
            GreyImage::U8(i) => Proposal::U8(&i.data),
            GreyImage::U16(i) => Proposal::U16(&i.data),
            GreyImage::F32(i) => Proposal::F32(&i.data),
        };
        let r = vrand_vinfo(
            h,
            w,
            |i| !urisc_io::encoding::label_is_membrane(gt.data[i]),
            proposal,
        );
        s.vrand = metrics.contains(Metric::Vrand).then_some(r.vrand);
        s.vinfo = metrics.contains(Metric::Vinfo).then_some(r.vinfo);
        sweep = Some(r);
    }
    if metrics.any(&[Metric::Are, Metric::VoiSplit, Metric::VoiMerge]) {
        let gt_cells =
            connected_components(h, w, |i| !urisc_io::encoding::label_is_membrane(gt.data[i]));
        let pred_cells = connected_components(h, w, |i| {
            !urisc_io::encoding::prediction_is_membrane(pred8.data[i])
        });
        let p = partition_scores(&gt_cells, &pred_cells);
        s.are = metrics.contains(Metric::Are).then_some(p.are);
        s.voi_split = metrics.contains(Metric::VoiSplit).then_some(p.voi_split);
        s.voi_merge = metrics.contains(Metric::VoiMerge).then_some(p.voi_merge);
    }
    Ok((s, sweep))
}

/// Loads and scores one pair, its prediction's values read as the file says
/// ([`PredValues::Auto`]).
pub fn evaluate_pair(
    pair: &Pair,
    protocol: Protocol,
    metrics: &MetricSet,
) -> Result<ImageReport, EvalError> {
    evaluate_pair_as(pair, protocol, PredValues::Auto, metrics)
}

/// Loads and scores one pair, its prediction's values read as `values` says.
pub fn evaluate_pair_as(
    pair: &Pair,
    protocol: Protocol,
    values: PredValues,
    metrics: &MetricSet,
) -> Result<ImageReport, EvalError> {
    // Sizes from the headers first: a mismatched (or absurdly large) prediction is refused
    // before anything is decoded.
    let (gh, gw) = pair.gt.size()?;
    let (ph, pw) = pair.pred.size()?;
    let gt = if (gh, gw) == (ph, pw) {
        pair.gt.read()?
    } else {
        return Err(size_mismatch(pair, (ph, pw), (gh, gw)));
    };
    let mut pred = pair.pred.read()?;
    let pred_inverted = values.inverts(&pred);
    if pred_inverted {
        pred.image.invert();
    }
    let (gh, gw) = (gt.image.height(), gt.image.width());
    let (ph, pw) = (pred.image.height(), pred.image.width());
    if (gh, gw) != (ph, pw) {
        return Err(EvalError::input(
            &pair.pred.path,
            format!(
                "size {ph}×{pw} (rows×columns) does not match ground truth {} ({gh}×{gw})",
                pair.gt.describe()
            ),
        ));
    }
    let colour_converted = gt.colour_converted || pred.colour_converted;
    let out_of_range = gt.out_of_range + pred.out_of_range;
    let gt8 = gt.image.into_u8();
    let (scores, isbi_sweep) = score_images(&gt8, &pred.image, protocol, metrics)
        .map_err(|e| EvalError::input(&pair.pred.path, e.to_string()))?;
    Ok(ImageReport {
        name: pair.name.clone(),
        scores,
        isbi_sweep,
        colour_converted,
        out_of_range,
        pred_inverted,
    })
}

fn size_mismatch(pair: &Pair, (ph, pw): (usize, usize), (gh, gw): (usize, usize)) -> EvalError {
    EvalError::input(
        &pair.pred.path,
        format!(
            "size {ph}×{pw} (rows×columns) does not match ground truth {} ({gh}×{gw})",
            pair.gt.describe()
        ),
    )
}

/// Images above this many pixels are scored one at a time (each metric is parallel inside), so
/// peak memory stays that of one large pair.
const LARGE_IMAGE_PIXELS: usize = 16 << 20;

/// Scores every pair and their mean, each prediction's values read as the file says
/// ([`PredValues::Auto`]). Small images are scored in parallel; `on_done` is called after each
/// image (for progress bars).
pub fn evaluate(
    pairs: &[Pair],
    protocol: Protocol,
    metrics: &MetricSet,
    on_done: &(dyn Fn(&str) + Sync),
) -> Result<EvalReport, EvalError> {
    evaluate_as(pairs, protocol, PredValues::Auto, metrics, on_done)
}

/// [`evaluate`] with the predictions' values read as `values` says.
pub fn evaluate_as(
    pairs: &[Pair],
    protocol: Protocol,
    values: PredValues,
    metrics: &MetricSet,
    on_done: &(dyn Fn(&str) + Sync),
) -> Result<EvalReport, EvalError> {
    let mut large = false;
    for p in pairs {
        let (_, h, w) = urisc_io::probe(&p.pred.path)?;
        large |= h * w > LARGE_IMAGE_PIXELS;
    }
    let run = |p: &Pair| {
        let r = evaluate_pair_as(p, protocol, values, metrics);
        on_done(&p.name);
        r
    };
    let images: Vec<ImageReport> = if large {
        pairs.iter().map(run).collect::<Result<_, _>>()?
    } else {
        pairs.par_iter().map(run).collect::<Result<_, _>>()?
    };
    let mean = Scores::mean(images.iter().map(|i| &i.scores));
    Ok(EvalReport {
        protocol,
        images,
        mean,
    })
}

/// The [`IoErrorKind`] of a file error (`None` for an input error), for callers matching on it.
pub fn io_kind(e: &EvalError) -> Option<IoErrorKind> {
    match e {
        EvalError::Io(io) => Some(io.kind),
        EvalError::Input { .. } => None,
    }
}
