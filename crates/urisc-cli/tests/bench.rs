//! `urisc bench run` end to end: the quick suite's leaderboard equals `urisc eval` on the same
//! predictions, a second run trains nothing, a run killed mid-suite finishes with the same
//! table, human rows on a miniature U-RISC layout, and suite errors before any work.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fails_with, repo, s, urisc};
use serde_json::Value;

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The rows' metrics of a leaderboard (method → metric means), for comparing two runs.
fn metrics(board: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for d in board["datasets"].as_array().unwrap() {
        for r in d["rows"].as_array().unwrap() {
            out.push((
                d["name"].as_str().unwrap().to_string(),
                r["method"].as_str().unwrap().to_string(),
                r["metrics"].clone(),
            ));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn run_suite(suite: &Path, out: &Path) -> String {
    let o = urisc(&["bench", "run", s(suite), "--out", s(out)]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "bench run failed: {err}");
    err
}

#[test]
fn quick_suite_matches_urisc_eval_and_a_second_run_trains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("quick");
    let suite = repo().join("suites/isbi-quick.toml");
    let err = run_suite(&suite, &out);
    assert!(
        err.contains("3 runs carried out (1 trained, 0 failed), 0 reused"),
        "{err}"
    );
    for f in [
        "leaderboard.md",
        "leaderboard.csv",
        "leaderboard.json",
        "bars-isbi.svg",
        "bars-isbi.png",
        "report.html",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let board = json(&out.join("leaderboard.json"));
    let rows = board["datasets"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    // Ranked by F1, best first, ranks 1..3.
    let f1: Vec<f64> = rows
        .iter()
        .map(|r| r["metrics"]["f1"]["mean"].as_f64().unwrap())
        .collect();
    assert!(f1.windows(2).all(|w| w[0] >= w[1]), "{f1:?}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["rank"].as_u64(), Some(i as u64 + 1));
        assert_eq!(r["runs"].as_u64(), Some(1));
        // Every SPEC §4 metric is there.
        for m in [
            "f1",
            "precision",
            "recall",
            "iou",
            "dice",
            "phd_0",
            "phd_10",
            "vrand",
            "vinfo",
            "are",
            "voi_split",
            "voi_merge",
        ] {
            assert!(r["metrics"][m]["mean"].is_f64(), "{m} missing in {r}");
        }
    }
    // Each row equals `urisc eval` on the run's written predictions against the test labels.
    let gt = dir.path().join("gt");
    std::fs::create_dir_all(&gt).unwrap();
    for n in ["16", "17", "18", "19"] {
        std::fs::copy(
            repo().join(format!("data/isbi2012/labels/{n}.png")),
            gt.join(format!("{n}.png")),
        )
        .unwrap();
    }
    for r in rows {
        let id = r["run_ids"][0].as_str().unwrap();
        let pred = out.join("runs").join(id).join("predictions");
        let o = urisc(&[
            "eval",
            "--pred",
            s(&pred),
            "--gt",
            s(&gt),
            "--format",
            "json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let eval: Value = serde_json::from_slice(&o.stdout).unwrap();
        for (m, key) in [
            ("f1", "f1"),
            ("precision", "precision"),
            ("iou", "iou"),
            ("vrand", "vrand"),
            ("vinfo", "vinfo"),
            ("are", "are"),
            ("voi_merge", "voi_merge"),
        ] {
            assert_eq!(
                r["metrics"][m]["mean"].as_f64().unwrap(),
                eval["mean"][key].as_f64().unwrap(),
                "{m} of {id}"
            );
        }
        assert_eq!(
            r["metrics"]["phd_3"]["mean"].as_f64().unwrap(),
            eval["mean"]["phd"]["3"].as_f64().unwrap()
        );
    }
    // The cells stage: instance scores beside the membrane scores, and cells that split what
    // the binary map's connected components merge.
    let default = rows
        .iter()
        .find(|r| r["method"] == "default-model")
        .unwrap();
    let cells_are = default["metrics"]["cells_are"]["mean"].as_f64().unwrap();
    let components_are = default["metrics"]["are"]["mean"].as_f64().unwrap();
    assert!(
        cells_are < components_are,
        "cells {cells_are} vs components {components_are}"
    );
    assert!(default["metrics"]["cells_cremi"]["mean"].is_f64());
    let csv = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(
        md.contains("| 1 | ") && md.contains("default-model-tta8"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("overlay.png"));
    // Nothing is fetched: no remote sources or links (the SVG namespace is a name, not a fetch).
    for remote in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(remote), "{remote} in the report");
    }

    // Again: nothing is trained or predicted, and the table is the same.
    let err = run_suite(&suite, &out);
    assert!(
        err.contains("0 runs carried out (0 trained, 0 failed), 3 reused"),
        "{err}"
    );
    assert_eq!(
        metrics(&json(&out.join("leaderboard.json"))),
        metrics(&board)
    );
}

/// A copy of the quick suite with absolute paths, a longer training (so it can be interrupted)
/// and only the trained method.
fn longer_suite(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("suites/isbi-quick.toml"))
        .unwrap()
        .replace("epochs = 2", "epochs = 8")
        .replace(
            "\"../data/isbi2012\"",
            &format!("{:?}", repo().join("data/isbi2012")),
        )
        .replace(
            "\"../configs/default.toml\"",
            &format!("{:?}", repo().join("configs/default.toml")),
        );
    // Keep only the first method.
    let text = text
        .split("[[method]]\nname = \"default-model\"")
        .next()
        .unwrap()
        .to_string();
    let path = dir.join("longer.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_suite_killed_during_training_resumes_to_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let suite = longer_suite(dir.path());
    let whole = dir.path().join("whole");
    run_suite(&suite, &whole);
    let expected = metrics(&json(&whole.join("leaderboard.json")));

    let out = dir.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_urisc"))
        .args(["bench", "run", s(&suite), "--out", s(&out)])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the first epoch's checkpoint exists.
    let started = Instant::now();
    let state = loop {
        let found = std::fs::read_dir(out.join("train"))
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path().join("state.json"))
            .filter(|p| p.exists());
        if let Some(p) = found {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let interrupted = !state.with_file_name("complete.json").exists();
    assert!(
        !out.join("leaderboard.json").exists(),
        "killed before the leaderboard"
    );
    let err = run_suite(&suite, &out);
    assert!(
        err.contains("1 runs carried out (1 trained, 0 failed)"),
        "{err}"
    );
    assert_eq!(metrics(&json(&out.join("leaderboard.json"))), expected);
    assert!(
        interrupted,
        "the kill came after training finished: nothing was resumed"
    );
}

/// A miniature U-RISC release (`imgs/`, `label/`, `Human_Annotation_Process/`) of 128² crops.
fn mini_urisc(root: &Path) {
    let crop = |name: &str, dir: &str, offset: usize| {
        let img =
            urisc_io::read_u8(&repo().join(format!("data/isbi2012/{dir}/{name}.png"))).unwrap();
        let data: Vec<u8> = (0..128 * 128)
            .map(|i| img.data[(i / 128 + offset) * 512 + i % 128 + offset])
            .collect();
        urisc_io::Image::new(128, 128, data)
    };
    for (split, names) in [
        ("train", ["00", "01"]),
        ("val", ["14", "15"]),
        ("test", ["16", "17"]),
    ] {
        for n in names {
            for (dir, kind) in [("imgs", "images"), ("label", "labels")] {
                let p = root.join(format!("{dir}/Track1/{split}/{n}.png"));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                urisc_io::write_png(&p, &crop(n, kind, 0), None, false).unwrap();
            }
        }
    }
    // Annotation rounds of one image: final = the label; 1st and 2nd = the label shifted by
    // 2 and 1 pixels (earlier rounds are further off).
    for (round, offset) in [("1st", 2), ("2nd", 1), ("final", 0)] {
        let p = root.join(format!("Human_Annotation_Process/{round}/0001.png"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        urisc_io::write_png(&p, &crop("18", "labels", 100 + offset), None, false).unwrap();
    }
}

#[test]
fn human_rows_score_earlier_annotation_rounds_against_the_final_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("urisc-mini");
    mini_urisc(&root);
    let suite = dir.path().join("mini.toml");
    std::fs::write(
        &suite,
        r#"
name = "mini"
[[dataset]]
name = "urisc-mini"
path = "urisc-mini"
validation = ["Track1/val/14", "Track1/val/15"]
test = ["Track1/test/16", "Track1/test/17"]
[[method]]
name = "default-model"
model = "embedded"
threshold = 0.5
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    run_suite(&suite, &out);
    let board = json(&out.join("leaderboard.json"));
    let rows = board["datasets"][0]["rows"].as_array().unwrap();
    let human: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "human").collect();
    assert_eq!(human.len(), 2, "{rows:?}");
    let rounds = root.join("Human_Annotation_Process");
    for r in human {
        let round = r["method"].as_str().unwrap().trim_start_matches("human-");
        let o = urisc(&[
            "eval",
            "--pred",
            s(&rounds.join(round).join("0001.png")),
            "--gt",
            s(&rounds.join("final/0001.png")),
            "--format",
            "json",
        ]);
        let eval: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            r["metrics"]["f1"]["mean"].as_f64(),
            eval["mean"]["f1"].as_f64(),
            "{round}"
        );
        assert!(r["metrics"]["f1"]["mean"].as_f64().unwrap() < 1.0);
    }
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(md.contains("*human-1st* (human)"), "{md}");
}

#[test]
fn suite_errors_come_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(repo().join("suites/isbi-quick.toml"))
        .unwrap()
        .replace(
            "\"../data/isbi2012\"",
            &format!("{:?}", repo().join("data/isbi2012")),
        )
        .replace(
            "\"../configs/default.toml\"",
            &format!("{:?}", repo().join("configs/default.toml")),
        );
    let cases: [(&str, String, &str); 6] = [
        (
            "unknown-key",
            base.replace(
                "primary_metric = \"f1\"",
                "primary_metric = \"f1\"\nepochz = 3",
            ),
            "unknown field `epochz`",
        ),
        (
            "unknown-dataset",
            base.replace("tta = 8", "tta = 8\ndatasets = [\"cremi\"]"),
            "method \"default-model-tta8\": unknown dataset \"cremi\"",
        ),
        (
            "unknown-sample",
            base.replace("test = [\"16\"", "test = [\"99\""),
            "test sample \"99\" is not in",
        ),
        (
            "bad-override",
            base.replace("\"model.depth=3\"", "\"model.depht=3\""),
            "model.depht",
        ),
        (
            "missing-model",
            base.replace(
                "model = \"embedded\"\ntta",
                "model = \"nowhere.safetensors\"\ntta",
            ),
            "nowhere.safetensors",
        ),
        (
            "bad-metric",
            base.replace("primary_metric = \"f1\"", "primary_metric = \"accuracy\""),
            "primary_metric \"accuracy\" is not a metric",
        ),
    ];
    for (name, text, needle) in cases {
        let suite = dir.path().join(format!("{name}.toml"));
        std::fs::write(&suite, text).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        let o = urisc(&["bench", "run", s(&suite), "--out", s(&out)]);
        fails_with(&o, needle);
        assert!(
            !out.exists(),
            "{name}: nothing is written before the suite is valid"
        );
    }
    // --only with a name the suite does not have.
    let suite = dir.path().join("ok.toml");
    std::fs::write(&suite, &base).unwrap();
    let out = dir.path().join("out-only");
    let o = urisc(&[
        "bench",
        "run",
        s(&suite),
        "--out",
        s(&out),
        "--only",
        "unet-w99",
    ]);
    fails_with(&o, "--only \"unet-w99\" is neither a method nor a dataset");
    assert!(!out.exists());
}
