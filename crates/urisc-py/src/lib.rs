//! The `urisc` Python module (SPEC §13): numpy arrays in and out for prediction, every SPEC §4
//! metric, integrated-gradients attribution and training from a config. Every function releases
//! the GIL while it works, and errors are Python exceptions carrying the one-line messages the
//! CLI prints (`ValueError` for bad input, `OSError` for files, `RuntimeError` otherwise).
//!
//! Built by maturin from `python/pyproject.toml` (which enables the `extension-module`
//! feature); the tests are `python/tests` (pytest), run by `python/ci.sh`.

use std::path::{Path, PathBuf};

use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray2, PyArray3, PyReadonlyArray2, PyUntypedArray};
use numpy::{PyArrayDescrMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use urisc_attrib::context::max_radius_for;
use urisc_attrib::ig::{integrated_gradients, logit_differences, IgSettings, Rule, TargetClass};
use urisc_attrib::report::CurveCollector;
use urisc_eval::{score_images, MetricSet, Protocol};
use urisc_infer::job::{PredictFlags, PredictSettings};
use urisc_infer::predict_image_scaled;
use urisc_io::{GreyImage, Image, IoError, IoErrorKind};
use urisc_model::SegmentationModel;
use urisc_nn::onnx::OnnxOutput;
use urisc_nn::{Engine, ModelFileError, Segmenter};
use urisc_train::{
    load_split, refuse_inputs, train as train_run, Progress, TrainConfig, TrainError,
};

/// Training keeps large freed buffers for the next one of their size, as the CLI's does (see
/// `urisc_cpu::Recycling`); only while `train` runs, so a Python session holds nothing after it.
#[global_allocator]
static ALLOCATOR: urisc_cpu::Recycling = urisc_cpu::Recycling;

/// Keeps freed large buffers while it lives (a training run), returns them when dropped.
struct KeptBuffers;

impl KeptBuffers {
    fn start() -> KeptBuffers {
        urisc_cpu::Recycling::keep_freed_blocks(true);
        KeptBuffers
    }
}

impl Drop for KeptBuffers {
    fn drop(&mut self) {
        urisc_cpu::Recycling::keep_freed_blocks(false);
    }
}

// ----------------------------------------------------------------------------------------
// Errors: the CLI's one-line messages, as the Python exception that fits.

fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

fn io_error(e: &IoError) -> PyErr {
    match e.kind {
        // The data is readable but does not fit the task: bad input.
        IoErrorKind::Invalid => PyValueError::new_err(e.to_string()),
        IoErrorKind::Open
        | IoErrorKind::Corrupt
        | IoErrorKind::Unsupported
        | IoErrorKind::Exists
        | IoErrorKind::Write => PyOSError::new_err(e.to_string()),
    }
}

fn model_file_error(e: &ModelFileError) -> PyErr {
    match e {
        ModelFileError::Io(io) => io_error(io),
        // Not a model file (or not one this build can run): a file that cannot be used.
        ModelFileError::Invalid { .. } => PyOSError::new_err(e.to_string()),
    }
}

fn train_error(e: &TrainError) -> PyErr {
    match e {
        TrainError::File { .. } => PyOSError::new_err(e.to_string()),
        TrainError::Invalid { .. } | TrainError::Config(_) => PyValueError::new_err(e.to_string()),
        TrainError::Io(io) => io_error(io),
        TrainError::Model(m) => model_file_error(m),
        _ => PyRuntimeError::new_err(e.to_string()),
    }
}

fn runtime_error(e: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let category = py.get_type::<PyUserWarning>();
    PyErr::warn(py, category.as_any(), &std::ffi::CString::new(message)?, 1)
}

/// A JSON-serialisable value as the equivalent Python object (dicts, lists, floats exactly).
fn to_python<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(runtime_error)?;
    py.import("json")?.call_method1("loads", (text,))
}

// ----------------------------------------------------------------------------------------
// numpy ↔ images.

