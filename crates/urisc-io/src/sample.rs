//! The shared sample types every format and entry point uses, depending on nothing else in the
//! crate but the map encodings of [`crate::encoding`] (itself a leaf):
//!
//! - [`Image`] and [`GreyImage`]: grey images in memory, one row-major buffer, rows × columns,
//!   no padding, and their 8-bit view ([`GreyImage::into_u8`]).
//! - [`IoError`] / [`IoErrorKind`]: every I/O failure names its file and says what kind of
//!   failure it is.
//! - [`Decoded`]: a decoded page and what the reader learnt about it (whole-image reads).
//! - [`RowSource`] / [`MemoryRows`]: an image read one row at a time (streamed reads).
//! - [`StreamSample`]: the sample types a [`crate::RowWriter`] writes.
//! - The colour → grey rule every decoder shares ([`collapse_row`], with [`luma`] weights).

use std::fmt;
use std::path::{Path, PathBuf};

/// A single-channel image stored row-major (`data[row * width + col]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Image<T> {
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
    /// The `height × width` pixels, row by row.
    pub data: Vec<T>,
}

impl<T: Copy> Image<T> {
    /// Wraps `data`; panics if its length is not `height * width` (a programming error).
    pub fn new(height: usize, width: usize, data: Vec<T>) -> Self {
        assert_eq!(
            data.len(),
            height * width,
            "buffer does not match {height}×{width}"
        );
        Image {
            height,
            width,
            data,
        }
    }

    /// A `height × width` image with every pixel set to `value`.
    pub fn filled(height: usize, width: usize, value: T) -> Self {
        Image {
            height,
            width,
            data: vec![value; height * width],
        }
    }

    /// The pixel at row `row`, column `col`.
    pub fn get(&self, row: usize, col: usize) -> T {
        self.data[row * self.width + col]
    }

    /// Row `row`: its `width` pixels, left to right.
    pub fn row(&self, row: usize) -> &[T] {
        &self.data[row * self.width..(row + 1) * self.width]
    }

    /// Number of pixels, `height × width`.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the image has no pixels (zero rows or columns).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A decoded grey image in its stored sample format. Integer formats keep their full range;
/// float images are expected to hold values in [0, 1] (probability or intensity maps).
#[derive(Clone, Debug, PartialEq)]
pub enum GreyImage {
    /// 8-bit samples, 0–255.
    U8(Image<u8>),
    /// 16-bit samples, 0–65535.
    U16(Image<u16>),
    /// Floating-point samples, nominally in [0, 1] (64-bit float files are narrowed to 32 bits).
    F32(Image<f32>),
}

impl GreyImage {
    /// Number of rows.
    pub fn height(&self) -> usize {
        match self {
            GreyImage::U8(i) => i.height,
            GreyImage::U16(i) => i.height,
            GreyImage::F32(i) => i.height,
        }
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        match self {
            GreyImage::U8(i) => i.width,
            GreyImage::U16(i) => i.width,
            GreyImage::F32(i) => i.width,
        }
    }

    /// Bits per sample as stored: 8, 16 or 32.
    pub fn bit_depth(&self) -> u8 {
        match self {
            GreyImage::U8(_) => 8,
            GreyImage::U16(_) => 16,
            GreyImage::F32(_) => 32,
        }
    }

    /// Flips the polarity in place: `255 − v`, `65535 − v` or `1 − v` (a membrane-bright map
    /// becomes membrane dark, and back).
    pub fn invert(&mut self) {
        match self {
            GreyImage::U8(i) => i.data.iter_mut().for_each(|v| *v = 255 - *v),
            GreyImage::U16(i) => i.data.iter_mut().for_each(|v| *v = 65535 - *v),
            GreyImage::F32(i) => i.data.iter_mut().for_each(|v| *v = 1.0 - *v),
        }
    }

