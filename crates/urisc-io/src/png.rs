//! PNG: whole-image reading and writing, a row-streaming reader and the streamed encoder
//! behind [`crate::RowWriter`].
//!
//! Decoding converts colour to grey row by row, so a 9959 × 9958 section costs one grey
//! buffer, never an extra full-size RGB copy. Inside this module `::png` is the `png` crate.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::codec::{collapse_row, collapse_row_u8, Decoded};
use crate::error::{IoError, IoErrorKind};
use crate::image::{GreyImage, Image};
use crate::stream::{as_u8, expect_rows, RowSource, StreamSample};
use crate::write_atomically;

pub(crate) fn png_pixel_size(info: &::png::Info) -> Option<f64> {
    info.pixel_dims.and_then(|d| match d.unit {
        ::png::Unit::Meter if d.xppu > 0 => Some(1e9 / d.xppu as f64),
        _ => None,
    })
}

pub(crate) fn png_error(path: &Path, e: ::png::DecodingError) -> IoError {
    match e {
        ::png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            IoError::new(
                path,
                IoErrorKind::Corrupt,
                "truncated PNG (file ends early)",
            )
        }
        other => IoError::new(path, IoErrorKind::Corrupt, format!("corrupt PNG: {other}")),
    }
}

/// The size (rows, columns) from the header, without decoding pixels.
pub(crate) fn header_size(path: &Path) -> Result<(usize, usize), IoError> {
    let file = File::open(path).map_err(|e| IoError::open(path, e))?;
    let mut dec = ::png::Decoder::new(BufReader::new(file));
    let info = dec.read_header_info().map_err(|e| png_error(path, e))?;
    Ok((info.height as usize, info.width as usize))
}

/// Decodes the (only) image of a PNG as grey.
pub(crate) fn read(path: &Path) -> Result<Decoded, IoError> {
    let file = File::open(path).map_err(|e| IoError::open(path, e))?;
    let mut dec =
        ::png::Decoder::new_with_limits(BufReader::new(file), ::png::Limits { bytes: usize::MAX });
    dec.set_transformations(::png::Transformations::EXPAND);
    let mut reader = dec.read_info().map_err(|e| png_error(path, e))?;
    let (height, width) = (reader.info().height as usize, reader.info().width as usize);
    let pixel_size_nm = png_pixel_size(reader.info());
    let interlaced = reader.info().interlaced;
    let (colour, depth) = reader.output_color_type();
    let channels = colour.samples();
    let sixteen = depth == ::png::BitDepth::Sixteen;
    let mut converted = false;

    if channels == 1 && !sixteen {
        // Already 8-bit grey: decode straight into the final buffer.
        let mut data = vec![0u8; height * width];
        reader
            .next_frame(&mut data)
            .map_err(|e| png_error(path, e))?;
        return Ok(Decoded {
            image: GreyImage::U8(Image::new(height, width, data)),
            colour_converted: false,
            pixel_size_nm,
            out_of_range: 0,
            membrane_probability: false,
        });
    }

    let mut grey: Vec<u16> = Vec::with_capacity(height * width);
    let mut push = |v: u16| grey.push(v);
    let mut convert = |bytes: &[u8], converted: &mut bool| {
        if sixteen {
            let samples: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .collect();
            collapse_row(&samples, channels, &mut push, converted);
        } else {
            collapse_row(bytes, channels, &mut push, converted);
        }
    };
    if interlaced {
        // Interlaced rows arrive in passes; decode the frame whole (rare for EM data).
        let size = reader.output_buffer_size().unwrap_or(0);
        let mut buf = vec![0u8; size];
        reader
            .next_frame(&mut buf)
            .map_err(|e| png_error(path, e))?;
        convert(&buf, &mut converted);
    } else {
        while let Some(row) = reader.next_row().map_err(|e| png_error(path, e))? {
            convert(row.data(), &mut converted);
        }
    }
    if grey.len() != height * width {
        return Err(IoError::new(
            path,
            IoErrorKind::Corrupt,
            "truncated PNG (missing rows)",
        ));
    }
    let image = if sixteen {
        GreyImage::U16(Image::new(height, width, grey))
    } else {
        GreyImage::U8(Image::new(
            height,
            width,
            grey.into_iter().map(|v| v as u8).collect(),
        ))
    };
    Ok(Decoded {
        image,
        colour_converted: converted,
        pixel_size_nm,
        out_of_range: 0,
        membrane_probability: false,
    })
}

