//! Predicting at another scale than the input's, still streaming: the section is resampled row
//! by row to the model's pixel size on the way in, and the probability map row by row back onto
//! the input's grid on the way out. Bilinear with pixel centres aligned (OpenCV's
//! `INTER_LINEAR`, PyTorch's `align_corners=False`): halving averages each 2×2 block exactly.
//! Memory grows by two rows of each grid, not by the section.

use std::collections::VecDeque;

use urisc_io::{Image, IoError, MemoryRows, RowSource};
use urisc_model::{ModelError, SegmentationModel};

use crate::job::InferenceOptions;
use crate::stream::{predict_stream, InferError, InferenceStats, RowSink};

/// The length of an axis of `len` pixels at `scale` (at least 1).
pub fn scaled_len(len: usize, scale: f64) -> usize {
    ((len as f64 * scale).round() as usize).max(1)
}

/// For each pixel of an axis resampled from `from` to `to` pixels: the first of the two input
/// pixels it interpolates and the weight of the second.
struct Axis {
    first: Vec<usize>,
    weight: Vec<f32>,
    from: usize,
}

impl Axis {
    fn new(from: usize, to: usize) -> Axis {
        let (mut first, mut weight) = (Vec::with_capacity(to), Vec::with_capacity(to));
        for dst in 0..to {
            let x = (((dst as f64 + 0.5) * from as f64 / to as f64) - 0.5)
                .clamp(0.0, (from - 1) as f64) as f32;
            let x0 = x.floor();
            first.push(x0 as usize);
            weight.push(x - x0);
        }
        Axis {
            first,
            weight,
            from,
        }
    }

    /// The second input pixel of output pixel `dst` (the first one again at the last pixel).
    fn second(&self, dst: usize) -> usize {
        (self.first[dst] + 1).min(self.from - 1)
    }

    fn resample(&self, row: &[f32], out: &mut [f32]) {
        for (dst, v) in out.iter_mut().enumerate() {
            let fx = self.weight[dst];
            *v = row[self.first[dst]] * (1.0 - fx) + row[self.second(dst)] * fx;
        }
    }
}

/// Rows of `source` resampled to `height × width`, read from it as they are needed.
pub struct ResampledRows<'a> {
    source: &'a mut dyn RowSource,
    rows: Axis,
    cols: Axis,
    /// Input rows read so far, resampled horizontally: (input row, values).
    window: VecDeque<(usize, Vec<f32>)>,
    read: usize,
    next: usize,
    raw: Vec<u8>,
    pixel_size_nm: Option<f64>,
}

impl<'a> ResampledRows<'a> {
    /// `source` resampled to `height × width`; its pixel size, when known, scales accordingly.
    pub fn new(source: &'a mut dyn RowSource, height: usize, width: usize) -> Self {
        let (h, w) = (source.height(), source.width());
        let pixel_size_nm = source.pixel_size_nm().map(|p| p * w as f64 / width as f64);
        ResampledRows {
            rows: Axis::new(h, height),
            cols: Axis::new(w, width),
            window: VecDeque::new(),
            read: 0,
            next: 0,
            raw: vec![0; w],
            pixel_size_nm,
            source,
        }
    }

    fn input_row(&self, r: usize) -> &[f32] {
        let (first, _) = self.window.front().expect("a buffered row");
        &self.window[r - first].1
    }
}

impl RowSource for ResampledRows<'_> {
    fn height(&self) -> usize {
        self.rows.first.len()
    }

    fn width(&self) -> usize {
        self.cols.first.len()
    }

    fn pixel_size_nm(&self) -> Option<f64> {
        self.pixel_size_nm
    }

    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        let r = self.next;
        let (top, bottom) = (self.rows.first[r], self.rows.second(r));
        while self.read <= bottom {
            self.source.read_row(&mut self.raw)?;
            let values: Vec<f32> = self.raw.iter().map(|&v| v as f32).collect();
            let mut resampled = vec![0f32; self.width()];
            self.cols.resample(&values, &mut resampled);
            self.window.push_back((self.read, resampled));
            self.read += 1;
        }
        while self.window.front().is_some_and(|(i, _)| *i < top) {
            self.window.pop_front();
        }
        let fy = self.rows.weight[r];
        let (a, b) = (self.input_row(top), self.input_row(bottom));
        for ((out, &a), &b) in row.iter_mut().zip(a).zip(b) {
            *out = (a * (1.0 - fy) + b * fy).round().clamp(0.0, 255.0) as u8;
        }
        self.next += 1;
        Ok(())
    }
}

