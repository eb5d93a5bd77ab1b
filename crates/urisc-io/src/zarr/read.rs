//! Zarr v3 reading: the metadata (`zarr.json`, OME-Zarr 0.5 groups), the chunk grid and key
//! encodings, and the codec pipeline (`transpose`, `bytes`, `sharding_indexed`, `gzip`, `zstd`,
//! `crc32c`), hand-written (see docs/decisions/0004-zarr-reading.md).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::sample::{
    check_block, check_pixels, count_out_of_range, non_finite, not_regular, open_file, Decoded,
    GreyImage, Image, IoError, IoErrorKind, RowSource,
};
use crate::zarr::meta::marks_membrane_probability;

/// Sample types of the arrays urisc reads; `float64` is narrowed to `float32`. `uint32` (cell
/// ids) is read only as stored bytes, by [`crate::zarr_store::read_unit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataType {
    U8,
    U16,
    U32,
    F32,
    F64,
}

impl DataType {
    fn parse(name: &str) -> Option<DataType> {
        match name {
            "uint8" => Some(DataType::U8),
            "uint16" => Some(DataType::U16),
            "uint32" => Some(DataType::U32),
            "float32" => Some(DataType::F32),
            "float64" => Some(DataType::F64),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            DataType::U8 => 1,
            DataType::U16 => 2,
            DataType::U32 | DataType::F32 => 4,
            DataType::F64 => 8,
        }
    }
}

/// Bytes → bytes codecs.
#[derive(Clone, Debug)]
enum BytesCodec {
    Gzip,
    Zstd,
    Crc32c,
}

/// The array → bytes codec.
#[derive(Clone, Debug)]
enum ArrayCodec {
    /// Plain samples, little- or big-endian.
    Bytes { big_endian: bool },
    /// A shard of inner chunks, each with its own pipeline, and an index of (offset, length).
    Sharding {
        inner_shape: Vec<usize>,
        inner: Box<Pipeline>,
        index: Box<Pipeline>,
        index_at_start: bool,
    },
}

/// A codec pipeline: optional transpose, one array → bytes codec, bytes → bytes codecs in
/// encoding order.
#[derive(Clone, Debug)]
struct Pipeline {
    /// `order` of a `transpose` codec: encoded dimension `i` is decoded dimension `order[i]`.
    transpose: Option<Vec<usize>>,
    array: ArrayCodec,
    bytes: Vec<BytesCodec>,
}

impl Pipeline {
    fn parse(codecs: &Value, ndim: usize, file: &Path) -> Result<Pipeline, IoError> {
        let list = codecs
            .as_array()
            .ok_or_else(|| corrupt(file, "`codecs` is not a list"))?;
        let mut transpose = None;
        let mut array = None;
        let mut bytes = Vec::new();
        for codec in list {
            // A codec is `{"name": …, "configuration": …}` (or a bare name string).
            let (name, config) = match codec {
                Value::String(s) => (s.as_str(), &Value::Null),
                _ => (
                    codec["name"]
                        .as_str()
                        .ok_or_else(|| corrupt(file, "a codec has no name"))?,
                    &codec["configuration"],
                ),
            };
            let unsupported = || {
                IoError::new(
                    file,
                    IoErrorKind::Unsupported,
                    format!(
                        "Zarr codec `{name}` is not supported (urisc reads bytes, transpose, \
                         sharding_indexed, gzip, zstd, crc32c)"
                    ),
                )
            };
            match name {
                "transpose" if array.is_none() && transpose.is_none() => {
                    let order: Vec<usize> = match &config["order"] {
                        Value::String(s) if s == "C" => (0..ndim).collect(),
                        Value::String(s) if s == "F" => (0..ndim).rev().collect(),
                        Value::Array(a) => a
                            .iter()
                            .map(|v| v.as_u64().map(|v| v as usize))
                            .collect::<Option<_>>()
                            .ok_or_else(|| corrupt(file, "bad transpose order"))?,
                        _ => return Err(corrupt(file, "bad transpose order")),
                    };
                    let mut seen = order.clone();
                    seen.sort_unstable();
                    if seen != (0..ndim).collect::<Vec<_>>() {
                        return Err(corrupt(file, "transpose order is not a permutation"));
                    }
                    transpose = Some(order);
                }
                "bytes" if array.is_none() => {
                    let big_endian = match config["endian"].as_str() {
                        None | Some("little") => false,
                        Some("big") => true,
                        Some(e) => return Err(corrupt(file, format!("unknown endian `{e}`"))),
                    };
                    array = Some(ArrayCodec::Bytes { big_endian });
                }
                "sharding_indexed" if array.is_none() => {
                    if transpose.is_some() {
                        return Err(unsupported());
                    }
                    let inner_shape = usizes(&config["chunk_shape"])
                        .filter(|s| s.len() == ndim && s.iter().all(|&v| v > 0))
                        .ok_or_else(|| corrupt(file, "bad sharding chunk_shape"))?;
                    check_elements(file, "an inner chunk", &inner_shape)?;
                    let inner = Pipeline::parse(&config["codecs"], ndim, file)?;
                    let index_codecs = match &config["index_codecs"] {
                        Value::Null => serde_json::json!([{"name": "bytes"}, {"name": "crc32c"}]),
                        v => v.clone(),
                    };
                    let index = Pipeline::parse(&index_codecs, ndim + 1, file)?;
                    if !matches!(index.array, ArrayCodec::Bytes { .. })
                        || index.transpose.is_some()
                        || index.bytes.iter().any(|c| !matches!(c, BytesCodec::Crc32c))
                    {
                        return Err(IoError::new(
                            file,
                            IoErrorKind::Unsupported,
                            "shard index codecs other than bytes and crc32c are not supported",
                        ));
                    }
                    let index_at_start = match config["index_location"].as_str() {
                        None | Some("end") => false,
                        Some("start") => true,
                        Some(l) => {
                            return Err(corrupt(file, format!("unknown index_location `{l}`")))
                        }
                    };
                    array = Some(ArrayCodec::Sharding {
                        inner_shape,
                        inner: Box::new(inner),
                        index: Box::new(index),
                        index_at_start,
                    });
                }
                "gzip" if array.is_some() => bytes.push(BytesCodec::Gzip),
                "zstd" if array.is_some() => bytes.push(BytesCodec::Zstd),
                "crc32c" if array.is_some() => bytes.push(BytesCodec::Crc32c),
                _ => return Err(unsupported()),
            }
        }
        let array = array.ok_or_else(|| corrupt(file, "no array-to-bytes codec (`bytes`)"))?;
        Ok(Pipeline {
            transpose,
            array,
            bytes,
        })
    }
}

