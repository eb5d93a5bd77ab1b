//! Models for other tools (`urisc model export`): a model file, or the model embedded in urisc,
//! written as ONNX ([`crate::onnx::export_onnx`]) or as a bioimage.io model package
//! ([`crate::bioimageio::package`]) named after the model, with the training run's files
//! attached when `urisc train` left them beside it.

use std::fmt;
use std::path::{Path, PathBuf};

use urisc_cpu::Net;
use urisc_io::IoError;

use crate::bioimageio::{self, FORMAT_VERSION};
use crate::descriptor::ModelDescriptor;
use crate::file::{load_model, model_from_bytes, ModelFileError};
use crate::onnx::{export_onnx, OnnxOutput, OPSET};
use crate::segmenter::{embedded_model_bytes, EMBEDDED_MODEL_NAME};

/// Files of a training run (`urisc train`'s output folder) a bioimage.io package carries, when
/// they lie beside the model.
pub const TRAINING_FILES: [&str; 5] = [
    "config.toml",
    "log.jsonl",
    "split.json",
    "training-curves.png",
    "training-curves.svg",
];

/// What to write.
#[derive(Clone, Debug, PartialEq)]
pub enum ExportFormat {
    /// An ONNX model (opset [`OPSET`], dynamic batch, height and width, batch norm folded) with
    /// this output.
    Onnx(OnnxOutput),
    /// A bioimage.io model package (`.zip`), whose test input and cover are a centred crop of
    /// `sample`, an EM image of the kind the model is for.
    Bioimageio {
        /// The sample image.
        sample: PathBuf,
    },
}

/// One export: which model, in which format, to which file.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRequest {
    /// A model file; `None`: the model embedded in urisc.
    pub model: Option<PathBuf>,
    /// What to write.
    pub format: ExportFormat,
    /// The file to write (`.onnx`, or `.zip` for bioimage.io).
    pub out: PathBuf,
    /// Overwrite an existing `out`.
    pub overwrite: bool,
}

/// What [`export_model`] wrote; its `Display` is the line `urisc model export` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    /// The file written.
    pub out: PathBuf,
    /// Its size in bytes.
    pub size: usize,
    /// The format it was written in.
    pub format: ExportFormat,
    /// The exported model's descriptor.
    pub descriptor: ModelDescriptor,
}

impl fmt::Display for Exported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            ExportFormat::Onnx(_) => write!(
                f,
                "wrote {} ({} kB, ONNX opset {OPSET}, input 'input' [N, 1, H, W] with H and W \
                 multiples of {}, normalised as (v/255 − {}) / {})",
                self.out.display(),
                self.size / 1000,
                self.descriptor.model.size_multiple(),
                self.descriptor.normalization.mean,
                self.descriptor.normalization.std
            ),
            ExportFormat::Bioimageio { .. } => write!(
                f,
                "wrote {} ({} kB, bioimage.io model package, spec {FORMAT_VERSION})",
                self.out.display(),
                self.size / 1000
            ),
        }
    }
}

