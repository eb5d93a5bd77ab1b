//! Model files: safetensors weights with the [`ModelDescriptor`] as JSON in the header's
//! metadata (key `urisc`), written atomically.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::descriptor::{ModelDescriptor, DESCRIPTOR_FORMAT};
use crate::model::SegmentationNet;

const METADATA_KEY: &str = "urisc";

/// A model file that cannot be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Io(#[from] urisc_io::IoError),
}

fn invalid(path: &Path, message: impl Into<String>) -> ModelFileError {
    ModelFileError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Saves weights and descriptor; refuses an existing file unless `overwrite`.
pub fn save_model(
    path: &Path,
    net: &SegmentationNet,
    descriptor: &ModelDescriptor,
    overwrite: bool,
) -> Result<(), ModelFileError> {
    urisc_io::check_writable(path, overwrite)?;
    let json = serde_json::to_string(descriptor).expect("descriptor serialises");
    let mut store = SafetensorsStore::from_bytes(None).metadata(METADATA_KEY, json);
    net.save_into(&mut store)
        .map_err(|e| invalid(path, format!("cannot serialise weights: {e}")))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| invalid(path, format!("cannot serialise weights: {e}")))?;
    urisc_io::write_atomically(path, overwrite, |f| std::io::Write::write_all(f, &bytes))?;
    Ok(())
}

/// Reads only the descriptor of a model file.
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
        .model
        .validate()
        .map_err(|e| invalid(path, format!("bad descriptor: {e}")))?;
    Ok(descriptor)
}

/// Loads a model file: builds the network its descriptor describes and fills in the weights,
/// which must match it exactly (no missing, extra or mis-shaped tensors).
pub fn load_model(
    path: &Path,
    device: &Device,
) -> Result<(SegmentationNet, ModelDescriptor), ModelFileError> {
    let bytes = std::fs::read(path).map_err(|e| invalid(path, format!("cannot read: {e}")))?;
    let descriptor = descriptor_of(path, &bytes)?;
    let mut net = SegmentationNet::new(&descriptor.model, device);
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    let result = net
        .load_from(&mut store)
        .map_err(|e| invalid(path, format!("weights do not match the descriptor: {e}")))?;
    if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty() {
        let first = |v: Vec<String>| v.into_iter().take(3).collect::<Vec<_>>().join(", ");
        return Err(invalid(
            path,
            format!(
                "weights do not match the descriptor ({} missing: {}; {} unexpected: {}; {} bad: {})",
                result.missing.len(),
                first(result.missing.iter().map(|(p, _)| p.clone()).collect()),
                result.unused.len(),
                first(result.unused.clone()),
                result.errors.len(),
                first(result.errors.iter().map(|e| format!("{e:?}")).collect()),
            ),
        ));
    }
    Ok((net, descriptor))
}
