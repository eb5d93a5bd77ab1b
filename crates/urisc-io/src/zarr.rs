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

use std::path::{Path, PathBuf};

use crate::stream::{expect_rows, StreamSample};

mod read;

pub use read::{ZarrArray, ZarrRows};

/// Chunk side of OME-Zarr output: 1024² chunks are 1 MiB at 8 bits, a common choice for EM.
pub const ZARR_CHUNK: usize = 1024;

/// The [`crate::RowWriter`] thread's OME-Zarr encoder: bands of [`ZARR_CHUNK`] rows in, one
/// chunk file per [`ZARR_CHUNK`] columns of each band out, into the staging folder `root`;
/// `membrane_probability` marks the image (float samples only, see
/// [`crate::zarr_store::mark_membrane_probability`]).
pub(crate) fn encode_rows<T: StreamSample>(
    root: &Path,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
    membrane_probability: bool,
    bands: impl Iterator<Item = Vec<T>>,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let array = root.join("0");
    std::fs::create_dir_all(&array).map_err(io)?;
    // The same metadata as the block writer's (`zarr_store`), so both outputs are one format.
    let mut group = crate::zarr_store::group_metadata("membrane", false, pixel_size_nm);
    let layout = crate::zarr_store::StoreLayout {
        root: root.to_path_buf(),
        planes: None,
        height,
        width,
        chunk: ZARR_CHUNK,
        shard: 1,
        data_type: T::ZARR_TYPE.to_string(),
    };
    let mut meta = layout.array_metadata();
    if membrane_probability && T::ZARR_TYPE == "float32" {
        crate::zarr_store::mark_membrane_probability(&mut group, &mut meta);
    }
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
            // One chunk's clipped rectangle; the block writer pads and encodes it.
            let c0 = chunk_col * ZARR_CHUNK;
            let n = ZARR_CHUNK.min(width - c0);
            let unit: Vec<T> = (0..rows)
                .flat_map(|r| band[r * width + c0..][..n].iter().copied())
                .collect();
            crate::zarr_store::write_unit(&layout, 0, chunk_row, chunk_col, &unit)
                .map_err(|e| e.to_string())?;
        }
    }
    expect_rows(received, height, width)
}
