//! Reading and writing PNG and TIFF (incl. multi-page stacks and BigTIFF).
//!
//! Decoding converts colour to grey row by row (PNG) or chunk by chunk (TIFF), so a
//! 9959 × 9958 section costs one grey buffer, never an extra full-size RGB copy.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::Path;

use tiff::decoder::{ChunkType, Decoder as TiffDecoder, DecodingResult, Limits};
use tiff::encoder::{colortype, Compression, DeflateLevel, Rational, TiffEncoder, TiffKind};
use tiff::tags::{ResolutionUnit, Tag};

use crate::error::{IoError, IoErrorKind};
use crate::image::{luma, GreyImage, Image};
use crate::write_atomically;

/// A decoded page and what the reader learnt about it.
#[derive(Clone, Debug)]
pub struct Decoded {
    pub image: GreyImage,
    /// Colour input whose channels differed and were converted with luma weights.
    pub colour_converted: bool,
    /// Pixel size in nm/pixel, when the file carries it (PNG pHYs, TIFF resolution tags).
    pub pixel_size_nm: Option<f64>,
    /// Floating-point pixels outside [0, 1], which become 0 or 255 when mapped to 8 bits
    /// (callers say so). Non-finite pixels are refused instead.
    pub out_of_range: usize,
}

/// Image file formats urisc reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Tiff,
}

impl Format {
    /// The format from a file name's extension (case-insensitive), if it is one urisc reads.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(Format::Png),
            "tif" | "tiff" => Some(Format::Tiff),
            _ => None,
        }
    }
}

/// True if urisc can read files with this name (`.png`, `.tif`, `.tiff`).
pub fn is_image_path(path: &Path) -> bool {
    Format::from_path(path).is_some()
}

pub(crate) fn detect_format(path: &Path) -> Result<Format, IoError> {
    // Trust the magic bytes over the extension: mislabelled files are common in shared datasets.
    let mut magic = [0u8; 8];
    let mut file = File::open(path).map_err(|e| IoError::open(path, e))?;
    let n = std::io::Read::read(&mut file, &mut magic).map_err(|e| IoError::open(path, e))?;
    if n >= 8 && magic == [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'] {
        return Ok(Format::Png);
    }
    if n >= 4 && (&magic[..2] == b"II" || &magic[..2] == b"MM") {
        return Ok(Format::Tiff);
    }
    if n == 0 {
        return Err(IoError::new(path, IoErrorKind::Corrupt, "file is empty"));
    }
    Err(IoError::new(
        path,
        IoErrorKind::Unsupported,
        "not a PNG or TIFF file",
    ))
}

/// Reads the first page of a PNG or TIFF as grey.
pub fn read_image(path: &Path) -> Result<Decoded, IoError> {
    match detect_format(path)? {
        Format::Png => read_png(path),
        Format::Tiff => {
            let mut dec = open_tiff(path)?;
            read_tiff_page(path, &mut dec, 0)
        }
    }
}

/// Reads every page of a file (a PNG is a one-page stack).
pub fn read_stack(path: &Path) -> Result<Vec<Decoded>, IoError> {
    match detect_format(path)? {
        Format::Png => Ok(vec![read_png(path)?]),
        Format::Tiff => {
            let mut dec = open_tiff(path)?;
            let mut pages = vec![read_tiff_page(path, &mut dec, 0)?];
            while dec.more_images() {
                dec.next_image().map_err(|e| tiff_error(path, e))?;
                pages.push(read_tiff_page(path, &mut dec, pages.len())?);
            }
            Ok(pages)
        }
    }
}

/// Reads page `page` (0-based) of a file; a PNG has only page 0.
pub fn read_page(path: &Path, page: usize) -> Result<Decoded, IoError> {
    match detect_format(path)? {
        Format::Png if page == 0 => read_png(path),
        Format::Png => Err(IoError::new(
            path,
            IoErrorKind::Invalid,
            format!("a PNG has no page {page}"),
        )),
        Format::Tiff => {
            let mut dec = open_tiff(path)?;
            dec.seek_to_image(page).map_err(|_| {
                IoError::new(
                    path,
                    IoErrorKind::Invalid,
                    format!("the stack has no page {page}"),
                )
            })?;
            read_tiff_page(path, &mut dec, page)
        }
    }
}