/// [`predict_stream`] with the section resampled by `scale` (0.5: predicted at half the
/// resolution) and the map resampled back: `emit` receives rows of the input's grid.
pub fn predict_stream_scaled(
    model: &dyn SegmentationModel,
    source: &mut dyn RowSource,
    options: &InferenceOptions,
    scale: f64,
    progress: &mut dyn FnMut(usize, usize),
    emit: &mut RowSink,
) -> Result<InferenceStats, InferError> {
    if scale == 1.0 {
        return predict_stream(model, source, options, progress, emit);
    }
    let (h, w) = (source.height(), source.width());
    let (sh, sw) = (scaled_len(h, scale), scaled_len(w, scale));
    let (rows, cols) = (Axis::new(sh, h), Axis::new(sw, w));
    let mut window: VecDeque<(usize, Vec<f32>)> = VecDeque::new();
    let mut next = 0;
    let mut out = vec![0f32; w];
    let mut scaled = ResampledRows::new(source, sh, sw);
    let stats = predict_stream(model, &mut scaled, options, progress, &mut |r, p| {
        let mut resampled = vec![0f32; w];
        cols.resample(p, &mut resampled);
        window.push_back((r, resampled));
        while next < h && rows.second(next) <= r {
            let (top, bottom) = (rows.first[next], rows.second(next));
            while window.front().is_some_and(|(i, _)| *i < top) {
                window.pop_front();
            }
            let first = window.front().expect("a buffered row").0;
            let (a, b) = (&window[top - first].1, &window[bottom - first].1);
            let fy = rows.weight[next];
            for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                *o = a * (1.0 - fy) + b * fy;
            }
            emit(next, &out)?;
            next += 1;
        }
        Ok(())
    })?;
    Ok(InferenceStats {
        height: h,
        width: w,
        ..stats
    })
}

/// `image` resampled to `height × width` with the same bilinear rule as sections in
/// [`predict_stream_scaled`] (for work that needs the whole resampled image, e.g. attribution).
pub fn resample_image(image: &Image<u8>, height: usize, width: usize) -> Image<u8> {
    let mut source = MemoryRows::new(image.clone());
    let mut rows = ResampledRows::new(&mut source, height, width);
    let mut data = vec![0u8; height * width];
    for row in data.chunks_mut(width) {
        rows.read_row(row)
            .unwrap_or_else(|e| unreachable!("in-memory rows cannot fail: {e}"));
    }
    Image::new(height, width, data)
}

/// Membrane probabilities of an image in memory (same size), by [`predict_stream`] at the image's own scale.
pub fn predict_image(
    model: &dyn SegmentationModel,
    image: &Image<u8>,
    options: &InferenceOptions,
) -> Result<Image<f32>, ModelError> {
    predict_image_scaled(model, image, options, 1.0)
}

