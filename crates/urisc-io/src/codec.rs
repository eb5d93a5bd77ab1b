//! Whole-image reading, the format-independent front end: each reader asks the content
//! detector ([`crate::detect`]) what a file holds and hands it to that format's module
//! ([`crate::png`], [`crate::tiff`], [`crate::jpeg`]), which decodes to one grey buffer per page.
//! Also the colour → grey rule every decoder shares ([`collapse_row`]).

use std::path::Path;

use crate::detect::{detect_format, Format};
use crate::error::{IoError, IoErrorKind};
use crate::image::{luma, GreyImage, Image};
use crate::zarr::ZarrArray;
use crate::{jpeg, png, tiff};

/// A decoded page and what the reader learnt about it.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The page as grey, in its stored sample type (8-bit, 16-bit or float).
    pub image: GreyImage,
    /// Colour input whose channels differed and were converted with luma weights.
    pub colour_converted: bool,
    /// Pixel size in nm/pixel, when the file carries it (PNG pHYs, TIFF resolution tags; JPEG
    /// density is not read).
    pub pixel_size_nm: Option<f64>,
    /// Floating-point pixels outside [0, 1], which become 0 or 255 when mapped to 8 bits
    /// (callers say so). Non-finite pixels are refused instead.
    pub out_of_range: usize,
    /// A floating-point page whose metadata marks it as membrane probabilities p (1 = membrane),
    /// as `urisc predict --probability-type f32` writes them ([`crate::PROBABILITY_DESCRIPTION`]
    /// in a TIFF's ImageDescription, [`crate::zarr_store::mark_membrane_probability`]'s
    /// attribute in OME-Zarr): the opposite of the membrane-dark convention of every other map.
    /// Never set for integer pages.
    pub membrane_probability: bool,
}

/// Reads the first page of a PNG, TIFF or JPEG, or plane 0 of a Zarr store, as grey.
pub fn read_image(path: &Path) -> Result<Decoded, IoError> {
    match detect_format(path)? {
        Format::Png => png::read(path),
        Format::Tiff => tiff::read_first(path),
        Format::Jpeg => jpeg::read(path),
        Format::Zarr => ZarrArray::open(path)?.read_plane(0),
    }
}

/// Reads every page of a file (a PNG or JPEG is a one-page stack; a Zarr store's pages are its
/// z planes).
pub fn read_stack(path: &Path) -> Result<Vec<Decoded>, IoError> {
    match detect_format(path)? {
        Format::Png => Ok(vec![png::read(path)?]),
        Format::Tiff => tiff::read_all(path),
        Format::Jpeg => Ok(vec![jpeg::read(path)?]),
        Format::Zarr => {
            let array = ZarrArray::open(path)?;
            (0..array.planes()).map(|z| array.read_plane(z)).collect()
        }
    }
}

/// Reads page `page` (0-based) of a file; a PNG or JPEG has only page 0.
pub fn read_page(path: &Path, page: usize) -> Result<Decoded, IoError> {
    match detect_format(path)? {
        Format::Tiff => tiff::read_page(path, page),
        Format::Zarr => ZarrArray::open(path)?.read_plane(page),
        format if page > 0 => Err(IoError::new(
            path,
            IoErrorKind::Invalid,
            format!("a {} has no page {page}", format.name()),
        )),
        Format::Png => png::read(path),
        Format::Jpeg => jpeg::read(path),
    }
}

/// Number of pages (1 for PNG and JPEG) and the size of the first, without decoding pixels.
pub fn probe(path: &Path) -> Result<(usize, usize, usize), IoError> {
    match detect_format(path)? {
        Format::Png => {
            let (h, w) = png::header_size(path)?;
            Ok((1, h, w))
        }
        Format::Tiff => tiff::probe(path),
        Format::Jpeg => {
            let (h, w) = jpeg::header_size(path)?;
            Ok((1, h, w))
        }
        Format::Zarr => {
            let array = ZarrArray::open(path)?;
            Ok((array.planes(), array.height(), array.width()))
        }
    }
}

/// The size (rows, columns) of one page from the file's headers, without decoding pixels: what
/// callers check before they allocate for an image.
pub fn page_size(path: &Path, page: usize) -> Result<(usize, usize), IoError> {
    match detect_format(path)? {
        Format::Png => png::header_size(path),
        Format::Tiff => tiff::page_size(path, page),
        Format::Jpeg => jpeg::header_size(path),
        Format::Zarr => {
            let array = ZarrArray::open(path)?;
            if page >= array.planes() {
                return Err(IoError::new(
                    path,
                    IoErrorKind::Invalid,
                    format!(
                        "a Zarr array of {} planes has no plane {page}",
                        array.planes()
                    ),
                ));
            }
            Ok((array.height(), array.width()))
        }
    }
}

/// Convenience: the first page of a file, as 8-bit (see [`crate::GreyImage::into_u8`]).
pub fn read_u8(path: &Path) -> Result<Image<u8>, IoError> {
    Ok(read_image(path)?.image.into_u8())
}

/// Collapses interleaved samples of one row to grey. Equal colour channels are grey already;
/// unequal ones go through luma and set `converted`.
pub(crate) fn collapse_row<T: Copy + Into<u16>>(
    src: &[T],
    channels: usize,
    out: &mut impl FnMut(u16),
    converted: &mut bool,
) {
    match channels {
        1 => src.iter().for_each(|&v| out(v.into())),
        2 => src.chunks_exact(2).for_each(|p| out(p[0].into())),
        _ => src.chunks_exact(channels).for_each(|p| {
            let (r, g, b) = (p[0].into(), p[1].into(), p[2].into());
            if r == g && g == b {
                out(r)
            } else {
                *converted = true;
                out(luma(r, g, b))
            }
        }),
    }
}

/// [`collapse_row`] of 8-bit samples into a row of `out.len()` grey values.
pub(crate) fn collapse_row_u8(src: &[u8], channels: usize, out: &mut [u8]) {
    let mut i = 0;
    let mut converted = false;
    let mut put = |v: u16| {
        out[i] = v as u8;
        i += 1;
    };
    collapse_row(src, channels, &mut put, &mut converted);
}