impl Pipeline {
    /// The most bytes a chunk of `shape` (samples of `size` bytes) can take once its array
    /// codec has encoded it, before the bytes → bytes codecs: the exact sample bytes, or for a
    /// shard its index and the bound of every inner chunk. Saturating: metadata checks keep
    /// real chunks far below `u64::MAX`.
    fn array_bound(&self, shape: &[usize], size: usize) -> u64 {
        let elements = |s: &[usize]| s.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64));
        match &self.array {
            ArrayCodec::Bytes { .. } => elements(shape).saturating_mul(size as u64),
            ArrayCodec::Sharding {
                inner_shape, inner, ..
            } => {
                let grid: Vec<usize> = shape
                    .iter()
                    .zip(inner_shape)
                    .map(|(s, i)| s.div_ceil(*i))
                    .collect();
                let count = elements(&grid);
                count
                    .saturating_mul(inner.encoded_bound(inner_shape, size).saturating_add(16))
                    .saturating_add(4)
            }
        }
    }

    /// The most bytes a chunk of `shape` can take on disk: [`Pipeline::array_bound`] through
    /// every bytes → bytes codec (a checksum adds 4 bytes; gzip and zstd grow incompressible
    /// data by well under 1% plus a header).
    fn encoded_bound(&self, shape: &[usize], size: usize) -> u64 {
        self.bytes
            .iter()
            .fold(self.array_bound(shape, size), |n, c| grown(c, n))
    }
}

/// The most bytes `codec` can make of `n` bytes.
fn grown(codec: &BytesCodec, n: u64) -> u64 {
    match codec {
        BytesCodec::Crc32c => n.saturating_add(4),
        BytesCodec::Gzip | BytesCodec::Zstd => n.saturating_add(n / 64).saturating_add(1024),
    }
}

/// How chunk coordinates become file names.
#[derive(Clone, Debug)]
struct KeyEncoding {
    v2: bool,
    separator: String,
}

impl KeyEncoding {
    fn key(&self, coords: &[usize]) -> String {
        let parts: Vec<String> = coords.iter().map(|c| c.to_string()).collect();
        if self.v2 {
            if parts.is_empty() {
                "0".into()
            } else {
                parts.join(&self.separator)
            }
        } else {
            std::iter::once("c".to_string())
                .chain(parts)
                .collect::<Vec<_>>()
                .join(&self.separator)
        }
    }
}

/// A Zarr v3 array of 2-D sections (y, x) or a stack of them (z, y, x), read chunk by chunk and
/// converted to 8 bits by the SPEC §2 rules (16-bit by `round(v / 257)`, float in [0, 1] by
/// `round(v · 255)`, clamped; NaN refused).
///
/// Opened from an OME-Zarr group (its first multiscale's dataset 0, the full resolution) or an
/// array folder. Leading dimensions of size 1 (OME-Zarr's t and c, a z of one plane) are
/// dropped.
#[derive(Clone, Debug)]
pub struct ZarrArray {
    /// The array folder (holding the array's `zarr.json`).
    dir: PathBuf,
    /// The array's `zarr.json`, for messages.
    meta_file: PathBuf,
    /// Shape as stored (any rank ≥ 2).
    full_shape: Vec<usize>,
    /// Chunk (shard) shape as stored.
    full_chunk: Vec<usize>,
    /// The last 2 or 3 dimensions, the ones that are not all size 1 in front.
    shape: Vec<usize>,
    chunk: Vec<usize>,
    data_type: DataType,
    data_type_name: String,
    fill: f64,
    keys: KeyEncoding,
    pipeline: Pipeline,
    pixel_size_nm: Option<f64>,
    membrane_probability: bool,
}

fn corrupt(file: &Path, message: impl Into<String>) -> IoError {
    IoError::new(file, IoErrorKind::Corrupt, message)
}

/// Refuses a chunk shape whose element count passes [`crate::MAX_PLANE_PIXELS`] (a chunk is
/// decoded whole in memory), as [`check_pixels`] does a plane: its last dimension as columns,
/// the rest as rows.
fn check_elements(file: &Path, what: &str, shape: &[usize]) -> Result<(), IoError> {
    let Some((&cols, rest)) = shape.split_last() else {
        return Ok(());
    };
    let rows = rest
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    check_pixels(file, what, rows, cols as u64).map(|_| ())
}

fn usizes(v: &Value) -> Option<Vec<usize>> {
    v.as_array()?
        .iter()
        .map(|v| v.as_u64().map(|v| v as usize))
        .collect()
}

fn read_json(file: &Path) -> Result<Value, IoError> {
    let mut bytes = Vec::new();
    open_file(file)?
        .read_to_end(&mut bytes)
        .map_err(|e| IoError::open(file, e))?;
    serde_json::from_slice(&bytes).map_err(|e| corrupt(file, format!("not valid JSON: {e}")))
}

