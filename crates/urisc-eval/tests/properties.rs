//! Properties every metric must have, on real ISBI labels.

use std::path::PathBuf;

use urisc_eval::{score_images, MetricSet, Protocol, Scores};
use urisc_io::{read_u8, GreyImage, Image};

fn label(k: usize) -> Image<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../data/isbi2012/labels/{k:02}.png"));
    read_u8(&p).unwrap()
}

fn score(gt: &Image<u8>, pred: &Image<u8>) -> Scores {
    score_images(
        gt,
        &GreyImage::U8(pred.clone()),
        Protocol::Binarized,
        &MetricSet::all(),
    )
    .unwrap()
    .0
}

/// The label on a white canvas with a margin, shifted by (dr, dc): no pixel leaves the image.
fn padded_shift(img: &Image<u8>, margin: usize, dr: usize, dc: usize) -> Image<u8> {
    let (h, w) = (img.height + 2 * margin, img.width + 2 * margin);
    let mut out = Image::filled(h, w, 255u8);
    for r in 0..img.height {
        for c in 0..img.width {
            out.data[(r + margin + dr) * w + c + margin + dc] = img.get(r, c);
        }
    }
    out
}

#[test]
fn identical_maps_score_perfectly() {
    for k in [0, 7, 19] {
        let gt = label(k);
        let s = score(&gt, &gt);
        assert_eq!(
            (s.f1, s.precision, s.recall, s.iou, s.dice),
            (Some(1.0), Some(1.0), Some(1.0), Some(1.0), Some(1.0))
        );
        assert_eq!(s.phd.unwrap().0, [0.0; 5]);
        assert!(
            (s.vrand.unwrap() - 1.0).abs() < 1e-12,
            "slice {k}: {:?}",
            s.vrand
        );
        assert!(
            (s.vinfo.unwrap() - 1.0).abs() < 1e-12,
            "slice {k}: {:?}",
            s.vinfo
        );
        assert_eq!(s.are, Some(0.0));
        assert!(s.voi_split.unwrap().abs() < 1e-12 && s.voi_merge.unwrap().abs() < 1e-12);
    }
}

#[test]
fn swapping_prediction_and_truth_swaps_precision_and_recall() {
    let (a, b) = (label(3), label(4));
    let (ab, ba) = (score(&a, &b), score(&b, &a));
    assert_eq!(ab.precision, ba.recall);
    assert_eq!(ab.recall, ba.precision);
    assert_eq!(ab.f1, ba.f1);
    // PHD is symmetric; VOI split and merge trade places.
    assert_eq!(ab.phd, ba.phd);
    assert!((ab.voi_split.unwrap() - ba.voi_merge.unwrap()).abs() < 1e-12);
}

#[test]
fn one_pixel_shift_lowers_f1_but_phd_at_t1_stays_zero() {
    let gt = padded_shift(&label(2), 4, 0, 0);
    for (dr, dc) in [(1, 0), (0, 1)] {
        let pred = padded_shift(&label(2), 4, dr, dc);
        let s = score(&gt, &pred);
        assert!(s.f1.unwrap() < 0.95, "shift ({dr},{dc}): f1 {:?}", s.f1);
        let phd = s.phd.unwrap();
        assert!(phd.at(0.0).unwrap() > 0.5, "t = 0 sees the shift: {phd:?}");
        assert_eq!(
            phd.at(1.0),
            Some(0.0),
            "skeleton points move by exactly one pixel"
        );
    }
}

#[test]
fn worse_predictions_score_worse() {
    // Removing membrane (gaps) merges cells: V_rand and ARE must get worse than a perfect map.
    let gt = label(5);
    let mut gappy = gt.clone();
    for r in 100..200 {
        for c in 100..400 {
            gappy.data[r * gt.width + c] = 255;
        }
    }
    let (perfect, worse) = (score(&gt, &gt), score(&gt, &gappy));
    assert!(worse.vrand.unwrap() < perfect.vrand.unwrap());
    assert!(worse.are.unwrap() > perfect.are.unwrap());
    assert!(worse.voi_merge.unwrap() > 0.0);
    assert!(worse.recall.unwrap() < 1.0 && worse.precision == Some(1.0));
}
