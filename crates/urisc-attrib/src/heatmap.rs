//! Attribution heatmaps as RGB PNGs, drawn as the authors drew theirs: the map normalised by
//! its max |IG|, positive values red and negative values blue on white; optionally blended over
//! the grey image, and several targets side by side in a montage.

use std::io::BufWriter;
use std::path::Path;

use urisc_io::{write_atomically, Image, IoError};

use crate::ig::Attribution;

/// What the colours show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeatmapMode {
    /// Red for positive, blue for negative IG.
    Signed,
    /// |IG| in red only.
    Absolute,
}

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct Rgb {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `height·width·3` bytes: R, G, B of pixel `(row, col)` from `(row·width + col)·3`.
    pub data: Vec<u8>,
}

impl Rgb {
    /// An all-white image.
    pub fn white(height: usize, width: usize) -> Rgb {
        Rgb {
            height,
            width,
            data: vec![255; height * width * 3],
        }
    }

    /// The `[R, G, B]` of pixel `(row, col)`.
    pub fn pixel(&self, row: usize, col: usize) -> [u8; 3] {
        let i = (row * self.width + col) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    fn set(&mut self, row: usize, col: usize, rgb: [u8; 3]) {
        let i = (row * self.width + col) * 3;
        self.data[i..i + 3].copy_from_slice(&rgb);
    }
}

/// How values become colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeatmapStyle {
    /// What the colours show.
    pub mode: HeatmapMode,
    /// Opacity of the colour is `|v|^gamma` for `v` normalised by max |IG|: 1 is the authors'
    /// linear scale; below 1 lifts the many small values that are otherwise invisible.
    pub gamma: f32,
}

impl HeatmapStyle {
    /// The authors' rendering: signed, linear.
    pub const AUTHORS: HeatmapStyle = HeatmapStyle {
        mode: HeatmapMode::Signed,
        gamma: 1.0,
    };
}

/// Colour of a value already normalised to [−1, 1] over a background grey `under` (255 for the
/// authors' white): the pure colour blended in with weight |v|^gamma.
pub fn colour(v: f32, style: HeatmapStyle, under: u8) -> [u8; 3] {
    let a = v.abs().min(1.0).powf(style.gamma);
    let mode = style.mode;
    let pure = if v < 0.0 && mode == HeatmapMode::Signed {
        [0.0, 0.0, 255.0]
    } else {
        [255.0, 0.0, 0.0]
    };
    pure.map(|p| (under as f32 * (1.0 - a) + p * a).round() as u8)
}

/// The attribution of one target over a region of the image (`top, left, height, width`),
/// normalised by the map's max |IG|, over white or over `image` (lightened half-way to white,
/// so that colours stand out as on the authors' white); the target marked by a green dot when
/// inside the region.
pub fn render_region(
    map: &Attribution,
    image: Option<&Image<u8>>,
    style: HeatmapStyle,
    (top, left, height, width): (usize, usize, usize, usize),
) -> Rgb {
    let scale = map.values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let mut out = Rgb::white(height, width);
    for r in 0..height {
        for c in 0..width {
            let (row, col) = (top + r, left + c);
            let under = image.map_or(255, |im| 128 + im.get(row, col) / 2);
            let v = if scale > 0.0 {
                map.at(row, col) / scale
            } else {
                0.0
            };
            out.set(r, c, colour(v, style, under));
        }
    }
    let (tr, tc) = map.target;
    if (top..top + height).contains(&tr) && (left..left + width).contains(&tc) {
        out.set(tr - top, tc - left, [0, 200, 0]);
    }
    out
}

/// The whole image's heatmap for one target.
pub fn render_full(
    map: &Attribution,
    image: Option<&Image<u8>>,
    style: HeatmapStyle,
    height: usize,
    width: usize,
) -> Rgb {
    render_region(map, image, style, (0, 0, height, width))
}

