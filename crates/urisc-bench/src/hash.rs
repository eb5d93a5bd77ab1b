//! Run keys: a 64-bit FNV-1a hash ([`urisc_io::digest::Fnv`]) of a run's resolved settings and
//! its data's bytes.

use std::path::Path;

pub use urisc_io::digest::Fnv;

use crate::error::BenchError;

/// Adds a file's length and bytes (word-wise: large sections hash at memory speed).
pub fn add_file<'a>(hash: &'a mut Fnv, path: &Path) -> Result<&'a mut Fnv, BenchError> {
    let data = std::fs::read(path).map_err(|e| BenchError::io(path, e))?;
    hash.bytes(&(data.len() as u64).to_le_bytes());
    Ok(hash.words(&data))
}

/// The hash as 12 hex digits (folder names).
pub fn short(hash: &Fnv) -> String {
    format!("{:012x}", hash.finish() >> 16)
}
