//! TIFF: the [`ImageFormat`] implementation (detection, stacks, BigTIFF, strips or tiles,
//! 8/16-bit, float, grey or RGB; whole-page and streamed reads through one decoder; the
//! streamed strip encoder behind [`crate::RowWriter`]) and [`write_tiff`],
//! [`write_tiff_stack`], [`write_label_tiff`].
//!
//! A page is decoded band by band (a band is one strip, or one row of tiles) by [`TiffPage`],
//! whether it is read whole or by rows: the same checks of colour type, layout and sample
//! format, the same colour → grey rule, the same refusal of NaN and infinite float pixels
//! (WhiteIsZero chunks come inverted from the `tiff` crate, so urisc never inverts them
//! again). Decoding converts colour to grey
//! chunk by chunk, so a 9959 × 9958 section costs one grey buffer, never an extra full-size RGB
//! copy. Inside this module `::tiff` is the `tiff` crate.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use ::tiff::decoder::{ChunkType, Decoder as TiffDecoder, DecodingResult, Limits};
use ::tiff::encoder::{colortype, Compression, DeflateLevel, Rational, TiffEncoder, TiffKind};
use ::tiff::tags::{ResolutionUnit, Tag};

use crate::atomic::write_atomically;
use crate::format::{Head, ImageFormat, RowSpec, Staged};
use crate::sample::{
    check_block, check_pixels, collapse_row, count_out_of_range, expect_rows, non_finite,
    open_file, Decoded, GreyImage, Image, IoError, IoErrorKind, RowSource, Samples,
};

/// TIFF in the format registry.
pub(crate) struct Tiff;

impl ImageFormat for Tiff {
    fn name(&self) -> &'static str {
        "TIFF"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["tif", "tiff"]
    }

    /// The byte-order mark `II` or `MM` (BigTIFF too).
    fn detect(&self, head: &Head) -> bool {
        matches!(head, Head::File(magic) if magic.len() >= 4 && (&magic[..2] == b"II" || &magic[..2] == b"MM"))
    }

    fn probe(&self, path: &Path) -> Result<(usize, usize, usize), IoError> {
        probe(path)
    }

    fn page_size(&self, path: &Path, page: usize) -> Result<(usize, usize), IoError> {
        page_size(path, page)
    }

    fn read_page(&self, path: &Path, page: usize) -> Result<Decoded, IoError> {
        TiffPage::open(path, page)?.read_whole()
    }

    fn read_stack(&self, path: &Path) -> Result<Vec<Decoded>, IoError> {
        let mut tiff = TiffPage::new(path, open_tiff(path)?, 0)?;
        let mut pages = vec![tiff.read_whole()?];
        let mut dec = tiff.dec;
        while dec.more_images() {
            // The next page's tags are read under the tag limits again.
            dec = dec.with_limits(limits(TAG_BYTES));
            dec.next_image().map_err(|e| tiff_error(path, e))?;
            tiff = TiffPage::new(path, dec, pages.len())?;
            pages.push(tiff.read_whole()?);
            dec = tiff.dec;
        }
        Ok(pages)
    }

    /// Every TIFF is streamed band by band (a strip, or a row of tiles), in memory
    /// proportional to one band.
    fn open_rows(&self, path: &Path, page: usize) -> Result<Box<dyn RowSource>, IoError> {
        Ok(Box::new(TiffRows::new(TiffPage::open(path, page)?)?))
    }

    fn read_labels(&self, path: &Path) -> Result<Option<Image<u32>>, IoError> {
        read_u32_labels(path)
    }

    fn band_rows(&self) -> usize {
        64
    }

    fn encode_rows(
        &self,
        out: Staged,
        spec: &RowSpec,
        bands: &mut dyn Iterator<Item = Vec<u8>>,
    ) -> Result<(), String> {
        let Staged::File(file) = out else {
            return Err("a TIFF is written to a file".into());
        };
        encode_strips(file, spec, bands)
    }
}

