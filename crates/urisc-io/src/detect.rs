//! The one content detector: which format a file holds, from its first bytes.
//!
//! Every reader, whole-image ([`crate::read_image`] and its siblings) or streamed
//! ([`crate::open_rows`]), asks [`detect_format`] and never the file name: mislabelled files are
//! common in shared datasets (the U-RISC release ships JPEGs named `.png`). The extension is
//! used only to pick which files of a folder are images at all ([`is_image_path`]).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{IoError, IoErrorKind};

/// Image file formats urisc reads (PNG and TIFF it also writes; JPEG is read only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PNG (`.png`).
    Png,
    /// TIFF or BigTIFF, possibly multi-page (`.tif`, `.tiff`).
    Tiff,
    /// JPEG, baseline or progressive (`.jpg`, `.jpeg`).
    Jpeg,
    /// A Zarr v3 store: a folder with `zarr.json` (an OME-Zarr group or an array); read only
    /// here, written by [`crate::RowWriter`].
    Zarr,
}

impl Format {
    /// The format from a file name's extension (case-insensitive), if it is one urisc reads.
    /// Only for choosing files: what a file holds is decided by its magic bytes.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(Format::Png),
            "tif" | "tiff" => Some(Format::Tiff),
            "jpg" | "jpeg" => Some(Format::Jpeg),
            _ => None,
        }
    }

    /// The format's usual name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Png => "PNG",
            Format::Tiff => "TIFF",
            Format::Jpeg => "JPEG",
            Format::Zarr => "Zarr store",
        }
    }

    /// The format whose signature `magic` (a file's first bytes, 8 or fewer) starts with.
    pub(crate) fn from_magic(magic: &[u8]) -> Option<Format> {
        const PNG: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
        if magic.len() >= 8 && magic[..8] == PNG {
            return Some(Format::Png);
        }
        if magic.len() >= 4 && (&magic[..2] == b"II" || &magic[..2] == b"MM") {
            return Some(Format::Tiff);
        }
        // SOI marker followed by the first segment's marker prefix.
        if magic.len() >= 3 && magic[..3] == [0xFF, 0xD8, 0xFF] {
            return Some(Format::Jpeg);
        }
        None
    }
}

/// True if urisc can read files with this name (`.png`, `.tif`, `.tiff`, `.jpg`, `.jpeg`).
pub fn is_image_path(path: &Path) -> bool {
    Format::from_path(path).is_some()
}

/// The format of the file at `path`, from its magic bytes (the extension is not looked at); a
/// folder is a Zarr store if it holds `zarr.json`.
pub(crate) fn detect_format(path: &Path) -> Result<Format, IoError> {
    if path.is_dir() {
        if path.join("zarr.json").is_file() {
            return Ok(Format::Zarr);
        }
        return Err(IoError::new(
            path,
            IoErrorKind::Unsupported,
            "a folder, not an image (and not a Zarr store: no zarr.json)",
        ));
    }
    // Trust the magic bytes over the extension: mislabelled files are common in shared datasets.
    let mut magic = [0u8; 8];
    let mut file = File::open(path).map_err(|e| IoError::open(path, e))?;
    let n = read_up_to(&mut file, &mut magic).map_err(|e| IoError::open(path, e))?;
    if let Some(format) = Format::from_magic(&magic[..n]) {
        return Ok(format);
    }
    if n == 0 {
        return Err(IoError::new(path, IoErrorKind::Corrupt, "file is empty"));
    }
    Err(IoError::new(
        path,
        IoErrorKind::Unsupported,
        "not a PNG, TIFF or JPEG file (nor a Zarr store)",
    ))
}

/// Fills as much of `buf` as the file has (one `read` may return fewer bytes than exist).
fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decide_and_short_or_unknown_heads_do_not() {
        let png = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
        assert_eq!(Format::from_magic(&png), Some(Format::Png));
        assert_eq!(Format::from_magic(&png[..7]), None);
        assert_eq!(Format::from_magic(b"II*\0\x08\0\0\0"), Some(Format::Tiff));
        assert_eq!(Format::from_magic(b"MM\0+"), Some(Format::Tiff));
        assert_eq!(
            Format::from_magic(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(Format::Jpeg)
        );
        assert_eq!(Format::from_magic(&[0xFF, 0xD8]), None);
        assert_eq!(Format::from_magic(b"hello, w"), None);
        assert_eq!(Format::from_magic(&[]), None);
    }

    #[test]
    fn extensions_choose_files_case_insensitively() {
        for (name, format) in [
            ("a.PNG", Some(Format::Png)),
            ("a.tif", Some(Format::Tiff)),
            ("a.TIFF", Some(Format::Tiff)),
            ("a.jpg", Some(Format::Jpeg)),
            ("a.JPEG", Some(Format::Jpeg)),
            ("a.zarr", None),
            ("a", None),
        ] {
            assert_eq!(Format::from_path(Path::new(name)), format, "{name}");
            assert_eq!(is_image_path(Path::new(name)), format.is_some(), "{name}");
        }
    }
}