/// Tiles of side `2·half + 1` centred on each target (clipped at image borders, white beyond),
/// each normalised by its own max |IG|, in rows of `columns`, with 2-pixel white gaps.
pub fn montage(
    maps: &[Attribution],
    image: Option<&Image<u8>>,
    style: HeatmapStyle,
    half: usize,
    columns: usize,
    height: usize,
    width: usize,
) -> Rgb {
    let side = 2 * half + 1;
    let gap = 2;
    let columns = columns.max(1);
    let rows = maps.len().div_ceil(columns);
    let mut out = Rgb::white(rows * (side + gap) + gap, columns * (side + gap) + gap);
    for (k, map) in maps.iter().enumerate() {
        let (tr, tc) = map.target;
        let (top, left) = (tr.saturating_sub(half), tc.saturating_sub(half));
        let (bottom, right) = ((tr + half + 1).min(height), (tc + half + 1).min(width));
        let tile = render_region(map, image, style, (top, left, bottom - top, right - left));
        // Place the tile so that the target sits at the tile centre even when clipped.
        let origin_r = gap + (k / columns) * (side + gap) + (half - (tr - top));
        let origin_c = gap + (k % columns) * (side + gap) + (half - (tc - left));
        for r in 0..tile.height {
            for c in 0..tile.width {
                out.set(origin_r + r, origin_c + c, tile.pixel(r, c));
            }
        }
    }
    out
}

/// Writes an RGB PNG atomically.
pub fn write_rgb_png(path: &Path, image: &Rgb, overwrite: bool) -> Result<(), IoError> {
    write_atomically(path, overwrite, |file| {
        let mut enc = png::Encoder::new(
            BufWriter::new(file),
            image.width as u32,
            image.height as u32,
        );
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(&image.data)
            .map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_map() -> Attribution {
        Attribution {
            target: (0, 1),
            top: 0,
            left: 0,
            height: 1,
            width: 4,
            values: vec![2.0, 0.0, -1.0, -4.0],
        }
    }

    #[test]
    fn signed_colours_are_normalised_by_max_abs() {
        let rgb = render_full(&line_map(), None, HeatmapStyle::AUTHORS, 1, 4);
        assert_eq!(rgb.pixel(0, 0), [255, 128, 128]); // +0.5: half-way to red
        assert_eq!(rgb.pixel(0, 1), [0, 200, 0]); // the target marker
        assert_eq!(rgb.pixel(0, 2), [191, 191, 255]); // −0.25
        assert_eq!(rgb.pixel(0, 3), [0, 0, 255]); // −1: pure blue
    }

    #[test]
    fn absolute_mode_gamma_and_overlay_use_the_lightened_image_underneath() {
        let image = Image::new(1, 4, vec![100, 100, 100, 100]);
        let style = HeatmapStyle {
            mode: HeatmapMode::Absolute,
            gamma: 0.5,
        };
        let rgb = render_full(&line_map(), Some(&image), style, 1, 4);
        // |v| = 0.25 → opacity 0.5, red over grey 128 + 100/2 = 178.
        assert_eq!(rgb.pixel(0, 2), [217, 89, 89]);
        assert_eq!(rgb.pixel(0, 3), [255, 0, 0]);
    }

    #[test]
    fn montage_centres_clipped_tiles_on_their_targets() {
        let rgb = montage(&[line_map()], None, HeatmapStyle::AUTHORS, 1, 1, 1, 4);
        assert_eq!((rgb.height, rgb.width), (7, 7));
        // The target (0, 1) sits at the tile centre: row 2 + 1, column 2 + 1.
        assert_eq!(rgb.pixel(3, 3), [0, 200, 0]);
        assert_eq!(rgb.pixel(3, 2), [255, 128, 128]);
        assert_eq!(rgb.pixel(3, 4), [191, 191, 255]);
        // The row above the image is outside it: white.
        assert_eq!(rgb.pixel(2, 3), [255, 255, 255]);
    }
}
