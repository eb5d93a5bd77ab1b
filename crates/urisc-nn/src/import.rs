//! ONNX U-Nets trained elsewhere as urisc model files (`urisc model import`): the graph is
//! mapped onto urisc's network by [`crate::onnx::import_onnx`], what the file does not say is
//! taken from the request's [`ImportDefaults`] (range-checked with the rest of the descriptor),
//! and the model is saved with its descriptor.

use std::fmt;
use std::path::PathBuf;

use urisc_io::IoError;

use crate::descriptor::ModelDescriptor;
use crate::file::{save_model, ModelFileError};
use crate::onnx::{import_onnx, ImportDefaults};

/// One import: which ONNX file, with which defaults, to which model file.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportRequest {
    /// The ONNX file.
    pub onnx: PathBuf,
    /// The urisc model file to write (`.safetensors`).
    pub out: PathBuf,
    /// Normalisation, tile size, threshold and pixel size for a file that does not carry a
    /// urisc descriptor (one urisc exported keeps its own).
    pub defaults: ImportDefaults,
    /// Overwrite an existing `out`.
    pub overwrite: bool,
}

/// What [`import_model`] wrote; its `Display` is the line `urisc model import` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// The model file written.
    pub out: PathBuf,
    /// Its descriptor (as saved, less the weights' checksum).
    pub descriptor: ModelDescriptor,
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
    /// The output exists and overwriting was not allowed.
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
    /// The ONNX file is not a network urisc runs, or the descriptor made for it is out of range
    /// (e.g. a threshold outside [0, 1]).
    #[error("{}: {message}", path.display())]
    Onnx {
        /// The ONNX file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model file cannot be written.
    #[error(transparent)]
    Model(#[from] ModelFileError),
}

/// Carries out `request`: refuses an existing output unless overwriting is allowed, reads and
/// maps the ONNX graph, applies the defaults where the file has no urisc descriptor, checks
/// the descriptor's ranges, saves the model and says what it wrote. Nothing is written on an
/// error.
pub fn import_model(request: &ImportRequest) -> Result<Imported, ImportError> {
    urisc_io::check_writable(&request.out, request.overwrite)?;
    let bytes = std::fs::read(&request.onnx).map_err(|source| ImportError::Read {
        path: request.onnx.clone(),
        source,
    })?;
    let (net, descriptor) =
        import_onnx(&bytes, &request.defaults).map_err(|message| ImportError::Onnx {
            path: request.onnx.clone(),
            message,
        })?;
    save_model(&request.out, &net, &descriptor, request.overwrite)?;
    Ok(Imported {
        out: request.out.clone(),
        descriptor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::Normalization;

    fn torch_unet() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_unet_w4_d3.onnx")
    }

    #[test]
    fn defaults_apply_to_a_foreign_onnx_file_and_are_range_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut request = ImportRequest {
            onnx: torch_unet(),
            out: dir.path().join("m.safetensors"),
            defaults: ImportDefaults {
                normalization: Normalization {
                    mean: 0.3,
                    std: 0.2,
                },
                tile_size: 100,
                threshold: 0.4,
                pixel_size_nm: Some(4.5),
            },
            overwrite: false,
        };
        let done = import_model(&request).unwrap();
        assert_eq!(
            done.to_string(),
            format!(
                "wrote {}: Unet, base width 4, depth 3, tile 100, normalisation (v/255 − 0.3) / 0.2",
                request.out.display()
            )
        );
        let saved = crate::file::read_descriptor(&request.out).unwrap();
        assert_eq!((saved.threshold, saved.pixel_size_nm), (0.4, Some(4.5)));
        assert!(matches!(import_model(&request), Err(ImportError::Io(_))));

        request.out = dir.path().join("bad.safetensors");
        request.defaults.threshold = 5.0;
        let e = import_model(&request).unwrap_err();
        assert!(matches!(e, ImportError::Onnx { .. }), "{e:?}");
        assert!(
            e.to_string()
                .ends_with("torch_unet_w4_d3.onnx: threshold 5 (a probability in [0, 1])"),
            "{e}"
        );
        assert!(!request.out.exists());
    }

    #[test]
    fn a_missing_onnx_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let request = ImportRequest {
            onnx: dir.path().join("nope.onnx"),
            out: dir.path().join("m.safetensors"),
            defaults: ImportDefaults::default(),
            overwrite: false,
        };
        let e = import_model(&request).unwrap_err();
        assert!(matches!(e, ImportError::Read { .. }), "{e:?}");
        assert!(e.to_string().ends_with("nope.onnx: cannot read"), "{e}");
    }
}
