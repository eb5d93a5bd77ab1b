//! ONNX U-Nets trained elsewhere as urisc model files (`urisc model import`): the graph is
//! mapped onto urisc's network by [`crate::onnx::import_onnx`]; the settings the request gives
//! ([`ImportSettings`]) apply over what the file says (its urisc descriptor, else the
//! [`ImportDefaults`]), each range-checked as every model file's descriptor is; and the model is
//! saved with its descriptor.

use std::fmt;
use std::path::PathBuf;

use urisc_io::IoError;

use crate::descriptor::ModelDescriptor;
use crate::file::{save_model, ModelFileError};
use crate::onnx::{import_onnx_described, ImportDefaults};

/// The settings given explicitly (`None`: not given). Given ones apply over what the file says,
/// the descriptor a urisc-exported file carries included; the rest come from that descriptor,
/// else from [`ImportDefaults`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportSettings {
    /// Input normalisation: x = (v/255 − mean) / std.
    pub mean: Option<f32>,
    /// See `mean` (finite and > 0).
    pub std: Option<f32>,
    /// Inference tile side (a positive multiple of the model's size multiple).
    pub tile_size: Option<usize>,
    /// Membrane threshold on the probability.
    pub threshold: Option<f32>,
    /// Pixel size of the training data, nm/pixel (> 0).
    pub pixel_size_nm: Option<f64>,
}

/// One import: which ONNX file, with which settings, to which model file.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportRequest {
    /// The ONNX file.
    pub onnx: PathBuf,
    /// The urisc model file to write (`.safetensors`).
    pub out: PathBuf,
    /// The settings given explicitly.
    pub settings: ImportSettings,
    /// Overwrite an existing `out` (never the ONNX file itself).
    pub overwrite: bool,
}

/// What [`import_model`] wrote; its `Display` is the line `urisc model import` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// The model file written.
    pub out: PathBuf,
    /// Its descriptor (as saved, less the weights' checksum).
    pub descriptor: ModelDescriptor,
    /// The given settings that replaced a different value of the file's urisc descriptor, as
    /// `--flag new (the file's old)`.
    pub replaced: Vec<String>,
}

impl Imported {
    /// The note to show when given settings replaced the file's own (`None`: none did).
    pub fn note(&self) -> Option<String> {
        (!self.replaced.is_empty()).then(|| {
            format!(
                "{} replace{} the value{} in the file's urisc metadata",
                self.replaced.join(", "),
                if self.replaced.len() == 1 { "s" } else { "" },
                if self.replaced.len() == 1 { "" } else { "s" },
            )
        })
    }
}

impl fmt::Display for Imported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.descriptor;
        write!(
            f,
            "wrote {}: {:?}, base width {}, depth {}, tile {}, normalisation (v/255 − {}) / {}",
            self.out.display(),
            d.model.architecture,
            d.model.base_width,
            d.model.depth,
            d.tile_size,
            d.normalization.mean,
            d.normalization.std
        )
    }
}

