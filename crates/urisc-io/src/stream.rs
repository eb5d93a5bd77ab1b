//! Row-streaming input and output, so a section is processed with memory that does not grow
//! with its area: [`open_rows`] reads an image top to bottom, and [`RowWriter`] writes one
//! (PNG, strip TIFF or chunked OME-Zarr) as rows are finished, under a temporary name that is
//! renamed into place only when the whole image is complete.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use tiff::encoder::{colortype, Rational, TiffEncoder};
use tiff::tags::ResolutionUnit;

use tiff::decoder::{ChunkType, DecodingResult};
use tiff::tags::Tag;

use crate::codec::{
    collapse_row, collapse_row_u8, grey_png_encoder, open_tiff, png_error, png_pixel_size,
    tiff_error, tiff_pixel_size,
};
use crate::error::{IoError, IoErrorKind};
use crate::image::unit_to_u8;
use crate::image::Image;
use crate::{check_writable, read_image};

/// An 8-bit grey image read one row at a time, top to bottom.
pub trait RowSource: Send {
    fn height(&self) -> usize;
    fn width(&self) -> usize;
    fn pixel_size_nm(&self) -> Option<f64>;
    /// Fills `row` (`width` values) with the next row.
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError>;
}

/// Opens an image for row streaming. Non-interlaced 8-bit PNGs (grey, grey + alpha, RGB[A]) and
/// stripped TIFFs (8/16-bit grey or RGB, float grey) are decoded as they are read; other files
/// (tiled TIFF, 16-bit or interlaced PNG) are decoded whole first and then served by rows.
pub fn open_rows(path: &Path) -> Result<Box<dyn RowSource>, IoError> {
    if let Some(rows) = PngRows::open(path)? {
        return Ok(Box::new(rows));
    }
    if let Some(rows) = TiffStrips::open(path)? {
        return Ok(Box::new(rows));
    }
    let decoded = read_image(path)?;
    Ok(Box::new(MemoryRows {
        pixel_size_nm: decoded.pixel_size_nm,
        image: decoded.image.into_u8(),
        next: 0,
    }))
}

/// Rows of an image already in memory.
pub struct MemoryRows {
    pub image: Image<u8>,
    pub pixel_size_nm: Option<f64>,
    pub next: usize,
}

impl MemoryRows {
    pub fn new(image: Image<u8>) -> MemoryRows {
        MemoryRows {
            image,
            pixel_size_nm: None,
            next: 0,
        }
    }
}

impl RowSource for MemoryRows {
    fn height(&self) -> usize {
        self.image.height
    }
    fn width(&self) -> usize {
        self.image.width
    }
    fn pixel_size_nm(&self) -> Option<f64> {
        self.pixel_size_nm
    }
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        row.copy_from_slice(self.image.row(self.next));
        self.next += 1;
        Ok(())
    }
}

struct PngRows {
    path: PathBuf,
    reader: png::Reader<BufReader<File>>,
    channels: usize,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
}

impl PngRows {
    /// `None` when the file is not a PNG this reader streams.
    fn open(path: &Path) -> Result<Option<PngRows>, IoError> {
        // By content, as every reader: a PNG named .tif streams too.
        if crate::codec::detect_format(path)? != crate::Format::Png {
            return Ok(None);
        }
        let file = File::open(path).map_err(|e| IoError::open(path, e))?;
        let mut dec =
            png::Decoder::new_with_limits(BufReader::new(file), png::Limits { bytes: usize::MAX });
        dec.set_transformations(png::Transformations::EXPAND);
        let reader = dec.read_info().map_err(|e| png_error(path, e))?;
        let (colour, depth) = reader.output_color_type();
        if reader.info().interlaced || depth != png::BitDepth::Eight {
            return Ok(None);
        }
        Ok(Some(PngRows {
            path: path.to_path_buf(),
            channels: colour.samples(),
            height: reader.info().height as usize,
            width: reader.info().width as usize,
            pixel_size_nm: png_pixel_size(reader.info()),
            reader,
        }))
    }
}

impl RowSource for PngRows {
    fn height(&self) -> usize {
        self.height
    }
    fn width(&self) -> usize {
        self.width
    }
    fn pixel_size_nm(&self) -> Option<f64> {
        self.pixel_size_nm
    }
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        let decoded = self
            .reader
            .next_row()
            .map_err(|e| png_error(&self.path, e))?
            .ok_or_else(|| {
                IoError::new(
                    &self.path,
                    IoErrorKind::Corrupt,
                    "truncated PNG (missing rows)",
                )
            })?;
        collapse_row_u8(decoded.data(), self.channels, row);
        Ok(())
    }
}