/// An 8-bit grey PNG encoder with fast compression and the pixel size in pHYs.
pub(crate) fn grey_png_encoder<W: Write>(
    out: W,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
) -> ::png::Encoder<'static, W> {
    let mut enc = ::png::Encoder::new(out, width as u32, height as u32);
    enc.set_color(::png::ColorType::Grayscale);
    enc.set_depth(::png::BitDepth::Eight);
    enc.set_compression(::png::Compression::Fast);
    if let Some(nm) = pixel_size_nm.filter(|v| *v > 0.0) {
        let ppm = (1e9 / nm).round() as u32;
        enc.set_pixel_dims(Some(::png::PixelDimensions {
            xppu: ppm,
            yppu: ppm,
            unit: ::png::Unit::Meter,
        }));
    }
    enc
}

/// Writes an 8-bit grey PNG atomically (temporary name, then rename), with the pixel size in pHYs.
pub fn write_png(
    path: &Path,
    image: &Image<u8>,
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<(), IoError> {
    write_atomically(path, overwrite, |file| {
        let enc = grey_png_encoder(
            BufWriter::new(file),
            image.height,
            image.width,
            pixel_size_nm,
        );
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        // Stream rows so no second full-size buffer is built for compression input.
        let mut stream = writer.stream_writer().map_err(std::io::Error::other)?;
        for row in 0..image.height {
            stream.write_all(image.row(row))?;
        }
        stream.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// Writes an 8-bit RGB PNG atomically from interleaved `rgb` samples (`3·height·width`), with
/// the pixel size in pHYs: overlays and other pictures for people, not data.
pub fn write_png_rgb(
    path: &Path,
    height: usize,
    width: usize,
    rgb: &[u8],
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<(), IoError> {
    assert_eq!(
        rgb.len(),
        3 * height * width,
        "RGB buffer does not match {height}×{width}"
    );
    write_atomically(path, overwrite, |file| {
        let mut enc = grey_png_encoder(BufWriter::new(file), height, width, pixel_size_nm);
        enc.set_color(::png::ColorType::Rgb);
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        let mut stream = writer.stream_writer().map_err(std::io::Error::other)?;
        for row in rgb.chunks_exact((3 * width).max(1)) {
            stream.write_all(row)?;
        }
        stream.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// A non-interlaced 8-bit PNG decoded row by row.
pub(crate) struct PngRows {
    path: PathBuf,
    reader: ::png::Reader<BufReader<File>>,
    channels: usize,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
}

impl PngRows {
    /// `None` when the PNG is not one this reader streams (interlaced, or not 8-bit). The
    /// caller has detected the file as PNG by its content.
    pub(crate) fn open(path: &Path) -> Result<Option<PngRows>, IoError> {
        let file = File::open(path).map_err(|e| IoError::open(path, e))?;
        let mut dec = ::png::Decoder::new_with_limits(
            BufReader::new(file),
            ::png::Limits { bytes: usize::MAX },
        );
        dec.set_transformations(::png::Transformations::EXPAND);
        let reader = dec.read_info().map_err(|e| png_error(path, e))?;
        let (colour, depth) = reader.output_color_type();
        if reader.info().interlaced || depth != ::png::BitDepth::Eight {
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

/// The [`crate::RowWriter`] thread's PNG encoder: bands of rows in, one PNG out.
pub(crate) fn encode_rows<T: StreamSample>(
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
