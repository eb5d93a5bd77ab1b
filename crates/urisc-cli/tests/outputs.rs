//! What `urisc train`, `urisc model export / import` and `urisc bench run` write, and never
//! write over: an output is never one of the inputs (even with --force), a folder holding a
//! model is not replaced without --force, a folder in use by another run is refused naming it,
//! a resumed run's log cut by a crash is repaired, and import applies the settings it is given.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{fails_with, ok, s, tiny_dataset, tiny_model, urisc};
use urisc_io::lock::{FolderLock, LOCK_FILE};

/// Every file under `dir` with its bytes, to show a refused command changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                files.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    files
}

fn train(config: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--config", s(config), "--out", s(out)];
    args.extend_from_slice(extra);
    urisc(&args)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn model_export_and_import_never_replace_their_input() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let before = std::fs::read(&model).unwrap();
    let spelled = dir.path().join(".").join("tiny.safetensors");
    fails_with(
        &urisc(&[
            "model",
            "export",
            s(&model),
            "--out",
            s(&spelled),
            "--force",
        ]),
        "is the input",
    );
    assert_eq!(std::fs::read(&model).unwrap(), before);

    let onnx = dir.path().join("tiny.onnx");
    ok(&["model", "export", s(&model), "--out", s(&onnx)]);
    let exported = std::fs::read(&onnx).unwrap();
    fails_with(
        &urisc(&["model", "import", s(&onnx), "--out", s(&onnx), "--force"]),
        "is the input",
    );
    assert_eq!(std::fs::read(&onnx).unwrap(), exported);
}

#[test]
fn model_import_applies_given_settings_over_the_files_own_and_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let onnx = dir.path().join("tiny.onnx");
    ok(&["model", "export", s(&model), "--out", s(&onnx)]);
    let out = dir.path().join("imported.safetensors");
    for (flag, value, needle) in [
        ("--std", "0", "--std 0: normalization mean 0.5 / std 0"),
        ("--tile", "17", "--tile 17: tile_size 17 (a multiple of 4"),
        (
            "--threshold",
            "2",
            "--threshold 2: threshold 2 (a probability in [0, 1])",
        ),
        (
            "--pixel-size",
            "0",
            "--pixel-size 0: pixel_size_nm 0 (must be between 0.01 and 100000 nm/pixel)",
        ),
    ] {
        let o = urisc(&["model", "import", s(&onnx), "--out", s(&out), flag, value]);
        fails_with(&o, needle);
        assert!(!out.exists(), "{flag} {value}: nothing written");
    }

    // The file carries urisc's descriptor (tile 64, threshold 0.5, no pixel size): given values
    // replace it; the pixel size it lacked is set without a note (nothing was replaced).
    let o = urisc(&[
        "model",
        "import",
        s(&onnx),
        "--out",
        s(&out),
        "--tile",
        "32",
        "--threshold",
        "0.3",
        "--pixel-size",
        "4",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(
            "note: --tile 32 (the file's 64), --threshold 0.3 (the file's 0.5) replace the values in the file's urisc metadata"
        ),
        "{err}"
    );
    let info = ok(&["model", "info", s(&out)]);
    for line in [
        "tile size:        32",
        "threshold:        0.3 ",
        "pixel size:       4 nm",
    ] {
        assert!(info.contains(line), "'{line}' not in:\n{info}");
    }
    // Nothing given: the file's own settings, and no note.
    let plain = dir.path().join("plain.safetensors");
    let o = urisc(&["model", "import", s(&onnx), "--out", s(&plain)]);
    assert!(
        o.status.success() && stderr(&o).is_empty(),
        "{}",
        stderr(&o)
    );
    assert!(ok(&["model", "info", s(&plain)]).contains("tile size:        64"));
}

#[test]
fn train_never_writes_over_its_config_or_data_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_dataset(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    // The user's own config, with comments, in the folder they name as --out.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    let own = mine.join("config.toml");
    let commented = format!(
        "# my notes\n{}",
        text.replace("\"data\"", &format!("{:?}", dir.path().join("data")))
    );
    std::fs::write(&own, &commented).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        fails_with(&train(&own, &mine, extra), "holds the input");
        assert_eq!(std::fs::read_to_string(&own).unwrap(), commented);
        assert_eq!(
            std::fs::read_dir(&mine).unwrap().count(),
            1,
            "nothing written"
        );
    }
    // The dataset inside --out, and --out inside the dataset.
    let data = dir.path().join("data");
    let before = snapshot(&data);
    for out in [dir.path().to_path_buf(), data.join("images/run")] {
        let o = train(&config, &out, &["--force"]);
        fails_with(&o, "urisc never writes over its inputs");
        assert_eq!(snapshot(&data), before);
    }
    assert!(!data.join("images/run").exists());
}

#[test]
fn a_folder_holding_a_model_is_not_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_dataset(dir.path());
    let run = dir.path().join("run");
    ok(&["train", "--config", s(&config), "--out", s(&run)]);
    // A shipped model's folder: its model and log, no state.json.
    let shipped = dir.path().join("shipped");
    std::fs::create_dir(&shipped).unwrap();
    for f in ["best.safetensors", "log.jsonl"] {
        std::fs::copy(run.join(f), shipped.join(f)).unwrap();
    }
    let before = snapshot(&shipped);
    fails_with(
        &train(&config, &shipped, &[]),
        "holds a model or run files already (best.safetensors, log.jsonl): use --force",
    );
    assert_eq!(snapshot(&shipped), before);
    fails_with(
        &train(&config, &shipped, &["--resume"]),
        "no run to resume (state.json missing)",
    );
    assert_eq!(snapshot(&shipped), before);
    // Deliberately, with --force.
    let o = train(&config, &shipped, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(shipped.join("state.json").exists());
}