/// A stripped TIFF decoded one strip at a time.
struct TiffStrips {
    path: PathBuf,
    decoder: tiff::decoder::Decoder<BufReader<File>>,
    channels: usize,
    white_is_zero: bool,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
    strip: u32,
    /// Grey rows of the current strip not yet handed out.
    pending: std::collections::VecDeque<Vec<u8>>,
}

impl TiffStrips {
    fn open(path: &Path) -> Result<Option<TiffStrips>, IoError> {
        if crate::codec::detect_format(path)? != crate::Format::Tiff {
            return Ok(None);
        }
        let mut decoder = open_tiff(path)?;
        let err = |e| tiff_error(path, e);
        let channels = match decoder.colortype().map_err(err)? {
            tiff::ColorType::Gray(8 | 16 | 32) => 1,
            tiff::ColorType::GrayA(8 | 16) => 2,
            tiff::ColorType::RGB(8 | 16) => 3,
            tiff::ColorType::RGBA(8 | 16) => 4,
            _ => return Ok(None),
        };
        let planar = decoder
            .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
            .ok()
            .flatten()
            == Some(2);
        if decoder.get_chunk_type() != ChunkType::Strip || (planar && channels > 1) {
            return Ok(None);
        }
        let (w, h) = decoder.dimensions().map_err(err)?;
        Ok(Some(TiffStrips {
            path: path.to_path_buf(),
            white_is_zero: decoder
                .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
                .ok()
                .flatten()
                == Some(0),
            pixel_size_nm: tiff_pixel_size(&mut decoder),
            decoder,
            channels,
            height: h as usize,
            width: w as usize,
            strip: 0,
            pending: Default::default(),
        }))
    }

    fn decode_next_strip(&mut self) -> Result<(), IoError> {
        let data = self
            .decoder
            .read_chunk(self.strip)
            .map_err(|e| tiff_error(&self.path, e))?;
        self.strip += 1;
        let (w, c) = (self.width, self.channels);
        let mut push = |grey: Vec<u8>| {
            for row in grey.chunks_exact(w) {
                self.pending.push_back(row.to_vec());
            }
        };
        let mut row = vec![0u8; w];
        let mut grey = Vec::new();
        match data {
            DecodingResult::U8(buf) => {
                for src in buf.chunks_exact(w * c) {
                    collapse_row_u8(src, c, &mut row);
                    grey.extend_from_slice(&row);
                }
            }
            DecodingResult::U16(buf) => {
                for src in buf.chunks_exact(w * c) {
                    // The 16 → 8-bit rule of GreyImage::into_u8, after collapsing to grey.
                    let mut wide = Vec::with_capacity(w);
                    let mut converted = false;
                    collapse_row(src, c, &mut |v| wide.push(v), &mut converted);
                    grey.extend(wide.iter().map(|&v| ((v as u32 + 128) / 257) as u8));
                }
            }
            DecodingResult::F32(buf) => grey.extend(buf.iter().map(|&v| unit_to_u8(v))),
            _ => {
                return Err(IoError::new(
                    &self.path,
                    IoErrorKind::Unsupported,
                    "sample format (use 8/16-bit or float)",
                ))
            }
        }
        if self.white_is_zero {
            grey.iter_mut().for_each(|v| *v = 255 - *v);
        }
        push(grey);
        Ok(())
    }
}

impl RowSource for TiffStrips {
    fn height(&self) -> usize {
        self.height
    }
    fn width(&self) -> usize {
        self.width
    }
    fn pixel_size_nm(&self) -> Option<f64> {
        self.pixel_size_nm
    }
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        while self.pending.is_empty() {
            self.decode_next_strip()?;
        }
        row.copy_from_slice(&self.pending.pop_front().expect("decoded rows"));
        Ok(())
    }
}

/// File formats a [`RowWriter`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    Png,
    /// Uncompressed TIFF in strips of 64 rows (BigTIFF when it could pass 4 GiB).
    Tiff,
    /// Zarr v3 group with OME-Zarr 0.5 metadata: one array `0`, gzip chunks, pixel size in nm.
    OmeZarr,
}

impl StreamFormat {
    /// The file name extension of this format.
    pub fn extension(self) -> &'static str {
        match self {
            StreamFormat::Png => "png",
            StreamFormat::Tiff => "tif",
            StreamFormat::OmeZarr => "ome.zarr",
        }
    }
}

/// Sample types a [`RowWriter`] writes.
pub trait StreamSample: Copy + Send + Default + 'static {
    /// Zarr v3 data type name.
    const ZARR_TYPE: &'static str;
    fn extend_le(values: &[Self], out: &mut Vec<u8>);
}

impl StreamSample for u8 {
    const ZARR_TYPE: &'static str = "uint8";
    fn extend_le(values: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(values);
    }
}