/// Nanometres per unit of an OME-Zarr axis unit (UDUNITS-2 names), `None` if unknown.
fn nm_per_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "nanometer" | "nm" => 1.0,
        "micrometer" | "µm" | "um" | "micron" => 1e3,
        "angstrom" | "Å" => 0.1,
        "picometer" | "pm" => 1e-3,
        "millimeter" | "mm" => 1e6,
        "centimeter" | "cm" => 1e7,
        "meter" | "m" => 1e9,
        "femtometer" => 1e-6,
        _ => return None,
    })
}

/// The product of the `scale` transformations in `transforms` (a list), if any.
fn scale_of(transforms: &Value, ndim: usize) -> Option<Vec<f64>> {
    let mut scale: Option<Vec<f64>> = None;
    for t in transforms.as_array()? {
        if t["type"] == "scale" {
            let s: Vec<f64> = t["scale"]
                .as_array()?
                .iter()
                .map(|v| v.as_f64())
                .collect::<Option<_>>()?;
            if s.len() != ndim {
                return None;
            }
            scale = Some(match scale {
                None => s,
                Some(prev) => prev.iter().zip(&s).map(|(a, b)| a * b).collect(),
            });
        }
    }
    scale
}

impl ZarrArray {
    /// Opens an OME-Zarr group (dataset 0 of its first multiscale) or a Zarr v3 array folder.
    pub fn open(path: &Path) -> Result<ZarrArray, IoError> {
        ZarrArray::open_with(path, false)
    }

    /// [`ZarrArray::open`] that also takes `uint32` arrays (cell ids), for reading stored bytes
    /// ([`ZarrArray::read_region_le`]).
    pub(crate) fn open_any(path: &Path) -> Result<ZarrArray, IoError> {
        ZarrArray::open_with(path, true)
    }

    fn open_with(path: &Path, labels: bool) -> Result<ZarrArray, IoError> {
        let meta_file = path.join("zarr.json");
        if !meta_file.is_file() {
            return Err(IoError::new(
                path,
                IoErrorKind::Open,
                "not a Zarr v3 store (no zarr.json)",
            ));
        }
        let meta = read_json(&meta_file)?;
        if meta["zarr_format"] != 3 {
            return Err(IoError::new(
                &meta_file,
                IoErrorKind::Unsupported,
                "only Zarr format 3 is read (zarr_format is not 3)",
            ));
        }
        match meta["node_type"].as_str() {
            Some("array") => ZarrArray::open_array(path, meta_file, meta, None, labels),
            Some("group") => {
                let attrs = &meta["attributes"];
                let ms = if attrs["ome"]["multiscales"].is_array() {
                    &attrs["ome"]["multiscales"][0]
                } else {
                    &attrs["multiscales"][0]
                };
                let Some(dataset) = ms["datasets"][0]["path"].as_str() else {
                    return Err(IoError::new(
                        &meta_file,
                        IoErrorKind::Unsupported,
                        "a Zarr group without OME-Zarr multiscales (open one of its arrays)",
                    ));
                };
                let array_dir = path.join(dataset);
                let array_meta_file = array_dir.join("zarr.json");
                let array_meta = read_json(&array_meta_file)?;
                if array_meta["node_type"] != "array" {
                    return Err(corrupt(&array_meta_file, "dataset 0 is not an array"));
                }
                let mut array = ZarrArray::open_array(
                    &array_dir,
                    array_meta_file,
                    array_meta,
                    Some(ms),
                    labels,
                )?;
                array.membrane_probability |= marks_membrane_probability(&meta);
                Ok(array)
            }
            _ => Err(corrupt(&meta_file, "node_type is neither array nor group")),
        }
    }

