//! The prediction/label overlays of a run: the EM image with false-positive and false-negative
//! membrane pixels in two colours (shown by the report).

use std::path::Path;

use urisc_io::Image;

use crate::error::BenchError;

/// Colour of false-positive membrane pixels (predicted, not in the label).
pub const FALSE_POSITIVE: [u8; 3] = [230, 0, 200];
/// Colour of false-negative membrane pixels (in the label, missed).
pub const FALSE_NEGATIVE: [u8; 3] = [0, 200, 60];

/// The centre `crop × crop` window of an image (the whole image when smaller): (row, col, h, w).
pub fn crop_window(height: usize, width: usize, crop: usize) -> (usize, usize, usize, usize) {
    let (h, w) = (crop.min(height), crop.min(width));
    ((height - h) / 2, (width - w) / 2, h, w)
}

/// Writes the overlay PNG: the EM image in grey, false positives and false negatives of the
/// binary map (membrane 0) against the label (membrane ≤ 122) in two colours.
pub fn write_overlay(
    path: &Path,
    image: &Image<u8>,
    label: &Image<u8>,
    binary: &Image<u8>,
    crop: usize,
) -> Result<(), BenchError> {
    let (r0, c0, h, w) = crop_window(image.height, image.width, crop);
    let mut rgb = Vec::with_capacity(h * w * 3);
    for r in r0..r0 + h {
        for c in c0..c0 + w {
            let i = r * image.width + c;
            let truth = urisc_io::encoding::label_is_membrane(label.data[i]);
            let predicted = urisc_io::encoding::prediction_is_membrane(binary.data[i]);
            let px = match (predicted, truth) {
                (true, false) => FALSE_POSITIVE,
                (false, true) => FALSE_NEGATIVE,
                _ => [image.data[i]; 3],
            };
            rgb.extend_from_slice(&px);
        }
    }
    let png = urisc_plot::png_from_rgb(&rgb, w as u32, h as u32);
    urisc_io::write_atomically(path, true, |f| std::io::Write::write_all(f, &png))?;
    Ok(())
}
