//! TIFF: whole-image reading (stacks, BigTIFF, strips or tiles, 8/16-bit, float, grey or RGB)
//! and writing, a strip-streaming reader and the streamed strip encoder behind
//! [`crate::RowWriter`].
//!
//! Decoding converts colour to grey chunk by chunk, so a 9959 × 9958 section costs one grey
//! buffer, never an extra full-size RGB copy. Inside this module `::tiff` is the `tiff` crate.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use ::tiff::decoder::{ChunkType, Decoder as TiffDecoder, DecodingResult, Limits};
use ::tiff::encoder::{colortype, Compression, DeflateLevel, Rational, TiffEncoder, TiffKind};
use ::tiff::tags::{ResolutionUnit, Tag};

use crate::codec::{collapse_row, collapse_row_u8, Decoded};
use crate::encoding::unit_to_u8;
use crate::error::{IoError, IoErrorKind};
use crate::image::{GreyImage, Image};
use crate::stream::{as_u8, expect_rows, RowSource, StreamSample};
use crate::write_atomically;

/// Decodes the first page.
pub(crate) fn read_first(path: &Path) -> Result<Decoded, IoError> {
    let mut dec = open_tiff(path)?;
    read_tiff_page(path, &mut dec, 0)
}

/// Decodes every page.
pub(crate) fn read_all(path: &Path) -> Result<Vec<Decoded>, IoError> {
    let mut dec = open_tiff(path)?;
    let mut pages = vec![read_tiff_page(path, &mut dec, 0)?];
    while dec.more_images() {
        dec.next_image().map_err(|e| tiff_error(path, e))?;
        pages.push(read_tiff_page(path, &mut dec, pages.len())?);
    }
    Ok(pages)
}

/// Decodes page `page` (0-based).
pub(crate) fn read_page(path: &Path, page: usize) -> Result<Decoded, IoError> {
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

/// Number of pages and the size (rows, columns) of the first, without decoding pixels.
pub(crate) fn probe(path: &Path) -> Result<(usize, usize, usize), IoError> {
    let mut dec = open_tiff(path)?;
    let (w, h) = dec.dimensions().map_err(|e| tiff_error(path, e))?;
    let mut pages = 1;
    while dec.more_images() {
        dec.next_image().map_err(|e| tiff_error(path, e))?;
        pages += 1;
    }
    Ok((pages, h as usize, w as usize))
}

/// The size (rows, columns) of page `page` from its header, without decoding pixels.
pub(crate) fn page_size(path: &Path, page: usize) -> Result<(usize, usize), IoError> {
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

pub(crate) fn open_tiff(path: &Path) -> Result<TiffDecoder<BufReader<File>>, IoError> {
    let file = File::open(path).map_err(|e| IoError::open(path, e))?;
    TiffDecoder::new(BufReader::new(file))
        .map(|d| d.with_limits(Limits::unlimited()))
        .map_err(|e| tiff_error(path, e))
}

/// The ImageDescription line that marks a float TIFF as membrane probabilities p (1 = membrane),
/// as `urisc predict --probability-type f32` writes them; other lines (ImageJ's `unit=` and the
/// like) may come before or after it.
pub const PROBABILITY_DESCRIPTION: &str = "urisc=membrane-probability";

/// Whether an ImageDescription holds the [`PROBABILITY_DESCRIPTION`] line.
fn marks_membrane_probability(description: &str) -> bool {
    description
        .lines()
        .any(|l| l.trim().trim_end_matches('\0') == PROBABILITY_DESCRIPTION)
}

/// Pixel size in nm from TIFF resolution tags (also ImageJ's `unit=` description).
pub(crate) fn tiff_pixel_size<R: std::io::Read + Seek>(dec: &mut TiffDecoder<R>) -> Option<f64> {
    let xres = match dec.find_tag(Tag::XResolution).ok()?? {
        ::tiff::decoder::ifd::Value::Rational(n, d) if n > 0 && d > 0 => n as f64 / d as f64,
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
        ::tiff::ColorType::Gray(_) => 1,
        ::tiff::ColorType::GrayA(_) => 2,
        ::tiff::ColorType::RGB(_) => 3,
        ::tiff::ColorType::RGBA(_) => 4,
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
    let marked = dec
        .get_tag_ascii_string(Tag::ImageDescription)
        .is_ok_and(|d| marks_membrane_probability(&d));

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
        image.invert();
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
        membrane_probability: marked && matches!(image, GreyImage::F32(_)),
        image,
        colour_converted: converted,
        pixel_size_nm,
        out_of_range,
    })
}

pub(crate) fn tiff_error(path: &Path, e: ::tiff::TiffError) -> IoError {
    match e {
        ::tiff::TiffError::UnsupportedError(u) => IoError::new(
            path,
            IoErrorKind::Unsupported,
            format!("unsupported TIFF: {u}"),
        ),
        ::tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            IoError::new(
                path,
                IoErrorKind::Corrupt,
                "truncated TIFF (file ends early)",
            )
        }
        other => IoError::new(path, IoErrorKind::Corrupt, format!("corrupt TIFF: {other}")),
    }
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
            encode_page(TiffEncoder::new_big(w), image, pixel_size_nm)
        } else {
            encode_page(TiffEncoder::new(w), image, pixel_size_nm)
        };
        result.map_err(std::io::Error::other)
    })
}