/// A 2-D numpy array (or anything `numpy.asarray` takes) as a grey image in its sample type:
/// uint8 and uint16 as they are, float32/float64 as float (narrowed to 32 bits, as urisc reads a
/// 64-bit float TIFF). Non-finite floats are refused, as the file readers refuse them. Returns
/// the image and the number of float pixels outside [0, 1] (clamped by every 8-bit rule).
fn grey_from_array(what: &str, array: &Bound<'_, PyAny>) -> PyResult<(GreyImage, usize)> {
    let py = array.py();
    let array = py.import("numpy")?.call_method1("asarray", (array,))?;
    let untyped = array
        .cast::<PyUntypedArray>()
        .map_err(|_| value_error(format!("{what}: not a numpy array")))?;
    let ndim = untyped.ndim();
    if ndim != 2 {
        return Err(value_error(format!(
            "{what}: a {ndim}-D array; expected a 2-D image (rows × columns)"
        )));
    }
    let shape = untyped.shape();
    let (height, width) = (shape[0], shape[1]);
    if height == 0 || width == 0 {
        return Err(value_error(format!(
            "{what}: the image is empty ({height}×{width})"
        )));
    }
    let dtype = untyped.dtype();
    let collect = |values: Vec<f32>| -> PyResult<(GreyImage, usize)> {
        let non_finite = values.iter().filter(|v| !v.is_finite()).count();
        if non_finite > 0 {
            return Err(value_error(format!(
                "{what}: {non_finite} non-finite (NaN or infinite) pixel value(s) of {}",
                values.len()
            )));
        }
        let out_of_range = values.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
        Ok((
            GreyImage::F32(Image::new(height, width, values)),
            out_of_range,
        ))
    };
    if dtype.is_equiv_to(&numpy::dtype::<u8>(py)) {
        let a: PyReadonlyArray2<u8> = array.extract()?;
        Ok((
            GreyImage::U8(Image::new(
                height,
                width,
                a.as_array().iter().copied().collect(),
            )),
            0,
        ))
    } else if dtype.is_equiv_to(&numpy::dtype::<u16>(py)) {
        let a: PyReadonlyArray2<u16> = array.extract()?;
        Ok((
            GreyImage::U16(Image::new(
                height,
                width,
                a.as_array().iter().copied().collect(),
            )),
            0,
        ))
    } else if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        let a: PyReadonlyArray2<f32> = array.extract()?;
        collect(a.as_array().iter().copied().collect())
    } else if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        let a: PyReadonlyArray2<f64> = array.extract()?;
        collect(a.as_array().iter().map(|&v| v as f32).collect())
    } else {
        let name = array.getattr("dtype")?.str()?.to_string();
        Err(value_error(format!(
            "{what}: an array of {name}; expected uint8, uint16, float32 or float64 \
             (floats in [0, 1])"
        )))
    }
}

/// The 8-bit image every model and label rule works on ([`GreyImage::into_u8`]: uint16 →
/// round(v / 257), float → round(v · 255) clamped), warning once about clamped floats as the
/// CLI does.
fn u8_from_array(py: Python<'_>, what: &str, array: &Bound<'_, PyAny>) -> PyResult<Image<u8>> {
    let (grey, out_of_range) = grey_from_array(what, array)?;
    warn_clamped(py, out_of_range, what)?;
    Ok(grey.into_u8())
}

fn warn_clamped(py: Python<'_>, count: usize, what: &str) -> PyResult<()> {
    if count > 0 {
        warn(
            py,
            &format!("{count} floating-point pixel(s) outside [0, 1] were clamped (in {what})"),
        )?;
    }
    Ok(())
}

fn array2<'py, T: numpy::Element>(
    py: Python<'py>,
    image: Image<T>,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    let a =
        Array2::from_shape_vec((image.height, image.width), image.data).map_err(runtime_error)?;
    Ok(a.into_pyarray(py))
}

fn grey_to_array<'py>(
    py: Python<'py>,
    what: &str,
    decoded: urisc_io::Decoded,
) -> PyResult<Bound<'py, PyAny>> {
    if decoded.colour_converted {
        warn(
            py,
            &format!("{what}: colour with unequal channels; converted to grey with luma weights"),
        )?;
    }
    Ok(match decoded.image {
        GreyImage::U8(i) => array2(py, i)?.into_any(),
        GreyImage::U16(i) => array2(py, i)?.into_any(),
        GreyImage::F32(i) => array2(py, i)?.into_any(),
    })
}