    /// The 8-bit view used by every 8-bit rule (label binarisation at 122, prediction < 128).
    /// 16-bit values map by `round(v / 257)` (exact for values written from 8-bit data), float
    /// values in [0, 1] by `round(v · 255)`, clamped. An 8-bit image is moved, not copied.
    pub fn into_u8(self) -> Image<u8> {
        match self {
            GreyImage::U8(i) => i,
            GreyImage::U16(i) => Image {
                height: i.height,
                width: i.width,
                data: i.data.iter().map(|&v| u16_to_u8(v)).collect(),
            },
            GreyImage::F32(i) => Image {
                height: i.height,
                width: i.width,
                data: i
                    .data
                    .iter()
                    .map(|&v| crate::encoding::unit_to_u8(v))
                    .collect(),
            },
        }
    }
}

/// Reflects an out-of-range coordinate back into `0..n` (edge pixel not repeated, like numpy's
/// and albumentations' `reflect_101`), for any offset: how tiles and crops extend past borders.
pub fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// The 16 → 8-bit rule of [`GreyImage::into_u8`]: `round(v / 257)`.
pub(crate) fn u16_to_u8(v: u16) -> u8 {
    ((v as u32 + 128) / 257) as u8
}

/// ITU-R BT.601 luma with rounding, the usual weights for colour → grey.
pub fn luma(r: u16, g: u16, b: u16) -> u16 {
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000) as u16
}

/// The most pixels one plane may declare (a page, a Zarr plane, one decoded TIFF tile or Zarr
/// chunk): 2^31, about 21 U-RISC sections (9959 × 9958 ≈ 99 MPixel), 46341² square. A whole
/// read holds one plane in its sample type (2 GiB at 8 bits, 8 GiB as float at the bound), a
/// streamed read one band of it. Every reader checks the sizes a header declares against this
/// bound, with overflow-checked arithmetic, before it allocates anything for them, so a
/// damaged or hostile header (a TIFF strip of 100000², a JPEG frame of 65500², a Zarr shape of
/// 2^62²) is refused in one line instead of exhausting memory.
pub const MAX_PLANE_PIXELS: u64 = 1 << 31;

/// Refuses `rows × cols` (as a header declares them) above [`MAX_PLANE_PIXELS`]; `what` names
/// the thing declared (`image`, `tile`, `chunk`). Returns the pixel count.
pub(crate) fn check_pixels(
    path: &Path,
    what: &str,
    rows: u64,
    cols: u64,
) -> Result<usize, IoError> {
    match rows.checked_mul(cols) {
        Some(n) if n <= MAX_PLANE_PIXELS => Ok(n as usize),
        _ => Err(IoError::new(
            path,
            IoErrorKind::Unsupported,
            format!(
                "{what} of {rows}×{cols} pixels (rows×columns) is larger than urisc reads \
                 ({MAX_PLANE_PIXELS} pixels per plane)"
            ),
        )),
    }
}

/// The longest side a tile or chunk may have beyond its image's: writers pick tile and chunk
/// sizes of their own (libtiff's 256², urisc's 1024² Zarr chunks) whatever the image's, so a
/// small image may have larger blocks, but a block is decoded whole, and one far larger than
/// both its image and any usual block size only makes a tiny file allocate a huge buffer.
const MAX_BLOCK_SIDE: usize = 4096;

/// Refuses a block (`what`: a TIFF tile, a Zarr chunk or inner chunk) of `block` with a side
/// longer than both its image's (`image`, same dimensions) and [`MAX_BLOCK_SIDE`].
pub(crate) fn check_block(
    path: &Path,
    what: &str,
    block: &[usize],
    image: &[usize],
) -> Result<(), IoError> {
    if block
        .iter()
        .zip(image)
        .all(|(&b, &i)| b <= i.max(MAX_BLOCK_SIDE))
    {
        return Ok(());
    }
    let dims = |s: &[usize]| {
        s.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("×")
    };
    Err(IoError::new(
        path,
        IoErrorKind::Unsupported,
        format!(
            "{what} of {} is larger than its image of {} and than {MAX_BLOCK_SIDE} a side",
            dims(block),
            dims(image)
        ),
    ))
}

/// The one refusal of NaN and infinite pixels, for every format and both ways of reading:
/// `count` of the page's `total` pixels are not finite.
pub(crate) fn non_finite(path: &Path, page: usize, count: usize, total: usize) -> IoError {
    IoError::new(
        path,
        IoErrorKind::Invalid,
        format!("page {page}: {count} non-finite (NaN or infinite) pixel value(s) of {total}"),
    )
}

/// What went wrong, for callers that react differently (tests, exit codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoErrorKind {
    /// The file could not be opened or read.
    Open,
    /// The file is damaged or truncated.
    Corrupt,
    /// A valid file in a form urisc does not read (e.g. CMYK).
    Unsupported,
    /// An output exists and overwriting was not allowed.
    Exists,
    /// Writing failed (disk full, permissions).
    Write,
    /// The data is readable but does not fit the task (size mismatch, empty folder, …).
    Invalid,
}

