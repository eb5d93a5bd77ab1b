//! Scoring cells, as `urisc eval --instances` does: label images (cell ids, 0 = boundary, as
//! `urisc cells` writes them) against the cells of ground-truth membrane labels
//! ([`urisc_metrics::score_labels`]: adapted Rand error, VOI split/merge, CREMI score, V_rand
//! and V_info), per image and as a mean, rendered as a table, CSV or JSON.
//!
//! ```no_run
//! use std::path::Path;
//! use urisc_eval::instances::{evaluate_instances, render_instances};
//! use urisc_eval::{pair_inputs, OutputFormat};
//! let pairs = pair_inputs(Path::new("cells/"), Path::new("labels/")).unwrap();
//! let report = evaluate_instances(&pairs).unwrap();
//! print!("{}", render_instances(&report, OutputFormat::Table));
//! ```

use std::path::PathBuf;

use urisc_io::{Image, IoError};
use urisc_metrics::{score_labels, InstanceScores};

use crate::evaluate::Pair;
use crate::render::OutputFormat;

/// Errors of [`evaluate_instances`]; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum InstancesError {
    /// A file could not be read, or is damaged or not a label image (e.g. floating point).
    #[error(transparent)]
    Io(#[from] IoError),
    /// The prediction is a page of a multi-page stack: label images are read one file per
    /// section.
    #[error(
        "{section}: multi-page stacks are not read as label images (give one file per slice, as `urisc cells` writes them)"
    )]
    Stack {
        /// The section, as [`urisc_io::sections::Section::describe`] names it.
        section: String,
    },
    /// The label image and its ground truth differ in size.
    #[error(
        "{}: labels are {}×{} but ground truth {gt} is {}×{}",
        labels.display(),
        labels_size.0,
        labels_size.1,
        gt_size.0,
        gt_size.1
    )]
    SizeMismatch {
        /// The label image.
        labels: PathBuf,
        /// Its rows × columns.
        labels_size: (usize, usize),
        /// The ground-truth section, as [`urisc_io::sections::Section::describe`] names it.
        gt: String,
        /// Its rows × columns.
        gt_size: (usize, usize),
    },
}

/// The instance scores of one label image.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceImage {
    /// The pair's name ([`Pair::name`]).
    pub name: String,
    /// Its scores against the GT cells.
    pub scores: InstanceScores,
}

impl InstanceImage {
    /// The scores in the order of [`InstanceReport::COLUMNS`].
    pub fn values(&self) -> [f64; 10] {
        let s = &self.scores;
        [
            s.gt_cells as f64,
            s.pred_cells as f64,
            s.are,
            s.voi_split,
            s.voi_merge,
            s.cremi,
            s.vrand,
            s.vinfo,
            s.are_precision,
            s.are_recall,
        ]
    }
}

/// The result of `urisc eval --instances`: one score set per label image, in the order of the
/// pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceReport {
    /// One entry per pair.
    pub images: Vec<InstanceImage>,
}

impl InstanceReport {
    /// The score columns of every rendering, in order (`cells` is the number of predicted
    /// cells); the table shows the first eight.
    pub const COLUMNS: [&'static str; 10] = [
        "gt_cells",
        "cells",
        "are",
        "voi_split",
        "voi_merge",
        "cremi",
        "vrand",
        "vinfo",
        "are_precision",
        "are_recall",
    ];

    /// The macro mean over the images of each column of [`InstanceReport::COLUMNS`] (cell
    /// counts included, so they may be fractional).
    pub fn mean(&self) -> [f64; 10] {
        let n = self.images.len() as f64;
        let mut mean = [0f64; 10];
        for image in &self.images {
            for (m, v) in mean.iter_mut().zip(image.values()) {
                *m += v / n;
            }
        }
        mean
    }
}

/// The conventions of the scores, in the JSON report and under the table.
const CONVENTION: &str = "GT cells: 4-connected components of GT value > 122 (membrane 0). \
    are: scikit-image adapted_rand_error(gt, pred), GT 0 ignored, predicted 0 one segment. \
    voi_split = H(pred|gt), voi_merge = H(gt|pred), bits, nothing ignored. \
    cremi = sqrt(are·(voi_split + voi_merge)). vrand, vinfo: ISBI 2012 foreground-restricted \
    F-scores of the labels as given (predicted 0 = singletons; no threshold sweep).";

