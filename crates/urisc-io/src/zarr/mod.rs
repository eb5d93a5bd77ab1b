//! Zarr v3 / OME-Zarr, reading, writing and stores in one module, and its `ImageFormat`
//! implementation (a folder holding `zarr.json`).
//!
//! - Output: a Zarr v3 group with OME-Zarr 0.5 metadata holding one 2-D array `0` in
//!   gzip-compressed chunks, written band by band behind [`crate::RowWriter`] (the encoder is
//!   here); [`store`] (also `urisc_io::zarr_store`) writes such stores chunk by chunk for
//!   block-parallel jobs, with the same metadata (`meta`) and chunk bytes, and reads their
//!   storage units back through the reader below.
//! - Input (`read`): [`ZarrArray`] reads 2-D and 3-D arrays (an OME-Zarr group's full resolution, or an
//!   array folder) by regions, [`ZarrRows`] streams one plane by rows. Data types uint8, uint16,
//!   float32, float64; regular chunk grids with `default` or `v2` chunk keys; codecs `bytes`,
//!   `transpose`, `sharding_indexed`, `gzip`, `zstd`, `crc32c`. Missing chunks hold the fill
//!   value. [`crate::read_image`], [`crate::open_rows`] and their siblings take a Zarr store
//!   folder too (a 3-D array's pages are its z planes).

use std::path::{Path, PathBuf};

use crate::format::{Head, ImageFormat, RowSpec, Staged};
use crate::sample::{expect_rows, Decoded, IoError, IoErrorKind, RowSource};

mod meta;
mod read;
pub mod store;

pub use read::{ZarrArray, ZarrRows};

/// Chunk side of OME-Zarr output: 1024² chunks are 1 MiB at 8 bits, a common choice for EM.
pub const ZARR_CHUNK: usize = 1024;

/// Zarr stores in the format registry.
pub(crate) struct Zarr;

impl ImageFormat for Zarr {
    fn name(&self) -> &'static str {
        "Zarr store"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &[]
    }

    /// A folder holding `zarr.json` ([`store::is_zarr`]).
    fn detect(&self, head: &Head) -> bool {
        matches!(head, Head::Folder(path) if store::is_zarr(path))
    }

    fn probe(&self, path: &Path) -> Result<(usize, usize, usize), IoError> {
        let array = ZarrArray::open(path)?;
        Ok((array.planes(), array.height(), array.width()))
    }

    fn page_size(&self, path: &Path, page: usize) -> Result<(usize, usize), IoError> {
        let array = ZarrArray::open(path)?;
        if page >= array.planes() {
            return Err(IoError::new(
                path,
                IoErrorKind::Invalid,
                format!(
                    "a Zarr array of {} planes has no plane {page}",
                    array.planes()
                ),
            ));
        }
        Ok((array.height(), array.width()))
    }

    fn read_page(&self, path: &Path, page: usize) -> Result<Decoded, IoError> {
        ZarrArray::open(path)?.read_plane(page)
    }

    fn read_stack(&self, path: &Path) -> Result<Vec<Decoded>, IoError> {
        let array = ZarrArray::open(path)?;
        (0..array.planes()).map(|z| array.read_plane(z)).collect()
    }

    /// One band of chunks (inner chunks when sharded) decoded at a time, by the same region
    /// reader and checks as a whole plane.
    fn open_rows(&self, path: &Path, page: usize) -> Result<Box<dyn RowSource>, IoError> {
        Ok(Box::new(ZarrRows::open(path, page)?))
    }

    fn band_rows(&self) -> usize {
        ZARR_CHUNK
    }

    fn writes_folder(&self) -> bool {
        true
    }

    fn encode_rows(
        &self,
        out: Staged,
        spec: &RowSpec,
        bands: &mut dyn Iterator<Item = Vec<u8>>,
    ) -> Result<(), String> {
        let Staged::Folder(root) = out else {
            return Err("a Zarr store is written to a folder".into());
        };
        encode_rows(root, spec, bands)
    }
}

/// The [`crate::RowWriter`] thread's OME-Zarr encoder: bands of [`ZARR_CHUNK`] rows in, one
/// chunk file per [`ZARR_CHUNK`] columns of each band out, into the staging folder `root`;
/// `membrane_probability` marks the image (float samples only, see
/// [`meta::mark_membrane_probability`]).
fn encode_rows(
    root: &Path,
    spec: &RowSpec,
    bands: &mut dyn Iterator<Item = Vec<u8>>,
) -> Result<(), String> {
    let (height, width, b) = (spec.height, spec.width, spec.sample_bytes);
    let io = |e: std::io::Error| e.to_string();
    let array = root.join("0");
    std::fs::create_dir_all(&array).map_err(io)?;
    // The same metadata as the block writer's (`store`), so both outputs are one format.
    let mut group = meta::group_metadata("membrane", false, spec.pixel_size_nm);
    let layout = store::StoreLayout {
        root: root.to_path_buf(),
        planes: None,
        height,
        width,
        chunk: ZARR_CHUNK,
        shard: 1,
        data_type: spec.sample.to_string(),
    };
    let mut array_meta = layout.array_metadata();
    if spec.membrane_probability && spec.sample == "float32" {
        meta::mark_membrane_probability(&mut group, &mut array_meta);
    }
    let write_json = |path: PathBuf, v: &serde_json::Value| {
        std::fs::write(path, serde_json::to_vec_pretty(v).expect("JSON")).map_err(io)
    };
    write_json(root.join("zarr.json"), &group)?;
    write_json(array.join("zarr.json"), &array_meta)?;
    let mut received = 0;
    for (chunk_row, band) in bands.enumerate() {
        received += band.len() / b;
        let rows = band.len() / (width * b);
        for chunk_col in 0..width.div_ceil(ZARR_CHUNK) {
            // One chunk's clipped rectangle; the block writer pads and encodes it.
            let c0 = chunk_col * ZARR_CHUNK;
            let n = ZARR_CHUNK.min(width - c0);
            let unit: Vec<u8> = (0..rows)
                .flat_map(|r| band[(r * width + c0) * b..][..n * b].iter().copied())
                .collect();
            store::write_unit_bytes(&layout, 0, chunk_row, chunk_col, &unit, b)
                .map_err(|e| e.to_string())?;
        }
    }
    expect_rows(received, height, width)
}
