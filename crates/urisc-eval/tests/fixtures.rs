//! Agreement with independent implementations on the shared fixtures (`data/fixtures`):
//! numpy/scipy/scikit-image for pixel scores, PHD, ARE and VOI, and the real Fiji code for
//! V_rand and V_info.

use std::path::PathBuf;

use urisc_eval::{evaluate, pair_inputs, EvalReport, MetricSet, Protocol, Scores};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures")
}

fn check(actual: Option<f64>, expected: Option<f64>, tol: f64, what: &str) {
    let (a, e) = (
        actual.unwrap_or_else(|| panic!("{what}: missing")),
        expected.unwrap(),
    );
    let err = (a - e).abs() / e.abs().max(1.0);
    assert!(
        err <= tol,
        "{what}: got {a}, expected {e} (error {err:.2e} > {tol:.0e})"
    );
}

fn compare(set: &str) {
    let dir = fixtures().join(set);
    let expected: EvalReport =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let pairs = pair_inputs(&dir.join("pred"), &dir.join("gt")).unwrap();
    assert_eq!(pairs.len(), expected.images.len());
    let report = evaluate(&pairs, Protocol::Binarized, &MetricSet::all(), &|_| {}).unwrap();
    let mut rows: Vec<(&str, &Scores, &Scores)> = report
        .images
        .iter()
        .map(|img| {
            let exp = expected
                .images
                .iter()
                .find(|e| e.name == img.name)
                .expect("name in fixture");
            (img.name.as_str(), &img.scores, &exp.scores)
        })
        .collect();
    rows.push(("mean", &report.mean, &expected.mean));
    for (name, got, exp) in rows {
        let at = |m: &str| format!("{set}/{name} {m}");
        check(got.precision, exp.precision, 1e-12, &at("precision"));
        check(got.recall, exp.recall, 1e-12, &at("recall"));
        check(got.f1, exp.f1, 1e-12, &at("f1"));
        check(got.iou, exp.iou, 1e-12, &at("iou"));
        check(got.dice, exp.dice, 1e-12, &at("dice"));
        check(got.are, exp.are, 1e-9, &at("are"));
        check(got.voi_split, exp.voi_split, 1e-9, &at("voi_split"));
        check(got.voi_merge, exp.voi_merge, 1e-9, &at("voi_merge"));
        check(got.vrand, exp.vrand, 1e-9, &at("vrand"));
        check(got.vinfo, exp.vinfo, 1e-9, &at("vinfo"));
        let (gp, ep) = (got.phd.unwrap(), exp.phd.unwrap());
        for k in 0..5 {
            check(
                Some(gp.0[k]),
                Some(ep.0[k]),
                1e-9,
                &at(&format!("phd[{k}]")),
            );
        }
    }
}

#[test]
fn binary_perturbations_match_independent_implementations() {
    compare("pairs");
}

#[test]
fn grey_predictions_match_fiji_over_the_whole_threshold_sweep() {
    compare("grey");
}
