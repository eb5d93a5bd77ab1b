//! PNG: the [`ImageFormat`] implementation (detection, whole-image and streamed reads through
//! one decoder, the streamed encoder behind [`crate::RowWriter`]) and [`write_png`] /
//! [`write_png_rgb`].
//!
//! Decoding converts colour to grey row by row, so a 9959 × 9958 section costs one grey
//! buffer, never an extra full-size RGB copy. Whole reads and row reads go through the same
//! [`PngPage`]: the same decoder settings, the same colour rule and the same check of the end
//! of the image data (its checksums) after the last row. Inside this module `::png` is the
//! `png` crate.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::atomic::write_atomically;
use crate::format::{only_page, Head, ImageFormat, RowSpec, Staged};
use crate::sample::{
    check_pixels, collapse_row, expect_rows, open_file, u16_to_u8, Decoded, GreyImage, Image,
    IoError, IoErrorKind, MemoryRows, RowSource, Samples,
};

/// The PNG signature, a file's first 8 bytes.
const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// PNG in the format registry.
pub(crate) struct Png;

impl ImageFormat for Png {
    fn name(&self) -> &'static str {
        "PNG"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["png"]
    }

    fn detect(&self, head: &Head) -> bool {
        matches!(head, Head::File(magic) if magic.len() >= 8 && magic[..8] == SIGNATURE)
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
        PngPage::open(path)?.read_whole()
    }

    /// Non-interlaced PNGs (any bit depth, grey or colour) are decoded as they are read;
    /// interlaced ones, whose rows arrive in passes, are decoded whole first.
    fn open_rows(&self, path: &Path, page: usize) -> Result<Box<dyn RowSource>, IoError> {
        only_page(path, page, self.name())?;
        let png = PngPage::open(path)?;
        if png.interlaced {
            return Ok(Box::new(MemoryRows::decoded(png.read_whole()?)));
        }
        Ok(Box::new(PngRows {
            wide: Vec::new(),
            png,
        }))
    }

    fn band_rows(&self) -> usize {
        16
    }

    fn check_sample(&self, sample: &str) -> Result<(), &'static str> {
        if sample == "uint8" {
            Ok(())
        } else {
            Err("PNG holds 8-bit values only (use TIFF or OME-Zarr for float)")
        }
    }

    fn encode_rows(
        &self,
        out: Staged,
        spec: &RowSpec,
        bands: &mut dyn Iterator<Item = Vec<u8>>,
    ) -> Result<(), String> {
        let Staged::File(file) = out else {
            return Err("a PNG is written to a file".into());
        };
        encode_rows(file, spec.height, spec.width, spec.pixel_size_nm, bands)
    }
}

fn png_pixel_size(info: &::png::Info) -> Option<f64> {
    info.pixel_dims.and_then(|d| match d.unit {
        ::png::Unit::Meter if d.xppu > 0 => Some(1e9 / d.xppu as f64),
        _ => None,
    })
}

fn png_error(path: &Path, e: ::png::DecodingError) -> IoError {
    match e {
        ::png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            IoError::new(
                path,
                IoErrorKind::Corrupt,
                "truncated PNG (file ends early)",
            )
        }
        other => IoError::new(
            path,
            IoErrorKind::Corrupt,
            format!("corrupt PNG: {}", chunk_names(&other.to_string())),
        ),
    }
}

