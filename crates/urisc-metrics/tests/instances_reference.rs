//! Instance scores against scikit-image and a numpy transcription of Fiji's formulas, on the
//! fixtures `bench/cells/reference.py` writes (`data/fixtures/instances`).

use std::path::PathBuf;

use urisc_metrics::score_labels;

#[test]
fn instance_scores_match_the_reference_to_1e_9() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/instances");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let gt = urisc_io::read_u8(&dir.join(format!("{name}-gt.png"))).unwrap();
        let pred = urisc_io::read_labels(&dir.join(format!("{name}-pred.tif"))).unwrap();
        assert_eq!((gt.height, gt.width), (pred.height, pred.width));
        let s = score_labels(&gt.data, &pred.data, gt.height, gt.width);
        let got = [
            ("are", s.are),
            ("are_precision", s.are_precision),
            ("are_recall", s.are_recall),
            ("voi_split", s.voi_split),
            ("voi_merge", s.voi_merge),
            ("cremi", s.cremi),
            ("vrand", s.vrand),
            ("vinfo", s.vinfo),
            ("gt_cells", s.gt_cells as f64),
            ("pred_cells", s.pred_cells as f64),
        ];
        for (key, value) in got {
            let want = case[key].as_f64().unwrap();
            assert!(
                (value - want).abs() <= 1e-9,
                "{name} {key}: {value} vs reference {want}"
            );
        }
    }
}
