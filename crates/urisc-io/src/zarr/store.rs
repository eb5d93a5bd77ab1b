//! Chunk-addressed OME-Zarr writing (also public as `urisc_io::zarr_store`), for block-parallel jobs (`urisc plan` / `run-block`):
//! the store's metadata is written once by the planner, then each job writes whole storage
//! units (a chunk, or a shard of chunks) independently, each atomically (temporary name, then
//! rename), so concurrent jobs never share a file and a killed job leaves no partial chunk.
//!
//! Layout: an OME-Zarr 0.5 image group (Zarr v3) holding array `0` of shape `[y, x]` or
//! `[z, y, x]`, chunks of `chunk²` pixels (one plane deep), gzip level 1 — the same bytes
//! `urisc predict --format ome-zarr` writes for the same map. With `shard > 1`, storage units
//! are shards of `shard × shard` chunks (`sharding_indexed`, index at the end).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomically;
use crate::sample::{Image, IoError, IoErrorKind, StreamSample};
use crate::zarr::ZarrArray;

pub use crate::zarr::meta::{
    group_metadata, mark_membrane_probability, marks_membrane_probability,
};

/// The geometry of an output array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreLayout {
    /// The OME-Zarr image group (a folder, usually `NAME.ome.zarr`).
    pub root: PathBuf,
    /// Planes (`None`: a 2-D array `[y, x]`; `Some(z)`: a 3-D array `[z, y, x]`).
    pub planes: Option<usize>,
    /// Rows of each plane.
    pub height: usize,
    /// Columns of each plane.
    pub width: usize,
    /// Chunk side in pixels.
    pub chunk: usize,
    /// Chunks per shard side (1: no sharding).
    pub shard: usize,
    /// Zarr data type (`uint8`, `float32`).
    pub data_type: String,
}

impl StoreLayout {
    /// Side of one storage unit (a chunk, or a shard of chunks) in pixels.
    pub fn unit(&self) -> usize {
        self.chunk * self.shard
    }

    /// Storage units per plane: (rows, columns).
    pub fn units(&self) -> (usize, usize) {
        (
            self.height.div_ceil(self.unit()),
            self.width.div_ceil(self.unit()),
        )
    }

    /// The file of storage unit `(uy, ux)` of `plane`.
    pub fn unit_path(&self, plane: usize, uy: usize, ux: usize) -> PathBuf {
        let mut p = self.root.join("0").join("c");
        if self.planes.is_some() {
            p.push(plane.to_string());
        }
        p.join(uy.to_string()).join(ux.to_string())
    }

    /// The array's `zarr.json`.
    pub fn array_metadata(&self) -> serde_json::Value {
        let three = self.planes.is_some();
        let shape: Vec<usize> = match self.planes {
            Some(z) => vec![z, self.height, self.width],
            None => vec![self.height, self.width],
        };
        let grid = |side: usize| -> Vec<usize> {
            if three {
                vec![1, side, side]
            } else {
                vec![side, side]
            }
        };
        let inner = serde_json::json!([
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "gzip", "configuration": {"level": 1}}
        ]);
        let codecs = if self.shard > 1 {
            serde_json::json!([{
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": grid(self.chunk),
                    "codecs": inner,
                    "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
                    "index_location": "end"
                }
            }])
        } else {
            inner
        };
        let names: Vec<&str> = if three {
            vec!["z", "y", "x"]
        } else {
            vec!["y", "x"]
        };
        serde_json::json!({
            "zarr_format": 3,
            "node_type": "array",
            "shape": shape,
            "data_type": self.data_type,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": grid(self.unit())}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0,
            "codecs": codecs,
            "dimension_names": names
        })
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::new(path, IoErrorKind::Write, format!("cannot write: {e}"))
}