/// Why an import failed; every variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The output is the ONNX file, or exists and overwriting was not allowed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The ONNX file cannot be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The ONNX file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The ONNX file is not a network urisc runs, or its urisc descriptor is out of range.
    #[error("{}: {message}", path.display())]
    Onnx {
        /// The ONNX file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A given setting is out of range (for this model: the tile's multiple is the network's).
    #[error("{}: {setting}: {message}", path.display())]
    Setting {
        /// The ONNX file.
        path: PathBuf,
        /// The setting as given, e.g. `--tile 17`.
        setting: String,
        /// The range it breaks.
        message: String,
    },
    /// The model file cannot be written.
    #[error(transparent)]
    Model(#[from] ModelFileError),
}

/// Applies `settings` over `d` one at a time, each checked with the descriptor's own ranges
/// ([`ModelDescriptor::validate`]) so an error names the setting; returns those that replaced a
/// different value.
fn apply(
    settings: &ImportSettings,
    d: &mut ModelDescriptor,
    onnx: &std::path::Path,
) -> Result<Vec<String>, ImportError> {
    let mut replaced = Vec::new();
    let mut check = |d: &ModelDescriptor, flag: &str, new: String, old: String| {
        d.validate().map_err(|message| ImportError::Setting {
            path: onnx.to_path_buf(),
            setting: format!("{flag} {new}"),
            message,
        })?;
        if new != old {
            replaced.push(format!("{flag} {new} (the file's {old})"));
        }
        Ok::<(), ImportError>(())
    };
    if let Some(v) = settings.mean {
        let old = std::mem::replace(&mut d.normalization.mean, v);
        check(d, "--mean", v.to_string(), old.to_string())?;
    }
    if let Some(v) = settings.std {
        let old = std::mem::replace(&mut d.normalization.std, v);
        check(d, "--std", v.to_string(), old.to_string())?;
    }
    if let Some(v) = settings.tile_size {
        let old = std::mem::replace(&mut d.tile_size, v);
        check(d, "--tile", v.to_string(), old.to_string())?;
    }
    if let Some(v) = settings.threshold {
        let old = std::mem::replace(&mut d.threshold, v);
        check(d, "--threshold", v.to_string(), old.to_string())?;
    }
    if let Some(v) = settings.pixel_size_nm {
        // A file without a pixel size has none to replace: no note then.
        let old = d.pixel_size_nm.replace(v);
        let old = old.map_or(v.to_string(), |o| o.to_string());
        check(d, "--pixel-size", v.to_string(), old)?;
    }
    Ok(replaced)
}

/// Carries out `request`: refuses an output that is the ONNX file (whatever `overwrite` says)
/// and an existing output unless overwriting is allowed, reads and maps the ONNX graph, applies
/// the given settings over the file's descriptor (or the defaults), checking each, saves the
/// model and says what it wrote. Nothing is written on an error.
pub fn import_model(request: &ImportRequest) -> Result<Imported, ImportError> {
    urisc_io::paths::refuse_input(&request.out, &[&request.onnx])?;
    urisc_io::check_writable(&request.out, request.overwrite)?;
    let bytes = std::fs::read(&request.onnx).map_err(|source| ImportError::Read {
        path: request.onnx.clone(),
        source,
    })?;
    let (net, mut descriptor, carried) = import_onnx_described(&bytes, &ImportDefaults::default())
        .map_err(|message| ImportError::Onnx {
            path: request.onnx.clone(),
            message,
        })?;
    let replaced = apply(&request.settings, &mut descriptor, &request.onnx)?;
    save_model(&request.out, &net, &descriptor, request.overwrite)?;
    Ok(Imported {
        out: request.out.clone(),
        descriptor,
        // A file without a urisc descriptor had only defaults to replace.
        replaced: if carried { replaced } else { vec![] },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Architecture, ModelConfig};
    use crate::onnx::{export_onnx, OnnxOutput};

    fn torch_unet() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_unet_w4_d3.onnx")
    }

    fn request(onnx: PathBuf, out: PathBuf, settings: ImportSettings) -> ImportRequest {
        ImportRequest {
            onnx,
            out,
            settings,
            overwrite: false,
        }
    }

    #[test]
    fn settings_apply_to_a_foreign_onnx_file_and_are_range_checked() {
        let dir = tempfile::tempdir().unwrap();
        let settings = ImportSettings {
            mean: Some(0.3),
            std: Some(0.2),
            tile_size: Some(100),
            threshold: Some(0.4),
            pixel_size_nm: Some(4.5),
        };
        let mut request = request(torch_unet(), dir.path().join("m.safetensors"), settings);
        let done = import_model(&request).unwrap();
        assert_eq!(
            done.to_string(),
            format!(
                "wrote {}: Unet, base width 4, depth 3, tile 100, normalisation (v/255 − 0.3) / 0.2",
                request.out.display()
            )
        );
        assert_eq!(
            done.note(),
            None,
            "a foreign file has no settings to replace"
        );
        let saved = crate::file::read_descriptor(&request.out).unwrap();
        assert_eq!((saved.threshold, saved.pixel_size_nm), (0.4, Some(4.5)));
        assert!(matches!(import_model(&request), Err(ImportError::Io(_))));

        request.out = dir.path().join("bad.safetensors");
        for (settings, message) in [
            (
                ImportSettings {
                    threshold: Some(5.0),
                    ..Default::default()
                },
                "torch_unet_w4_d3.onnx: --threshold 5: threshold 5 (a probability in [0, 1])",
            ),
            (
                ImportSettings {
                    tile_size: Some(17),
                    ..Default::default()
                },
                "torch_unet_w4_d3.onnx: --tile 17: tile_size 17 (a multiple of 4, at most 16384)",
            ),
        ] {
            request.settings = settings;
            let e = import_model(&request).unwrap_err();
            assert!(matches!(e, ImportError::Setting { .. }), "{e:?}");
            assert!(e.to_string().ends_with(message), "{e}");
            assert!(!request.out.exists());
        }
    }

    #[test]
    fn given_settings_replace_a_urisc_files_own_and_are_range_checked() {
        let dir = tempfile::tempdir().unwrap();
        let config = ModelConfig {
            architecture: Architecture::Unet,
            base_width: 2,
            depth: 2,
            coarse: None,
        };
        let mut own = ModelDescriptor::new(config.clone(), 64);
        own.threshold = 0.42;
        own.pixel_size_nm = Some(4.0);
        let net = crate::layout::seeded_net(&config, 3).unwrap();
        let onnx = dir.path().join("m.onnx");
        std::fs::write(&onnx, export_onnx(&net, &own, OnnxOutput::Probability)).unwrap();

        let kept = import_model(&request(
            onnx.clone(),
            dir.path().join("kept.safetensors"),
            ImportSettings::default(),
        ))
        .unwrap();
        assert_eq!(
            (kept.descriptor.threshold, kept.descriptor.tile_size),
            (0.42, 64)
        );
        assert_eq!(kept.note(), None);

        let given = ImportSettings {
            tile_size: Some(32),
            threshold: Some(0.3),
            pixel_size_nm: Some(4.0),
            ..Default::default()
        };
        let out = dir.path().join("given.safetensors");
        let done = import_model(&request(onnx.clone(), out.clone(), given)).unwrap();
        let saved = crate::file::read_descriptor(&out).unwrap();
        assert_eq!(
            (saved.tile_size, saved.threshold, saved.pixel_size_nm),
            (32, 0.3, Some(4.0))
        );
        assert_eq!(
            done.note().unwrap(),
            "--tile 32 (the file's 64), --threshold 0.3 (the file's 0.42) replace the values in \
             the file's urisc metadata"
        );

        for (settings, needle) in [
            (
                ImportSettings {
                    std: Some(0.0),
                    ..Default::default()
                },
                "--std 0: normalization mean 0.5 / std 0 (mean must be finite; std must be finite and > 0)",
            ),
            (
                ImportSettings {
                    tile_size: Some(17),
                    ..Default::default()
                },
                "--tile 17: tile_size 17 (a multiple of 2",
            ),
            (
                ImportSettings {
                    threshold: Some(2.0),
                    ..Default::default()
                },
                "--threshold 2: threshold 2 (a probability in [0, 1])",
            ),
            (
                ImportSettings {
                    pixel_size_nm: Some(-1.0),
                    ..Default::default()
                },
                "--pixel-size -1: pixel_size_nm -1 (must be between 0.01 and 100000 nm/pixel)",
            ),
        ] {
            let bad = dir.path().join("bad.safetensors");
            let e = import_model(&request(onnx.clone(), bad.clone(), settings)).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
            assert!(!bad.exists());
        }
    }

    #[test]
    fn the_onnx_file_is_never_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let onnx = dir.path().join("m.onnx");
        std::fs::copy(torch_unet(), &onnx).unwrap();
        let mut same = request(onnx.clone(), onnx.clone(), ImportSettings::default());
        same.overwrite = true;
        let e = import_model(&same).unwrap_err();
        assert!(e.to_string().contains("is the input"), "{e}");
        assert_eq!(
            std::fs::read(&onnx).unwrap(),
            std::fs::read(torch_unet()).unwrap()
        );
    }

    #[test]
    fn a_missing_onnx_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let request = request(
            dir.path().join("nope.onnx"),
            dir.path().join("m.safetensors"),
            ImportSettings::default(),
        );
        let e = import_model(&request).unwrap_err();
        assert!(matches!(e, ImportError::Read { .. }), "{e:?}");
        assert!(e.to_string().ends_with("nope.onnx: cannot read"), "{e}");
    }
}