fn encode_page<W: Write + Seek, K: TiffKind>(
    encoder: ::tiff::TiffResult<TiffEncoder<W, K>>,
    image: &GreyImage,
    pixel_size_nm: Option<f64>,
) -> ::tiff::TiffResult<()> {
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

/// A stripped TIFF decoded one strip at a time.
pub(crate) struct TiffStrips {
    path: PathBuf,
    decoder: ::tiff::decoder::Decoder<BufReader<File>>,
    channels: usize,
    white_is_zero: bool,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
    strip: u32,
    /// Grey rows of the current strip not yet handed out.
    pending: std::collections::VecDeque<Vec<u8>>,
}

impl TiffStrips {
    /// `None` when the TIFF is not one this reader streams (tiled, planar colour, other sample
    /// types). The caller has detected the file as TIFF by its content.
    pub(crate) fn open(path: &Path) -> Result<Option<TiffStrips>, IoError> {
        let mut decoder = open_tiff(path)?;
        let err = |e| tiff_error(path, e);
        let channels = match decoder.colortype().map_err(err)? {
            ::tiff::ColorType::Gray(8 | 16 | 32) => 1,
            ::tiff::ColorType::GrayA(8 | 16) => 2,
            ::tiff::ColorType::RGB(8 | 16) => 3,
            ::tiff::ColorType::RGBA(8 | 16) => 4,
            _ => return Ok(None),
        };
        let planar = decoder
            .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
            .ok()
            .flatten()
            == Some(2);
        if decoder.get_chunk_type() != ChunkType::Strip || (planar && channels > 1) {
            return Ok(None);
        }
        let (w, h) = decoder.dimensions().map_err(err)?;
        Ok(Some(TiffStrips {
            path: path.to_path_buf(),
            white_is_zero: decoder
                .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
                .ok()
                .flatten()
                == Some(0),
            pixel_size_nm: tiff_pixel_size(&mut decoder),
            decoder,
            channels,
            height: h as usize,
            width: w as usize,
            strip: 0,
            pending: Default::default(),
        }))
    }

    fn decode_next_strip(&mut self) -> Result<(), IoError> {
        let data = self
            .decoder
            .read_chunk(self.strip)
            .map_err(|e| tiff_error(&self.path, e))?;
        self.strip += 1;
        let (w, c) = (self.width, self.channels);
        let mut push = |grey: Vec<u8>| {
            for row in grey.chunks_exact(w) {
                self.pending.push_back(row.to_vec());
            }
        };
        let mut row = vec![0u8; w];
        let mut grey = Vec::new();
        match data {
            DecodingResult::U8(buf) => {
                for src in buf.chunks_exact(w * c) {
                    collapse_row_u8(src, c, &mut row);
                    grey.extend_from_slice(&row);
                }
            }
            DecodingResult::U16(buf) => {
                for src in buf.chunks_exact(w * c) {
                    // The 16 → 8-bit rule of GreyImage::into_u8, after collapsing to grey.
                    let mut wide = Vec::with_capacity(w);
                    let mut converted = false;
                    collapse_row(src, c, &mut |v| wide.push(v), &mut converted);
                    grey.extend(wide.iter().map(|&v| ((v as u32 + 128) / 257) as u8));
                }
            }
            DecodingResult::F32(buf) => grey.extend(buf.iter().map(|&v| unit_to_u8(v))),
            _ => {
                return Err(IoError::new(
                    &self.path,
                    IoErrorKind::Unsupported,
                    "sample format (use 8/16-bit or float)",
                ))
            }
        }
        if self.white_is_zero {
            grey.iter_mut().for_each(|v| *v = 255 - *v);
        }
        push(grey);
        Ok(())
    }
}

impl RowSource for TiffStrips {
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
        while self.pending.is_empty() {
            self.decode_next_strip()?;
        }
        row.copy_from_slice(&self.pending.pop_front().expect("decoded rows"));
        Ok(())
    }
}