#[test]
fn a_resumed_run_repairs_a_log_cut_by_a_crash_and_never_grows_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_dataset(dir.path());
    let run = dir.path().join("run");
    ok(&[
        "train",
        "--config",
        s(&config),
        "--out",
        s(&run),
        "--set",
        "train.epochs=1",
    ]);
    let log = run.join("log.jsonl");
    let first = std::fs::read_to_string(&log).unwrap();
    // Killed while appending epoch 1's line.
    std::fs::write(&log, format!("{first}{{\"epoch\":1,\"glo")).unwrap();
    let o = train(&config, &run, &["--resume", "--set", "train.epochs=2"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("note: ") && err.contains("log.jsonl: removed a partial last line"),
        "{err}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["epoch"].as_u64(), lines[1]["epoch"].as_u64()),
        (Some(0), Some(1))
    );

    // Killed after logging epoch 2 but before its state.json: the epoch is trained again.
    let two = std::fs::read_to_string(&log).unwrap();
    let extra = two
        .lines()
        .last()
        .unwrap()
        .replace("\"epoch\":1", "\"epoch\":2");
    std::fs::write(&log, format!("{two}{extra}\n")).unwrap();
    let o = train(&config, &run, &["--resume", "--set", "train.epochs=3"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("removed 1 line(s) logged after the checkpoint"),
        "{err}"
    );
    let epochs: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(epochs, [0, 1, 2]);

    // A log that does not belong to the checkpoint is refused and left as it is.
    std::fs::write(&log, &first).unwrap();
    fails_with(
        &train(&config, &run, &["--resume", "--set", "train.epochs=4"]),
        "holds 1 epochs, the checkpoint 3",
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), first);
}

#[test]
fn a_second_train_into_a_folder_in_use_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_dataset(dir.path());
    let run = dir.path().join("run");
    ok(&["train", "--config", s(&config), "--out", s(&run)]);
    let before = snapshot(&run);
    // This process holds the folder, as a run in progress would.
    let held = FolderLock::take(&run).unwrap();
    let holder = format!("in use by pid {} (", std::process::id());
    for extra in [
        &["--force"][..],
        &["--resume", "--set", "train.epochs=3"][..],
    ] {
        let o = train(&config, &run, extra);
        fails_with(&o, &holder);
        assert!(
            stderr(&o).contains("s ago: wait for it to finish"),
            "{}",
            stderr(&o)
        );
    }
    drop(held);
    assert_eq!(snapshot(&run), before, "the first run's files are intact");

    // A lock file left by a crashed run does not block.
    std::fs::write(
        run.join(LOCK_FILE),
        "pid 999999\ncommand urisc train\nstarted 1\n",
    )
    .unwrap();
    let o = train(&config, &run, &["--resume", "--set", "train.epochs=3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!run.join(LOCK_FILE).exists(), "released on exit");
}

/// A suite scoring the tiny untrained model on the tiny dataset's two images.
fn tiny_suite(dir: &Path, data: &str, model: &str) -> PathBuf {
    let suite = dir.join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            "name = \"tiny\"\nprimary_metric = \"f1\"\nseeds = [1]\n[[dataset]]\nname = \"stripes\"\n\
             path = {data:?}\ntest = [\"0\", \"1\"]\n[[method]]\nname = \"m\"\nmodel = {model:?}\nthreshold = 0.5\n"
        ),
    )
    .unwrap();
    suite
}

#[test]
fn a_second_bench_run_into_a_folder_in_use_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    tiny_dataset(dir.path());
    tiny_model(dir.path());
    let suite = tiny_suite(dir.path(), "data", "tiny.safetensors");
    let out = dir.path().join("out");
    ok(&["bench", "run", s(&suite), "--out", s(&out)]);
    let before = snapshot(&out);
    let held = FolderLock::take(&out).unwrap();
    let o = urisc(&["bench", "run", s(&suite), "--out", s(&out), "--force"]);
    fails_with(&o, &format!("in use by pid {} (", std::process::id()));
    drop(held);
    assert_eq!(snapshot(&out), before, "the first run's files are intact");
}

#[test]
fn bench_run_never_writes_into_or_over_its_inputs() {
    let dir = tempfile::tempdir().unwrap();
    tiny_dataset(dir.path());
    tiny_model(dir.path());
    let suite = tiny_suite(dir.path(), "data", "tiny.safetensors");
    // The suite file, its dataset and its model inside --out, and --out inside the dataset.
    let inputs = snapshot(dir.path().join("data").as_path());
    for (out, needle) in [
        (dir.path().to_path_buf(), "holds the input"),
        (dir.path().join("data/results"), "lies inside the input"),
    ] {
        let o = urisc(&["bench", "run", s(&suite), "--out", s(&out), "--force"]);
        fails_with(&o, needle);
    }
    assert!(!dir.path().join("data/results").exists());
    assert_eq!(snapshot(&dir.path().join("data")), inputs);
    let nested = dir.path().join("nested");
    std::fs::create_dir(&nested).unwrap();
    std::fs::copy(
        dir.path().join("tiny.safetensors"),
        nested.join("m.safetensors"),
    )
    .unwrap();
    let suite = tiny_suite(&nested, "../data", "m.safetensors");
    fails_with(
        &urisc(&["bench", "run", s(&suite), "--out", s(&nested), "--force"]),
        "holds the input",
    );
    assert_eq!(
        std::fs::read_dir(&nested).unwrap().count(),
        2,
        "nothing written"
    );
}