/// [`predict_image`] at `scale` × the image's resolution, the map on the image's grid.
pub fn predict_image_scaled(
    model: &dyn SegmentationModel,
    image: &Image<u8>,
    options: &InferenceOptions,
    scale: f64,
) -> Result<Image<f32>, ModelError> {
    let mut data = Vec::with_capacity(image.len());
    let mut source = MemoryRows::new(image.clone());
    predict_stream_scaled(
        model,
        &mut source,
        options,
        scale,
        &mut |_, _| {},
        &mut |_, row| {
            data.extend_from_slice(row);
            Ok(())
        },
    )
    .map_err(|e| match e {
        InferError::Model(e) => e,
        InferError::Io(e) => unreachable!("in-memory rows cannot fail: {e}"),
    })?;
    Ok(Image::new(image.height, image.width, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::model_scale;

    fn read_all(rows: &mut dyn RowSource) -> Vec<u8> {
        let mut all = vec![0u8; rows.height() * rows.width()];
        for row in all.chunks_mut(rows.width()) {
            rows.read_row(row).unwrap();
        }
        all
    }

    #[test]
    fn resampled_images_halve_by_averaging_blocks() {
        let image = Image::new(2, 4, vec![0, 10, 100, 200, 20, 30, 40, 40]);
        let half = resample_image(&image, 1, 2);
        assert_eq!(half.data, vec![15, 95]);
        let same = resample_image(&image, 2, 4);
        assert_eq!(same.data, image.data);
    }

    #[test]
    fn scale_is_input_over_model_pixel_size_when_both_are_known() {
        assert_eq!(model_scale(Some(2.0), Some(4.0)), 0.5);
        assert_eq!(model_scale(Some(4.05), Some(4.0)), 1.0);
        assert_eq!(model_scale(None, Some(4.0)), 1.0);
        assert_eq!(model_scale(Some(2.0), None), 1.0);
    }

    #[test]
    fn halving_averages_blocks_and_doubling_interpolates() {
        let image = Image::new(4, 4, (0..16u8).map(|v| v * 10).collect());
        let mut source = MemoryRows::new(image.clone());
        let mut half = ResampledRows::new(&mut source, 2, 2);
        // Block (0, 0): 0, 10, 40, 50 → 25.
        assert_eq!(read_all(&mut half), vec![25, 45, 105, 125]);
        let mut source = MemoryRows::new(Image::new(2, 2, vec![0, 100, 200, 40]));
        let mut double = ResampledRows::new(&mut source, 4, 4);
        // Row 0 is input row 0 (clamped): 0, 25, 75, 100; row 1 is 3/4 row 0 + 1/4 row 1.
        let doubled = read_all(&mut double);
        assert_eq!(&doubled[..4], &[0, 25, 75, 100]);
        assert_eq!(&doubled[4..8], &[50, 59, 76, 85]);
    }

    /// Streamed at half scale, row by row: the same map as predicting the half-size image (same
    /// tiles) and upsampling it whole (bilinear, `urisc_data::bilinear`), for an image whose 2×2
    /// blocks are constant (so its half is exactly the base image).
    #[test]
    fn half_scale_streaming_equals_whole_image_resampling() {
        use urisc_model::testing::LinearFilter;
        let (bh, bw) = (37, 45);
        let base = Image::new(
            bh,
            bw,
            (0..bh * bw).map(|i| ((i * 7919) % 251) as u8).collect(),
        );
        let doubled = Image::new(
            2 * bh,
            2 * bw,
            (0..4 * bh * bw)
                .map(|i| base.data[(i / (2 * bw)) / 2 * bw + (i % (2 * bw)) / 2])
                .collect(),
        );
        let kernel: Vec<f32> = (0..25)
            .map(|k| ((k * 13 % 7) as f32 - 3.0) * 0.01)
            .collect();
        let model = LinearFilter::new(2, kernel, 0.2).with_size_multiple(8);
        let options = InferenceOptions {
            tile: 16,
            overlap: 8,
            ..Default::default()
        };
        let streamed_small = predict_image(&model, &base, &options).unwrap();
        let mut rows = Vec::new();
        let mut source = MemoryRows::new(doubled.clone());
        let stats = predict_stream_scaled(
            &model,
            &mut source,
            &options,
            0.5,
            &mut |_, _| {},
            &mut |r, row| {
                assert_eq!(r, rows.len() / (2 * bw), "rows in order");
                rows.extend_from_slice(row);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!((stats.height, stats.width), (2 * bh, 2 * bw));
        assert_eq!(rows.len(), 4 * bh * bw);
        let position = |dst: usize, from: usize, to: usize| {
            (((dst as f64 + 0.5) * from as f64 / to as f64) - 0.5).clamp(0.0, (from - 1) as f64)
                as f32
        };
        for r in 0..2 * bh {
            for c in 0..2 * bw {
                let (y, x) = (position(r, bh, 2 * bh), position(c, bw, 2 * bw));
                let expected = urisc_data::bilinear(&streamed_small.data, bh, bw, y, x);
                assert_eq!(rows[r * 2 * bw + c], expected, "({r}, {c})");
            }
        }
    }
}
