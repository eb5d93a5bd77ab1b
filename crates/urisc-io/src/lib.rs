//! Image I/O and dataset discovery for urisc.
//!
//! - [`read_image`] / [`read_stack`] decode PNG, TIFF (8/16-bit, float, grey or RGB, multi-page,
//!   BigTIFF, deflate/LZW/PackBits/JPEG) and JPEG (baseline or progressive, grey or colour) to
//!   one grey buffer per page.
//! - [`write_png`] / [`write_tiff`] write atomically: a temporary file in the same folder,
//!   renamed over the final name only when complete.
//! - [`open_rows`] / [`RowWriter`] stream images by rows (PNG, strip TIFF, OME-Zarr), so
//!   sections are processed in memory that does not grow with their area.
//! - [`ZarrArray`] / [`ZarrRows`] read Zarr v3 / OME-Zarr arrays (2-D or z stacks) by regions
//!   or rows; the readers above take a Zarr store folder as well.
//! - [`dataset::discover`] recognises the U-RISC release layout, ISBI 2012 stacks and generic
//!   `images/` + `labels/` folders.
//!
//! # Layout
//!
//! One module per format, behind one content detector:
//!
//! - `detect`: [`Format`] and the magic-byte detector every reader goes through, whole-image or
//!   streamed, so a file is read as what it holds whatever its name (a JPEG named `.png` is a
//!   JPEG); the extension only chooses which files of a folder are images ([`is_image_path`]).
//! - `codec`: the whole-image front end ([`read_image`], [`read_stack`], [`read_page`],
//!   [`probe`], [`page_size`], [`read_u8`], [`Decoded`]) and the colour → grey rule all
//!   decoders share.
//! - `stream`: the streaming front end: [`RowSource`], [`open_rows`], [`MemoryRows`], and
//!   [`RowWriter`] (staging under a temporary name, the background encoder thread, the rename
//!   into place), [`StreamFormat`], [`StreamSample`].
//! - `png`: PNG reading, [`write_png`], the row reader and the streamed encoder.
//! - `tiff`: TIFF reading (stacks, BigTIFF, strips, tiles), [`write_tiff`],
//!   [`write_tiff_stack`], the strip reader and the streamed strip encoder.
//! - `jpeg`: JPEG reading (whole-image; streamed reads decode whole and serve rows from memory).
//! - [`zarr`]: the OME-Zarr writer behind [`RowWriter`] ([`ZARR_CHUNK`]) and the Zarr v3
//!   reader ([`ZarrArray`], [`ZarrRows`]).
//! - [`dataset`], `image` ([`Image`], [`GreyImage`], polarity rules), `error` ([`IoError`]);
//!   and here, the atomic-write helpers ([`write_atomically`], [`check_writable`],
//!   [`remove_stale_temporaries`]).
//!
//! Polarity on disk is membrane = black (0): [`encoding`] holds that rule and every other way a
//! membrane map is stored (SPEC §2). [`sections`] turns command-line paths into the 2-D
//! sections commands process (a multi-page TIFF or a 3-D Zarr is one section per plane).
//!
//! ```
//! use urisc_io::{read_image, write_png, Image};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("map.png");
//! write_png(&path, &Image::new(2, 3, vec![0, 255, 0, 255, 0, 255]), Some(4.0), false).unwrap();
//! let back = read_image(&path).unwrap();
//! assert_eq!(back.image.into_u8().data, vec![0, 255, 0, 255, 0, 255]);
//! assert!((back.pixel_size_nm.unwrap() - 4.0).abs() < 1e-6);
//! ```

mod codec;
pub mod dataset;
mod detect;
pub mod encoding;
mod error;
mod image;
mod jpeg;
mod png;
pub mod sections;
mod stream;
mod tiff;
pub mod zarr;
pub mod zarr_store;

use std::fs::File;
use std::path::Path;

pub use self::png::{write_png, write_png_rgb};
pub use self::tiff::{write_label_tiff, write_tiff, write_tiff_stack, PROBABILITY_DESCRIPTION};
pub use codec::{page_size, probe, read_image, read_page, read_stack, read_u8, Decoded};
pub use detect::{is_image_path, Format};
pub use error::{IoError, IoErrorKind};
pub use image::{luma, reflect, GreyImage, Image};
pub use stream::{open_rows, MemoryRows, RowSource, RowWriter, StreamFormat, StreamSample};
pub use zarr::{ZarrArray, ZarrRows, ZARR_CHUNK};

/// Reads a label image (cell ids, 0 = boundary): a 32-bit unsigned TIFF as
/// [`write_label_tiff`] writes it, or an 8- or 16-bit grey PNG/TIFF whose values are the ids.
/// Floating-point images are refused: they are maps, not labels.
pub fn read_labels(path: &Path) -> Result<Image<u32>, IoError> {
    if detect::detect_format(path)? == Format::Tiff {
        if let Some(labels) = self::tiff::read_u32_labels(path)? {
            return Ok(labels);
        }
    }
    let decoded = read_image(path)?;
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
    if zarr_store::is_zarr(path) {
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
    (path.is_file() && is_image_path(path)) || zarr_store::is_zarr(path)
}

/// Refuses an existing output unless `overwrite` (the CLI's `--force`).
pub fn check_writable(path: &Path, overwrite: bool) -> Result<(), IoError> {
    if !overwrite && path.exists() {
        return Err(IoError::new(
            path,
            IoErrorKind::Exists,
            "output exists (use --force to overwrite)",
        ));
    }
    Ok(())
}

/// Removes what an interrupted write of `path` left beside it: the temporaries urisc names
/// `.NAME.XXXXXX.tmp` (files, or folders for OME-Zarr). Called before each new write of `path`,
/// so stale ones never pile up; one target has one writer at a time.
pub fn remove_stale_temporaries(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(random) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            continue;
        };
        // tempfile's random part: 6 alphanumeric characters.
        if random.len() != 6 || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let stale = entry.path();
        let _ = if stale.is_dir() {
            std::fs::remove_dir_all(&stale)
        } else {
            std::fs::remove_file(&stale)
        };
    }
}

/// Writes a file through a temporary name in the same folder and renames it into place only
/// after `write` succeeded, so a failure (or a full disk) never leaves a partial file under
/// the final name.
pub fn write_atomically(
    path: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), IoError> {
    check_writable(path, overwrite)?;
    remove_stale_temporaries(path);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let werr =
        |e: std::io::Error| IoError::new(path, IoErrorKind::Write, format!("cannot write: {e}"));
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(werr)?;
    write(tmp.as_file_mut()).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    // Temporary files are created private (0600); results are ordinary files others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(werr)?;
    }
    if overwrite {
        tmp.persist(path).map_err(|e| werr(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| werr(e.error))?;
    }
    Ok(())
}