/// Reads a PNG, TIFF or JPEG image (or a 2-D Zarr store) as a 2-D numpy array in its stored
/// sample type: uint8, uint16 or float32. Colour with unequal channels is converted to grey
/// with luma weights (with a warning), as everywhere in urisc. A stack (multi-page TIFF, 3-D
/// Zarr) is refused rather than read as its first page: `read_sections` reads it page by page.
#[pyfunction]
fn read_image<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let sections = py
        .detach(|| urisc_io::sections::sections_of(&path))
        .map_err(|e| io_error(&e))?;
    if sections.len() != 1 || sections[0].is_plane() {
        return Err(value_error(format!(
            "{}: a stack of {} page(s); read it with urisc.read_sections",
            path.display(),
            sections.len()
        )));
    }
    let decoded = py.detach(|| sections[0].read()).map_err(|e| io_error(&e))?;
    grey_to_array(py, &path.display().to_string(), decoded)
}

/// Reads every section of an image, a stack or a folder as `(name, array)` pairs, by the rule
/// every urisc command uses: a single image is one section named by its stem; each page of a
/// multi-page TIFF and each plane of a 3-D Zarr is a section named `STEM_zNNN`; a folder gives
/// its images in name order.
#[pyfunction]
fn read_sections<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let sections = py
        .detach(|| urisc_io::sections::sections(std::slice::from_ref(&path)))
        .map_err(|e| io_error(&e))?;
    let mut out = Vec::with_capacity(sections.len());
    for section in sections {
        let decoded = py.detach(|| section.read()).map_err(|e| io_error(&e))?;
        let array = grey_to_array(py, &section.describe(), decoded)?;
        out.push((section.name, array));
    }
    Ok(out)
}

/// Writes a 2-D array as an 8-bit grey PNG (atomically), with the pixel size in its pHYs chunk
/// when given. The array is converted to 8 bits as `Model.predict` converts its input. An
/// existing file is an error unless `force`.
#[pyfunction]
#[pyo3(signature = (path, array, pixel_size_nm=None, force=false))]
fn write_png(
    py: Python<'_>,
    path: PathBuf,
    array: &Bound<'_, PyAny>,
    pixel_size_nm: Option<f64>,
    force: bool,
) -> PyResult<()> {
    let image = u8_from_array(py, "array", array)?;
    py.detach(|| urisc_io::write_png(&path, &image, pixel_size_nm, force))
        .map_err(|e| io_error(&e))
}

// ----------------------------------------------------------------------------------------
// Model.

/// A [`Segmenter`] shared with Python threads.
struct SharedModel(Segmenter);

// SAFETY: `Segmenter` holds its network as `Box<dyn InputGradient + Sync>`, which only lacks a
// `Send` bound in its type. This module builds segmenters on `Engine::Cpu` only, whose network is
// a `FastSegmenter` (asserted `Send` below): owned weights and buffers, no thread-bound state.
unsafe impl Send for SharedModel {}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<urisc_nn::FastSegmenter>();
};

/// A loaded segmentation model (`urisc.load_model`).
#[pyclass(module = "urisc", frozen)]
pub struct Model {
    model: SharedModel,
    path: Option<PathBuf>,
}

impl Model {
    fn segmenter(&self) -> &Segmenter {
        &self.model.0
    }

    /// The network and descriptor again from the model's file (the segmenter holds them in
    /// its engine's form).
    fn network(&self) -> PyResult<(urisc_nn::urisc_cpu::Net, urisc_nn::ModelDescriptor)> {
        match &self.path {
            Some(p) => urisc_nn::load_model(p),
            None => urisc_nn::model_from_bytes(
                std::path::Path::new(urisc_nn::EMBEDDED_MODEL_NAME),
                urisc_nn::embedded_model_bytes(),
            ),
        }
        .map_err(|e| model_file_error(&e))
    }
}

