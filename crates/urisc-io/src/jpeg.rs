//! JPEG input (baseline and progressive, 8-bit grey or colour) through `zune-jpeg`, the decoder
//! the `tiff` crate already uses for JPEG-compressed TIFFs: the [`ImageFormat`] implementation.
//! urisc does not write JPEG.
//!
//! Colour follows the rule of the other formats ([`collapse_row`]): pixels whose channels are
//! equal are grey already, others become luma and set `colour_converted`. JPEG has no pages: it
//! is a one-page stack. Damaged files are errors, never silently grey-filled: the decoder runs
//! in strict mode, where a truncated scan is refused instead of padded.
//!
//! The pixel size is not read (`pixel_size_nm` is `None`): `zune-jpeg` does not expose the JFIF
//! density, which is usually a nominal 72 dpi or a bare aspect ratio anyway.
//!
//! `zune-jpeg` has no row-by-row interface, so a streamed read decodes the whole image (to grey)
//! through the same [`read`] and serves its rows from memory (the trait's default
//! [`ImageFormat::open_rows`]): one byte per pixel held, as for any file decoded whole (colour
//! JPEGs pass through three while decoding).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use zune_jpeg::errors::DecodeErrors;
use zune_jpeg::zune_core::bytestream::ZByteIoError;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::format::{only_page, Head, ImageFormat};
use crate::sample::{
    check_pixels, collapse_row, open_file, Decoded, GreyImage, Image, IoError, IoErrorKind,
};

/// JPEG in the format registry.
pub(crate) struct Jpeg;

impl ImageFormat for Jpeg {
    fn name(&self) -> &'static str {
        "JPEG"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["jpg", "jpeg"]
    }

    /// The SOI marker followed by the first segment's marker prefix.
    fn detect(&self, head: &Head) -> bool {
        matches!(head, Head::File(magic) if magic.len() >= 3 && magic[..3] == [0xFF, 0xD8, 0xFF])
    }

    fn probe(&self, path: &Path) -> Result<(usize, usize, usize), IoError> {
        let (h, w) = header_size(path)?;
        Ok((1, h, w))
    }

    fn page_size(&self, path: &Path, _page: usize) -> Result<(usize, usize), IoError> {
        header_size(path)
    }

    fn read_page(&self, path: &Path, page: usize) -> Result<Decoded, IoError> {
        only_page(path, page, self.name())?;
        read(path)
    }
}

/// Strict decoding (damaged data is an error) and no size limit below JPEG's own 65535².
fn options() -> DecoderOptions {
    DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize)
}

fn jpeg_error(path: &Path, e: DecodeErrors) -> IoError {
    let truncated = || {
        IoError::new(
            path,
            IoErrorKind::Corrupt,
            "truncated JPEG (file ends early)",
        )
    };
    match e {
        DecodeErrors::ExhaustedData
        | DecodeErrors::IoErrors(ZByteIoError::NotEnoughBytes(..))
        | DecodeErrors::FormatStatic("Premature end of buffer") => truncated(),
        DecodeErrors::IoErrors(ZByteIoError::StdIoError(io))
            if io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            truncated()
        }
        DecodeErrors::Unsupported(scheme) => IoError::new(
            path,
            IoErrorKind::Unsupported,
            format!("unsupported JPEG: {scheme:?}"),
        ),
        DecodeErrors::SofError(m) if m.contains("only parse 8-bit") => IoError::new(
            path,
            IoErrorKind::Unsupported,
            format!("unsupported JPEG: {m}"),
        ),
        other => IoError::new(path, IoErrorKind::Corrupt, format!("corrupt JPEG: {other}")),
    }
}

/// A decoder that has read the headers (up to the first scan), not the pixels.
fn open(path: &Path) -> Result<JpegDecoder<BufReader<File>>, IoError> {
    let file = open_file(path)?;
    let mut dec = JpegDecoder::new_with_options(BufReader::new(file), options());
    dec.decode_headers().map_err(|e| jpeg_error(path, e))?;
    Ok(dec)
}

/// The size (rows, columns) from the frame header, without decoding pixels.
fn header_size(path: &Path) -> Result<(usize, usize), IoError> {
    let dec = open(path)?;
    let (w, h) = dec.dimensions().expect("headers decoded");
    Ok((h, w))
}

/// Decodes the image as grey.
fn read(path: &Path) -> Result<Decoded, IoError> {
    let mut dec = open(path)?;
    let (width, height) = dec.dimensions().expect("headers decoded");
    check_pixels(path, "an image", height as u64, width as u64)?;
    let channels = match dec.input_colorspace().expect("headers decoded") {
        ColorSpace::Luma => 1,
        ColorSpace::YCbCr | ColorSpace::RGB => 3,
        other => {
            return Err(IoError::new(
                path,
                IoErrorKind::Unsupported,
                format!("colour space {other:?} is not grey or RGB"),
            ))
        }
    };
    // Grey JPEGs decode straight to one sample per pixel; colour ones to RGB, so that equal
    // channels can be told from unequal ones as for PNG and TIFF.
    let out = if channels == 1 {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    dec.set_options(options().jpeg_set_out_colorspace(out));
    let mut data = vec![0u8; height * width * channels];
    dec.decode_into(&mut data)
        .map_err(|e| jpeg_error(path, e))?;
    let mut converted = false;
    if channels == 3 {
        // Grey in place, row by row: grey row r ends at (r + 1)·width ≤ 3r·width where RGB
        // row r starts (r ≥ 1), so no row is overwritten before it is read. Peak memory is the
        // RGB buffer, never a second full-size one.
        let mut grey = vec![0u8; width];
        for r in 0..height {
            let mut i = 0;
            collapse_row(
                &data[3 * r * width..3 * (r + 1) * width],
                3,
                &mut |v| {
                    grey[i] = v as u8;
                    i += 1;
                },
                &mut converted,
            );
            data[r * width..(r + 1) * width].copy_from_slice(&grey);
        }
        data.truncate(height * width);
        data.shrink_to_fit();
    }
    Ok(Decoded {
        image: GreyImage::U8(Image::new(height, width, data)),
        colour_converted: converted,
        pixel_size_nm: None,
        out_of_range: 0,
        membrane_probability: false,
    })
}