/// An error that always names the file it is about; displays as one line `PATH: problem`.
#[derive(Debug)]
pub struct IoError {
    /// The file or folder the error is about.
    pub path: PathBuf,
    /// What kind of failure it is.
    pub kind: IoErrorKind,
    /// The problem in words, one line, without the path.
    pub message: String,
}

/// `text` with control characters escaped (`\n`, `\t`, `\u{1b}`), so a message stays one line
/// whatever the names or the quoted input in it hold.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl IoError {
    /// An error about `path`; `message` is what is shown after `PATH: `, made one line (the
    /// decoders' own messages may hold line breaks: their lines are joined by spaces).
    pub fn new(path: &Path, kind: IoErrorKind, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.contains(['\n', '\r']) {
            message = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        }
        IoError {
            path: path.to_path_buf(),
            kind,
            message,
        }
    }

    pub(crate) fn open(path: &Path, e: std::io::Error) -> Self {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => format!("cannot read: {e}"),
        };
        IoError::new(path, IoErrorKind::Open, message)
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for IoError {}

/// Opens a file for reading, refusing anything but a regular file first: opening a FIFO
/// blocks until something writes to it, and a device can be read without end. Every reader of
/// the crate opens its input through this.
pub(crate) fn open_file(path: &Path) -> Result<std::fs::File, IoError> {
    let meta = std::fs::metadata(path).map_err(|e| IoError::open(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    std::fs::File::open(path).map_err(|e| IoError::open(path, e))
}

/// The refusal of a path that is not a regular file (nor a folder where one is allowed),
/// naming what it is: a FIFO would block a reader forever.
pub(crate) fn not_regular(path: &Path, meta: &std::fs::Metadata) -> IoError {
    IoError::new(
        path,
        IoErrorKind::Unsupported,
        format!("not a regular file ({}), so not an image", file_kind(meta)),
    )
}

fn file_kind(m: &std::fs::Metadata) -> &'static str {
    if m.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    "neither a file nor a folder"
}

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

/// Floating-point pixels outside [0, 1] (0 for integer images): [`Decoded::out_of_range`].
pub(crate) fn count_out_of_range(image: &GreyImage) -> usize {
    match image {
        GreyImage::F32(i) => i.data.iter().filter(|v| !(0.0..=1.0).contains(*v)).count(),
        _ => 0,
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

/// The sample type a file stores, before a [`RowSource`] narrows its rows to 8 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Samples {
    /// 8-bit integers.
    U8,
    /// 16-bit integers.
    U16,
    /// 32-bit integers (Zarr label stores).
    U32,
    /// Floating point (32 or 64 bits).
    Float,
}

impl GreyImage {
    /// The sample type held.
    pub fn samples(&self) -> Samples {
        match self {
            GreyImage::U8(_) => Samples::U8,
            GreyImage::U16(_) => Samples::U16,
            GreyImage::F32(_) => Samples::Float,
        }
    }
}

/// An 8-bit grey image read one row at a time, top to bottom.
pub trait RowSource: Send {
    /// Number of rows.
    fn height(&self) -> usize;
    /// Number of columns, the length of every row.
    fn width(&self) -> usize;
    /// Pixel size in nm/pixel, when the file carries it.
    fn pixel_size_nm(&self) -> Option<f64>;
    /// Fills `row` (`width` values) with the next row.
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError>;
    /// The sample type the file stores (rows are 8-bit whatever it is): a reader that needs the
    /// stored values (a membrane map's levels) refuses what it cannot read exactly.
    fn samples(&self) -> Samples {
        Samples::U8
    }
    /// Whether colour with unequal channels was converted to grey (luma) in the rows read so far,
    /// for the warning every command gives.
    fn colour_converted(&self) -> bool {
        false
    }
}

/// Rows of an image already in memory.
pub struct MemoryRows {
    /// The whole image.
    pub image: Image<u8>,
    /// Pixel size in nm/pixel, if known.
    pub pixel_size_nm: Option<f64>,
    /// Index of the row the next [`RowSource::read_row`] returns.
    pub next: usize,
    /// The sample type the image was decoded from.
    pub samples: Samples,
    /// It was colour with unequal channels, converted to grey.
    pub colour_converted: bool,
}

impl MemoryRows {
    /// Serves `image` from its first row, with no pixel size.
    pub fn new(image: Image<u8>) -> MemoryRows {
        MemoryRows {
            image,
            pixel_size_nm: None,
            next: 0,
            samples: Samples::U8,
            colour_converted: false,
        }
    }

    /// Rows of a decoded page, as 8-bit (see [`GreyImage::into_u8`]), with its pixel size.
    pub(crate) fn decoded(decoded: Decoded) -> MemoryRows {
        MemoryRows {
            pixel_size_nm: decoded.pixel_size_nm,
            samples: decoded.image.samples(),
            colour_converted: decoded.colour_converted,
            image: decoded.image.into_u8(),
            next: 0,
        }
    }
}

impl RowSource for MemoryRows {
    fn height(&self) -> usize {
        self.image.height
    }
    fn width(&self) -> usize {
        self.image.width
    }
    fn pixel_size_nm(&self) -> Option<f64> {
        self.pixel_size_nm
    }
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        row.copy_from_slice(self.image.row(self.next));
        self.next += 1;
        Ok(())
    }
    fn samples(&self) -> Samples {
        self.samples
    }
    fn colour_converted(&self) -> bool {
        self.colour_converted
    }
}

/// Sample types a [`crate::RowWriter`] writes.
pub trait StreamSample: Copy + Send + Default + 'static {
    /// Zarr v3 data type name.
    const ZARR_TYPE: &'static str;
    /// Appends `values` to `out` as little-endian bytes.
    fn extend_le(values: &[Self], out: &mut Vec<u8>);
}

