//! A training tile: an image and its soft membrane target, both `f32`, row-major.

pub use urisc_io::reflect;

/// Image intensities in [0, 1] and a membrane target in [0, 1] (1 = membrane; fractional where
/// a resize averaged membrane and background).
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
    /// Intensities in [0, 1], `height × width`, row-major.
    pub image: Vec<f32>,
    /// Membrane target in [0, 1] (1 = membrane), same layout as `image`.
    pub target: Vec<f32>,
}

impl Tile {
    /// Wraps the two planes; panics unless both hold `height × width` values.
    pub fn new(height: usize, width: usize, image: Vec<f32>, target: Vec<f32>) -> Tile {
        assert_eq!(image.len(), height * width);
        assert_eq!(target.len(), height * width);
        Tile {
            height,
            width,
            image,
            target,
        }
    }

    /// Fraction of target mass that is membrane.
    pub fn membrane_fraction(&self) -> f32 {
        self.target.iter().sum::<f32>() / self.target.len().max(1) as f32
    }
}

/// Bilinear sample of a row-major plane at (y, x) with reflected borders.
pub fn bilinear(plane: &[f32], height: usize, width: usize, y: f32, x: f32) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let at = |r: isize, c: isize| plane[reflect(r, height) * width + reflect(c, width)];
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
    let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_hits_pixels_and_interpolates() {
        let plane = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(bilinear(&plane, 2, 2, 1.0, 0.0), 2.0);
        assert_eq!(bilinear(&plane, 2, 2, 0.5, 0.5), 1.5);
    }
}