/// Number of pages and the size (rows, columns) of the first, without decoding pixels.
fn probe(path: &Path) -> Result<(usize, usize, usize), IoError> {
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
fn page_size(path: &Path, page: usize) -> Result<(usize, usize), IoError> {
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

fn open_tiff(path: &Path) -> Result<TiffDecoder<BufReader<File>>, IoError> {
    let file = open_file(path)?;
    TiffDecoder::new(BufReader::new(file))
        .map(|d| d.with_limits(limits(TAG_BYTES)))
        .map_err(|e| tiff_error(path, e))
}

/// What the `tiff` crate may allocate for one tag's values (strip and tile offsets, and any
/// other list a header declares) while a page's tags are read: its default, 256 MiB, room for
/// the offsets of the largest plane urisc reads in 64 × 64 tiles. The crate sizes these lists
/// from the count a header states, so without this a 40-byte file could ask for gigabytes.
const TAG_BYTES: usize = 256 << 20;

/// Decoder limits with `decoding_buffer_size` (which bounds tag value lists and decoded
/// chunks alike) set to `bytes`, and no other limit.
fn limits(bytes: usize) -> Limits {
    let mut limits = Limits::unlimited();
    limits.decoding_buffer_size = bytes;
    limits
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
fn tiff_pixel_size<R: std::io::Read + Seek>(dec: &mut TiffDecoder<R>) -> Option<f64> {
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

/// The sample type of a page's decoded chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    U8,
    U16,
    /// 32- or 64-bit float (narrowed to 32).
    Float,
}

/// One page of a TIFF opened for decoding, the one decoder behind whole-page and row reads.
/// Opening checks the colour type and layout; [`TiffPage::decode_band`] decodes one band
/// (a strip, or a row of tiles) to grey in the stored sample type.
struct TiffPage {
    path: PathBuf,
    page: usize,
    dec: TiffDecoder<BufReader<File>>,
    width: usize,
    height: usize,
    colour: ::tiff::ColorType,
    channels: usize,
    /// One bit per sample (grey only), packed 8 pixels a byte, each row starting on a byte.
    one_bit: bool,
    pixel_size_nm: Option<f64>,
    /// The ImageDescription holds [`PROBABILITY_DESCRIPTION`].
    marked: bool,
    chunk_type: ChunkType,
    chunk_w: usize,
    chunk_h: usize,
    chunks: u32,
    tiles_across: usize,
    /// The sample type of the chunks, from the first one decoded.
    stored: Option<Stored>,
    /// Colour with unequal channels was converted with luma weights.
    converted: bool,
}

impl TiffPage {
    /// Opens page `page` (0-based) of the file.
    fn open(path: &Path, page: usize) -> Result<TiffPage, IoError> {
        let mut dec = open_tiff(path)?;
        if page > 0 {
            dec.seek_to_image(page).map_err(|_| {
                IoError::new(
                    path,
                    IoErrorKind::Invalid,
                    format!("the stack has no page {page}"),
                )
            })?;
        }
        TiffPage::new(path, dec, page)
    }

    /// The page `dec` stands at, page number `page`.
    fn new(
        path: &Path,
        mut dec: TiffDecoder<BufReader<File>>,
        page: usize,
    ) -> Result<TiffPage, IoError> {
        let err = |e| tiff_error(path, e);
        let (w, h) = dec.dimensions().map_err(err)?;
        check_pixels(path, &format!("page {page}: an image"), h as u64, w as u64)?;
        let (width, height) = (w as usize, h as usize);
        let compression = dec
            .find_tag_unsigned::<u16>(Tag::Compression)
            .ok()
            .flatten();
        if let Some(scheme) = compression.and_then(ccitt_name) {
            return Err(IoError::new(
                path,
                IoErrorKind::Unsupported,
                format!("page {page}: TIFF with {scheme} compression is not supported"),
            ));
        }
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
        let one_bit = check_bits(path, page, &mut dec, colour, channels)?;
        let pixel_size_nm = tiff_pixel_size(&mut dec);
        let marked = dec
            .get_tag_ascii_string(Tag::ImageDescription)
            .is_ok_and(|d| marks_membrane_probability(&d));
        let (chunk_w, chunk_h) = dec.chunk_dimensions();
        let (chunk_w, chunk_h) = (chunk_w as usize, chunk_h as usize);
        let chunk_type = dec.get_chunk_type();
        // A strip is clipped to the image (its rows past the last are never decoded); a tile
        // is decoded whole, so its declared size is what the decoder allocates.
        let (what, decoded_rows) = match chunk_type {
            ChunkType::Strip => ("a strip", chunk_h.min(height)),
            ChunkType::Tile => ("a tile", chunk_h),
        };
        check_pixels(
            path,
            &format!("page {page}: {what}"),
            decoded_rows as u64,
            chunk_w as u64,
        )?;
        if chunk_type == ChunkType::Tile {
            check_block(
                path,
                &format!("page {page}: a tile"),
                &[chunk_h, chunk_w],
                &[height, width],
            )?;
        }
        let chunks = match chunk_type {
            ChunkType::Strip => dec.strip_count().map_err(err)?,
            ChunkType::Tile => dec.tile_count().map_err(err)?,
        };
        // Every tag is read: from here the decoder allocates only chunks, which the checks
        // above bounded (at most 8 bytes a sample).
        let chunk_bytes = (decoded_rows * chunk_w).saturating_mul(channels * 8);
        let dec = dec.with_limits(limits(chunk_bytes.max(TAG_BYTES)));
        Ok(TiffPage {
            path: path.to_path_buf(),
            page,
            dec,
            width,
            height,
            colour,
            channels,
            one_bit,
            pixel_size_nm,
            marked,
            chunk_type,
            chunk_w,
            chunk_h,
            chunks,
            tiles_across: width.div_ceil(chunk_w.max(1)),
            stored: None,
            converted: false,
        })
    }

    /// Number of bands: strips, or rows of tiles.
    fn bands(&self) -> usize {
        match self.chunk_type {
            ChunkType::Strip => self.chunks as usize,
            ChunkType::Tile => (self.chunks as usize).div_ceil(self.tiles_across.max(1)),
        }
    }

    /// The image rows of band `band` (clipped to the image).
    fn band_rows(&self, band: usize) -> std::ops::Range<usize> {
        let start = (band * self.chunk_h).min(self.height);
        start..(start + self.chunk_h).min(self.height)
    }

    /// Decodes band `band` to grey into `out`, an image of `width` columns whose row 0 is image
    /// row `first_row`, allocated `out_rows` rows high in the stored sample type when it is
    /// `None`. Refuses sample formats other than 8/16-bit or float, chunks that disagree on
    /// theirs, and floating-point colour.
    fn decode_band(
        &mut self,
        band: usize,
        out: &mut Option<GreyImage>,
        out_rows: usize,
        first_row: usize,
    ) -> Result<(), IoError> {
        let (path, page, width, height) = (&self.path, self.page, self.width, self.height);
        let err = |e| tiff_error(path, e);
        let chunks = match self.chunk_type {
            ChunkType::Strip => band as u32..band as u32 + 1,
            ChunkType::Tile => {
                let across = self.tiles_across as u32;
                band as u32 * across..((band as u32 + 1) * across).min(self.chunks)
            }
        };
        for chunk in chunks {
            let (cw, ch) = self.dec.chunk_data_dimensions(chunk);
            let (cw, ch) = (cw as usize, ch as usize);
            let (row0, col0) = match self.chunk_type {
                ChunkType::Strip => (chunk as usize * self.chunk_h, 0),
                ChunkType::Tile => {
                    let c = chunk as usize;
                    (
                        (c / self.tiles_across) * self.chunk_h,
                        (c % self.tiles_across) * self.chunk_w,
                    )
                }
            };
            let mut data = self.dec.read_chunk(chunk).map_err(err)?;
            if self.one_bit {
                if let DecodingResult::U8(packed) = &data {
                    data = DecodingResult::U8(unpack_bits(packed, cw, ch));
                }
            }
            let stored = match &data {
                DecodingResult::U8(_) => Some(Stored::U8),
                DecodingResult::U16(_) => Some(Stored::U16),
                DecodingResult::F32(_) | DecodingResult::F64(_) => Some(Stored::Float),
                _ => None,
            };
            match (self.stored, stored) {
                (None, None) => {
                    return Err(IoError::new(
                        path,
                        IoErrorKind::Unsupported,
                        format!(
                            "page {page}: sample format {:?} (use 8/16-bit or float)",
                            self.colour
                        ),
                    ))
                }
                (None, Some(s)) => self.stored = Some(s),
                (Some(a), Some(b)) if a == b => {}
                _ => {
                    return Err(IoError::new(
                        path,
                        IoErrorKind::Corrupt,
                        format!("page {page}: chunks disagree on sample format"),
                    ))
                }
            }
            let target = out.get_or_insert_with(|| match self.stored {
                Some(Stored::U8) => GreyImage::U8(Image::filled(out_rows, width, 0)),
                Some(Stored::U16) => GreyImage::U16(Image::filled(out_rows, width, 0)),
                _ => GreyImage::F32(Image::filled(out_rows, width, 0.0)),
            });
            let rows = ch.min(height.saturating_sub(row0));
            let at = (row0 - first_row) * width + col0;
            match (target, data) {
                (GreyImage::U8(img), DecodingResult::U8(buf)) => paste_chunk(
                    &buf,
                    self.channels,
                    cw,
                    rows,
                    &mut img.data[at..],
                    width,
                    &mut self.converted,
                ),
                (GreyImage::U16(img), DecodingResult::U16(buf)) => paste_chunk(
                    &buf,
                    self.channels,
                    cw,
                    rows,
                    &mut img.data[at..],
                    width,
                    &mut self.converted,
                ),
                (GreyImage::F32(img), data @ (DecodingResult::F32(_) | DecodingResult::F64(_))) => {
                    if self.channels != 1 {
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
                        let dst = &mut img.data[at + r * width..][..cw];
                        dst.copy_from_slice(&values[r * cw..(r + 1) * cw]);
                    }
                }
                _ => unreachable!("the target has the page's sample type"),
            }
        }
        Ok(())
    }

    /// Refuses NaN and infinite pixels: when band `band` (rows `rows` of `image`) holds some,
    /// the remaining bands are decoded to count them all, so the message is the same whether
    /// the page is read whole or by rows.
    fn check_finite(
        &mut self,
        band: usize,
        image: &GreyImage,
        rows: std::ops::Range<usize>,
    ) -> Result<(), IoError> {
        let GreyImage::F32(i) = image else {
            return Ok(());
        };
        let bad = |data: &[f32]| data.iter().filter(|v| !v.is_finite()).count();
        let mut count = bad(&i.data[rows.start * i.width..rows.end * i.width]);
        if count == 0 {
            return Ok(());
        }
        for later in band + 1..self.bands() {
            let rows = self.band_rows(later);
            let mut scratch = None;
            self.decode_band(later, &mut scratch, rows.len(), rows.start)?;
            if let Some(GreyImage::F32(s)) = &scratch {
                count += bad(&s.data);
            }
        }
        Err(non_finite(
            &self.path,
            self.page,
            count,
            self.height * self.width,
        ))
    }

    fn no_data(&self) -> IoError {
        IoError::new(
            &self.path,
            IoErrorKind::Corrupt,
            format!("page {}: no image data", self.page),
        )
    }

    /// Decodes the whole page.
    fn read_whole(&mut self) -> Result<Decoded, IoError> {
        let mut out: Option<GreyImage> = None;
        for band in 0..self.bands() {
            self.decode_band(band, &mut out, self.height, 0)?;
            if let Some(image) = &out {
                let rows = self.band_rows(band);
                self.check_finite(band, image, rows)?;
            }
        }
        let image = out.ok_or_else(|| self.no_data())?;
        Ok(Decoded {
            membrane_probability: self.marked && matches!(image, GreyImage::F32(_)),
            out_of_range: count_out_of_range(&image),
            image,
            colour_converted: self.converted,
            pixel_size_nm: self.pixel_size_nm,
        })
    }

    /// Decodes band `band` as 8-bit grey rows (the rule of [`GreyImage::into_u8`], as for a
    /// page read whole). Rows past the page's last band (a
    /// file with too few strips) are 0, as they are in a page read whole.
    fn band_u8(&mut self, band: usize) -> Result<Image<u8>, IoError> {
        let rows = self.band_rows(band);
        if band >= self.bands() {
            return Ok(Image::filled(rows.len(), self.width, 0));
        }
        let mut out = None;
        self.decode_band(band, &mut out, rows.len(), rows.start)?;
        let image = out.ok_or_else(|| self.no_data())?;
        self.check_finite(band, &image, 0..rows.len())?;
        Ok(image.into_u8())
    }
}

/// A TIFF page read by rows, one band decoded at a time.
struct TiffRows {
    tiff: TiffPage,
    band: Image<u8>,
    /// The image row of `band`'s first row.
    band_start: usize,
    next: usize,
}

impl TiffRows {
    /// Decodes the first band now, so a page the whole-page reader refuses (sample format, no
    /// data, NaN in the first band) is refused when it is opened.
    fn new(mut tiff: TiffPage) -> Result<TiffRows, IoError> {
        if tiff.bands() == 0 {
            return Err(tiff.no_data());
        }
        let band = tiff.band_u8(0)?;
        Ok(TiffRows {
            tiff,
            band,
            band_start: 0,
            next: 0,
        })
    }
}

impl RowSource for TiffRows {
    fn height(&self) -> usize {
        self.tiff.height
    }
    fn width(&self) -> usize {
        self.tiff.width
    }
    fn pixel_size_nm(&self) -> Option<f64> {
        self.tiff.pixel_size_nm
    }
    fn samples(&self) -> Samples {
        match self.tiff.stored {
            Some(Stored::U16) => Samples::U16,
            Some(Stored::Float) => Samples::Float,
            _ => Samples::U8,
        }
    }
    fn colour_converted(&self) -> bool {
        self.tiff.converted
    }
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        if self.next >= self.tiff.height {
            return Err(IoError::new(
                &self.tiff.path,
                IoErrorKind::Invalid,
                format!(
                    "no row {}: the page has {} rows",
                    self.next, self.tiff.height
                ),
            ));
        }
        if self.next >= self.band_start + self.band.height {
            let band = self.next / self.tiff.chunk_h.max(1);
            self.band = self.tiff.band_u8(band)?;
            self.band_start = self.tiff.band_rows(band).start;
        }
        row.copy_from_slice(self.band.row(self.next - self.band_start));
        self.next += 1;
        Ok(())
    }
}

/// The name of a CCITT (fax) compression scheme, which urisc does not read: bilevel fax
/// scans are not EM data, and a decoder of them would be one more untrusted parser.
fn ccitt_name(compression: u16) -> Option<&'static str> {
    match compression {
        2 => Some("CCITT modified Huffman (RLE)"),
        3 => Some("CCITT group 3"),
        4 => Some("CCITT group 4"),
        32771 => Some("CCITT RLEW"),
        _ => None,
    }
}

/// Refuses sample layouts urisc does not decode, by name: anything but 1-bit grey, 8- or
/// 16-bit unsigned integers, or 32/64-bit float. (The decoder hands other depths, such as 3
/// or 12 bits, over as packed bytes, which would otherwise be read as 8-bit pixels.) Returns
/// whether the page is 1-bit.
fn check_bits<R: std::io::Read + Seek>(
    path: &Path,
    page: usize,
    dec: &mut TiffDecoder<R>,
    colour: ::tiff::ColorType,
    channels: usize,
) -> Result<bool, IoError> {
    let bits = colour.bit_depth();
    // SampleFormat: 1 unsigned (the default), 2 signed, 3 float; one value per sample.
    let format = dec
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .ok()
        .flatten()
        .and_then(|v| v.first().copied())
        .unwrap_or(1);
    let refuse = |what: String| {
        Err(IoError::new(
            path,
            IoErrorKind::Unsupported,
            format!(
                "page {page}: TIFF with {what} is not supported (1-bit grey, 8 or 16-bit \
                 integer, or 32/64-bit float)"
            ),
        ))
    };
    match (bits, format) {
        (1, 1) if channels == 1 => Ok(true),
        (1, _) => refuse("1-bit colour".into()),
        (8 | 16, 1) | (32 | 64, 3) => Ok(false),
        (8 | 16 | 32 | 64, 2) => refuse(format!("signed {bits}-bit samples")),
        (32 | 64, 1) => refuse(format!("unsigned {bits}-bit samples")),
        (8 | 16, 3) => refuse(format!("{bits}-bit float samples")),
        (8 | 16 | 32 | 64, f) => refuse(format!("sample format {f}")),
        _ => refuse(format!("{bits} bits per sample")),
    }
}

/// Unpacks a 1-bit chunk (`rows` rows of `cols` pixels, each row starting on a byte, most
/// significant bit first) to one byte per pixel: 0 → 0, 1 → 255. The decoder has already
/// inverted WhiteIsZero bits, so 1 is white either way.
fn unpack_bits(packed: &[u8], cols: usize, rows: usize) -> Vec<u8> {
    let stride = cols.div_ceil(8);
    let mut out = Vec::with_capacity(cols * rows);
    for row in packed.chunks(stride.max(1)).take(rows) {
        out.extend((0..cols).map(|c| {
            let byte = row.get(c / 8).copied().unwrap_or(0);
            if byte >> (7 - c % 8) & 1 == 1 {
                255
            } else {
                0
            }
        }));
    }
    out
}

fn tiff_error(path: &Path, e: ::tiff::TiffError) -> IoError {
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

/// The [`crate::RowWriter`] thread's TIFF encoder: bands of 64 rows in, one strip TIFF out;
/// `membrane_probability` writes the [`PROBABILITY_DESCRIPTION`] (float samples only). Samples
/// other than `uint8` are written as 32-bit float.
fn encode_strips(
    file: File,
    spec: &RowSpec,
    bands: &mut dyn Iterator<Item = Vec<u8>>,
) -> Result<(), String> {
    let RowSpec {
        height,
        width,
        pixel_size_nm,
        membrane_probability,
        sample,
        sample_bytes,
    } = *spec;
    let bytes = (height * width * sample_bytes) as u64;
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
            if membrane_probability && sample == "float32" {
                img.encoder()
                    .write_tag(Tag::ImageDescription, PROBABILITY_DESCRIPTION)
                    .map_err(e)?;
            }
            img.rows_per_strip(64).map_err(e)?;
            let mut received = 0;
            for band in bands {
                received += band.len() / sample_bytes;
                img.write_strip(&$conv(band)).map_err(e)?;
            }
            expect_rows(received, height, width)?;
            img.finish().map_err(e)
        }};
    }
    let as_u8 = |band: Vec<u8>| band;
    let to_f32 = |band: Vec<u8>| -> Vec<f32> {
        band.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    match (sample, bytes > 3u64 << 30) {
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
fn read_u32_labels(path: &Path) -> Result<Option<Image<u32>>, IoError> {
    let mut dec = open_tiff(path)?;
    let err = |e| tiff_error(path, e);
    if dec.colortype().map_err(err)? != ::tiff::ColorType::Gray(32) {
        return Ok(None);
    }
    let (w, h) = dec.dimensions().map_err(err)?;
    let pixels = check_pixels(path, "an image", h as u64, w as u64)?;
    let mut dec = dec.with_limits(limits((pixels * 4).max(TAG_BYTES)));
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