impl StreamSample for f32 {
    const ZARR_TYPE: &'static str = "float32";
    fn extend_le(values: &[f32], out: &mut Vec<u8>) {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
}

/// Rows a writer thread has yet to encode, at most this many strips of them.
const QUEUED_BANDS: usize = 2;

/// Writes an image row by row on a background thread (encoding overlaps the caller's work).
/// Nothing appears under the final name unless [`RowWriter::finish`] succeeds.
pub struct RowWriter<T: StreamSample> {
    path: PathBuf,
    band: Vec<T>,
    band_rows: usize,
    width: usize,
    rows_sent: usize,
    height: usize,
    sender: Option<SyncSender<Vec<T>>>,
    worker: Option<JoinHandle<Result<(), String>>>,
}

/// Where a writer thread writes, and how it becomes the final output.
enum Staging {
    File(tempfile::NamedTempFile),
    Dir(tempfile::TempDir),
}

impl<T: StreamSample> RowWriter<T> {
    /// Starts writing a `height × width` image to `path` (refused if it exists and not
    /// `overwrite`). PNG takes `u8` samples only.
    pub fn create(
        path: &Path,
        format: StreamFormat,
        height: usize,
        width: usize,
        pixel_size_nm: Option<f64>,
        overwrite: bool,
    ) -> Result<RowWriter<T>, IoError> {
        check_writable(path, overwrite)?;
        if format == StreamFormat::Png && T::ZARR_TYPE != "uint8" {
            return Err(IoError::new(
                path,
                IoErrorKind::Write,
                "PNG holds 8-bit values only (use TIFF or OME-Zarr for float)",
            ));
        }
        let werr = |e: String| IoError::new(path, IoErrorKind::Write, format!("cannot write: {e}"));
        crate::remove_stale_temporaries(path);
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        let band_rows = match format {
            StreamFormat::Png => 16,
            StreamFormat::Tiff => 64,
            StreamFormat::OmeZarr => ZARR_CHUNK,
        };
        let (sender, receiver) = sync_channel::<Vec<T>>(QUEUED_BANDS);
        let final_path = path.to_path_buf();
        let staging = match format {
            StreamFormat::OmeZarr => {
                Staging::Dir(builder.tempdir_in(&dir).map_err(|e| werr(e.to_string()))?)
            }
            _ => Staging::File(builder.tempfile_in(&dir).map_err(|e| werr(e.to_string()))?),
        };
        let worker = std::thread::spawn(move || -> Result<(), String> {
            let bands = receiver.into_iter();
            match (format, &staging) {
                (StreamFormat::Png, Staging::File(f)) => encode_png::<T>(
                    f.as_file().try_clone().map_err(|e| e.to_string())?,
                    height,
                    width,
                    pixel_size_nm,
                    bands,
                )?,
                (StreamFormat::Tiff, Staging::File(f)) => encode_tiff::<T>(
                    f.as_file().try_clone().map_err(|e| e.to_string())?,
                    height,
                    width,
                    pixel_size_nm,
                    bands,
                )?,
                (StreamFormat::OmeZarr, Staging::Dir(d)) => {
                    encode_zarr::<T>(d.path(), height, width, pixel_size_nm, bands)?
                }
                _ => unreachable!("staging matches the format"),
            }
            publish(staging, &final_path, overwrite)
        });
        Ok(RowWriter {
            path: path.to_path_buf(),
            band: Vec::with_capacity(band_rows * width),
            band_rows,
            width,
            rows_sent: 0,
            height,
            sender: Some(sender),
            worker: Some(worker),
        })
    }

    /// Appends the next row.
    pub fn write_row(&mut self, row: &[T]) -> Result<(), IoError> {
        assert_eq!(row.len(), self.width);
        self.band.extend_from_slice(row);
        self.rows_sent += 1;
        if self.band.len() == self.band_rows * self.width || self.rows_sent == self.height {
            let band = std::mem::replace(
                &mut self.band,
                Vec::with_capacity(self.band_rows * self.width),
            );
            let sent = self
                .sender
                .as_ref()
                .map(|s| s.send(band).is_ok())
                .unwrap_or(false);
            if !sent {
                // The writer thread stopped early: its error says why.
                return Err(self.join().err().unwrap_or_else(|| {
                    IoError::new(&self.path, IoErrorKind::Write, "writer stopped")
                }));
            }
        }
        Ok(())
    }

    /// Completes the image and renames it into place.
    pub fn finish(mut self) -> Result<(), IoError> {
        if self.rows_sent != self.height {
            return Err(IoError::new(
                &self.path,
                IoErrorKind::Write,
                format!("only {} of {} rows written", self.rows_sent, self.height),
            ));
        }
        self.join()
    }

