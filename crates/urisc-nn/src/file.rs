//! Model files: safetensors weights with the [`ModelDescriptor`] as JSON in the header's
//! metadata (key `urisc`), written atomically. Read with the `safetensors` crate alone (no
//! deep-learning framework); tensor names and layouts are burn's, so files written by earlier
//! urisc versions load unchanged.
//!
//! Loading checks everything before a network is used: the descriptor's ranges, every tensor's
//! presence, type and shape against the architecture, finite values, and (for files that have
//! one) the checksum of the tensors stored in the descriptor — so a damaged file is named as
//! damaged instead of producing wrong maps.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use urisc_cpu::Net;

use crate::descriptor::{ModelDescriptor, DESCRIPTOR_FORMAT};
use crate::layout;

const METADATA_KEY: &str = "urisc";

/// A model file that cannot be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file cannot be read or used as a model: not safetensors, a bad descriptor, weights
    /// that do not match it, an engine this build lacks.
    #[error("{path}: {message}")]
    Invalid {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Writing the file failed, or it exists and overwriting was not allowed.
    #[error(transparent)]
    Io(#[from] urisc_io::IoError),
}

fn invalid(path: &Path, message: impl Into<String>) -> ModelFileError {
    ModelFileError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Saves weights and descriptor (with the tensors' checksum filled in); refuses an existing
/// file unless `overwrite`.
pub fn save_model(
    path: &Path,
    net: &Net,
    descriptor: &ModelDescriptor,
    overwrite: bool,
) -> Result<(), ModelFileError> {
    urisc_io::check_writable(path, overwrite)?;
    let bytes = model_bytes(net, descriptor).map_err(|e| invalid(path, e))?;
    urisc_io::write_atomically(path, overwrite, |f| std::io::Write::write_all(f, &bytes))?;
    Ok(())
}

/// The bytes of a model file (what [`save_model`] writes).
pub fn model_bytes(net: &Net, descriptor: &ModelDescriptor) -> Result<Vec<u8>, String> {
    let tensors = layout::tensors(net);
    let mut descriptor = descriptor.clone();
    descriptor.weights_checksum = Some(layout::checksum(&tensors));
    let json = serde_json::to_string(&descriptor).expect("descriptor serialises");
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape, bytes)
        })
        .collect();
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| format!("cannot serialise {name}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let metadata = HashMap::from([
        (METADATA_KEY.to_string(), json),
        ("producer".to_string(), "urisc".to_string()),
    ]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| format!("cannot serialise: {e}"))
}

/// Reads only the descriptor of a model file (checked for ranges, not against the weights).
pub fn read_descriptor(path: &Path) -> Result<ModelDescriptor, ModelFileError> {
    let bytes = std::fs::read(path).map_err(|e| invalid(path, format!("cannot read: {e}")))?;
    descriptor_of(path, &bytes)
}

fn descriptor_of(path: &Path, bytes: &[u8]) -> Result<ModelDescriptor, ModelFileError> {
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| invalid(path, format!("not a safetensors file ({e})")))?;
    let json = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or_else(|| invalid(path, "safetensors file without a urisc descriptor"))?;
    let descriptor: ModelDescriptor =
        serde_json::from_str(json).map_err(|e| invalid(path, format!("bad descriptor: {e}")))?;
    if descriptor.format != DESCRIPTOR_FORMAT {
        return Err(invalid(
            path,
            format!(
                "descriptor format '{}' (this urisc reads '{DESCRIPTOR_FORMAT}')",
                descriptor.format
            ),
        ));
    }
    descriptor
        .validate()
        .map_err(|e| invalid(path, format!("bad descriptor: {e}")))?;
    Ok(descriptor)
}

/// Loads a model file (or an ONNX U-Net, see [`crate::onnx::import_onnx`]): the network its descriptor describes, filled with its weights, which
/// must match it exactly (no missing, extra, mis-shaped or non-finite tensors; the checksum, when
/// the file has one, must agree).
pub fn load_model(path: &Path) -> Result<(Net, ModelDescriptor), ModelFileError> {
    let bytes = std::fs::read(path).map_err(|e| invalid(path, format!("cannot read: {e}")))?;
    model_from_bytes(path, &bytes)
}

/// [`load_model`] on bytes already read (`path` names them in errors).
pub fn model_from_bytes(
    path: &Path,
    bytes: &[u8],
) -> Result<(Net, ModelDescriptor), ModelFileError> {
    if crate::onnx::looks_like_onnx(bytes) {
        // A network trained elsewhere, mapped onto urisc's (see `crate::onnx`).
        return crate::onnx::import_onnx(bytes, &crate::onnx::ImportDefaults::default())
            .map_err(|e| invalid(path, format!("ONNX model: {e}")));
    }
    let descriptor = descriptor_of(path, bytes)?;
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| invalid(path, format!("not a safetensors file ({e})")))?;
    let mut unused: BTreeSet<String> = file.names().into_iter().map(str::to_string).collect();
    let net = layout::build(&descriptor.model, &mut |name, shape, _| {
        unused.remove(name);
        let t = file.tensor(name).map_err(|_| {
            format!(
                "weights do not match the descriptor's {:?} network: tensor {name} missing",
                descriptor.model.architecture
            )
        })?;
        if t.dtype() != safetensors::Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, not F32", t.dtype()));
        }
        if t.shape() != shape {
            return Err(format!(
                "weights do not match the descriptor (width {}, depth {}): tensor {name} has shape {:?}, the architecture needs {:?}",
                descriptor.model.base_width,
                descriptor.model.depth,
                t.shape(),
                shape
            ));
        }
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(format!(
                "damaged weights: tensor {name} holds {bad} non-finite value(s)"
            ));
        }
        Ok(values)
    })
    .map_err(|e| invalid(path, e))?;
    if let Some(name) = unused.iter().next() {
        return Err(invalid(
            path,
            format!(
                "weights do not match the descriptor: {} unexpected tensor(s), e.g. {name}",
                unused.len()
            ),
        ));
    }
    if let Some(stored) = &descriptor.weights_checksum {
        let actual = layout::checksum(&layout::tensors(&net));
        if *stored != actual {
            return Err(invalid(
                path,
                format!("damaged weights: checksum {actual} differs from the stored {stored}"),
            ));
        }
    }
    Ok((net, descriptor))
}
