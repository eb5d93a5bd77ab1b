//! Zarr v3 / OME-Zarr.
//!
//! - Output: a Zarr v3 group with OME-Zarr 0.5 metadata holding one 2-D array `0` in
//!   gzip-compressed chunks, written band by band behind [`crate::RowWriter`].
//! - Input: [`ZarrArray`] reads 2-D and 3-D arrays (an OME-Zarr group's full resolution, or an
//!   array folder) by regions, [`ZarrRows`] streams one plane by rows. Data types uint8, uint16,
//!   float32, float64; regular chunk grids with `default` or `v2` chunk keys; codecs `bytes`,
//!   `transpose`, `sharding_indexed`, `gzip`, `zstd`, `crc32c`. Missing chunks hold the fill
//!   value. [`crate::read_image`], [`crate::open_rows`] and their siblings take a Zarr store
//!   folder too (a 3-D array's pages are its z planes).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::stream::{as_u8, expect_rows, StreamSample};

mod read;

pub use read::{ZarrArray, ZarrRows};

/// Chunk side of OME-Zarr output: 1024² chunks are 1 MiB at 8 bits, a common choice for EM.
pub const ZARR_CHUNK: usize = 1024;

/// The [`crate::RowWriter`] thread's OME-Zarr encoder: bands of [`ZARR_CHUNK`] rows in, one
/// chunk file per [`ZARR_CHUNK`] columns of each band out, into the staging folder `root`.
pub(crate) fn encode_rows<T: StreamSample>(
    root: &Path,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
    bands: impl Iterator<Item = Vec<T>>,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let array = root.join("0");
    std::fs::create_dir_all(&array).map_err(io)?;
    let scale = pixel_size_nm.unwrap_or(1.0);
    let unit = if pixel_size_nm.is_some() {
        "nanometer"
    } else {
        "pixel"
    };
    let group = serde_json::json!({
        "zarr_format": 3,
        "node_type": "group",
        "attributes": {"ome": {
            "version": "0.5",
            "multiscales": [{
                "name": "membrane",
                "axes": [
                    {"name": "y", "type": "space", "unit": unit},
                    {"name": "x", "type": "space", "unit": unit}
                ],
                "datasets": [{
                    "path": "0",
                    "coordinateTransformations": [{"type": "scale", "scale": [scale, scale]}]
                }]
            }]
        }}
    });
    let meta = serde_json::json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": [height, width],
        "data_type": T::ZARR_TYPE,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [ZARR_CHUNK, ZARR_CHUNK]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "gzip", "configuration": {"level": 1}}
        ],
        "dimension_names": ["y", "x"]
    });
    let write_json = |path: PathBuf, v: &serde_json::Value| {
        std::fs::write(path, serde_json::to_vec_pretty(v).expect("JSON")).map_err(io)
    };
    write_json(root.join("zarr.json"), &group)?;
    write_json(array.join("zarr.json"), &meta)?;
    let mut received = 0;
    for (chunk_row, band) in bands.enumerate() {
        received += band.len();
        let rows = band.len() / width;
        for chunk_col in 0..width.div_ceil(ZARR_CHUNK) {
            // Edge chunks are stored whole, padded with the fill value, as Zarr requires.
            let mut chunk = vec![T::default(); ZARR_CHUNK * ZARR_CHUNK];
            let c0 = chunk_col * ZARR_CHUNK;
            let n = ZARR_CHUNK.min(width - c0);
            for r in 0..rows {
                chunk[r * ZARR_CHUNK..r * ZARR_CHUNK + n]
                    .copy_from_slice(&band[r * width + c0..][..n]);
            }
            let dir = array.join("c").join(chunk_row.to_string());
            std::fs::create_dir_all(&dir).map_err(io)?;
            let mut gz = flate2::write::GzEncoder::new(
                BufWriter::new(File::create(dir.join(chunk_col.to_string())).map_err(io)?),
                flate2::Compression::fast(),
            );
            gz.write_all(&as_u8(chunk)).map_err(io)?;
            gz.finish().and_then(|mut w| w.flush()).map_err(io)?;
        }
    }
    expect_rows(received, height, width)
}