/// Number of pages (1 for PNG) and the size of the first, without decoding pixels.
pub fn probe(path: &Path) -> Result<(usize, usize, usize), IoError> {
    match detect_format(path)? {
        Format::Png => {
            let file = File::open(path).map_err(|e| IoError::open(path, e))?;
            let mut dec = png::Decoder::new(BufReader::new(file));
            let info = dec.read_header_info().map_err(|e| png_error(path, e))?;
            Ok((1, info.height as usize, info.width as usize))
        }
        Format::Tiff => {
            let mut dec = open_tiff(path)?;
            let (w, h) = dec.dimensions().map_err(|e| tiff_error(path, e))?;
            let mut pages = 1;
            while dec.more_images() {
                dec.next_image().map_err(|e| tiff_error(path, e))?;
                pages += 1;
            }
            Ok((pages, h as usize, w as usize))
        }
    }
}

/// The size (rows, columns) of one page from the file's headers, without decoding pixels: what
/// callers check before they allocate for an image.
pub fn page_size(path: &Path, page: usize) -> Result<(usize, usize), IoError> {
    match detect_format(path)? {
        Format::Png => {
            let file = File::open(path).map_err(|e| IoError::open(path, e))?;
            let mut dec = png::Decoder::new(BufReader::new(file));
            let info = dec.read_header_info().map_err(|e| png_error(path, e))?;
            Ok((info.height as usize, info.width as usize))
        }
        Format::Tiff => {
            let mut dec = open_tiff(path)?;
            for k in 0..page {
                if !dec.more_images() {
                    return Err(IoError::new(
                        path,
                        IoErrorKind::Invalid,
                        format!("no page {page} (the stack has {})", k + 1),
                    ));
                }
                dec.next_image().map_err(|e| tiff_error(path, e))?;
            }
            let (w, h) = dec.dimensions().map_err(|e| tiff_error(path, e))?;
            Ok((h as usize, w as usize))
        }
    }
}

pub(crate) fn png_pixel_size(info: &png::Info) -> Option<f64> {
    info.pixel_dims.and_then(|d| match d.unit {
        png::Unit::Meter if d.xppu > 0 => Some(1e9 / d.xppu as f64),
        _ => None,
    })
}

pub(crate) fn png_error(path: &Path, e: png::DecodingError) -> IoError {
    match e {
        png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            IoError::new(
                path,
                IoErrorKind::Corrupt,
                "truncated PNG (file ends early)",
            )
        }
        other => IoError::new(path, IoErrorKind::Corrupt, format!("corrupt PNG: {other}")),
    }
}

pub(crate) fn tiff_error(path: &Path, e: tiff::TiffError) -> IoError {
    match e {
        tiff::TiffError::UnsupportedError(u) => IoError::new(
            path,
            IoErrorKind::Unsupported,
            format!("unsupported TIFF: {u}"),
        ),
        tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            IoError::new(
                path,
                IoErrorKind::Corrupt,
                "truncated TIFF (file ends early)",
            )
        }
        other => IoError::new(path, IoErrorKind::Corrupt, format!("corrupt TIFF: {other}")),
    }
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

/// 8- and 16-bit integer samples, which grey conversion keeps in their own type.
trait Sample: Copy + Into<u16> {
    fn from_u16(v: u16) -> Self;
}

impl Sample for u8 {
    fn from_u16(v: u16) -> Self {
        v as u8
    }
}

impl Sample for u16 {
    fn from_u16(v: u16) -> Self {
        v
    }
}

