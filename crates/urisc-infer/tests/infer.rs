//! Streaming tiled inference on hand-made models with known answers.

use urisc_infer::{origins, predict_stream, InferenceOptions};
use urisc_io::{Image, IoError, MemoryRows, RowSource};
use urisc_model::testing::{Constant, LinearFilter};
use urisc_model::SegmentationModel;

fn predict(
    model: &dyn SegmentationModel,
    image: &Image<u8>,
    options: &InferenceOptions,
) -> Image<f32> {
    urisc_infer::predict_image(model, image, options).unwrap()
}

fn texture(h: usize, w: usize) -> Image<u8> {
    Image::new(
        h,
        w,
        (0..h * w)
            .map(|i| ((i * 37 + (i / w) * 11) % 251) as u8)
            .collect(),
    )
}

fn options(tile: usize, overlap: usize, batch: usize, tta: usize) -> InferenceOptions {
    InferenceOptions {
        tile,
        overlap,
        batch,
        tta,
    }
}

#[test]
fn tiled_equals_whole_image_away_from_tile_borders() {
    let kernel: Vec<f32> = (0..49)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.02)
        .collect();
    let model = LinearFilter::new(3, kernel, 0.1).with_size_multiple(8);
    // Multiples of the size multiple: the whole-image reference then needs no padding.
    let (h, w) = (72, 88);
    let image = texture(h, w);
    let whole = predict(&model, &image, &options(256, 0, 1, 1));
    let (tile, overlap) = (32, 16);
    let tiled = predict(&model, &image, &options(tile, overlap, 3, 1));
    let r = 3;
    // A tile gives the whole-image value at a pixel whose 7×7 neighbourhood it contains (or
    // where the neighbourhood leaves the image at the image's own border).
    let inside = |x: usize, o: usize, len: usize| {
        (x >= o + r || o == 0) && (x + r < o + tile || o + tile == len)
    };
    let (rows, cols) = (origins(h, tile, overlap), origins(w, tile, overlap));
    let mut compared = 0;
    for y in 0..h {
        for x in 0..w {
            let ok = rows
                .iter()
                .filter(|&&o| o <= y && y < o + tile)
                .all(|&o| inside(y, o, h))
                && cols
                    .iter()
                    .filter(|&&o| o <= x && x < o + tile)
                    .all(|&o| inside(x, o, w));
            if ok {
                let (a, b) = (whole.get(y, x), tiled.get(y, x));
                assert!((a - b).abs() < 1e-5, "({y},{x}): whole {a} vs tiled {b}");
                compared += 1;
            }
        }
    }
    assert!(compared > h * w / 2, "only {compared} pixels compared");
}

#[test]
fn constant_model_blends_to_a_constant_at_every_size() {
    let model = Constant {
        logit: 1.0,
        size_multiple: 16,
    };
    let expected = 1.0 / (1.0 + (-1.0f32).exp());
    for (h, w) in [(1, 1), (1, 300), (300, 1), (5, 7), (129, 257), (9959, 9958)] {
        let image = Image::filled(h, w, 90u8);
        let p = predict(&model, &image, &options(512, 64, 4, 1));
        assert_eq!((p.height, p.width), (h, w));
        let worst = p
            .data
            .iter()
            .map(|v| (v - expected).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "{h}×{w}: off by {worst}");
    }
}

#[test]
fn tta_of_an_equivariant_model_equals_no_tta_and_of_another_differs() {
    // A kernel symmetric under the whole dihedral group makes the model equivariant.
    let symmetric: Vec<f32> = (0..25)
        .map(|i| {
            let (dy, dx): (i32, i32) = (i / 5 - 2, i % 5 - 2);
            [0.3, -0.2, 0.05][(dy.abs().max(dx.abs()) as usize).min(2)]
                + 0.01 * (dy * dy + dx * dx) as f32
        })
        .collect();
    let equivariant = LinearFilter::new(2, symmetric, 0.0).with_size_multiple(4);
    // Square tiles, and 12 × 32 tiles (a section lower than a tile), which quarter turns transpose.
    for (h, w) in [(70, 45), (10, 45)] {
        let image = texture(h, w);
        let plain = predict(&equivariant, &image, &options(32, 8, 2, 1));
        for tta in [2, 4, 8] {
            let augmented = predict(&equivariant, &image, &options(32, 8, 2, tta));
            let worst = plain
                .data
                .iter()
                .zip(&augmented.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{h}×{w}, TTA {tta}: off by {worst}");
        }
    }
    let image = texture(70, 45);
    let skewed: Vec<f32> = (0..25).map(|i| i as f32 * 0.01).collect();
    let directional = LinearFilter::new(2, skewed, 0.0).with_size_multiple(4);
    let a = predict(&directional, &image, &options(32, 8, 2, 1));
    let b = predict(&directional, &image, &options(32, 8, 2, 8));
    assert!(a
        .data
        .iter()
        .zip(&b.data)
        .any(|(x, y)| (x - y).abs() > 1e-3));
}

/// Rows from memory, recording how far reading got.
struct CountingRows {
    inner: MemoryRows,
    read: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RowSource for CountingRows {
    fn height(&self) -> usize {
        self.inner.height()
    }
    fn width(&self) -> usize {
        self.inner.width()
    }
    fn pixel_size_nm(&self) -> Option<f64> {
        None
    }
    fn read_row(&mut self, row: &mut [u8]) -> Result<(), IoError> {
        self.read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_row(row)
    }
}

#[test]
fn rows_come_out_in_order_before_reading_runs_far_ahead() {
    let model = Constant {
        logit: 0.0,
        size_multiple: 16,
    };
    let (h, w, tile) = (1000, 40, 64);
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut source = CountingRows {
        inner: MemoryRows::new(texture(h, w)),
        read: read.clone(),
    };
    let mut next = 0;
    let mut tiles_seen = 0;
    predict_stream(
        &model,
        &mut source,
        &options(tile, 16, 2, 1),
        &mut |done, _| tiles_seen = done,
        &mut |row, values| {
            assert_eq!(row, next, "rows out of order");
            assert_eq!(values.len(), w);
            // Only the band being worked on is held: input never runs more than one tile ahead.
            assert!(
                read.load(std::sync::atomic::Ordering::Relaxed) <= row + 2 * tile,
                "read {} rows at row {row}",
                read.load(std::sync::atomic::Ordering::Relaxed)
            );
            next += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(next, h);
    assert_eq!(tiles_seen, origins(h, tile, 16).len());
}

#[test]
fn an_emit_error_stops_the_run() {
    let model = Constant {
        logit: 0.0,
        size_multiple: 16,
    };
    let mut source = MemoryRows::new(texture(100, 10));
    let result = predict_stream(
        &model,
        &mut source,
        &options(32, 8, 1, 1),
        &mut |_, _| {},
        &mut |row, _| {
            if row == 40 {
                Err(IoError::new(
                    std::path::Path::new("out.png"),
                    urisc_io::IoErrorKind::Write,
                    "disk full",
                ))
            } else {
                Ok(())
            }
        },
    );
    assert!(result.unwrap_err().to_string().contains("disk full"));
}