/// Scores every pair's prediction, read as a label image ([`urisc_io::read_labels`]: 32-bit
/// unsigned TIFF or 8/16-bit ids), against the cells of its ground truth (membrane ≤ 122),
/// one pair after another. Pages of multi-page stacks and size mismatches are refused.
pub fn evaluate_instances(pairs: &[Pair]) -> Result<InstanceReport, InstancesError> {
    let mut images = Vec::with_capacity(pairs.len());
    for pair in pairs {
        if pair.pred.is_plane() {
            return Err(InstancesError::Stack {
                section: pair.pred.describe(),
            });
        }
        let labels: Image<u32> = urisc_io::read_labels(&pair.pred.path)?;
        let truth = pair.gt.read()?.image.into_u8();
        if (labels.height, labels.width) != (truth.height, truth.width) {
            return Err(InstancesError::SizeMismatch {
                labels: pair.pred.path.clone(),
                labels_size: (labels.height, labels.width),
                gt: pair.gt.describe(),
                gt_size: (truth.height, truth.width),
            });
        }
        images.push(InstanceImage {
            name: pair.name.clone(),
            scores: score_labels(&truth.data, &labels.data, labels.height, labels.width),
        });
    }
    Ok(InstanceReport { images })
}

/// Renders an instance report (ends with a newline): JSON
/// `{"kind": "instances", "convention", "images": [{"name", …}], "mean"}` (pretty-printed);
/// CSV with a `name,<columns…>` header, one line per image and a `mean` line; or a table of the
/// first eight columns with the mean last and the conventions below.
pub fn render_instances(report: &InstanceReport, format: OutputFormat) -> String {
    let columns = InstanceReport::COLUMNS;
    let mean = report.mean();
    match format {
        OutputFormat::Json => {
            let obj = |v: [f64; 10]| {
                serde_json::Value::Object(
                    columns
                        .iter()
                        .zip(v)
                        .map(|(k, x)| (k.to_string(), serde_json::json!(x)))
                        .collect(),
                )
            };
            let images: Vec<serde_json::Value> = report
                .images
                .iter()
                .map(|s| {
                    let mut o = obj(s.values());
                    o["name"] = serde_json::json!(s.name);
                    o
                })
                .collect();
            let json = serde_json::json!({
                "kind": "instances",
                "convention": CONVENTION,
                "images": images,
                "mean": obj(mean),
            });
            serde_json::to_string_pretty(&json).expect("serialisable") + "\n"
        }
        OutputFormat::Csv => {
            let mut out = format!("name,{}\n", columns.join(","));
            let row = |name: &str, v: [f64; 10]| {
                let cells: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
                format!("{name},{}\n", cells.join(","))
            };
            for s in &report.images {
                out += &row(&s.name, s.values());
            }
            out + &row("mean", mean)
        }
        OutputFormat::Table => {
            let width = report
                .images
                .iter()
                .map(|s| s.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let mut out = format!("{:<width$}", "name");
            for c in &columns[..8] {
                out += &format!(" {c:>9}");
            }
            out.push('\n');
            let row = |name: &str, v: [f64; 10]| {
                let mut line = format!("{name:<width$} {:>9.0} {:>9.0}", v[0], v[1]);
                for x in &v[2..8] {
                    line += &format!(" {x:>9.4}");
                }
                line + "\n"
            };
            for s in &report.images {
                out += &row(&s.name, s.values());
            }
            out += &row("mean", mean);
            out + "\n" + CONVENTION + "\n"
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use urisc_io::GreyImage;

    use super::*;
    use crate::pair_inputs;

    /// A 5 × 7 GT: membrane (0) down column 3, two cells either side.
    fn two_cells() -> Image<u8> {
        Image::new(
            5,
            7,
            (0..35).map(|i| if i % 7 == 3 { 0 } else { 255 }).collect(),
        )
    }

    /// The GT's cells as labels: ids 7 and 9, the membrane 0.
    fn two_labels() -> Image<u32> {
        let id = |c: usize| match c {
            0..=2 => 7,
            3 => 0,
            _ => 9,
        };
        Image::new(5, 7, (0..35).map(|i| id(i % 7)).collect())
    }

    fn write_pair(dir: &Path, name: &str, gt: &Image<u8>, labels: &Image<u32>) {
        let (g, p) = (dir.join("gt"), dir.join("pred"));
        std::fs::create_dir_all(&g).unwrap();
        std::fs::create_dir_all(&p).unwrap();
        urisc_io::write_png(&g.join(format!("{name}.png")), gt, None, false).unwrap();
        urisc_io::write_label_tiff(&p.join(format!("{name}.tif")), labels, None, false).unwrap();
    }

    fn report_of(dir: &Path) -> Result<InstanceReport, InstancesError> {
        let pairs = pair_inputs(&dir.join("pred"), &dir.join("gt")).unwrap();
        evaluate_instances(&pairs)
    }

    #[test]
    fn the_gt_cells_score_perfectly_and_one_segment_does_not() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), "a", &two_cells(), &two_labels());
        write_pair(dir.path(), "b", &two_cells(), &Image::filled(5, 7, 4u32));
        let report = report_of(dir.path()).unwrap();
        let names: Vec<&str> = report.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let (a, b) = (&report.images[0].scores, &report.images[1].scores);
        assert_eq!((a.gt_cells, a.pred_cells), (2, 2));
        assert_eq!((a.are, a.cremi, a.vrand), (0.0, 0.0, 1.0));
        assert_eq!((b.gt_cells, b.pred_cells), (2, 1));
        assert!(b.are > 0.0 && b.voi_merge > 0.0 && b.vrand < 1.0, "{b:?}");
        let mean = report.mean();
        assert_eq!(mean[0], 2.0);
        assert_eq!(mean[1], 1.5);
        assert!((mean[2] - b.are / 2.0).abs() < 1e-15);
    }

    #[test]
    fn renderings_have_the_columns_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), "a", &two_cells(), &two_labels());
        let report = report_of(dir.path()).unwrap();

        let csv = render_instances(&report, OutputFormat::Csv);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "name,gt_cells,cells,are,voi_split,voi_merge,cremi,vrand,vinfo,are_precision,are_recall"
        );
        assert_eq!(lines[1].split(',').count(), 11);
        assert!(lines[1].starts_with("a,2,2,0,"), "{}", lines[1]);
        assert!(lines[2].starts_with("mean,2,2,0,"), "{}", lines[2]);
        assert_eq!(lines.len(), 3);

        let table = render_instances(&report, OutputFormat::Table);
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "name",
                "gt_cells",
                "cells",
                "are",
                "voi_split",
                "voi_merge",
                "cremi",
                "vrand",
                "vinfo"
            ]
        );
        assert!(table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("a            2         2    0.0000"));
        assert!(table.lines().nth(2).unwrap().starts_with("mean "));
        assert!(table.ends_with(&format!("\n\n{CONVENTION}\n")));

        let json = render_instances(&report, OutputFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["kind"], "instances");
        assert_eq!(v["convention"], CONVENTION);
        assert_eq!(v["images"][0]["name"], "a");
        for column in InstanceReport::COLUMNS {
            assert!(v["images"][0][column].is_number(), "{column}");
            assert!(v["mean"][column].is_number(), "{column}");
        }
        assert_eq!(v["mean"]["cells"], 2.0);
        assert_eq!(v["images"][0].as_object().unwrap().len(), 11);
    }

    #[test]
    fn size_mismatches_stacks_and_float_maps_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), "a", &two_cells(), &Image::filled(2, 2, 1u32));
        let e = report_of(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a.tif: labels are 2×2 but ground truth "), "{e}");
        assert!(e.ends_with("a.png is 5×7"), "{e}");

        let stack = dir.path().join("stack.tif");
        urisc_io::write_tiff_stack(&stack, &[two_cells(), two_cells()], None, false).unwrap();
        let pairs = pair_inputs(&stack, &stack).unwrap();
        let e = evaluate_instances(&pairs).unwrap_err();
        assert!(matches!(e, InstancesError::Stack { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("stack.tif (page 0): multi-page stacks are not read as label images"),
            "{e}"
        );

        let float = dir.path().join("float.tif");
        let map = GreyImage::F32(Image::filled(5, 7, 0.5));
        urisc_io::write_tiff(&float, &map, None, false).unwrap();
        let gt = dir.path().join("gt/a.png");
        let e = evaluate_instances(&pair_inputs(&float, &gt).unwrap()).unwrap_err();
        assert!(matches!(e, InstancesError::Io(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains("float.tif: a floating-point image is not a label image"),
            "{e}"
        );
    }
}