/// The [`crate::RowWriter`] thread's TIFF encoder: bands of 64 rows in, one strip TIFF out;
/// `membrane_probability` writes the [`PROBABILITY_DESCRIPTION`] (float samples only).
pub(crate) fn encode_strips<T: StreamSample>(
    file: File,
    height: usize,
    width: usize,
    pixel_size_nm: Option<f64>,
    membrane_probability: bool,
    bands: impl Iterator<Item = Vec<T>>,
) -> Result<(), String> {
    let bytes = (height * width * std::mem::size_of::<T>()) as u64;
    let w = BufWriter::new(file);
    let e = |e: ::tiff::TiffError| e.to_string();
    macro_rules! write_all {
        ($enc:expr, $ct:ty, $conv:expr) => {{
            // Uncompressed: tiff 0.11 compresses only whole-image writes, never single strips.
            let mut enc = $enc.map_err(e)?;
            let mut img = enc
                .new_image::<$ct>(width as u32, height as u32)
                .map_err(e)?;
            if let Some(nm) = pixel_size_nm.filter(|v| *v > 0.0) {
                img.resolution(
                    ResolutionUnit::Centimeter,
                    Rational {
                        n: (1e9 / nm).round() as u32,
                        d: 100,
                    },
                );
            }
            if membrane_probability && T::ZARR_TYPE == "float32" {
                img.encoder()
                    .write_tag(Tag::ImageDescription, PROBABILITY_DESCRIPTION)
                    .map_err(e)?;
            }
            img.rows_per_strip(64).map_err(e)?;
            let mut received = 0;
            for band in bands {
                received += band.len();
                img.write_strip(&$conv(band)).map_err(e)?;
            }
            expect_rows(received, height, width)?;
            img.finish().map_err(e)
        }};
    }
    let to_f32 = |band: Vec<T>| -> Vec<f32> {
        as_u8(band)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    match (T::ZARR_TYPE, bytes > 3u64 << 30) {
        ("uint8", false) => write_all!(TiffEncoder::new(w), colortype::Gray8, as_u8),
        ("uint8", true) => write_all!(TiffEncoder::new_big(w), colortype::Gray8, as_u8),
        (_, false) => write_all!(TiffEncoder::new(w), colortype::Gray32Float, to_f32),
        (_, true) => write_all!(TiffEncoder::new_big(w), colortype::Gray32Float, to_f32),
    }
}

/// Writes a `u32` label image (cell ids, 0 = boundary) as a deflate-compressed 32-bit unsigned
/// grey TIFF in strips of 64 rows, BigTIFF when the pixel data could pass 4 GiB, the pixel size
/// in the resolution tags. Atomic, as every urisc write.
pub fn write_label_tiff(
    path: &Path,
    labels: &Image<u32>,
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<(), IoError> {
    let big = (labels.data.len() as u64 * 4) > (3u64 << 30);
    let (w, h) = (labels.width as u32, labels.height as u32);
    let res = pixel_size_nm.filter(|v| *v > 0.0).map(|nm| Rational {
        n: (1e9 / nm).round() as u32,
        d: 100,
    });
    fn encode<W: Write + Seek, K: TiffKind>(
        enc: ::tiff::TiffResult<TiffEncoder<W, K>>,
        (w, h): (u32, u32),
        res: Option<Rational>,
        data: &[u32],
    ) -> ::tiff::TiffResult<()> {
        let mut enc = enc?.with_compression(Compression::Deflate(DeflateLevel::Fast));
        let mut img = enc.new_image::<colortype::Gray32>(w, h)?;
        if let Some(r) = res {
            img.resolution(ResolutionUnit::Centimeter, r);
        }
        img.rows_per_strip(64.min(h.max(1)))?;
        img.write_data(data)
    }
    write_atomically(path, overwrite, |file| {
        let out = BufWriter::new(file);
        let result = if big {
            encode(TiffEncoder::new_big(out), (w, h), res, &labels.data)
        } else {
            encode(TiffEncoder::new(out), (w, h), res, &labels.data)
        };
        result.map_err(std::io::Error::other)
    })
}

/// The first page as `u32` labels when it is a one-channel 32-bit unsigned integer TIFF;
/// `None` for any other TIFF.
pub(crate) fn read_u32_labels(path: &Path) -> Result<Option<Image<u32>>, IoError> {
    let mut dec = open_tiff(path)?;
    let err = |e| tiff_error(path, e);
    if dec.colortype().map_err(err)? != ::tiff::ColorType::Gray(32) {
        return Ok(None);
    }
    let (w, h) = dec.dimensions().map_err(err)?;
    match dec.read_image().map_err(err)? {
        DecodingResult::U32(data) => {
            let n = w as usize * h as usize;
            if data.len() < n {
                return Err(IoError::new(
                    path,
                    IoErrorKind::Corrupt,
                    "truncated TIFF (fewer pixels than its size)",
                ));
            }
            let mut data = data;
            data.truncate(n);
            Ok(Some(Image::new(h as usize, w as usize, data)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probability_line_is_found_among_imagej_lines() {
        assert!(marks_membrane_probability(PROBABILITY_DESCRIPTION));
        assert!(marks_membrane_probability(
            "ImageJ=1.54f\nunit=nm\nurisc=membrane-probability\nmin=0.0\n"
        ));
        assert!(marks_membrane_probability("urisc=membrane-probability\r\n"));
        assert!(!marks_membrane_probability("ImageJ=1.54f\nunit=nm\n"));
        assert!(!marks_membrane_probability(
            "urisc=membrane-probability-not"
        ));
    }
}