/// Creates the image group and its array's metadata (the array's chunks are written later by
/// [`write_unit`]). Refuses an existing store unless `overwrite`.
pub fn create(
    layout: &StoreLayout,
    name: &str,
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<(), IoError> {
    create_store(layout, name, pixel_size_nm, overwrite, false)
}

/// [`create`] for a `float32` store of membrane probabilities p, marked as such
/// ([`mark_membrane_probability`]).
pub fn create_probability(
    layout: &StoreLayout,
    name: &str,
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<(), IoError> {
    create_store(layout, name, pixel_size_nm, overwrite, true)
}

fn create_store(
    layout: &StoreLayout,
    name: &str,
    pixel_size_nm: Option<f64>,
    overwrite: bool,
    membrane_probability: bool,
) -> Result<(), IoError> {
    if layout.root.exists() {
        if !overwrite {
            return Err(IoError::new(
                &layout.root,
                IoErrorKind::Exists,
                "already exists (use --force to replace it)".to_string(),
            ));
        }
        std::fs::remove_dir_all(&layout.root).map_err(|e| io_error(&layout.root, e))?;
    }
    let array = layout.root.join("0");
    std::fs::create_dir_all(&array).map_err(|e| io_error(&array, e))?;
    let write = |path: PathBuf, v: serde_json::Value| {
        write_atomically(&path, true, |f| {
            f.write_all(&serde_json::to_vec_pretty(&v).expect("JSON"))
        })
    };
    let mut group = group_metadata(name, layout.planes.is_some(), pixel_size_nm);
    let mut meta = layout.array_metadata();
    if membrane_probability && layout.data_type.starts_with("float") {
        mark_membrane_probability(&mut group, &mut meta);
    }
    write(layout.root.join("zarr.json"), group)?;
    write(array.join("zarr.json"), meta)
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes)?;
    gz.finish()
}

/// Writes storage unit `(uy, ux)` of `plane` from `data`: the unit's rectangle clipped to the
/// plane (rows `uy·unit ..`, row-major, `min(unit, width − ux·unit)` values per row). Edge
/// chunks are padded with the fill value, as Zarr requires; in a shard, chunks wholly outside
/// the plane are left empty. The file appears complete or not at all.
pub fn write_unit<T: StreamSample>(
    layout: &StoreLayout,
    plane: usize,
    uy: usize,
    ux: usize,
    data: &[T],
) -> Result<(), IoError> {
    let mut bytes = Vec::with_capacity(std::mem::size_of_val(data));
    T::extend_le(data, &mut bytes);
    write_unit_bytes(layout, plane, uy, ux, &bytes, std::mem::size_of::<T>())
}

/// [`write_unit`] of samples already as little-endian bytes, `bytes_per_sample` each (the
/// fill value 0 pads edge chunks).
pub(crate) fn write_unit_bytes(
    layout: &StoreLayout,
    plane: usize,
    uy: usize,
    ux: usize,
    data: &[u8],
    bytes_per_sample: usize,
) -> Result<(), IoError> {
    let (unit, c, b) = (layout.unit(), layout.chunk, bytes_per_sample);
    let (y0, x0) = (uy * unit, ux * unit);
    let rows = unit.min(layout.height - y0);
    let cols = unit.min(layout.width - x0);
    assert_eq!(
        data.len(),
        rows * cols * b,
        "a unit's data is its clipped rectangle"
    );
    let path = layout.unit_path(plane, uy, ux);
    let encode_chunk = |cy: usize, cx: usize| -> std::io::Result<Option<Vec<u8>>> {
        // Chunk (cy, cx) of this unit, in unit-local pixels.
        let (r0, c0) = (cy * c, cx * c);
        if r0 >= rows || c0 >= cols {
            return Ok(None);
        }
        let mut chunk = vec![0u8; c * c * b];
        let n = c.min(cols - c0);
        for r in 0..c.min(rows - r0) {
            chunk[r * c * b..(r * c + n) * b]
                .copy_from_slice(&data[((r0 + r) * cols + c0) * b..][..n * b]);
        }
        gzip(&chunk).map(Some)
    };
    let file = if layout.shard == 1 {
        encode_chunk(0, 0)
            .map_err(|e| io_error(&path, e))?
            .expect("a unit has its first chunk")
    } else {
        let s = layout.shard;
        let mut body = Vec::new();
        let mut index = Vec::with_capacity(s * s * 16);
        for cy in 0..s {
            for cx in 0..s {
                match encode_chunk(cy, cx).map_err(|e| io_error(&path, e))? {
                    Some(chunk) => {
                        index.extend_from_slice(&(body.len() as u64).to_le_bytes());
                        index.extend_from_slice(&(chunk.len() as u64).to_le_bytes());
                        body.extend_from_slice(&chunk);
                    }
                    // An empty inner chunk: offset and size both 2⁶⁴ − 1 (the spec's marker).
                    None => index.extend_from_slice(&[0xff; 16]),
                }
            }
        }
        body.extend_from_slice(&index);
        body
    };
    let dir = path.parent().expect("unit files sit in folders");
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    write_atomically(&path, true, |f| f.write_all(&file))
}

/// Writes a whole 2-D image as an OME-Zarr image group at `root` (chunks of `chunk²`).
fn write_whole<T: StreamSample>(
    root: &Path,
    name: &str,
    image: &Image<T>,
    chunk: usize,
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<StoreLayout, IoError> {
    let layout = StoreLayout {
        root: root.to_path_buf(),
        planes: None,
        height: image.height,
        width: image.width,
        chunk,
        shard: 1,
        data_type: T::ZARR_TYPE.into(),
    };
    create(&layout, name, pixel_size_nm, overwrite)?;
    let (rows, cols) = layout.units();
    for uy in 0..rows {
        for ux in 0..cols {
            let (y0, x0) = (uy * chunk, ux * chunk);
            let (h, w) = (chunk.min(image.height - y0), chunk.min(image.width - x0));
            let mut data = Vec::with_capacity(h * w);
            for r in y0..y0 + h {
                data.extend_from_slice(&image.row(r)[x0..x0 + w]);
            }
            write_unit(&layout, 0, uy, ux, &data)?;
        }
    }
    Ok(layout)
}

/// Writes an OME-Zarr 0.5 image with a label image, as napari and Neuroglancer open them:
/// `root` holds `image` (8-bit, array `0`) and `labels/NAME`, the `u32` `labels` (0 =
/// background) with `image-label` metadata giving each label value its RGBA colour from
/// `colour`. The whole store is written under a temporary name and renamed into place, so it
/// appears complete or not at all; an existing store is replaced only with `overwrite`.
pub fn write_labelled_image(
    root: &Path,
    image: &Image<u8>,
    label_name: &str,
    labels: &Image<u32>,
    colour: impl Fn(u32) -> [u8; 3],
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<(), IoError> {
    assert_eq!((image.height, image.width), (labels.height, labels.width));
    if root.exists() && !overwrite {
        return Err(IoError::new(
            root,
            IoErrorKind::Exists,
            "already exists (use --force to replace it)".to_string(),
        ));
    }
    const CHUNK: usize = 1024;
    let file_name = root
        .file_name()
        .map_or("store".into(), |n| n.to_string_lossy().into_owned());
    let staging = root.with_file_name(format!(".{file_name}.partial"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    }
    let stem = file_name.trim_end_matches(".zarr").trim_end_matches(".ome");
    write_whole(&staging, stem, image, CHUNK, pixel_size_nm, true)?;
    let labels_root = staging.join("labels");
    let label_root = labels_root.join(label_name);
    write_whole(&label_root, label_name, labels, CHUNK, pixel_size_nm, true)?;
    let write = |path: PathBuf, v: serde_json::Value| {
        write_atomically(&path, true, |f| {
            f.write_all(&serde_json::to_vec_pretty(&v).expect("JSON"))
        })
    };
    write(
        labels_root.join("zarr.json"),
        serde_json::json!({
            "zarr_format": 3,
            "node_type": "group",
            "attributes": {"ome": {"version": "0.5", "labels": [label_name]}}
        }),
    )?;
    let max = labels.data.iter().copied().max().unwrap_or(0);
    let colours: Vec<serde_json::Value> = (1..=max)
        .map(|id| {
            let [r, g, b] = colour(id);
            serde_json::json!({"label-value": id, "rgba": [r, g, b, 255]})
        })
        .collect();
    let mut group = group_metadata(label_name, false, pixel_size_nm);
    group["attributes"]["ome"]["image-label"] = serde_json::json!({
        "version": "0.5",
        "colors": colours,
        "source": {"image": "../../"}
    });
    write(label_root.join("zarr.json"), group)?;
    if root.exists() {
        std::fs::remove_dir_all(root).map_err(|e| io_error(root, e))?;
    }
    std::fs::rename(&staging, root).map_err(|e| io_error(root, e))
}

/// Whether `path` is a Zarr v3 store or array (a folder with `zarr.json`).
pub fn is_zarr(path: &Path) -> bool {
    path.is_dir() && path.join("zarr.json").is_file()
}

/// Reads storage unit `(uy, ux)` of `plane` written by [`write_unit`]: its rectangle clipped
/// to the plane, row-major, as little-endian sample bytes (`bytes_per_sample` each, the size of
/// the array's data type). Read through the Zarr reader every other read uses ([`ZarrArray`]),
/// from the store's own metadata: any codec it reads, the same checks; a missing chunk reads as
/// the fill value (0 in urisc's stores).
pub fn read_unit(
    layout: &StoreLayout,
    plane: usize,
    uy: usize,
    ux: usize,
    bytes_per_sample: usize,
) -> Result<Vec<u8>, IoError> {
    let unit = layout.unit();
    let (y0, x0) = (uy * unit, ux * unit);
    let rows = unit.min(layout.height.saturating_sub(y0));
    let cols = unit.min(layout.width.saturating_sub(x0));
    let array = ZarrArray::open_any(&layout.root)?;
    if array.sample_bytes() != bytes_per_sample {
        return Err(IoError::new(
            array.metadata_file(),
            IoErrorKind::Invalid,
            format!(
                "the array holds {} samples ({} bytes), not {bytes_per_sample}-byte ones",
                array.data_type(),
                array.sample_bytes()
            ),
        ));
    }
    array.read_region_le(plane, y0..y0 + rows, x0..x0 + cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
        out
    }

    #[test]
    fn units_are_clipped_padded_and_sharded() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StoreLayout {
            root: dir.path().join("m.ome.zarr"),
            planes: Some(2),
            height: 5,
            width: 7,
            chunk: 2,
            shard: 2,
            data_type: "uint8".into(),
        };
        create(&layout, "m", Some(4.0), false).unwrap();
        assert!(
            create(&layout, "m", None, false).is_err(),
            "refuses to overwrite"
        );
        assert_eq!(layout.units(), (2, 2));
        // Unit (1, 1) of plane 1: rows 4..5, columns 4..7 → one row of three values.
        write_unit(&layout, 1, 1, 1, &[1u8, 2, 3]).unwrap();
        let file = std::fs::read(layout.unit_path(1, 1, 1)).unwrap();
        let index = &file[file.len() - 64..];
        let entry = |k: usize| {
            (
                u64::from_le_bytes(index[16 * k..16 * k + 8].try_into().unwrap()),
                u64::from_le_bytes(index[16 * k + 8..16 * k + 16].try_into().unwrap()),
            )
        };
        // Inner chunks (0,0) and (0,1) hold data; (1,0) and (1,1) lie below the plane.
        let (o, n) = entry(0);
        assert_eq!(gunzip(&file[o as usize..(o + n) as usize]), [1, 2, 0, 0]);
        let (o, n) = entry(1);
        assert_eq!(gunzip(&file[o as usize..(o + n) as usize]), [3, 0, 0, 0]);
        assert_eq!(entry(2), (u64::MAX, u64::MAX));
        assert_eq!(read_unit(&layout, 1, 1, 1, 1).unwrap(), [1, 2, 3]);
        // A unit never written reads as zeros; an unsharded round trip with f32 samples.
        assert_eq!(read_unit(&layout, 0, 0, 0, 1).unwrap(), vec![0u8; 16]);
        let flat = StoreLayout {
            root: dir.path().join("p.ome.zarr"),
            planes: None,
            shard: 1,
            data_type: "float32".into(),
            ..layout.clone()
        };
        create(&flat, "p", None, false).unwrap();
        let values = [0.25f32, 0.5, 1.0, 2.0];
        write_unit(&flat, 0, 2, 3, &values[..1]).unwrap();
        assert_eq!(read_unit(&flat, 0, 2, 3, 4).unwrap(), 0.25f32.to_le_bytes());
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.root.join("0/zarr.json")).unwrap())
                .unwrap();
        assert_eq!(meta["shape"], serde_json::json!([2, 5, 7]));
        assert_eq!(
            meta["codecs"][0]["configuration"]["chunk_shape"],
            serde_json::json!([1, 2, 2])
        );
    }
}
