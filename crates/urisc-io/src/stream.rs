//! Row streaming, the format-independent part: [`open_rows`] reads an image top to bottom and
//! [`RowWriter`] writes one as rows are finished, so a section is processed with memory that
//! does not grow with its area.
//!
//! [`open_rows`] asks the content detector which format a file holds and hands it to that
//! format's row reader ([`crate::png`], [`crate::tiff`]); files no reader streams are decoded
//! whole and served from memory ([`MemoryRows`]). [`RowWriter`] stages the output under a
//! temporary name, feeds bands of rows to the format's encoder ([`crate::png`], [`crate::tiff`],
//! [`crate::zarr`]) on a background thread, and renames the result into place only when the
//! whole image is complete.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use crate::check_writable;
use crate::codec::{read_image, Decoded};
use crate::detect::{detect_format, Format};
use crate::error::{IoError, IoErrorKind};
use crate::image::Image;
use crate::png::PngRows;
use crate::tiff::TiffStrips;
use crate::zarr::ZARR_CHUNK;

/// An 8-bit grey image read one row at a time, top to bottom.
pub trait RowSource: Send {
    /// Number of rows.
    fn height(&self) -> usize;
    /// Number of columns, the length of every row.
    fn width(&self) -> usize;
    /// Pixel size in nm/pixel, when the file carries it.
    fn pixel_size_nm(&self) -> Option<f64>;
    /// Fills `row` (`width` values) with the next row.
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError>;
}

/// Opens an image for row streaming. Non-interlaced 8-bit PNGs (grey, grey + alpha, RGB(A)) and
/// stripped TIFFs (8/16-bit grey or RGB, float grey) are decoded as they are read; other files
/// (tiled TIFF, 16-bit or interlaced PNG, JPEG) are decoded whole first and then served by rows.
/// A Zarr store folder (plane 0) is decoded one band of chunks at a time. The format is the
/// file's content, whatever its name.
pub fn open_rows(path: &Path) -> Result<Box<dyn RowSource>, IoError> {
    match detect_format(path)? {
        Format::Png => {
            if let Some(rows) = PngRows::open(path)? {
                return Ok(Box::new(rows));
            }
        }
        Format::Tiff => {
            if let Some(rows) = TiffStrips::open(path)? {
                return Ok(Box::new(rows));
            }
        }
        Format::Jpeg => return Ok(Box::new(crate::jpeg::open_rows(path)?)),
        Format::Zarr => return Ok(Box::new(crate::zarr::ZarrRows::open(path, 0)?)),
    }
    Ok(Box::new(MemoryRows::decoded(read_image(path)?)))
}

/// Rows of an image already in memory.
pub struct MemoryRows {
    /// The whole image.
    pub image: Image<u8>,
    /// Pixel size in nm/pixel, if known.
    pub pixel_size_nm: Option<f64>,
    /// Index of the row the next [`RowSource::read_row`] returns.
    pub next: usize,
}

impl MemoryRows {
    /// Serves `image` from its first row, with no pixel size.
    pub fn new(image: Image<u8>) -> MemoryRows {
        MemoryRows {
            image,
            pixel_size_nm: None,
            next: 0,
        }
    }

    /// Rows of a decoded page, as 8-bit (see [`crate::GreyImage::into_u8`]), with its pixel size.
    pub(crate) fn decoded(decoded: Decoded) -> MemoryRows {
        MemoryRows {
            pixel_size_nm: decoded.pixel_size_nm,
            image: decoded.image.into_u8(),
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

/// File formats a [`RowWriter`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    /// 8-bit grey PNG, pixel size in pHYs (`u8` samples only).
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
    /// Appends `values` to `out` as little-endian bytes.
    fn extend_le(values: &[Self], out: &mut Vec<u8>);
}

impl StreamSample for u8 {
    const ZARR_TYPE: &'static str = "uint8";
    fn extend_le(values: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(values);
    }
}

impl StreamSample for u32 {
    const ZARR_TYPE: &'static str = "uint32";
    fn extend_le(values: &[u32], out: &mut Vec<u8>) {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
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
    /// `overwrite`). PNG takes `u8` samples only. Nothing marks what the values mean: 8-bit maps
    /// are membrane dark (SPEC §2); float membrane probabilities go through
    /// [`RowWriter::create_probability`].
    pub fn create(
        path: &Path,
        format: StreamFormat,
        height: usize,
        width: usize,
        pixel_size_nm: Option<f64>,
        overwrite: bool,
    ) -> Result<RowWriter<T>, IoError> {
        RowWriter::start(path, format, height, width, pixel_size_nm, overwrite, false)
    }

    fn start(
        path: &Path,
        format: StreamFormat,
        height: usize,
        width: usize,
        pixel_size_nm: Option<f64>,
        overwrite: bool,
        membrane_probability: bool,
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
                (StreamFormat::Png, Staging::File(f)) => crate::png::encode_rows::<T>(
                    f.as_file().try_clone().map_err(|e| e.to_string())?,
                    height,
                    width,
                    pixel_size_nm,
                    bands,
                )?,
                (StreamFormat::Tiff, Staging::File(f)) => crate::tiff::encode_strips::<T>(
                    f.as_file().try_clone().map_err(|e| e.to_string())?,
                    height,
                    width,
                    pixel_size_nm,
                    membrane_probability,
                    bands,
                )?,
                (StreamFormat::OmeZarr, Staging::Dir(d)) => crate::zarr::encode_rows::<T>(
                    d.path(),
                    height,
                    width,
                    pixel_size_nm,
                    membrane_probability,
                    bands,
                )?,
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

impl RowWriter<f32> {
    /// [`RowWriter::create`] for a map of membrane probabilities p (1 = membrane), marked as
    /// such in its metadata so readers do not take it for a membrane-dark grey map: the TIFF
    /// ImageDescription line [`crate::PROBABILITY_DESCRIPTION`], or the OME-Zarr attribute
    /// `"urisc": {"values": "membrane-probability"}` (see
    /// [`crate::zarr_store::mark_membrane_probability`]). [`crate::Decoded::membrane_probability`]
    /// reads the mark back.
    pub fn create_probability(
        path: &Path,
        format: StreamFormat,
        height: usize,
        width: usize,
        pixel_size_nm: Option<f64>,
        overwrite: bool,
    ) -> Result<RowWriter<f32>, IoError> {
        RowWriter::start(path, format, height, width, pixel_size_nm, overwrite, true)
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
pub(crate) fn expect_rows(received: usize, height: usize, width: usize) -> Result<(), String> {
    if received == height * width {
        Ok(())
    } else {
        Err(format!(
            "abandoned after {} of {height} rows",
            received / width.max(1)
        ))
    }
}

pub(crate) fn as_u8<T: StreamSample>(band: Vec<T>) -> Vec<u8> {
    let mut out = Vec::new();
    T::extend_le(&band, &mut out);
    out
}
