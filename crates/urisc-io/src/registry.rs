//! The format registry: the one list of formats ([`Format`] and its [`ImageFormat`]
//! implementation), detection by content, and the entry points that pick a format through it,
//! in the manner of nnU-Net's `reader_writer_registry`.
//!
//! Every reader, whole-image ([`read_image`], [`read_stack`], [`read_page`], [`probe`],
//! [`page_size`], [`read_labels`]) or streamed ([`open_rows`]), and [`crate::dataset`]'s
//! loading, asks [`detect`] and never the file name: mislabelled files are common in shared
//! datasets (the U-RISC release ships JPEGs named `.png`), so a JPEG named `.png` is read as a
//! JPEG. The extension is used only to pick which files of a folder are images at all
//! ([`is_image_path`]).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::format::{Head, ImageFormat};
use crate::jpeg::Jpeg;
use crate::png::Png;
use crate::sample::{open_file, Decoded, GreyImage, Image, IoError, IoErrorKind, RowSource};
use crate::tiff::Tiff;
use crate::zarr::Zarr;

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

/// Every format urisc reads and its implementation, in the order detection tries them.
static FORMATS: [(Format, &dyn ImageFormat); 4] = [
    (Format::Png, &Png),
    (Format::Tiff, &Tiff),
    (Format::Jpeg, &Jpeg),
    (Format::Zarr, &Zarr),
];

impl Format {
    /// The format from a file name's extension (case-insensitive), if it is one urisc reads.
    /// Only for choosing files: what a file holds is decided by its magic bytes.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        FORMATS
            .iter()
            .find(|(_, f)| f.extensions().contains(&ext.as_str()))
            .map(|(format, _)| *format)
    }

    /// The implementation of this format.
    pub(crate) fn reader(self) -> &'static dyn ImageFormat {
        FORMATS
            .iter()
            .find(|(format, _)| *format == self)
            .map(|(_, f)| *f)
            .expect("every format is in the list")
    }

    /// The format whose signature `magic` (a file's first bytes, 8 or fewer) starts with.
    pub(crate) fn from_magic(magic: &[u8]) -> Option<Format> {
        FORMATS
            .iter()
            .find(|(_, f)| f.detect(&Head::File(magic)))
            .map(|(format, _)| *format)
    }

    /// The format stored as the folder `path`, if any.
    pub(crate) fn of_folder(path: &Path) -> Option<Format> {
        FORMATS
            .iter()
            .find(|(_, f)| f.detect(&Head::Folder(path)))
            .map(|(format, _)| *format)
    }
}

/// True if urisc can read files with this name (`.png`, `.tif`, `.tiff`, `.jpg`, `.jpeg`).
pub fn is_image_path(path: &Path) -> bool {
    Format::from_path(path).is_some()
}

/// The format of the file at `path`, from its magic bytes (the extension is not looked at); a
/// folder is a Zarr store if it holds `zarr.json`.
pub(crate) fn detect(path: &Path) -> Result<Format, IoError> {
    if path.is_dir() {
        return Format::of_folder(path).ok_or_else(|| {
            IoError::new(
                path,
                IoErrorKind::Unsupported,
                "a folder, not an image (and not a Zarr store: no zarr.json)",
            )
        });
    }
    // Trust the magic bytes over the extension: mislabelled files are common in shared datasets.
    let mut magic = [0u8; 8];
    let mut file = open_file(path)?;
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

/// The implementation that reads `path`, by its content.
fn reader(path: &Path) -> Result<&'static dyn ImageFormat, IoError> {
    Ok(detect(path)?.reader())
}

/// Reads the first page of a PNG, TIFF or JPEG, or plane 0 of a Zarr store, as grey.
pub fn read_image(path: &Path) -> Result<Decoded, IoError> {
    reader(path)?.read_page(path, 0)
}

/// Reads every page of a file (a PNG or JPEG is a one-page stack; a Zarr store's pages are its
/// z planes).
pub fn read_stack(path: &Path) -> Result<Vec<Decoded>, IoError> {
    reader(path)?.read_stack(path)
}