/// Why an export failed; every variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The model file cannot be read or used.
    #[error(transparent)]
    Model(#[from] ModelFileError),
    /// The output exists (and overwriting was not allowed) or cannot be written, or the sample
    /// image cannot be read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The bioimage.io package cannot be made (e.g. the sample is smaller than the model's size
    /// multiple).
    #[error("{}: cannot make the package: {message}", out.display())]
    Package {
        /// The package that was to be written.
        out: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The name of a bioimage.io package of `model` (`None`: the embedded model, "default"): the
/// file's stem, except that `urisc train` names its models `best` and `last`, so those are
/// named after the run's folder.
pub fn package_name(model: Option<&Path>) -> String {
    model.map_or("default".to_string(), |p| {
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
        let folder = p
            .parent()
            .and_then(|d| d.file_name())
            .map(|s| s.to_string_lossy().into_owned());
        match (stem, folder) {
            (Some(s), Some(f)) if s == "best" || s == "last" => f,
            (Some(s), _) => s,
            _ => "model".into(),
        }
    })
}

/// The training run's files ([`TRAINING_FILES`]) found beside `model`, as (file name, bytes),
/// in that order; missing or unreadable ones are left out.
pub fn training_attachments(model: &Path) -> Vec<(String, Vec<u8>)> {
    model
        .parent()
        .map(|dir| {
            TRAINING_FILES
                .iter()
                .filter_map(|n| std::fs::read(dir.join(n)).ok().map(|b| (n.to_string(), b)))
                .collect()
        })
        .unwrap_or_default()
}

/// A model file, fully checked, or the embedded model.
fn load_or_embedded(model: Option<&Path>) -> Result<(Net, ModelDescriptor), ModelFileError> {
    match model {
        Some(path) => load_model(path),
        None => model_from_bytes(Path::new(EMBEDDED_MODEL_NAME), embedded_model_bytes()),
    }
}

/// The bioimage.io package of a network loaded from `model` (`None`: the embedded model), as
/// `urisc model export` and the Python module make it: named `name`, else by
/// [`package_name`]; with the run's [`training_attachments`]; stamped with the current time.
pub fn bioimageio_package(
    net: &Net,
    descriptor: &ModelDescriptor,
    model: Option<&Path>,
    name: Option<&str>,
    sample: &urisc_io::Image<u8>,
) -> Result<Vec<u8>, String> {
    let name = name.map_or_else(|| package_name(model), str::to_string);
    let attachments = model.map(training_attachments).unwrap_or_default();
    bioimageio::package(net, descriptor, &name, sample, unix_now(), &attachments)
}

/// Seconds since the Unix epoch (0 on a clock before it).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Carries out `request`: refuses an output that is one of its inputs (the model, the sample)
/// whatever `overwrite` says, and an existing output unless overwriting is allowed; loads and
/// checks the model, writes the ONNX graph or the bioimage.io package (stamped with the
/// current time) atomically, and says what it wrote.
pub fn export_model(request: &ExportRequest) -> Result<Exported, ExportError> {
    let out = &request.out;
    let mut inputs: Vec<&Path> = request.model.iter().map(PathBuf::as_path).collect();
    if let ExportFormat::Bioimageio { sample } = &request.format {
        inputs.push(sample);
    }
    urisc_io::paths::refuse_input(out, &inputs)?;
    urisc_io::check_writable(out, request.overwrite)?;
    let model = request.model.as_deref();
    let (net, descriptor) = load_or_embedded(model)?;
    let bytes = match &request.format {
        ExportFormat::Onnx(output) => export_onnx(&net, &descriptor, *output),
        ExportFormat::Bioimageio { sample } => {
            let sample = urisc_io::read_u8(sample)?;
            bioimageio_package(&net, &descriptor, model, None, &sample).map_err(|message| {
                ExportError::Package {
                    out: out.clone(),
                    message,
                }
            })?
        }
    };
    urisc_io::write_atomically(out, request.overwrite, |f| {
        std::io::Write::write_all(f, &bytes)
    })?;
    Ok(Exported {
        out: out.clone(),
        size: bytes.len(),
        format: request.format.clone(),
        descriptor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Architecture, ModelConfig};
    use crate::file::save_model;
    use crate::layout::seeded_net;

    #[test]
    fn packages_are_named_after_the_run_folder_for_best_and_last() {
        let name = |p: &str| package_name(Some(Path::new(p)));
        assert_eq!(package_name(None), "default");
        assert_eq!(name("runs/isbi-w8/best.safetensors"), "isbi-w8");
        assert_eq!(name("runs/isbi-w8/last.safetensors"), "isbi-w8");
        assert_eq!(name("runs/isbi-w8/step-400.safetensors"), "step-400");
        assert_eq!(name("mine.safetensors"), "mine");
        // No folder to name it after.
        assert_eq!(name("best.safetensors"), "best");
        assert_eq!(name("/best.safetensors"), "best");
        assert_eq!(name("/"), "model");
    }

    /// A depth-2 U-Net of width 2 saved as `dir/run/best.safetensors`, with a training config
    /// and log beside it.
    fn tiny_run(dir: &Path) -> PathBuf {
        let run = dir.join("run");
        std::fs::create_dir_all(&run).unwrap();
        let config = ModelConfig {
            architecture: Architecture::Unet,
            base_width: 2,
            depth: 2,
            coarse: None,
        };
        let net = seeded_net(&config, 3).unwrap();
        let model = run.join("best.safetensors");
        save_model(&model, &net, &ModelDescriptor::new(config, 16), false).unwrap();
        std::fs::write(run.join("config.toml"), "seed = 3\n").unwrap();
        std::fs::write(run.join("log.jsonl"), "{}\n").unwrap();
        model
    }

    #[test]
    fn the_training_files_beside_a_model_are_attached_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny_run(dir.path());
        let names: Vec<String> = training_attachments(&model)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["config.toml", "log.jsonl"]);
        assert!(training_attachments(Path::new("/")).is_empty());
    }

    #[test]
    fn exports_write_onnx_and_packages_and_refuse_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny_run(dir.path());
        let onnx = ExportRequest {
            model: Some(model.clone()),
            format: ExportFormat::Onnx(OnnxOutput::Logits),
            out: dir.path().join("m.onnx"),
            overwrite: false,
        };
        let done = export_model(&onnx).unwrap();
        assert_eq!(
            done.size as u64,
            std::fs::metadata(&onnx.out).unwrap().len()
        );
        let line = done.to_string();
        assert!(line.contains("ONNX opset 17"), "{line}");
        assert!(
            line.contains("multiples of 2, normalised as (v/255 − 0.5) / 0.5)"),
            "{line}"
        );
        match export_model(&onnx) {
            Err(ExportError::Io(e)) => assert!(e.to_string().contains("exists"), "{e}"),
            other => panic!("{other:?}"),
        }
        let before = std::fs::read(&model).unwrap();
        let over_input = ExportRequest {
            out: model.clone(),
            overwrite: true,
            ..onnx.clone()
        };
        match export_model(&over_input) {
            Err(ExportError::Io(e)) => assert!(e.to_string().contains("is the input"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(&model).unwrap(), before);

        let sample = dir.path().join("em.png");
        let pixels = (0..40 * 36).map(|i| (i * 7 % 256) as u8).collect();
        urisc_io::write_png(&sample, &urisc_io::Image::new(40, 36, pixels), None, false).unwrap();
        let package = ExportRequest {
            model: Some(model),
            format: ExportFormat::Bioimageio { sample },
            out: dir.path().join("m.zip"),
            overwrite: false,
        };
        let done = export_model(&package).unwrap();
        assert!(done.to_string().contains("bioimage.io model package, spec"));
        // A stored zip: the rdf.yaml is readable in the bytes.
        let bytes = std::fs::read(&package.out).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("name: \"urisc run\""));
        assert!(text.contains("- source: config.toml"));
        assert!(text.contains("- source: log.jsonl"));

        let missing = ExportRequest {
            format: ExportFormat::Bioimageio {
                sample: dir.path().join("nope.png"),
            },
            out: dir.path().join("n.zip"),
            ..package
        };
        assert!(matches!(export_model(&missing), Err(ExportError::Io(_))));
        assert!(!missing.out.exists());
    }

    #[test]
    fn a_sample_smaller_than_the_size_multiple_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let sample = dir.path().join("small.png");
        urisc_io::write_png(&sample, &urisc_io::Image::new(1, 1, vec![9]), None, false).unwrap();
        let request = ExportRequest {
            model: Some(tiny_run(dir.path())),
            format: ExportFormat::Bioimageio { sample },
            out: dir.path().join("p.zip"),
            overwrite: false,
        };
        let e = export_model(&request).unwrap_err();
        assert!(matches!(e, ExportError::Package { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("p.zip: cannot make the package: the sample image (1×1)"),
            "{text}"
        );
    }
}