#[pymethods]
impl Model {
    /// Membrane probabilities (float32, 1 = membrane) of a 2-D image of any size, as
    /// `urisc predict` computes them: tiles of `tile` pixels (default: the model's training tile)
    /// overlapping by `overlap` (default: 64, or half the tile if smaller), blended with a
    /// Gaussian window, `batch` tiles per forward pass, `tta` ∈ {1, 2, 4, 8} dihedral transforms
    /// averaged. The image is converted to 8 bits first: uint8 as is, uint16 → round(v / 257),
    /// float in [0, 1] → round(v · 255) (values outside are clamped with a warning; NaN and
    /// infinities are refused). The GIL is released while the network runs.
    /// `pixel_size_nm`: the image's pixel size; with the model's it sets the scale the image is
    /// predicted at (resampled, and the map back onto the image's grid); `scale` sets it directly.
    #[pyo3(signature = (array, tta=1, tile=None, overlap=None, batch=4, pixel_size_nm=None, scale=None))]
    #[allow(clippy::too_many_arguments)]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        array: &Bound<'py, PyAny>,
        tta: usize,
        tile: Option<usize>,
        overlap: Option<usize>,
        batch: usize,
        pixel_size_nm: Option<f64>,
        scale: Option<f64>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let settings = PredictSettings::resolve(
            &self.segmenter().descriptor().defaults(),
            &PredictFlags {
                tile,
                overlap,
                batch: Some(batch),
                tta: Some(tta),
                pixel_size_nm,
                scale,
                threshold: None,
            },
        )
        .map_err(|e| value_error(e.to_string()))?;
        let scale = settings
            .section_scale(None)
            .map_err(|e| value_error(e.to_string()))?
            .scale;
        let options = settings.options;
        let image = u8_from_array(py, "image", array)?;
        let model = self.segmenter();
        let probabilities = py
            .detach(|| predict_image_scaled(model, &image, &options, scale))
            .map_err(runtime_error)?;
        array2(py, probabilities)
    }

    /// A pixel is membrane iff its probability is ≥ this (the model's best validation F1).
    #[getter]
    fn threshold(&self) -> f64 {
        // The shortest decimal of the f32 (0.43, not 0.4300000071525574).
        let t = self.segmenter().descriptor().threshold;
        t.to_string().parse().unwrap_or(t as f64)
    }

    /// The tile side the model was trained on (`predict`'s default tile).
    #[getter]
    fn tile_size(&self) -> usize {
        self.segmenter().descriptor().tile_size
    }

    /// Pixel size of the training data in nm/pixel (None when the model does not record it).
    #[getter]
    fn pixel_size_nm(&self) -> Option<f64> {
        self.segmenter().descriptor().pixel_size_nm
    }

    /// Image sides `attribute` needs to be multiples of (the network's downsampling factor).
    #[getter]
    fn size_multiple(&self) -> usize {
        self.segmenter().size_multiple()
    }

    /// The model's descriptor as stored in its file (architecture, normalisation, tile,
    /// threshold, pixel size, training provenance), as a dict.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.segmenter().descriptor())
    }

    /// Writes the model as ONNX (opset 17, dynamic batch, height and width, batch norm folded)
    /// for ONNX Runtime and other tools: input `input` [N, 1, H, W] normalised as
    /// `(v/255 − mean) / std` (see `info["normalization"]`), output `probability` (or `logits`
    /// with `output="logits"`). Refuses an existing file unless `overwrite`.
    #[pyo3(signature = (path, output="probability", overwrite=false))]
    fn export_onnx(&self, path: PathBuf, output: &str, overwrite: bool) -> PyResult<()> {
        let output = match output {
            "probability" => OnnxOutput::Probability,
            "logits" => OnnxOutput::Logits,
            other => {
                return Err(value_error(format!(
                    "output={other:?}: \"probability\" or \"logits\""
                )))
            }
        };
        let (net, descriptor) = self.network()?;
        let bytes = urisc_nn::onnx::export_onnx(&net, &descriptor, output);
        urisc_io::write_atomically(&path, overwrite, |f| std::io::Write::write_all(f, &bytes))
            .map_err(|e| io_error(&e))
    }

    /// Writes a bioimage.io model package (.zip, model spec 0.5: ONNX weights, test tensors
    /// from a centred crop of `sample`, a 2-D uint8 EM image, cover, README, provenance), as
    /// `urisc model export --format bioimageio` does: named `name`, else as the command names it
    /// (a `best`/`last` model after its run folder), with the run's training files attached.
    #[pyo3(signature = (path, sample, name=None, overwrite=false))]
    fn export_bioimageio(
        &self,
        py: Python<'_>,
        path: PathBuf,
        sample: &Bound<'_, PyAny>,
        name: Option<String>,
        overwrite: bool,
    ) -> PyResult<()> {
        let sample = u8_from_array(py, "sample", sample)?;
        let (net, descriptor) = self.network()?;
        let bytes = py
            .detach(|| {
                urisc_nn::export::bioimageio_package(
                    &net,
                    &descriptor,
                    self.path.as_deref(),
                    name.as_deref(),
                    &sample,
                )
            })
            .map_err(value_error)?;
        urisc_io::write_atomically(&path, overwrite, |f| std::io::Write::write_all(f, &bytes))
            .map_err(|e| io_error(&e))
    }

    fn __repr__(&self) -> String {
        let d = self.segmenter().descriptor();
        format!(
            "urisc.Model({}, tile {}, threshold {:.3})",
            self.path.as_ref().map_or_else(
                || urisc_nn::EMBEDDED_MODEL_NAME.to_string(),
                |p| p.display().to_string()
            ),
            d.tile_size,
            d.threshold
        )
    }
}