/// Copies `rows` rows of a decoded chunk (`chunk_width` pixels of `channels` samples each) to
/// grey at `dst` (the chunk's top-left pixel in an image of `stride` columns).
fn paste_chunk<T: Sample>(
    buf: &[T],
    channels: usize,
    chunk_width: usize,
    rows: usize,
    dst: &mut [T],
    stride: usize,
    converted: &mut bool,
) {
    let row_len = chunk_width * channels;
    for (r, src) in buf.chunks_exact(row_len.max(1)).take(rows).enumerate() {
        let out = &mut dst[r * stride..r * stride + chunk_width];
        let mut i = 0;
        collapse_row(
            src,
            channels,
            &mut |v| {
                out[i] = T::from_u16(v);
                i += 1;
            },
            converted,
        );
    }
}

fn read_png(path: &Path) -> Result<Decoded, IoError> {
    let file = File::open(path).map_err(|e| IoError::open(path, e))?;
    let mut dec =
        png::Decoder::new_with_limits(BufReader::new(file), png::Limits { bytes: usize::MAX });
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().map_err(|e| png_error(path, e))?;
    let (height, width) = (reader.info().height as usize, reader.info().width as usize);
    let pixel_size_nm = png_pixel_size(reader.info());
    let interlaced = reader.info().interlaced;
    let (colour, depth) = reader.output_color_type();
    let channels = colour.samples();
    let sixteen = depth == png::BitDepth::Sixteen;
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
    })
}

pub(crate) fn open_tiff(path: &Path) -> Result<TiffDecoder<BufReader<File>>, IoError> {
    let file = File::open(path).map_err(|e| IoError::open(path, e))?;
    TiffDecoder::new(BufReader::new(file))
        .map(|d| d.with_limits(Limits::unlimited()))
        .map_err(|e| tiff_error(path, e))
}

/// Pixel size in nm from TIFF resolution tags (also ImageJ's `unit=` description).
pub(crate) fn tiff_pixel_size<R: std::io::Read + Seek>(dec: &mut TiffDecoder<R>) -> Option<f64> {
    let xres = match dec.find_tag(Tag::XResolution).ok()?? {
        tiff::decoder::ifd::Value::Rational(n, d) if n > 0 && d > 0 => n as f64 / d as f64,
        _ => return None,
    };
    let unit = dec
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten()
        .unwrap_or(2);
    match unit {
        2 => Some(2.54e7 / xres),
        3 => Some(1e7 / xres),
        _ => {
            let desc = dec.get_tag_ascii_string(Tag::ImageDescription).ok()?;
            let unit = desc.lines().find_map(|l| l.strip_prefix("unit="))?.trim();
            let nm_per_unit = match unit {
                "nm" => 1.0,
                "micron" | "um" | "µm" | "\\u00B5m" => 1e3,
                "mm" => 1e6,
                _ => return None,
            };
            Some(nm_per_unit / xres)
        }
    }
}

