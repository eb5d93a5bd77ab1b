//! Streamed writing: [`RowWriter`] writes an image as its rows are finished, so a section is
//! processed with memory that does not grow with its area.
//!
//! The writer stages the output under a temporary name, feeds bands of rows to the format's
//! encoder ([`crate::format::ImageFormat::encode_rows`], picked from the registry by
//! [`StreamFormat`]) on a background thread, and renames the result into place only when the
//! whole image is complete.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use crate::atomic::{check_writable, remove_stale_temporaries};
use crate::format::{RowSpec, Staged};
use crate::registry::Format;
use crate::sample::{as_u8, IoError, IoErrorKind, StreamSample};

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

    /// The registry's format this writes.
    fn format(self) -> Format {
        match self {
            StreamFormat::Png => Format::Png,
            StreamFormat::Tiff => Format::Tiff,
            StreamFormat::OmeZarr => Format::Zarr,
        }
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
        let encoder = format.format().reader();
        encoder
            .check_sample(T::ZARR_TYPE)
            .map_err(|why| IoError::new(path, IoErrorKind::Write, why))?;
        let werr = |e: String| IoError::new(path, IoErrorKind::Write, format!("cannot write: {e}"));
        remove_stale_temporaries(path);
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
        let band_rows = encoder.band_rows();
        let (sender, receiver) = sync_channel::<Vec<T>>(QUEUED_BANDS);
        let final_path = path.to_path_buf();
        let staging = if encoder.writes_folder() {
            Staging::Dir(builder.tempdir_in(&dir).map_err(|e| werr(e.to_string()))?)
        } else {
            Staging::File(builder.tempfile_in(&dir).map_err(|e| werr(e.to_string()))?)
        };
        let spec = RowSpec {
            height,
            width,
            pixel_size_nm,
            membrane_probability,
            sample: T::ZARR_TYPE,
            sample_bytes: std::mem::size_of::<T>(),
        };
        let worker = std::thread::spawn(move || -> Result<(), String> {
            // Samples become bytes here, on the writer thread, off the caller's.
            let mut bands = receiver.into_iter().map(as_u8);
            let out = match &staging {
                Staging::File(f) => {
                    Staged::File(f.as_file().try_clone().map_err(|e| e.to_string())?)
                }
                Staging::Dir(d) => Staged::Folder(d.path()),
            };
            encoder.encode_rows(out, &spec, &mut bands)?;
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