/// Reads page `page` (0-based) of a file; a PNG or JPEG has only page 0.
pub fn read_page(path: &Path, page: usize) -> Result<Decoded, IoError> {
    reader(path)?.read_page(path, page)
}

/// Number of pages (1 for PNG and JPEG) and the size of the first, without decoding pixels.
pub fn probe(path: &Path) -> Result<(usize, usize, usize), IoError> {
    reader(path)?.probe(path)
}

/// The size (rows, columns) of one page from the file's headers, without decoding pixels: what
/// callers check before they allocate for an image.
pub fn page_size(path: &Path, page: usize) -> Result<(usize, usize), IoError> {
    reader(path)?.page_size(path, page)
}

/// Convenience: the first page of a file, as 8-bit (see [`crate::GreyImage::into_u8`]).
pub fn read_u8(path: &Path) -> Result<Image<u8>, IoError> {
    Ok(read_image(path)?.image.into_u8())
}

/// Opens an image for row streaming, through the same decoder and checks as [`read_image`], so
/// a file is accepted or refused the same way both ways (a refusal may come at a later row).
/// PNGs (unless interlaced) and TIFFs (strips, or rows of tiles) are decoded as they are read;
/// a Zarr store folder (plane 0) one band of chunks at a time; other files (interlaced PNG,
/// JPEG) are decoded whole first and then served by rows. The format is the file's content,
/// whatever its name.
pub fn open_rows(path: &Path) -> Result<Box<dyn RowSource>, IoError> {
    reader(path)?.open_rows(path, 0)
}

/// Reads a label image (cell ids, 0 = boundary): a 32-bit unsigned TIFF as
/// [`crate::write_label_tiff`] writes it, or an 8- or 16-bit grey PNG/TIFF whose values are the
/// ids. Floating-point images are refused: they are maps, not labels.
pub fn read_labels(path: &Path) -> Result<Image<u32>, IoError> {
    let format = reader(path)?;
    if let Some(labels) = format.read_labels(path)? {
        return Ok(labels);
    }
    let decoded = format.read_page(path, 0)?;
    if decoded.colour_converted {
        return Err(IoError::new(
            path,
            IoErrorKind::Invalid,
            "a colour image is not a label image (give one-channel cell ids)",
        ));
    }
    match decoded.image {
        GreyImage::U8(i) => Ok(Image::new(
            i.height,
            i.width,
            i.data.into_iter().map(u32::from).collect(),
        )),
        GreyImage::U16(i) => Ok(Image::new(
            i.height,
            i.width,
            i.data.into_iter().map(u32::from).collect(),
        )),
        GreyImage::F32(_) => Err(IoError::new(
            path,
            IoErrorKind::Invalid,
            "a floating-point image is not a label image (give integer cell ids, e.g. from `urisc cells`)",
        )),
    }
}

/// An image's name without its extension: the file stem, or a Zarr store's folder name without
/// `.ome.zarr` / `.zarr` (outputs and pairs are named by it).
pub fn image_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if Format::of_folder(path).is_some() {
        for suffix in [".ome.zarr", ".zarr"] {
            if let Some(stem) = name.strip_suffix(suffix) {
                return stem.to_string();
            }
        }
        return name;
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether `path` is an image input: a file with an image extension, or a Zarr store.
pub fn is_image_input(path: &Path) -> bool {
    (path.is_file() && is_image_path(path)) || Format::of_folder(path).is_some()
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

    #[test]
    fn every_format_is_listed_once_and_folders_are_only_zarr() {
        for format in [Format::Png, Format::Tiff, Format::Jpeg, Format::Zarr] {
            assert_eq!(FORMATS.iter().filter(|(f, _)| *f == format).count(), 1);
            assert!(!format.reader().name().is_empty());
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Format::of_folder(dir.path()), None);
        std::fs::write(dir.path().join("zarr.json"), "{}").unwrap();
        assert_eq!(Format::of_folder(dir.path()), Some(Format::Zarr));
    }
}
