//! Suite files: validation before any work, splits, and leaderboard ranking.

use std::path::{Path, PathBuf};

use urisc_bench::leaderboard::build;
use urisc_bench::suite::ThresholdPolicy;
use urisc_bench::{RunRecord, Status, Suite};
use urisc_eval::Scores;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn suite_text(extra_dataset: &str, methods: &str) -> String {
    format!(
        r#"
name = "t"
[[dataset]]
name = "isbi"
path = {:?}
{extra_dataset}
{methods}
"#,
        repo().join("data/isbi2012")
    )
}

fn parse(text: &str) -> Result<Suite, String> {
    Suite::parse(text, Path::new("/nowhere/t.toml")).map_err(|e| e.to_string())
}

const MODEL: &str = "[[method]]\nname = \"m\"\nmodel = \"embedded\"\n";

#[test]
fn named_splits_default_training_to_the_rest() {
    let s = parse(&suite_text(
        "validation = [\"14\", \"15\"]\ntest = [\"16\", \"17\", \"18\", \"19\"]",
        MODEL,
    ))
    .unwrap();
    let d = &s.datasets[0];
    assert_eq!(d.train.len(), 14);
    assert_eq!(d.train[0], "00");
    assert_eq!(d.test, ["16", "17", "18", "19"]);
    assert_eq!(s.methods[0].threshold, ThresholdPolicy::Model);
}

#[test]
fn fraction_splits_are_seeded_disjoint_and_complete() {
    let text = |seed: u64| {
        suite_text(
            &format!("split = {{ validation = 0.1, test = 0.2, seed = {seed} }}"),
            MODEL,
        )
    };
    let a = parse(&text(3)).unwrap().datasets[0].clone();
    let b = parse(&text(3)).unwrap().datasets[0].clone();
    let c = parse(&text(4)).unwrap().datasets[0].clone();
    assert_eq!(a, b, "same seed, same split");
    assert_ne!(a.test, c.test, "another seed, another split");
    assert_eq!(
        (a.validation.len(), a.test.len(), a.train.len()),
        (2, 4, 14)
    );
    let mut all: Vec<&String> = a.train.iter().chain(&a.validation).chain(&a.test).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20);
}

#[test]
fn problems_are_named_before_any_work() {
    let cases = [
        (
            suite_text("test = [\"16\"]\nvalidaton = [\"14\"]", MODEL),
            "unknown field `validaton`",
        ),
        (
            suite_text("test = [\"16\"]", "[[method]]\nname = \"m\"\n"),
            "give `config` (a training config) or `model`",
        ),
        (
            suite_text(
                "test = [\"16\"]",
                "[[method]]\nname = \"m\"\nmodel = \"embedded\"\nthreshold = \"best\"\n",
            ),
            "threshold \"best\"",
        ),
        (
            suite_text("test = [\"16\"]\nvalidation = [\"16\"]", MODEL),
            "both validation and test",
        ),
        (
            suite_text("test = [\"16\"]", &format!("{MODEL}{MODEL}")),
            "method \"m\": defined twice",
        ),
        (
            suite_text(
                "test = [\"16\"]",
                &format!(
                    "[[method]]\nname = \"u\"\nconfig = {:?}\n",
                    repo().join("configs/default.toml")
                ),
            ),
            "threshold \"validation\" needs validation samples",
        ),
        (suite_text("", MODEL), "no test samples"),
    ];
    for (text, needle) in cases {
        let e = parse(&text).unwrap_err();
        assert!(e.contains(needle), "'{needle}' not in: {e}");
        assert!(e.starts_with("/nowhere/t.toml: "), "names the file: {e}");
    }
    let e = parse(&suite_text("test = [\"16\"]\nvalidaton = [\"14\"]", MODEL)).unwrap_err();
    assert!(e.contains("line 7"), "names the line: {e}");
}

#[test]
fn lower_is_better_metrics_rank_ascending() {
    let mut s = parse(&suite_text(
        "test = [\"16\"]",
        "[[method]]\nname = \"a\"\nmodel = \"embedded\"\n[[method]]\nname = \"b\"\nmodel = \"embedded\"\n",
    ))
    .unwrap();
    s.primary_metric = "are".into();
    let record = |method: &str, seed: u64, are: f64, status: Status| {
        let mut r = RunRecord::new(&format!("{method}-{seed}"), method, "isbi", Some(seed));
        r.status = status;
        r.error = (status == Status::Failed).then(|| "boom".into());
        r.scores = (status == Status::Done).then(|| Scores {
            are: Some(are),
            ..Scores::default()
        });
        r
    };
    let records = vec![
        (record("a", 1, 0.30, Status::Done), false),
        (record("a", 2, 0.40, Status::Done), false),
        (record("b", 1, 0.20, Status::Done), false),
        (record("b", 2, 0.0, Status::Failed), false),
    ];
    let board = build(&s, &records);
    let rows = &board.datasets[0].rows;
    assert_eq!(rows[0].method, "b");
    assert_eq!(rows[0].rank, Some(1));
    assert_eq!((rows[0].runs, rows[0].failed), (1, 1));
    assert_eq!(rows[0].errors, ["boom"]);
    let a = &rows[1].metrics["are"];
    assert!((a.mean - 0.35).abs() < 1e-12);
    assert!((a.std.unwrap() - (0.005f64).sqrt()).abs() < 1e-12);
    let md = board.markdown();
    assert!(md.contains("| 1 | b | 1 (1 failed) |"), "{md}");
    assert!(md.contains("b failed: boom"), "{md}");
    let csv = board.csv();
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("isbi,1,b,method,1,1,"),
        "{csv}"
    );
}

/// A method's TTA, fixed threshold and scale follow `urisc predict`'s rules (one place), not a
/// copy of their own: scale 8 (predict accepts up to 16) is valid, 100 is not.
#[test]
fn method_settings_follow_predicts_rules() {
    let with = |extra: &str| parse(&suite_text("test = [\"16\"]", &format!("{MODEL}{extra}\n")));
    assert_eq!(with("scale = 8.0").unwrap().methods[0].scale, 8.0);
    let e = with("scale = 100.0").unwrap_err();
    assert!(e.contains("scale 100: must be between 1/16 and 16"), "{e}");
    let e = with("threshold = 2.0").unwrap_err();
    assert!(e.contains("threshold 2"), "{e}");
    let e = with("tta = 3").unwrap_err();
    assert!(e.contains("tta 3"), "{e}");
}