/// Loads a model file (.safetensors written by `urisc train`), or with no path the default model
/// embedded in urisc (a width-8 U-Net for ISBI 2012 at 4 nm/pixel). Runs on urisc's CPU kernels.
#[pyfunction]
#[pyo3(signature = (path=None))]
fn load_model(py: Python<'_>, path: Option<PathBuf>) -> PyResult<Model> {
    let model = py
        .detach(|| Segmenter::load_or_default(path.as_deref(), Engine::Cpu).map(SharedModel))
        .map_err(|e| model_file_error(&e))?;
    Ok(Model { model, path })
}

// ----------------------------------------------------------------------------------------
// Evaluation.

/// Every SPEC §4 metric of one prediction against its ground truth, the numbers
/// `urisc eval --format json` reports for the same images written to files.
///
/// Conventions are `urisc eval`'s, i.e. those of the files it reads (membrane dark):
/// - `gt`: a label, membrane = 8-bit value ≤ 122 (uint16 → round(v / 257), float → round(v · 255)).
/// - `pred`: a membrane-dark map in its sample type: uint8 0–255 (binary 0/255 maps, or the 8-bit
///   probability maps `urisc predict --probabilities` writes, 255·(1 − p)), uint16, or float in
///   [0, 1] where membrane is low — pass `1 - model.predict(x)` for a probability map `p`.
///   Binary rules (F1, precision, recall, IoU, Dice, PHD, ARE, VOI) use its 8-bit view, membrane =
///   value < 128; V_rand and V_info sweep the thresholds 0.0, 0.1, …, 1.0 over the map at full
///   precision (integers scaled by 1/255 or 1/65535). Floats outside [0, 1] are clamped with a
///   warning; NaN is refused.
/// - `protocol`: "binarized" (default) or "faithful" (the competition's eval.py: grey-weighted
///   sums; the prediction must be binary with at most ~1/6 membrane, else ValueError).
/// - `metrics`: comma-separated f1, precision, recall, iou, dice, phd, vrand, vinfo, are,
///   voi_split, voi_merge, or the groups all, pixel, isbi, voi.
///
/// Returns a dict of the requested metrics; "phd" is a dict by tolerance {"0", "1", "3", "5",
/// "10"}. The GIL is released while scoring.
#[pyfunction]
#[pyo3(signature = (pred, gt, protocol="binarized", metrics="all"))]
fn evaluate<'py>(
    py: Python<'py>,
    pred: &Bound<'py, PyAny>,
    gt: &Bound<'py, PyAny>,
    protocol: &str,
    metrics: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let protocol = match protocol {
        "binarized" => Protocol::Binarized,
        "faithful" => Protocol::Faithful,
        other => {
            return Err(value_error(format!(
                "protocol '{other}': must be binarized or faithful"
            )))
        }
    };
    let metrics = MetricSet::parse(metrics).map_err(|e| value_error(format!("metrics: {e}")))?;
    let (gt, gt_clamped) = grey_from_array("gt", gt)?;
    let (pred, pred_clamped) = grey_from_array("pred", pred)?;
    let (gh, gw) = (gt.height(), gt.width());
    let (ph, pw) = (pred.height(), pred.width());
    if (gh, gw) != (ph, pw) {
        return Err(value_error(format!(
            "pred: size {ph}×{pw} (rows×columns) does not match ground truth gt ({gh}×{gw})"
        )));
    }
    let mut clamped_in = Vec::new();
    if pred_clamped > 0 {
        clamped_in.push("pred");
    }
    if gt_clamped > 0 {
        clamped_in.push("gt");
    }
    warn_clamped(py, pred_clamped + gt_clamped, &clamped_in.join(", "))?;
    let gt8 = gt.into_u8();
    let (scores, _) = py
        .detach(|| score_images(&gt8, &pred, protocol, &metrics))
        .map_err(|e| value_error(format!("pred: {e}")))?;
    to_python(py, &scores)
}