/// The decoder's messages name chunks by their debug form (`ChunkType { type: IDAT, critical:
/// true, … }`); the four-letter type says it.
fn chunk_names(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("ChunkType { type: ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "ChunkType { type: ".len()..];
        let name_end = after.find(',').unwrap_or(after.len());
        out.push_str(&after[..name_end]);
        rest = after.find('}').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out
}

/// The size (rows, columns) from the header, without decoding pixels.
fn header_size(path: &Path) -> Result<(usize, usize), IoError> {
    let file = open_file(path)?;
    let mut dec = ::png::Decoder::new(BufReader::new(file));
    let info = dec.read_header_info().map_err(|e| png_error(path, e))?;
    Ok((info.height as usize, info.width as usize))
}

/// Memory the `png` crate may take for one decoded line and the ancillary chunks it inflates
/// (`iCCP`, `zTXt`): a line of 32 million 16-bit RGBA pixels, and a compression bomb in a
/// metadata chunk is refused rather than inflated without end. The image itself is bounded
/// by [`crate::MAX_PLANE_PIXELS`].
const PNG_DECODER_BYTES: usize = 256 << 20;

/// A PNG opened for decoding, the one decoder behind whole-image and row reads: colour
/// expanded to 8 or 16 bits per sample.
struct PngPage {
    path: PathBuf,
    reader: ::png::Reader<BufReader<File>>,
    height: usize,
    width: usize,
    /// Samples per pixel as decoded (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA).
    channels: usize,
    /// 16 bits per sample (big-endian in decoded rows), else 8.
    sixteen: bool,
    interlaced: bool,
    pixel_size_nm: Option<f64>,
    /// Rows decoded so far (non-interlaced reading).
    rows_read: usize,
    /// One decoded row before its conversion to grey.
    scratch: Vec<u8>,
    /// Colour with unequal channels was converted with luma weights.
    converted: bool,
}

impl PngPage {
    fn open(path: &Path) -> Result<PngPage, IoError> {
        let file = open_file(path)?;
        let mut dec = ::png::Decoder::new_with_limits(
            BufReader::new(file),
            ::png::Limits {
                bytes: PNG_DECODER_BYTES,
            },
        );
        dec.set_transformations(::png::Transformations::EXPAND);
        let reader = dec.read_info().map_err(|e| png_error(path, e))?;
        check_pixels(
            path,
            "an image",
            reader.info().height as u64,
            reader.info().width as u64,
        )?;
        let (colour, depth) = reader.output_color_type();
        Ok(PngPage {
            path: path.to_path_buf(),
            height: reader.info().height as usize,
            width: reader.info().width as usize,
            channels: colour.samples(),
            sixteen: depth == ::png::BitDepth::Sixteen,
            interlaced: reader.info().interlaced,
            pixel_size_nm: png_pixel_size(reader.info()),
            rows_read: 0,
            scratch: Vec::new(),
            converted: false,
            reader,
        })
    }

    /// Rows decode straight to 8-bit grey, with nothing to convert.
    fn plain(&self) -> bool {
        self.channels == 1 && !self.sixteen
    }

    /// Decodes the next row of a non-interlaced PNG into `buf` as decoded (the output line,
    /// `width · channels` samples). After the last row the rest of the image data is read, so
    /// its checksums and the end of its compressed stream are checked by every reader.
    fn next_raw_row(&mut self, buf: &mut [u8]) -> Result<(), IoError> {
        let path = &self.path;
        let missing = || IoError::new(path, IoErrorKind::Corrupt, "truncated PNG (missing rows)");
        if self.rows_read == self.height {
            return Err(missing());
        }
        self.reader
            .read_row(buf)
            .map_err(|e| png_error(path, e))?
            .ok_or_else(missing)?;
        self.rows_read += 1;
        if self.rows_read == self.height {
            // No row is left: asking for one reads the rest of the image data.
            self.reader.next_row().map_err(|e| png_error(path, e))?;
        }
        Ok(())
    }

    /// Decodes the next row and hands its grey values to `put` (colour collapsed by the shared
    /// rule, 16-bit values kept).
    fn next_grey_row(&mut self, put: &mut impl FnMut(u16)) -> Result<(), IoError> {
        let mut raw = std::mem::take(&mut self.scratch);
        raw.resize(
            self.width * self.channels * if self.sixteen { 2 } else { 1 },
            0,
        );
        let result = self.next_raw_row(&mut raw);
        if result.is_ok() {
            self.collapse(&raw, put);
        }
        self.scratch = raw;
        result
    }

    /// Collapses decoded rows (one or more, packed) to grey.
    fn collapse(&mut self, bytes: &[u8], put: &mut impl FnMut(u16)) {
        if self.sixteen {
            let samples: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .collect();
            collapse_row(&samples, self.channels, put, &mut self.converted);
        } else {
            collapse_row(bytes, self.channels, put, &mut self.converted);
        }
    }

    /// Decodes the (only) image whole, as grey.
    fn read_whole(mut self) -> Result<Decoded, IoError> {
        let (height, width) = (self.height, self.width);
        let image = if self.plain() {
            // Already 8-bit grey: decode straight into the final buffer.
            let mut data = vec![0u8; height * width];
            if self.interlaced {
                self.reader
                    .next_frame(&mut data)
                    .map_err(|e| png_error(&self.path, e))?;
            } else {
                for row in data.chunks_exact_mut(width.max(1)) {
                    self.next_raw_row(row)?;
                }
            }
            GreyImage::U8(Image::new(height, width, data))
        } else {
            let mut grey: Vec<u16> = Vec::with_capacity(height * width);
            if self.interlaced {
                // Interlaced rows arrive in passes; decode the frame whole (rare for EM data).
                let size = self.reader.output_buffer_size().unwrap_or(0);
                let mut buf = vec![0u8; size];
                self.reader
                    .next_frame(&mut buf)
                    .map_err(|e| png_error(&self.path, e))?;
                self.collapse(&buf, &mut |v| grey.push(v));
            } else {
                for _ in 0..height {
                    self.next_grey_row(&mut |v| grey.push(v))?;
                }
            }
            if grey.len() != height * width {
                return Err(IoError::new(
                    &self.path,
                    IoErrorKind::Corrupt,
                    "truncated PNG (missing rows)",
                ));
            }
            if self.sixteen {
                GreyImage::U16(Image::new(height, width, grey))
            } else {
                GreyImage::U8(Image::new(
                    height,
                    width,
                    grey.into_iter().map(|v| v as u8).collect(),
                ))
            }
        };
        Ok(Decoded {
            image,
            colour_converted: self.converted,
            pixel_size_nm: self.pixel_size_nm,
            out_of_range: 0,
            membrane_probability: false,
        })
    }
}

/// A non-interlaced PNG read row by row, as 8-bit grey (16-bit values by the rule of
/// [`GreyImage::into_u8`]).
struct PngRows {
    png: PngPage,
    /// One grey row of a 16-bit PNG before it is narrowed.
    wide: Vec<u16>,
}

impl RowSource for PngRows {
    fn height(&self) -> usize {
        self.png.height
    }
    fn width(&self) -> usize {
        self.png.width
    }
    fn pixel_size_nm(&self) -> Option<f64> {
        self.png.pixel_size_nm
    }
    fn samples(&self) -> Samples {
        if self.png.sixteen {
            Samples::U16
        } else {
            Samples::U8
        }
    }
    fn colour_converted(&self) -> bool {
        self.png.converted
    }
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        if self.png.plain() {
            return self.png.next_raw_row(row);
        }
        if self.png.sixteen {
            let wide = &mut self.wide;
            wide.clear();
            self.png.next_grey_row(&mut |v| wide.push(v))?;
            for (out, &v) in row.iter_mut().zip(wide.iter()) {
                *out = u16_to_u8(v);
            }
        } else {
            let mut i = 0;
            self.png.next_grey_row(&mut |v| {
                row[i] = v as u8;
                i += 1;
            })?;
        }
        Ok(())
    }
}

/// An 8-bit grey PNG encoder with fast compression and the pixel size in pHYs.
fn grey_png_encoder<W: Write>(
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

/// The [`crate::RowWriter`] thread's PNG encoder: bands of rows in, one PNG out.
fn encode_rows(
    file: File,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
    bands: &mut dyn Iterator<Item = Vec<u8>>,
) -> Result<(), String> {
    let mut stream = grey_png_encoder(BufWriter::new(file), height, width, pixel_size_nm)
        .write_header()
        .and_then(|w| w.into_stream_writer())
        .map_err(|e| e.to_string())?;
    let mut received = 0;
    for band in bands {
        received += band.len();
        stream.write_all(&band).map_err(|e| e.to_string())?;
    }
    expect_rows(received, height, width)?;
    stream.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_types_are_named_by_their_four_letters() {
        assert_eq!(
            chunk_names(
                "CRC error: expected 0x1 have 0x2 while decoding ChunkType { type: IDAT, \
                 critical: true, private: false, reserved: false, safecopy: false } chunk."
            ),
            "CRC error: expected 0x1 have 0x2 while decoding IDAT chunk."
        );
        assert_eq!(chunk_names("no chunk here"), "no chunk here");
    }
}
