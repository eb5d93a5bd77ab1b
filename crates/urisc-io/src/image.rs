//! Grey images in memory: one row-major buffer, rows × columns, no padding.

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
                data: i
                    .data
                    .iter()
                    .map(|&v| ((v as u32 + 128) / 257) as u8)
                    .collect(),
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

/// ITU-R BT.601 luma with rounding, the usual weights for colour → grey.
pub fn luma(r: u16, g: u16, b: u16) -> u16 {
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000) as u16
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
    fn luma_of_grey_is_grey() {
        assert_eq!(luma(200, 200, 200), 200);
        assert_eq!(luma(255, 0, 0), 76);
    }
}
