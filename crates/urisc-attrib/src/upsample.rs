//! Integer upsampling of images (bilinear) and labels (nearest), to make a finer-pixel copy of a
//! dataset (e.g. ISBI at ≈2 nm/px, like U-RISC) for comparing how much context models use.

use std::path::Path;

use urisc_io::{read_u8, write_png, Image, IoError, IoErrorKind};

/// Bilinear upsampling by an integer `factor` with pixel centres aligned as in OpenCV/PIL
/// (`align_corners = false`): output pixel `o` samples the source at `(o + 0.5) / factor − 0.5`,
/// clamped to the image, so the upsampled image covers exactly the same field of view.
pub fn upsample_bilinear(image: &Image<u8>, factor: usize) -> Image<u8> {
    assert!(factor >= 1, "upsampling factor must be at least 1");
    let (h, w) = (image.height, image.width);
    let source_coordinate = |o: usize, n: usize| -> (usize, usize, f32) {
        let s = ((o as f32 + 0.5) / factor as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let lo = s.floor() as usize;
        let hi = (lo + 1).min(n - 1);
        (lo, hi, s - lo as f32)
    };
    let (oh, ow) = (h * factor, w * factor);
    let columns: Vec<_> = (0..ow).map(|o| source_coordinate(o, w)).collect();
    let mut data = Vec::with_capacity(oh * ow);
    for oy in 0..oh {
        let (y0, y1, fy) = source_coordinate(oy, h);
        for &(x0, x1, fx) in &columns {
            let at = |y: usize, x: usize| image.get(y, x) as f32;
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            data.push((top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8);
        }
    }
    Image::new(oh, ow, data)
}

/// Nearest-neighbour upsampling by an integer `factor` (each pixel becomes a factor² block), so
/// labels stay binary.
pub fn upsample_nearest(image: &Image<u8>, factor: usize) -> Image<u8> {
    assert!(factor >= 1, "upsampling factor must be at least 1");
    let (oh, ow) = (image.height * factor, image.width * factor);
    let data = (0..oh)
        .flat_map(|y| (0..ow).map(move |x| (y, x)))
        .map(|(y, x)| image.get(y / factor, x / factor))
        .collect();
    Image::new(oh, ow, data)
}

/// Upsamples an `images/` + `labels/` dataset folder into `destination` (same layout and file
/// names, PNG): images bilinearly, labels by nearest neighbour. `pixel_size_nm` is the source
/// pixel size, written divided by `factor` into the outputs. Returns the number of pairs.
pub fn upsample_dataset(
    source: &Path,
    destination: &Path,
    factor: usize,
    pixel_size_nm: Option<f64>,
    overwrite: bool,
) -> Result<usize, IoError> {
    let mut pairs = 0;
    for (folder, resample) in [
        (
            "images",
            upsample_bilinear as fn(&Image<u8>, usize) -> Image<u8>,
        ),
        ("labels", upsample_nearest),
    ] {
        let from = source.join(folder);
        let to = destination.join(folder);
        std::fs::create_dir_all(&to)
            .map_err(|e| IoError::new(&to, IoErrorKind::Write, format!("cannot create: {e}")))?;
        let mut names: Vec<_> = std::fs::read_dir(&from)
            .map_err(|e| IoError::new(&from, IoErrorKind::Open, format!("cannot list: {e}")))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| urisc_io::is_image_path(p))
            .collect();
        names.sort();
        for path in names {
            let image = read_u8(&path)?;
            let out = to.join(path.with_extension("png").file_name().expect("a file name"));
            let fine = pixel_size_nm.map(|nm| nm / factor as f64);
            write_png(&out, &resample(&image, factor), fine, overwrite)?;
            pairs += usize::from(folder == "images");
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_makes_blocks() {
        let image = Image::new(1, 2, vec![0, 255]);
        let up = upsample_nearest(&image, 2);
        assert_eq!(up.data, vec![0, 0, 255, 255, 0, 0, 255, 255]);
    }

    #[test]
    fn bilinear_interpolates_between_centres_and_clamps_at_borders() {
        // Source centres at x = 0 and 1 map to output positions 0.5 and 2.5 (factor 2): the
        // outer output pixels keep the edge values, the inner ones are 3/4–1/4 mixtures.
        let image = Image::new(1, 2, vec![0, 200]);
        let up = upsample_bilinear(&image, 2);
        assert_eq!(up.height, 2);
        assert_eq!(&up.data[..4], &[0, 50, 150, 200]);
        assert_eq!(&up.data[4..], &[0, 50, 150, 200]);
    }

    #[test]
    fn factor_one_is_the_identity() {
        let image = Image::new(2, 3, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(upsample_bilinear(&image, 1), image);
        assert_eq!(upsample_nearest(&image, 1), image);
    }
}
