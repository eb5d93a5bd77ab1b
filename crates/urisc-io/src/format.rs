//! The one trait every image format implements, [`ImageFormat`], in the manner of nnU-Net's
//! `BaseReaderWriter`: detection by content, whole-page reads, streamed row reads and, where
//! urisc writes the format, the streamed encoder behind [`crate::RowWriter`]. One
//! implementation per format (`png`, `tiff`, `jpeg`, `zarr`); the registry (`registry`) holds
//! the list and picks from it by content for every entry point.
//!
//! A format's whole-page read and its row reader share their decoding and validation, so a
//! file is accepted or refused the same way whichever way it is read.

use std::fs::File;
use std::path::Path;

use crate::sample::{Decoded, Image, IoError, IoErrorKind, MemoryRows, RowSource};

/// What a path holds, as detection looks at it.
pub(crate) enum Head<'a> {
    /// A file's first bytes (8 or fewer when the file is shorter).
    File(&'a [u8]),
    /// A folder (formats stored as folders look inside).
    Folder(&'a Path),
}

/// The image a streamed encoder writes.
#[derive(Clone, Copy)]
pub(crate) struct RowSpec {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Pixel size in nm/pixel, written into the format's metadata.
    pub pixel_size_nm: Option<f64>,
    /// Mark float samples as membrane probabilities p (1 = membrane).
    pub membrane_probability: bool,
    /// The sample type's Zarr name ([`crate::StreamSample::ZARR_TYPE`]).
    pub sample: &'static str,
    /// Bytes per sample in the bands.
    pub sample_bytes: usize,
}

/// Where a streamed encoder writes: a staging file or a staging folder, which
/// [`crate::RowWriter`] renames into place once the encoder succeeded.
pub(crate) enum Staged<'a> {
    /// A staging file, open for writing.
    File(File),
    /// A staging folder, empty.
    Folder(&'a Path),
}

/// One image format: how it is recognised, read and (for some) written.
pub(crate) trait ImageFormat: Send + Sync {
    /// The format's usual name, for messages (`PNG`, `TIFF`, `JPEG`, `Zarr store`).
    fn name(&self) -> &'static str;

    /// Lower-case file name extensions that choose files of this format in a folder (none for
    /// formats stored as folders). Only for choosing files: what a file holds is decided by
    /// [`ImageFormat::detect`].
    fn extensions(&self) -> &'static [&'static str];

    /// Whether `head` holds this format: a file's signature, or a folder's layout.
    fn detect(&self, head: &Head) -> bool;

    /// Number of pages and the size (rows, columns) of the first, without decoding pixels.
    fn probe(&self, path: &Path) -> Result<(usize, usize, usize), IoError>;

    /// The size (rows, columns) of page `page` from the headers, without decoding pixels.
    fn page_size(&self, path: &Path, page: usize) -> Result<(usize, usize), IoError>;

    /// Decodes page `page` (0-based) whole, as grey.
    fn read_page(&self, path: &Path, page: usize) -> Result<Decoded, IoError>;

    /// Decodes every page (default: the only page).
    fn read_stack(&self, path: &Path) -> Result<Vec<Decoded>, IoError> {
        Ok(vec![self.read_page(path, 0)?])
    }

    /// Opens page `page` for reading by rows, through the same decoding and checks as
    /// [`ImageFormat::read_page`] (default: decoded whole and served from memory).
    fn open_rows(&self, path: &Path, page: usize) -> Result<Box<dyn RowSource>, IoError> {
        Ok(Box::new(MemoryRows::decoded(self.read_page(path, page)?)))
    }

    /// The first page as `u32` cell ids when the file stores them as such (default: never;
    /// [`crate::read_labels`] then reads the grey page).
    fn read_labels(&self, _path: &Path) -> Result<Option<Image<u32>>, IoError> {
        Ok(None)
    }

    /// Rows per band the streamed encoder takes (0: urisc does not write the format).
    fn band_rows(&self) -> usize {
        0
    }

    /// Whether the format is written as a folder (staged as a temporary folder).
    fn writes_folder(&self) -> bool {
        false
    }

    /// Refuses a sample type (a Zarr name) the format cannot hold, saying why.
    fn check_sample(&self, _sample: &str) -> Result<(), &'static str> {
        Ok(())
    }

    /// The [`crate::RowWriter`] thread's encoder: bands of rows in (little-endian sample bytes,
    /// [`ImageFormat::band_rows`] rows each, the last one shorter), one image out into `out`.
    fn encode_rows(
        &self,
        _out: Staged,
        _spec: &RowSpec,
        _bands: &mut dyn Iterator<Item = Vec<u8>>,
    ) -> Result<(), String> {
        Err(format!("urisc does not write {}", self.name()))
    }
}

/// Refuses page `page` > 0 of a one-page format called `name`.
pub(crate) fn only_page(path: &Path, page: usize, name: &str) -> Result<(), IoError> {
    if page > 0 {
        return Err(IoError::new(
            path,
            IoErrorKind::Invalid,
            format!("a {name} has no page {page}"),
        ));
    }
    Ok(())
}