fn read_tiff_page<R: std::io::Read + Seek>(
    path: &Path,
    dec: &mut TiffDecoder<R>,
    page: usize,
) -> Result<Decoded, IoError> {
    let err = |e| tiff_error(path, e);
    let (w, h) = dec.dimensions().map_err(err)?;
    let (width, height) = (w as usize, h as usize);
    let colour = dec.colortype().map_err(err)?;
    let channels = match colour {
        tiff::ColorType::Gray(_) => 1,
        tiff::ColorType::GrayA(_) => 2,
        tiff::ColorType::RGB(_) => 3,
        tiff::ColorType::RGBA(_) => 4,
        other => {
            return Err(IoError::new(
                path,
                IoErrorKind::Unsupported,
                format!("page {page}: colour type {other:?} is not grey or RGB"),
            ))
        }
    };
    let planar = dec
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .ok()
        .flatten()
        == Some(2);
    if planar && channels > 1 {
        return Err(IoError::new(
            path,
            IoErrorKind::Unsupported,
            format!("page {page}: planar (separate-plane) colour TIFF"),
        ));
    }
    let white_is_zero = dec
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .ok()
        .flatten()
        == Some(0);
    let pixel_size_nm = tiff_pixel_size(dec);

    let (chunk_w, chunk_h) = dec.chunk_dimensions();
    let (chunk_w, chunk_h) = (chunk_w as usize, chunk_h as usize);
    let chunk_type = dec.get_chunk_type();
    let chunks = match chunk_type {
        ChunkType::Strip => dec.strip_count().map_err(err)?,
        ChunkType::Tile => dec.tile_count().map_err(err)?,
    };
    let tiles_across = width.div_ceil(chunk_w.max(1));

    let mut out: Option<GreyImage> = None;
    let mut converted = false;
    for chunk in 0..chunks {
        let (cw, ch) = dec.chunk_data_dimensions(chunk);
        let (cw, ch) = (cw as usize, ch as usize);
        let (row0, col0) = match chunk_type {
            ChunkType::Strip => (chunk as usize * chunk_h, 0),
            ChunkType::Tile => {
                let c = chunk as usize;
                ((c / tiles_across) * chunk_h, (c % tiles_across) * chunk_w)
            }
        };
        let data = dec.read_chunk(chunk).map_err(err)?;
        if out.is_none() {
            out = Some(match &data {
                DecodingResult::U8(_) => GreyImage::U8(Image::filled(height, width, 0)),
                DecodingResult::U16(_) => GreyImage::U16(Image::filled(height, width, 0)),
                DecodingResult::F32(_) | DecodingResult::F64(_) => {
                    GreyImage::F32(Image::filled(height, width, 0.0))
                }
                _ => {
                    return Err(IoError::new(
                        path,
                        IoErrorKind::Unsupported,
                        format!("page {page}: sample format {colour:?} (use 8/16-bit or float)"),
                    ))
                }
            });
        }
        let target = out.as_mut().expect("allocated above");
        let rows = ch.min(height.saturating_sub(row0));
        match (target, data) {
            (GreyImage::U8(img), DecodingResult::U8(buf)) => paste_chunk(
                &buf,
                channels,
                cw,
                rows,
                &mut img.data[row0 * width + col0..],
                width,
                &mut converted,
            ),
            (GreyImage::U16(img), DecodingResult::U16(buf)) => paste_chunk(
                &buf,
                channels,
                cw,
                rows,
                &mut img.data[row0 * width + col0..],
                width,
                &mut converted,
            ),
            (GreyImage::F32(img), data @ (DecodingResult::F32(_) | DecodingResult::F64(_))) => {
                if channels != 1 {
                    return Err(IoError::new(
                        path,
                        IoErrorKind::Unsupported,
                        format!("page {page}: floating-point colour TIFF"),
                    ));
                }
                let values: Vec<f32> = match data {
                    DecodingResult::F32(v) => v,
                    DecodingResult::F64(v) => v.into_iter().map(|x| x as f32).collect(),
                    _ => unreachable!(),
                };
                for r in 0..rows.min(values.len() / cw.max(1)) {
                    let dst = &mut img.data[(row0 + r) * width + col0..][..cw];
                    dst.copy_from_slice(&values[r * cw..(r + 1) * cw]);
                }
            }
            _ => {
                return Err(IoError::new(
                    path,
                    IoErrorKind::Corrupt,
                    format!("page {page}: chunks disagree on sample format"),
                ))
            }
        }
    }
    let mut image = out.ok_or_else(|| {
        IoError::new(
            path,
            IoErrorKind::Corrupt,
            format!("page {page}: no image data"),
        )
    })?;
    if white_is_zero {
        match &mut image {
            GreyImage::U8(i) => i.data.iter_mut().for_each(|v| *v = 255 - *v),
            GreyImage::U16(i) => i.data.iter_mut().for_each(|v| *v = 65535 - *v),
            GreyImage::F32(i) => i.data.iter_mut().for_each(|v| *v = 1.0 - *v),
        }
    }
    let mut out_of_range = 0;
    if let GreyImage::F32(i) = &image {
        let non_finite = i.data.iter().filter(|v| !v.is_finite()).count();
        if non_finite > 0 {
            return Err(IoError::new(
                path,
                IoErrorKind::Invalid,
                format!(
                    "page {page}: {non_finite} non-finite (NaN or infinite) pixel value(s) of {}",
                    i.data.len()
                ),
            ));
        }
        out_of_range = i.data.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
    }
    Ok(Decoded {
        image,
        colour_converted: converted,
        pixel_size_nm,
        out_of_range,
    })
}

