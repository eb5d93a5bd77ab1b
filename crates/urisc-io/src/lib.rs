//! Image I/O and dataset discovery for urisc.
//!
//! - [`read_image`] / [`read_stack`] decode PNG, TIFF (8/16-bit, float, grey or RGB, multi-page,
//!   BigTIFF, deflate/LZW/PackBits/JPEG) and JPEG (baseline or progressive, grey or colour) to
//!   one grey buffer per page.
//! - [`write_png`] / [`write_tiff`] write atomically: a temporary file in the same folder,
//!   renamed over the final name only when complete.
//! - [`open_rows`] / [`RowWriter`] stream images by rows (PNG, TIFF, OME-Zarr), so
//!   sections are processed in memory that does not grow with their area.
//! - [`ZarrArray`] / [`ZarrRows`] read Zarr v3 / OME-Zarr arrays (2-D or z stacks) by regions
//!   or rows; the readers above take a Zarr store folder as well.
//! - [`dataset::discover`] recognises the U-RISC release layout, ISBI 2012 stacks and generic
//!   `images/` + `labels/` folders.
//!
//! # Layout
//!
//! A format registry without module cycles (`scripts/module-cycles.py` checks it): each module
//! names items only of the modules listed before it.
//!
//! - [`encoding`]: the map encodings (SPEC §2), a leaf.
//! - `sample`: what every other module uses, depending on nothing in the crate but `encoding`: [`Image`],
//!   [`GreyImage`], [`Decoded`], [`IoError`] / [`IoErrorKind`], [`RowSource`], [`MemoryRows`],
//!   [`StreamSample`], the colour → grey rule all decoders share.
//! - [`digest`]: urisc's one content hash (64-bit FNV-1a), a leaf.
//! - `atomic`: the atomic-write helpers ([`write_atomically`], [`check_writable`],
//!   [`remove_stale_temporaries`]).
//! - [`paths`]: the path rules every command shares ([`paths::resolved`] spellings,
//!   [`paths::refuse_input`]: an output is never an input, [`paths::CreatedFolders`]).
//! - [`lock`]: one writer per output folder ([`lock::FolderLock`], released by the operating
//!   system when its process ends).
//! - `format`: the one trait a format implements (detection by content, whole-page read, row
//!   reader, streamed encoder where urisc writes it).
//! - One implementation per format: `png` (with [`write_png`], [`write_png_rgb`]), `tiff` (with
//!   [`write_tiff`], [`write_tiff_stack`], [`write_label_tiff`]), `jpeg`, and [`zarr`] (the
//!   Zarr v3 reader [`ZarrArray`] / [`ZarrRows`], the OME-Zarr encoder ([`ZARR_CHUNK`]) and the
//!   chunk-addressed store writer [`zarr::store`], also reachable as [`zarr_store`]). A
//!   format's whole-page read and its row reader share one decoder, so both accept and refuse
//!   the same files.
//! - `registry`: the list of formats ([`Format`]) and detection by content, and the entry points
//!   that pick through it: [`read_image`], [`read_stack`], [`read_page`], [`probe`],
//!   [`page_size`], [`read_u8`], [`read_labels`], [`open_rows`], [`is_image_path`],
//!   [`is_image_input`], [`image_stem`]. A file is read as what it holds whatever its name (a
//!   JPEG named `.png` is a JPEG); the extension only chooses which files of a folder are
//!   images.
//! - `writer`: [`RowWriter`] and [`StreamFormat`] (staging under a temporary name, the
//!   background encoder thread, the rename into place).
//! - [`dataset`]: dataset discovery and statistics, reading through the registry.
//!
//! Polarity on disk is membrane = black (0): [`encoding`] (a leaf) holds that rule and every
//! other way a membrane map is stored (SPEC §2). [`sections`] turns command-line paths into the
//! 2-D sections commands process (a multi-page TIFF or a 3-D Zarr is one section per plane),
//! through the registry.
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

mod atomic;
pub mod dataset;
pub mod digest;
pub mod encoding;
mod format;
mod jpeg;
pub mod lock;
pub mod paths;
mod png;
mod registry;
mod sample;
pub mod sections;
mod tiff;
mod writer;
pub mod zarr;

pub use atomic::{check_writable, remove_stale_temporaries, write_atomically};
pub use png::{write_png, write_png_rgb};
pub use registry::{
    image_stem, is_image_input, is_image_path, open_rows, page_size, probe, read_image,
    read_labels, read_page, read_stack, read_u8, Format,
};
pub use sample::{
    luma, one_line, reflect, Decoded, GreyImage, Image, IoError, IoErrorKind, MemoryRows,
    RowSource, Samples, StreamSample, MAX_PLANE_PIXELS,
};
pub use tiff::{write_label_tiff, write_tiff, write_tiff_stack, PROBABILITY_DESCRIPTION};
pub use writer::{RowWriter, StreamFormat};
pub use zarr::store as zarr_store;
pub use zarr::{ZarrArray, ZarrRows, ZARR_CHUNK};