// ----------------------------------------------------------------------------------------
// Attribution.

/// Integrated gradients of the model's membrane logit at target pixels, as `urisc attribute
/// --pixels` computes them (mid-grey baseline, right Riemann sum over `steps` intervals), and the
/// context curve: the share of |IG| within distance r of the target.
///
/// `image` is converted to 8 bits as in `Model.predict`; its sides must be multiples of
/// `model.size_multiple`. `targets` is a list of (row, column) pixels. `target="background"`
/// attributes the negated logit (the authors' choice). The GIL is released while computing.
///
/// Returns a dict: "targets" (the pixels), "maps" (float32 array targets × rows × columns, zero
/// outside each target's receptive field), per target "sum_ig", "logit_difference" (what the sum
/// approaches), "r50" and "r90" (radii in pixels holding 50 % / 90 % of its |IG|, None for an
/// all-zero map), and over all targets "curve" (mean context curve, index = radius in pixels),
/// "r50"/"r90" of that mean curve as "curve_r50"/"curve_r90", and "summary" (std, quartiles and
/// per-target R50/R90 spreads, as attribution.json holds it; None when every map is zero).
#[pyfunction]
#[pyo3(signature = (model, image, targets, steps=50, target="membrane", batch_pixels=1 << 18))]
fn attribute<'py>(
    py: Python<'py>,
    model: &Model,
    image: &Bound<'py, PyAny>,
    targets: Vec<(usize, usize)>,
    steps: usize,
    target: &str,
    batch_pixels: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let most = urisc_attrib::job::MAX_STEPS;
    if !(1..=most).contains(&steps) {
        return Err(value_error(format!(
            "steps={steps}: integrated gradients need 1 to {most} interpolation steps"
        )));
    }
    let class = match target {
        "membrane" => TargetClass::Membrane,
        "background" => TargetClass::Background,
        other => {
            return Err(value_error(format!(
                "target '{other}': must be membrane or background"
            )))
        }
    };
    if targets.is_empty() {
        return Err(value_error("no target pixels to attribute"));
    }
    let mut index_of = std::collections::HashMap::new();
    for (i, &t) in targets.iter().enumerate() {
        if index_of.insert(t, i).is_some() {
            return Err(value_error(format!(
                "target pixel ({}, {}) is given twice",
                t.0, t.1
            )));
        }
    }
    let image = u8_from_array(py, "image", image)?;
    let segmenter = model.segmenter();
    let (height, width) = (image.height, image.width);
    urisc_attrib::ig::check_inputs(segmenter.size_multiple(), height, width, &targets)
        .map_err(|e| value_error(format!("image: {e}")))?;
    let settings = IgSettings {
        steps,
        rule: Rule::Right,
        class,
        baseline: 0.0,
        max_batch_pixels: batch_pixels.max(1),
    };
    let computed = py.detach(|| -> Result<_, String> {
        let normalized: Vec<f32> = image.data.iter().map(|&v| segmenter.normalize(v)).collect();
        let differences =
            logit_differences(segmenter, &normalized, height, width, &targets, &settings)
                .map_err(|e| e.to_string())?;
        let mut collector = CurveCollector::new(max_radius_for(height, width));
        let mut maps = vec![0f32; targets.len() * height * width];
        let mut results = vec![None; targets.len()];
        integrated_gradients(
            segmenter,
            &normalized,
            height,
            width,
            &targets,
            &settings,
            |group, _| {
                for map in group {
                    let i = index_of[&map.target];
                    collector.add(&map, differences[i]);
                    results[i] = collector.results.last().cloned();
                    let plane = &mut maps[i * height * width..(i + 1) * height * width];
                    for r in 0..map.height {
                        let row = (map.top + r) * width + map.left;
                        plane[row..row + map.width]
                            .copy_from_slice(&map.values[r * map.width..(r + 1) * map.width]);
                    }
                }
            },
        )
        .map_err(|e| format!("image: {e}"))?;
        Ok((maps, results, collector.summary()))
    });
    let (maps, results, summary) = computed.map_err(PyRuntimeError::new_err)?;
    let out = pyo3::types::PyDict::new(py);
    out.set_item("targets", &targets)?;
    let maps =
        Array3::from_shape_vec((targets.len(), height, width), maps).map_err(runtime_error)?;
    let maps: Bound<'py, PyArray3<f32>> = maps.into_pyarray(py);
    out.set_item("maps", maps)?;
    let results: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every target attributed"))
        .collect();
    out.set_item(
        "sum_ig",
        results.iter().map(|r| r.sum_ig).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "logit_difference",
        results
            .iter()
            .map(|r| r.logit_difference)
            .collect::<Vec<_>>(),
    )?;
    out.set_item("r50", results.iter().map(|r| r.r50).collect::<Vec<_>>())?;
    out.set_item("r90", results.iter().map(|r| r.r90).collect::<Vec<_>>())?;
    match &summary {
        Some(s) => {
            out.set_item("curve", &s.mean)?;
            out.set_item("curve_r50", s.r50_of_mean)?;
            out.set_item("curve_r90", s.r90_of_mean)?;
            out.set_item("summary", to_python(py, s)?)?;
        }
        None => {
            out.set_item("curve", py.None())?;
            out.set_item("curve_r50", py.None())?;
            out.set_item("curve_r90", py.None())?;
            out.set_item("summary", py.None())?;
        }
    }
    Ok(out.into_any())
}