impl StreamSample for u8 {
    const ZARR_TYPE: &'static str = "uint8";
    fn extend_le(values: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(values);
    }
}

impl StreamSample for u32 {
    const ZARR_TYPE: &'static str = "uint32";
    fn extend_le(values: &[u32], out: &mut Vec<u8>) {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
}

impl StreamSample for f32 {
    const ZARR_TYPE: &'static str = "float32";
    fn extend_le(values: &[f32], out: &mut Vec<u8>) {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
}

/// `band` as little-endian bytes ([`StreamSample::extend_le`]).
pub(crate) fn as_u8<T: StreamSample>(band: Vec<T>) -> Vec<u8> {
    let mut out = Vec::new();
    T::extend_le(&band, &mut out);
    out
}

/// Samples received by a streamed encoder must add up to the image; a closed channel before
/// that means the image was abandoned.
pub(crate) fn expect_rows(received: usize, height: usize, width: usize) -> Result<(), String> {
    if received == height * width {
        Ok(())
    } else {
        Err(format!(
            "abandoned after {} of {height} rows",
            received / width.max(1)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_and_float_map_to_eight_bit() {
        let img = GreyImage::U16(Image::new(1, 3, vec![0, 257 * 122, 65535]));
        assert_eq!(img.into_u8().data, vec![0, 122, 255]);
        let img = GreyImage::F32(Image::new(1, 4, vec![0.0, 0.5, 1.0, f32::NAN]));
        assert_eq!(img.into_u8().data, vec![0, 128, 255, 0]);
    }

    #[test]
    fn reflection_does_not_repeat_the_edge() {
        let got: Vec<usize> = (-4..8).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        assert_eq!(reflect(-5, 1), 0);
    }

    #[test]
    fn errors_are_one_line() {
        let e = IoError::new(
            Path::new("a.tif"),
            IoErrorKind::Corrupt,
            "bad:\n  data\r\n\n",
        );
        assert_eq!(e.to_string(), "a.tif: bad: data");
        let e = IoError::new(Path::new("a.tif"), IoErrorKind::Corrupt, "two  spaces stay");
        assert_eq!(e.message, "two  spaces stay");
    }

    #[test]
    fn plane_sizes_are_checked_without_overflow() {
        let p = Path::new("x");
        assert_eq!(
            check_pixels(p, "an image", 1 << 16, 1 << 15).unwrap(),
            1 << 31
        );
        for (rows, cols) in [(1 << 16, (1 << 15) + 1), (u64::MAX, 2), (1 << 62, 1 << 62)] {
            let e = check_pixels(p, "an image", rows, cols).unwrap_err();
            assert!(e.message.contains("larger than urisc reads"), "{e}");
        }
        assert!(check_block(p, "a tile", &[256, 256], &[10, 10]).is_ok());
        assert!(check_block(p, "a tile", &[8192, 16], &[8000, 16]).is_err());
        assert!(check_block(p, "a tile", &[8192, 16], &[9000, 16]).is_ok());
    }

    #[test]
    fn luma_of_grey_is_grey() {
        assert_eq!(luma(200, 200, 200), 200);
        assert_eq!(luma(255, 0, 0), 76);
    }
}