    fn join(&mut self) -> Result<(), IoError> {
        drop(self.sender.take());
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(IoError::new(
                &self.path,
                IoErrorKind::Write,
                format!("cannot write: {e}"),
            )),
            Some(Err(_)) => Err(IoError::new(
                &self.path,
                IoErrorKind::Write,
                "writer thread panicked",
            )),
        }
    }
}

impl<T: StreamSample> Drop for RowWriter<T> {
    fn drop(&mut self) {
        // An unfinished image is abandoned: the thread sees the closed channel with rows
        // missing and removes its temporary output.
        drop(self.sender.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Renames a completed staging file or folder to its final name.
fn publish(staging: Staging, path: &Path, overwrite: bool) -> Result<(), String> {
    match staging {
        Staging::File(f) => {
            f.as_file().sync_all().map_err(|e| e.to_string())?;
            set_readable(f.path(), 0o644)?;
            if overwrite {
                f.persist(path).map_err(|e| e.error.to_string())?;
            } else {
                f.persist_noclobber(path).map_err(|e| e.error.to_string())?;
            }
        }
        Staging::Dir(d) => {
            set_readable(d.path(), 0o755)?;
            let tmp = d.keep();
            if path.exists() {
                if !overwrite {
                    return Err("output appeared while writing".into());
                }
                std::fs::remove_dir_all(path).map_err(|e| e.to_string())?;
            }
            std::fs::rename(&tmp, path).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn set_readable(path: &Path, mode: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| e.to_string())?;
    }
    let _ = (path, mode);
    Ok(())
}

/// Rows received must add up to the image; a closed channel before that means abandoned.
fn expect_rows(received: usize, height: usize, width: usize) -> Result<(), String> {
    if received == height * width {
        Ok(())
    } else {
        Err(format!(
            "abandoned after {} of {height} rows",
            received / width.max(1)
        ))
    }
}

fn as_u8<T: StreamSample>(band: Vec<T>) -> Vec<u8> {
    let mut out = Vec::new();
    T::extend_le(&band, &mut out);
    out
}

fn encode_png<T: StreamSample>(
    file: File,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
    bands: impl Iterator<Item = Vec<T>>,
) -> Result<(), String> {
    let mut stream = grey_png_encoder(BufWriter::new(file), height, width, pixel_size_nm)
        .write_header()
        .and_then(|w| w.into_stream_writer())
        .map_err(|e| e.to_string())?;
    let mut received = 0;
    for band in bands {
        received += band.len();
        stream.write_all(&as_u8(band)).map_err(|e| e.to_string())?;
    }
    expect_rows(received, height, width)?;
    stream.finish().map_err(|e| e.to_string())
}

fn encode_tiff<T: StreamSample>(
    file: File,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
    bands: impl Iterator<Item = Vec<T>>,
) -> Result<(), String> {
    let bytes = (height * width * std::mem::size_of::<T>()) as u64;
    let w = BufWriter::new(file);
    let e = |e: tiff::TiffError| e.to_string();
    macro_rules! write_all {
        ($enc:expr, $ct:ty, $conv:expr) => {{
            // Uncompressed: tiff 0.11 compresses only whole-image writes, never single strips.
            let mut enc = $enc.map_err(e)?;
            let mut img = enc
                .new_image::<$ct>(width as u32, height as u32)
                .map_err(e)?;
            if let Some(nm) = pixel_size_nm.filter(|v| *v > 0.0) {
                img.resolution(
                    ResolutionUnit::Centimeter,
                    Rational {
                        n: (1e9 / nm).round() as u32,
                        d: 100,
                    },
                );
            }
            img.rows_per_strip(64).map_err(e)?;
            let mut received = 0;
            for band in bands {
                received += band.len();
                img.write_strip(&$conv(band)).map_err(e)?;
            }
            expect_rows(received, height, width)?;
            img.finish().map_err(e)
        }};
    }
    let to_f32 = |band: Vec<T>| -> Vec<f32> {
        as_u8(band)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    match (T::ZARR_TYPE, bytes > 3u64 << 30) {
        ("uint8", false) => write_all!(TiffEncoder::new(w), colortype::Gray8, as_u8),
        ("uint8", true) => write_all!(TiffEncoder::new_big(w), colortype::Gray8, as_u8),
        (_, false) => write_all!(TiffEncoder::new(w), colortype::Gray32Float, to_f32),
        (_, true) => write_all!(TiffEncoder::new_big(w), colortype::Gray32Float, to_f32),
    }
}

/// Chunk side of OME-Zarr output: 1024² chunks are 1 MiB at 8 bits, a common choice for EM.
pub const ZARR_CHUNK: usize = 1024;

fn encode_zarr<T: StreamSample>(
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