// ----------------------------------------------------------------------------------------
// Training.

/// Trains a model from a TOML config, as `urisc train --config CONFIG --out OUT` does: the
/// dataset path in the config is relative to the config's folder; `overrides` are "key=value"
/// strings (`--set`); `resume` continues the run in `out` where it stopped, `force` starts over in
/// an `out` that holds a run. Checkpoints (last/best.safetensors), log.jsonl, config.toml and
/// split.json are written to `out` (never one of the run's inputs). Returns one dict per epoch
/// run (epoch, global_step, lr, train_loss, val_f1, val_threshold, seconds). Training warnings
/// and notes become Python warnings. The GIL is released while training.
#[pyfunction]
#[pyo3(signature = (config_path, out, overrides=Vec::new(), resume=false, force=false))]
fn train<'py>(
    py: Python<'py>,
    config_path: PathBuf,
    out: PathBuf,
    overrides: Vec<String>,
    resume: bool,
    force: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if resume && force {
        return Err(value_error(
            "resume and force cannot be used together (resume continues a run, force starts over)",
        ));
    }
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| PyOSError::new_err(format!("{}: cannot read: {e}", config_path.display())))?;
    let base = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let config = TrainConfig::parse(&text, &overrides)
        .map_err(|e| value_error(format!("{}: {e}", config_path.display())))?;
    let mut warnings = Vec::new();
    let result = py.detach(|| {
        let _kept = KeptBuffers::start();
        refuse_inputs(&out, &config_path, &config, resume)?;
        let split = load_split(&config, &base)?;
        train_run(&config, &split, &out, resume, force, &mut |p| {
            if let Progress::Warning(message) | Progress::Note(message) = p {
                warnings.push(message);
            }
        })
    });
    for message in &warnings {
        warn(py, message)?;
    }
    let logs = result.map_err(|e| train_error(&e))?;
    to_python(py, &logs)
}

// ----------------------------------------------------------------------------------------

/// The `urisc` module.
#[pymodule]
fn urisc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(read_image, m)?)?;
    m.add_function(wrap_pyfunction!(read_sections, m)?)?;
    m.add_function(wrap_pyfunction!(write_png, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(attribute, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    Ok(())
}