    fn open_array(
        dir: &Path,
        meta_file: PathBuf,
        meta: Value,
        multiscale: Option<&Value>,
        labels: bool,
    ) -> Result<ZarrArray, IoError> {
        let f = &meta_file;
        let full_shape = usizes(&meta["shape"]).ok_or_else(|| corrupt(f, "bad shape"))?;
        let ndim = full_shape.len();
        if meta["chunk_grid"]["name"] != "regular" {
            return Err(IoError::new(
                f,
                IoErrorKind::Unsupported,
                "only the regular chunk grid is read",
            ));
        }
        let full_chunk = usizes(&meta["chunk_grid"]["configuration"]["chunk_shape"])
            .filter(|c| c.len() == ndim && c.iter().all(|&v| v > 0))
            .ok_or_else(|| corrupt(f, "bad chunk_shape"))?;
        check_elements(f, "a chunk", &full_chunk)?;
        // Drop leading size-1 dimensions (OME-Zarr's t, c; a z of one plane), keeping (y, x).
        let lead = ndim.saturating_sub(2);
        let squeeze = full_shape[..lead].iter().take_while(|&&s| s == 1).count();
        let keep = ndim - squeeze;
        if !(2..=3).contains(&keep) {
            return Err(IoError::new(
                f,
                IoErrorKind::Unsupported,
                format!(
                    "a {ndim}-D array of shape {full_shape:?}: urisc reads (y, x) or (z, y, x)"
                ),
            ));
        }
        let data_type_name = meta["data_type"].as_str().unwrap_or("?").to_string();
        let data_type = DataType::parse(&data_type_name)
            .filter(|t| labels || *t != DataType::U32)
            .ok_or_else(|| {
                IoError::new(
                    f,
                    IoErrorKind::Unsupported,
                    format!(
                        "Zarr data type `{data_type_name}` is not supported (urisc reads uint8, \
                     uint16, float32, float64)"
                    ),
                )
            })?;
        let fill = match &meta["fill_value"] {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) if s == "NaN" => f64::NAN,
            Value::String(s) if s == "Infinity" => f64::INFINITY,
            Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
            Value::String(s) if s.starts_with("0x") => {
                let bits =
                    u64::from_str_radix(&s[2..], 16).map_err(|_| corrupt(f, "bad fill_value"))?;
                match data_type {
                    DataType::F32 => f32::from_bits(bits as u32) as f64,
                    DataType::F64 => f64::from_bits(bits),
                    _ => bits as f64,
                }
            }
            Value::Null => 0.0,
            _ => return Err(corrupt(f, "bad fill_value")),
        };
        let cke = &meta["chunk_key_encoding"];
        let keys = match cke["name"].as_str() {
            Some("default") | None => KeyEncoding {
                v2: false,
                separator: cke["configuration"]["separator"]
                    .as_str()
                    .unwrap_or("/")
                    .into(),
            },
            Some("v2") => KeyEncoding {
                v2: true,
                separator: cke["configuration"]["separator"]
                    .as_str()
                    .unwrap_or(".")
                    .into(),
            },
            Some(other) => {
                return Err(IoError::new(
                    f,
                    IoErrorKind::Unsupported,
                    format!("chunk key encoding `{other}` is not supported"),
                ))
            }
        };
        if keys.separator != "/" && keys.separator != "." {
            return Err(corrupt(f, "chunk key separator is neither `/` nor `.`"));
        }
        // A plane is what a whole read allocates; the whole array must be addressable.
        check_pixels(
            f,
            "a plane",
            full_shape[ndim - 2] as u64,
            full_shape[ndim - 1] as u64,
        )?;
        full_shape
            .iter()
            .try_fold(data_type.size() as u64, |n, &d| n.checked_mul(d as u64))
            .filter(|&n| n <= isize::MAX as u64)
            .ok_or_else(|| {
                IoError::new(
                    f,
                    IoErrorKind::Unsupported,
                    format!("shape {full_shape:?} of {data_type_name} is larger than memory can address"),
                )
            })?;
        let pipeline = Pipeline::parse(&meta["codecs"], ndim, f)?;
        // The unit decoded whole: a chunk, or a shard's inner chunk (a shard is read through
        // its index, so it may be as large as its writer likes).
        match &pipeline.array {
            ArrayCodec::Bytes { .. } => check_block(f, "a chunk", &full_chunk, &full_shape)?,
            ArrayCodec::Sharding { inner_shape, .. } => {
                check_block(f, "an inner chunk", inner_shape, &full_shape)?
            }
        }
        let pixel_size_nm = multiscale.and_then(|ms| pixel_size(ms, ndim));
        let membrane_probability = marks_membrane_probability(&meta);
        Ok(ZarrArray {
            dir: dir.to_path_buf(),
            shape: full_shape[squeeze..].to_vec(),
            chunk: full_chunk[squeeze..].to_vec(),
            meta_file,
            full_shape,
            full_chunk,
            data_type,
            data_type_name,
            fill,
            keys,
            pipeline,
            pixel_size_nm,
            membrane_probability,
        })
    }

    /// The shape: (rows, columns) or (planes, rows, columns).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The chunk shape (of the outer chunks, shards when sharded), same dimensions as
    /// [`ZarrArray::shape`].
    pub fn chunk_shape(&self) -> &[usize] {
        &self.chunk
    }

    /// Pixel size in nm/pixel: the OME-Zarr `scale` of the x axis with its unit converted to nm;
    /// `None` for a bare array or a unit that is missing or not a length.
    pub fn pixel_size_nm(&self) -> Option<f64> {
        self.pixel_size_nm
    }

    /// Whether the group's or the array's attributes mark the values as membrane probabilities
    /// p (1 = membrane), as `urisc predict --probability-type f32` writes them
    /// ([`crate::zarr_store::mark_membrane_probability`]).
    pub fn membrane_probability(&self) -> bool {
        self.membrane_probability
    }

    /// Number of planes: 1 for a 2-D array, z for a 3-D one.
    pub fn planes(&self) -> usize {
        if self.shape.len() == 3 {
            self.shape[0]
        } else {
            1
        }
    }

    /// Rows of each plane.
    pub fn height(&self) -> usize {
        self.shape[self.shape.len() - 2]
    }

    /// Columns of each plane.
    pub fn width(&self) -> usize {
        self.shape[self.shape.len() - 1]
    }

    /// The Zarr data type name (`uint8`, `uint16`, `float32`, `float64`).
    pub fn data_type(&self) -> &str {
        &self.data_type_name
    }

    /// Bytes per stored sample.
    pub(crate) fn sample_bytes(&self) -> usize {
        self.data_type.size()
    }

    /// Rows that are decoded together when streaming: the chunk rows, or the inner chunk rows of
    /// a sharded array.
    pub(crate) fn band_rows(&self) -> usize {
        let n = self.full_chunk.len();
        match &self.pipeline.array {
            ArrayCodec::Sharding { inner_shape, .. } => inner_shape[n - 2],
            ArrayCodec::Bytes { .. } => self.full_chunk[n - 2],
        }
    }

    fn check_region(
        &self,
        plane: usize,
        rows: &Range<usize>,
        cols: &Range<usize>,
    ) -> Result<(), IoError> {
        if plane >= self.planes()
            || rows.start > rows.end
            || cols.start > cols.end
            || rows.end > self.height()
            || cols.end > self.width()
        {
            return Err(IoError::new(
                &self.dir,
                IoErrorKind::Invalid,
                format!(
                    "region plane {plane}, rows {rows:?}, columns {cols:?} is outside the array \
                     of shape {:?}",
                    self.shape
                ),
            ));
        }
        Ok(())
    }

    /// Reads rows `rows` × columns `cols` of plane `plane` (0 for a 2-D array) as 8-bit,
    /// decoding only the chunks (inner chunks of shards) the region touches.
    pub fn read_region(
        &self,
        plane: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Image<u8>, IoError> {
        let (image, _) = self.read_region_counted(plane, rows, cols)?;
        Ok(image)
    }

    /// [`ZarrArray::read_region`] and the number of float pixels outside [0, 1] (clamped).
    pub(crate) fn read_region_counted(
        &self,
        plane: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<(Image<u8>, usize), IoError> {
        let grey = self.read_region_grey(plane, rows, cols)?;
        let out_of_range = count_out_of_range(&grey);
        Ok((grey.into_u8(), out_of_range))
    }

    /// Reads a region in its stored sample type (float64 narrowed to float32); NaN and infinite
    /// values are refused.
    pub fn read_region_grey(
        &self,
        plane: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<GreyImage, IoError> {
        self.check_region(plane, &rows, &cols)?;
        let grey = match self.data_type {
            DataType::U8 => GreyImage::U8(self.read_typed::<u8>(plane, rows, cols)?),
            DataType::U16 => GreyImage::U16(self.read_typed::<u16>(plane, rows, cols)?),
            DataType::U32 => {
                return Err(IoError::new(
                    &self.meta_file,
                    IoErrorKind::Unsupported,
                    "a uint32 array holds cell ids, not grey values",
                ))
            }
            DataType::F32 | DataType::F64 => {
                let image = self.read_typed::<f32>(plane, rows, cols)?;
                if image.data.iter().any(|v| !v.is_finite()) {
                    return Err(self.non_finite(plane));
                }
                GreyImage::F32(image)
            }
        };
        Ok(grey)
    }

    /// The refusal of a float plane holding NaN or infinite values, with their count over the
    /// whole plane (decoded one band at a time), so that it reads the same whichever region
    /// or band found them: the same line as every other format's ([`non_finite`]).
    fn non_finite(&self, plane: usize) -> IoError {
        let (height, width) = (self.height(), self.width());
        let band = self.band_rows().max(1);
        let mut count = 0;
        for start in (0..height).step_by(band) {
            match self.read_typed::<f32>(plane, start..(start + band).min(height), 0..width) {
                Ok(image) => count += image.data.iter().filter(|v| !v.is_finite()).count(),
                Err(e) => return e,
            }
        }
        non_finite(&self.dir, plane, count, height * width)
    }

    /// Reads a region as its stored samples, little-endian (`float64` kept), with no conversion
    /// or check of the values: what block jobs wrote, back as they wrote it.
    pub(crate) fn read_region_le(
        &self,
        plane: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Vec<u8>, IoError> {
        self.check_region(plane, &rows, &cols)?;
        fn le<T: Sample>(image: Image<T>) -> Vec<u8> {
            let mut out = Vec::with_capacity(image.data.len() * std::mem::size_of::<T>());
            image.data.iter().for_each(|v| v.extend_le(&mut out));
            out
        }
        Ok(match self.data_type {
            DataType::U8 => self.read_typed::<u8>(plane, rows, cols)?.data,
            DataType::U16 => le(self.read_typed::<u16>(plane, rows, cols)?),
            DataType::U32 => le(self.read_typed::<u32>(plane, rows, cols)?),
            DataType::F32 => le(self.read_typed::<f32>(plane, rows, cols)?),
            DataType::F64 => le(self.read_typed::<f64>(plane, rows, cols)?),
        })
    }

    /// A whole plane in its stored sample type, as the whole-image readers return it.
    pub(crate) fn read_plane(&self, plane: usize) -> Result<Decoded, IoError> {
        if plane >= self.planes() {
            return Err(IoError::new(
                &self.dir,
                IoErrorKind::Invalid,
                format!(
                    "a Zarr array of {} planes has no plane {plane}",
                    self.planes()
                ),
            ));
        }
        let image = self.read_region_grey(plane, 0..self.height(), 0..self.width())?;
        let out_of_range = count_out_of_range(&image);
        Ok(Decoded {
            membrane_probability: self.membrane_probability && matches!(image, GreyImage::F32(_)),
            image,
            colour_converted: false,
            pixel_size_nm: self.pixel_size_nm,
            out_of_range,
        })
    }

    fn read_typed<T: Sample>(
        &self,
        plane: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Image<T>, IoError> {
        let n = self.full_shape.len();
        let fill = T::from_f64(self.fill);
        let mut out = Image::filled(rows.len(), cols.len(), fill);
        if out.is_empty() {
            return Ok(out);
        }
        // The wanted box in stored coordinates.
        let mut want: Vec<Range<usize>> = vec![0..1; n];
        if self.shape.len() == 3 {
            want[n - 3] = plane..plane + 1;
        }
        want[n - 2] = rows.clone();
        want[n - 1] = cols.clone();
        let first: Vec<usize> = want
            .iter()
            .zip(&self.full_chunk)
            .map(|(w, c)| w.start / c)
            .collect();
        let last: Vec<usize> = want
            .iter()
            .zip(&self.full_chunk)
            .map(|(w, c)| (w.end - 1) / c)
            .collect();
        let mut target = Target {
            want: &want,
            out: &mut out,
            fill,
            data_type: self.data_type,
        };
        let mut coords = first.clone();
        loop {
            let origin: Vec<usize> = coords
                .iter()
                .zip(&self.full_chunk)
                .map(|(c, s)| c * s)
                .collect();
            let file = self.dir.join(self.keys.key(&coords));
            // A missing chunk holds the fill value, already there; a chunk file that is not a
            // regular file is refused before it is opened (opening a FIFO would block).
            match std::fs::metadata(&file) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoError::open(&file, e)),
                Ok(m) if !m.is_file() => return Err(not_regular(&file, &m)),
                Ok(_) => {
                    let f = File::open(&file).map_err(|e| IoError::open(&file, e))?;
                    let mut source = ChunkSource::open(f, &file)?;
                    decode_into(
                        &self.pipeline,
                        &mut source,
                        &self.full_chunk,
                        &origin,
                        &mut target,
                        &file,
                    )?;
                }
            }
            // Next chunk coordinates, last dimension fastest.
            let mut d = n;
            loop {
                if d == 0 {
                    return Ok(out);
                }
                d -= 1;
                if coords[d] < last[d] {
                    coords[d] += 1;
                    break;
                }
                coords[d] = first[d];
            }
        }
    }
}

/// The pixel size from an OME multiscale: x-axis scale (dataset 0 times the multiscale's own
/// transformations) in the axis unit, converted to nm.
fn pixel_size(ms: &Value, ndim: usize) -> Option<f64> {
    let axes = ms["axes"].as_array()?;
    if axes.len() != ndim {
        return None;
    }
    let x = axes
        .iter()
        .position(|a| a["name"] == "x")
        .unwrap_or(ndim - 1);
    let unit = axes[x]["unit"].as_str()?;
    let mut scale = scale_of(&ms["datasets"][0]["coordinateTransformations"], ndim)?[x];
    if let Some(root) = scale_of(&ms["coordinateTransformations"], ndim) {
        scale *= root[x];
    }
    let nm = scale * nm_per_unit(unit)?;
    (nm.is_finite() && nm > 0.0).then_some(nm)
}

/// Sample types decoded from chunk bytes.
trait Sample: Copy + Default {
    fn decode(bytes: &[u8], data_type: DataType, big_endian: bool) -> Self;
    fn from_f64(v: f64) -> Self;
    /// Appends the value as little-endian bytes.
    fn extend_le(self, out: &mut Vec<u8>);
}

impl Sample for u8 {
    fn decode(bytes: &[u8], _: DataType, _: bool) -> u8 {
        bytes[0]
    }
    fn from_f64(v: f64) -> u8 {
        v as u8
    }
    fn extend_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

impl Sample for u32 {
    fn decode(bytes: &[u8], _: DataType, big: bool) -> u32 {
        let b = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }
    fn from_f64(v: f64) -> u32 {
        v as u32
    }
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Sample for f64 {
    fn decode(bytes: &[u8], data_type: DataType, big: bool) -> f64 {
        if data_type == DataType::F64 {
            let b: [u8; 8] = bytes[..8].try_into().expect("8 bytes");
            if big {
                f64::from_be_bytes(b)
            } else {
                f64::from_le_bytes(b)
            }
        } else {
            f32::decode(bytes, data_type, big) as f64
        }
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Sample for u16 {
    fn decode(bytes: &[u8], _: DataType, big: bool) -> u16 {
        let b = [bytes[0], bytes[1]];
        if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }
    fn from_f64(v: f64) -> u16 {
        v as u16
    }
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Sample for f32 {
    fn decode(bytes: &[u8], data_type: DataType, big: bool) -> f32 {
        if data_type == DataType::F64 {
            let b: [u8; 8] = bytes[..8].try_into().expect("8 bytes");
            (if big {
                f64::from_be_bytes(b)
            } else {
                f64::from_le_bytes(b)
            }) as f32
        } else {
            let b: [u8; 4] = bytes[..4].try_into().expect("4 bytes");
            if big {
                f32::from_be_bytes(b)
            } else {
                f32::from_le_bytes(b)
            }
        }
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Where decoded chunks go: the wanted box (stored coordinates) and the output plane.
struct Target<'a, T> {
    want: &'a [Range<usize>],
    out: &'a mut Image<T>,
    fill: T,
    data_type: DataType,
}

impl<T: Copy> Target<'_, T> {
    /// The part of the box `origin + shape` that is wanted, per dimension; `None` if none is.
    fn overlap(&self, origin: &[usize], shape: &[usize]) -> Option<Vec<Range<usize>>> {
        let mut r = Vec::with_capacity(origin.len());
        for ((w, &o), &s) in self.want.iter().zip(origin).zip(shape) {
            let a = w.start.max(o);
            let b = w.end.min(o + s);
            if a >= b {
                return None;
            }
            r.push(a..b);
        }
        Some(r)
    }

    /// Copies the wanted part of a decoded block (C order, `shape`, at `origin`) with `get`.
    fn place(&mut self, origin: &[usize], shape: &[usize], get: impl Fn(usize) -> T) {
        let Some(overlap) = self.overlap(origin, shape) else {
            return;
        };
        let n = shape.len();
        let mut strides = vec![1usize; n];
        for d in (0..n - 1).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        // All but the last two dimensions are one index in the wanted box.
        let base: usize = (0..n - 2)
            .map(|d| (overlap[d].start - origin[d]) * strides[d])
            .sum();
        let (rows, cols) = (&overlap[n - 2], &overlap[n - 1]);
        let (wr, wc) = (self.want[n - 2].start, self.want[n - 1].start);
        let width = self.out.width;
        for r in rows.clone() {
            let src = base + (r - origin[n - 2]) * strides[n - 2];
            let dst = (r - wr) * width;
            for c in cols.clone() {
                self.out.data[dst + c - wc] = get(src + c - origin[n - 1]);
            }
        }
    }

    fn fill_box(&mut self, origin: &[usize], shape: &[usize]) {
        let fill = self.fill;
        self.place(origin, shape, |_| fill);
    }
}

/// A chunk file: read whole, or by ranges (the index and inner chunks of a shard); or a shard
/// already in memory.
struct ChunkSource<'a> {
    file: Option<File>,
    memory: Vec<u8>,
    len: u64,
    path: &'a Path,
}

impl<'a> ChunkSource<'a> {
    fn open(file: File, path: &'a Path) -> Result<ChunkSource<'a>, IoError> {
        let len = file.metadata().map_err(|e| IoError::open(path, e))?.len();
        Ok(ChunkSource {
            file: Some(file),
            memory: Vec::new(),
            len,
            path,
        })
    }

    fn memory(memory: Vec<u8>, path: &'a Path) -> ChunkSource<'a> {
        ChunkSource {
            file: None,
            len: memory.len() as u64,
            memory,
            path,
        }
    }

    fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, IoError> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(corrupt(self.path, "chunk file is truncated"));
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(self.memory[offset as usize..(offset + len) as usize].to_vec());
        };
        let mut buf = vec![0u8; len as usize];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| IoError::open(self.path, e))?;
        Ok(buf)
    }

    fn read_all(&mut self) -> Result<Vec<u8>, IoError> {
        self.read(0, self.len)
    }
}

/// Inflates a compressed chunk, refusing output beyond `limit` bytes (what the chunk can
/// legitimately hold) instead of following a compression bomb.
fn inflate(decoder: impl Read, limit: u64, name: &str, file: &Path) -> Result<Vec<u8>, IoError> {
    let mut out = Vec::new();
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| corrupt(file, format!("bad {name} chunk: {e}")))?;
    if out.len() as u64 > limit {
        return Err(corrupt(
            file,
            format!("{name} chunk inflates beyond the {limit} bytes its chunk can hold"),
        ));
    }
    Ok(out)
}

/// Undoes the bytes → bytes codecs, last first; `below` is the most bytes the array codec's
/// output can take ([`Pipeline::array_bound`]), which bounds what each codec may inflate to.
fn decode_bytes(
    codecs: &[BytesCodec],
    mut data: Vec<u8>,
    below: u64,
    file: &Path,
) -> Result<Vec<u8>, IoError> {
    for (i, codec) in codecs.iter().enumerate().rev() {
        // What this codec decodes to is what the codecs before it made of the array's bytes.
        let limit = codecs[..i].iter().fold(below, |n, c| grown(c, n));
        data = match codec {
            BytesCodec::Gzip => inflate(
                flate2::read::MultiGzDecoder::new(&data[..]),
                limit,
                "gzip",
                file,
            )?,
            BytesCodec::Zstd => {
                let decoder = ruzstd::decoding::StreamingDecoder::new(&data[..])
                    .map_err(|e| corrupt(file, format!("bad zstd chunk: {e}")))?;
                inflate(decoder, limit, "zstd", file)?
            }
            BytesCodec::Crc32c => {
                if data.len() < 4 {
                    return Err(corrupt(file, "chunk too short for its crc32c checksum"));
                }
                let (body, sum) = data.split_at(data.len() - 4);
                if crc32c(body).to_le_bytes() != sum {
                    return Err(corrupt(file, "crc32c checksum mismatch"));
                }
                data.truncate(data.len() - 4);
                data
            }
        };
    }
    Ok(data)
}

/// Decodes one chunk (or shard) of `shape` at `origin` from `source` into `target`.
fn decode_into<T: Sample>(
    pipeline: &Pipeline,
    source: &mut ChunkSource,
    shape: &[usize],
    origin: &[usize],
    target: &mut Target<T>,
    file: &Path,
) -> Result<(), IoError> {
    if target.overlap(origin, shape).is_none() {
        return Ok(());
    }
    match &pipeline.array {
        ArrayCodec::Sharding {
            inner_shape,
            inner,
            index,
            index_at_start,
        } if pipeline.bytes.is_empty() => decode_shard(
            inner_shape,
            inner,
            index,
            *index_at_start,
            source,
            shape,
            origin,
            target,
            file,
        ),
        _ => {
            let bytes = source.read_all()?;
            decode_chunk_bytes(pipeline, bytes, shape, origin, target, file)
        }
    }
}

/// Decodes a chunk held in memory.
fn decode_chunk_bytes<T: Sample>(
    pipeline: &Pipeline,
    bytes: Vec<u8>,
    shape: &[usize],
    origin: &[usize],
    target: &mut Target<T>,
    file: &Path,
) -> Result<(), IoError> {
    let below = pipeline.array_bound(shape, target.data_type.size());
    let bytes = decode_bytes(&pipeline.bytes, bytes, below, file)?;
    match &pipeline.array {
        ArrayCodec::Bytes { big_endian } => {
            let size = target.data_type.size();
            let count: usize = shape.iter().product();
            if bytes.len() != count * size {
                return Err(corrupt(
                    file,
                    format!(
                        "chunk holds {} bytes, expected {} ({count} samples of {size} bytes)",
                        bytes.len(),
                        count * size
                    ),
                ));
            }
            let data_type = target.data_type;
            let big = *big_endian;
            let at = |i: usize| T::decode(&bytes[i * size..], data_type, big);
            match &pipeline.transpose {
                None => target.place(origin, shape, at),
                Some(order) => {
                    // Stored dimension i is array dimension order[i].
                    let n = shape.len();
                    let stored: Vec<usize> = order.iter().map(|&o| shape[o]).collect();
                    let mut stored_strides = vec![1usize; n];
                    for d in (0..n - 1).rev() {
                        stored_strides[d] = stored_strides[d + 1] * stored[d + 1];
                    }
                    // Stride in the stored buffer of each array dimension.
                    let mut strides = vec![0usize; n];
                    for (i, &o) in order.iter().enumerate() {
                        strides[o] = stored_strides[i];
                    }
                    let mut shape_strides = vec![1usize; n];
                    for d in (0..n - 1).rev() {
                        shape_strides[d] = shape_strides[d + 1] * shape[d + 1];
                    }
                    target.place(origin, shape, |c_index| {
                        let mut rest = c_index;
                        let mut s = 0;
                        for d in 0..n {
                            s += (rest / shape_strides[d]) * strides[d];
                            rest %= shape_strides[d];
                        }
                        at(s)
                    });
                }
            }
            Ok(())
        }
        ArrayCodec::Sharding {
            inner_shape,
            inner,
            index,
            index_at_start,
        } => {
            // A shard behind bytes → bytes codecs: decoded whole in memory first.
            let mut source = ChunkSource::memory(bytes, file);
            decode_shard(
                inner_shape,
                inner,
                index,
                *index_at_start,
                &mut source,
                shape,
                origin,
                target,
                file,
            )
        }
    }
}

/// Decodes the inner chunks of a shard that the target wants, reading only their bytes.
#[allow(clippy::too_many_arguments)]
fn decode_shard<T: Sample>(
    inner_shape: &[usize],
    inner: &Pipeline,
    index: &Pipeline,
    index_at_start: bool,
    source: &mut ChunkSource,
    shape: &[usize],
    origin: &[usize],
    target: &mut Target<T>,
    file: &Path,
) -> Result<(), IoError> {
    let n = shape.len();
    let grid: Vec<usize> = shape
        .iter()
        .zip(inner_shape)
        .map(|(s, i)| s.div_ceil(*i))
        .collect();
    // The metadata checks bound the inner grid (at most a chunk's elements), but the index
    // length is checked arithmetic all the same.
    let count: usize = grid.iter().product();
    let checksum = if index.bytes.is_empty() { 0 } else { 4 };
    let index_len = (count as u64)
        .checked_mul(16)
        .and_then(|n| n.checked_add(checksum))
        .ok_or_else(|| corrupt(file, "shard index is larger than memory can address"))?;
    if source.len < index_len {
        return Err(corrupt(file, "shard is shorter than its index"));
    }
    let index_offset = if index_at_start {
        0
    } else {
        source.len - index_len
    };
    let raw = source.read(index_offset, index_len)?;
    let raw = decode_bytes(&index.bytes, raw, index_len, file)?;
    let big = matches!(index.array, ArrayCodec::Bytes { big_endian: true });
    let word = |i: usize| {
        let b: [u8; 8] = raw[i * 8..i * 8 + 8].try_into().expect("8 bytes");
        if big {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        }
    };
    let mut coords = vec![0usize; n];
    for k in 0..count {
        // Inner chunk k in C order of the inner grid.
        let mut rest = k;
        for d in (0..n).rev() {
            coords[d] = rest % grid[d];
            rest /= grid[d];
        }
        let inner_origin: Vec<usize> = (0..n)
            .map(|d| origin[d] + coords[d] * inner_shape[d])
            .collect();
        if target.overlap(&inner_origin, inner_shape).is_none() {
            continue;
        }
        let (offset, nbytes) = (word(2 * k), word(2 * k + 1));
        if offset == u64::MAX && nbytes == u64::MAX {
            target.fill_box(&inner_origin, inner_shape);
            continue;
        }
        let bytes = source.read(offset, nbytes)?;
        decode_chunk_bytes(inner, bytes, inner_shape, &inner_origin, target, file)?;
    }
    Ok(())
}

/// CRC-32C (Castagnoli), as the `crc32c` codec stores it (little-endian after the data).
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// One plane of a Zarr array read by rows: one band of chunk rows (inner chunk rows when
/// sharded) is decoded at a time, so memory is proportional to band rows × width.
pub struct ZarrRows {
    array: ZarrArray,
    plane: usize,
    band: Image<u8>,
    band_start: usize,
    next: usize,
}

impl ZarrRows {
    /// Opens plane `plane` (0 for a 2-D array) of the Zarr store at `path` for streaming.
    pub fn open(path: &Path, plane: usize) -> Result<ZarrRows, IoError> {
        ZarrRows::new(ZarrArray::open(path)?, plane)
    }

    /// Streams plane `plane` of an opened array.
    pub fn new(array: ZarrArray, plane: usize) -> Result<ZarrRows, IoError> {
        if plane >= array.planes() {
            return Err(IoError::new(
                &array.dir,
                IoErrorKind::Invalid,
                format!(
                    "a Zarr array of {} planes has no plane {plane}",
                    array.planes()
                ),
            ));
        }
        Ok(ZarrRows {
            array,
            plane,
            band: Image::new(0, 0, Vec::new()),
            band_start: 0,
            next: 0,
        })
    }
}

impl RowSource for ZarrRows {
    fn height(&self) -> usize {
        self.array.height()
    }
    fn width(&self) -> usize {
        self.array.width()
    }
    fn pixel_size_nm(&self) -> Option<f64> {
        self.array.pixel_size_nm()
    }
    fn samples(&self) -> crate::sample::Samples {
        match self.array.data_type {
            DataType::U8 => crate::sample::Samples::U8,
            DataType::U16 => crate::sample::Samples::U16,
            DataType::U32 => crate::sample::Samples::U32,
            DataType::F32 | DataType::F64 => crate::sample::Samples::Float,
        }
    }
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        if self.next >= self.band_start + self.band.height {
            let band = self.array.band_rows();
            let start = self.next / band * band;
            let end = (start + band).min(self.array.height());
            self.band = self
                .array
                .read_region(self.plane, start..end, 0..self.array.width())?;
            self.band_start = start;
        }
        row.copy_from_slice(self.band.row(self.next - self.band_start));
        self.next += 1;
        Ok(())
    }
}

impl ZarrArray {
    /// The array's `zarr.json`, the file metadata errors name.
    pub fn metadata_file(&self) -> &Path {
        &self.meta_file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn key_encodings() {
        let d = KeyEncoding {
            v2: false,
            separator: "/".into(),
        };
        assert_eq!(d.key(&[1, 2]), "c/1/2");
        let d = KeyEncoding {
            v2: false,
            separator: ".".into(),
        };
        assert_eq!(d.key(&[1, 2]), "c.1.2");
        let v2 = KeyEncoding {
            v2: true,
            separator: ".".into(),
        };
        assert_eq!(v2.key(&[0, 3, 4]), "0.3.4");
    }

    #[test]
    fn units_convert_to_nanometres() {
        assert_eq!(nm_per_unit("micrometer"), Some(1000.0));
        assert_eq!(nm_per_unit("angstrom"), Some(0.1));
        assert_eq!(nm_per_unit("pixel"), None);
    }
}