/// An 8-bit grey PNG encoder with fast compression and the pixel size in pHYs.
pub(crate) fn grey_png_encoder<W: Write>(
    out: W,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
) -> png::Encoder<'static, W> {
    let mut enc = png::Encoder::new(out, width as u32, height as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    if let Some(nm) = pixel_size_nm.filter(|v| *v > 0.0) {
        let ppm = (1e9 / nm).round() as u32;
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: ppm,
            yppu: ppm,
            unit: png::Unit::Meter,
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

/// Writes one grey page (8-bit, 16-bit or 32-bit float) as a deflate-compressed TIFF, switching
/// to BigTIFF when the pixel data could pass 4 GiB. The pixel size goes into the resolution tags.
pub fn write_tiff(
    path: &Path,
    image: &GreyImage,
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<(), IoError> {
    let bytes = image.height() * image.width() * image.bit_depth() as usize / 8;
    let big = bytes as u64 > (3u64 << 30);
    write_atomically(path, overwrite, |file| {
        let w = BufWriter::new(file);
        let result = if big {
            encode_tiff(TiffEncoder::new_big(w), image, pixel_size_nm)
        } else {
            encode_tiff(TiffEncoder::new(w), image, pixel_size_nm)
        };
        result.map_err(std::io::Error::other)
    })
}

fn encode_tiff<W: Write + Seek, K: TiffKind>(
    encoder: tiff::TiffResult<TiffEncoder<W, K>>,
    image: &GreyImage,
    pixel_size_nm: Option<f64>,
) -> tiff::TiffResult<()> {
    let mut enc = encoder?.with_compression(Compression::Deflate(DeflateLevel::Fast));
    let (w, h) = (image.width() as u32, image.height() as u32);
    // Resolution as pixels per centimetre (1e7 nm per cm) as a rational with 1/100 precision, which
    // keeps the numerator within u32 down to 0.25 nm/pixel.
    let res = pixel_size_nm.filter(|v| *v > 0.0).map(|nm| Rational {
        n: (1e9 / nm).round() as u32,
        d: 100,
    });
    macro_rules! page {
        ($ct:ty, $data:expr) => {{
            let mut img = enc.new_image::<$ct>(w, h)?;
            if let Some(r) = res {
                img.resolution(ResolutionUnit::Centimeter, r);
            }
            // Strips of 64 rows: readers can fetch part of a section without decoding it all.
            img.rows_per_strip(64.min(h.max(1)))?;
            img.write_data($data)
        }};
    }
    match image {
        GreyImage::U8(i) => page!(colortype::Gray8, &i.data),
        GreyImage::U16(i) => page!(colortype::Gray16, &i.data),
        GreyImage::F32(i) => page!(colortype::Gray32Float, &i.data),
    }
}

/// Writes a multi-page 8-bit TIFF stack (as ISBI's `train-volume.tif`).
pub fn write_tiff_stack(
    path: &Path,
    pages: &[Image<u8>],
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<(), IoError> {
    write_atomically(path, overwrite, |file| {
        let mut enc = TiffEncoder::new(BufWriter::new(file))
            .map_err(std::io::Error::other)?
            .with_compression(Compression::Deflate(DeflateLevel::Fast));
        for page in pages {
            let mut img = enc
                .new_image::<colortype::Gray8>(page.width as u32, page.height as u32)
                .map_err(std::io::Error::other)?;
            if let Some(nm) = pixel_size_nm.filter(|v| *v > 0.0) {
                img.resolution(
                    ResolutionUnit::Centimeter,
                    Rational {
                        n: (1e9 / nm).round() as u32,
                        d: 100,
                    },
                );
            }
            img.write_data(&page.data).map_err(std::io::Error::other)?;
        }
        Ok(())
    })
}

/// Convenience: the first page of a file, as 8-bit (see [`GreyImage::into_u8`]).
pub fn read_u8(path: &Path) -> Result<Image<u8>, IoError> {
    Ok(read_image(path)?.image.into_u8())
}
