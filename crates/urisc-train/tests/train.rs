//! The training loop on a tiny synthetic problem: the loss goes down, a killed-and-resumed run
//! equals an uninterrupted one, existing runs are protected, and a diverging run stops cleanly.

use std::path::Path;

use urisc_io::{write_png, Image};
use urisc_train::{load_split, train, Progress, RunFiles, TrainConfig, TrainError};

/// Three 48×48 "EM" images: dark membrane grid lines on a bright, textured background.
fn write_dataset(root: &Path) {
    for k in 0..3usize {
        let (h, w) = (48usize, 48usize);
        let membrane = |r: usize, c: usize| (r + 3 * k) % 12 < 2 || (c + 5 * k) % 16 < 2;
        let image: Vec<u8> = (0..h * w)
            .map(|i| {
                let (r, c) = (i / w, i % w);
                let texture = ((r * 7 + c * 13 + k * 5) % 23) as u8;
                if membrane(r, c) {
                    40 + texture
                } else {
                    180 + texture
                }
            })
            .collect();
        let label: Vec<u8> = (0..h * w)
            .map(|i| if membrane(i / w, i % w) { 0 } else { 255 })
            .collect();
        write_png(
            &root.join(format!("images/{k}.png")),
            &Image::new(h, w, image),
            None,
            false,
        )
        .unwrap();
        write_png(
            &root.join(format!("labels/{k}.png")),
            &Image::new(h, w, label),
            None,
            false,
        )
        .unwrap();
    }
}

fn config(data: &Path, epochs: usize, extra: &[&str]) -> TrainConfig {
    let text = format!(
        r#"
seed = 3
[data]
path = "{}"
validation = ["2"]
[model]
architecture = "unet"
base_width = 4
depth = 2
[crop]
crop = 32
size = 32
[augment]
dihedral = true
rotation_degrees = 0.0
brightness = 0.0
contrast = 0.0
[optim]
lr = 0.01
[schedule]
kind = "constant"
[train]
epochs = {epochs}
steps_per_epoch = 8
batch = 2
"#,
        data.display()
    );
    let overrides: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    TrainConfig::parse(&text, &overrides).unwrap()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/images")).unwrap();
    std::fs::create_dir_all(dir.path().join("data/labels")).unwrap();
    write_dataset(&dir.path().join("data"));
    dir
}

#[test]
fn loss_goes_down_and_checkpoints_are_written() {
    let dir = setup();
    let c = config(&dir.path().join("data"), 4, &[]);
    let split = load_split(&c, dir.path()).unwrap();
    assert_eq!((split.train.len(), split.validation.len()), (2, 1));
    let out = dir.path().join("run");
    let mut steps = 0;
    let logs = train(&c, &split, &out, false, false, &mut |p| {
        if let Progress::Step { .. } = p {
            steps += 1
        }
    })
    .unwrap();
    assert_eq!(steps, 32);
    assert_eq!(logs.len(), 4);
    assert!(
        logs[3].train_loss < 0.7 * logs[0].train_loss,
        "loss did not go down: {:?}",
        logs.iter().map(|l| l.train_loss).collect::<Vec<_>>()
    );
    assert!(logs[3].val_f1 > 0.5, "validation F1 {}", logs[3].val_f1);
    let files = RunFiles { dir: out.clone() };
    for f in [
        files.last(),
        files.best(),
        files.log(),
        files.config(),
        files.split(),
    ] {
        assert!(f.exists(), "{} missing", f.display());
    }
    let log = std::fs::read_to_string(files.log()).unwrap();
    assert_eq!(log.lines().count(), 4);
    // The stored threshold is the validation one.
    let d = urisc_nn::read_descriptor(&files.last()).unwrap();
    assert_eq!(d.threshold as f64, (logs[3].val_threshold as f32) as f64);

    // A second run into the same folder needs --resume or --force.
    let err = train(&c, &split, &out, false, false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
}

/// Crops of 64 resized to 32 (half scale) with the skeleton recall term: the model records twice
/// the data's pixel size, validation runs at half scale (F1 still learnt), the loss goes down.
#[test]
fn half_scale_training_with_skeleton_recall_records_the_model_pixel_size() {
    let dir = setup();
    let c = config(
        &dir.path().join("data"),
        4,
        &[
            "data.pixel_size_nm=4.0",
            "crop.crop=48",
            "crop.size=24",
            "loss.skeleton_recall=1.0",
        ],
    );
    let split = load_split(&c, dir.path()).unwrap();
    let out = dir.path().join("run");
    let logs = train(&c, &split, &out, false, false, &mut |_| {}).unwrap();
    assert!(
        logs[3].train_loss < 0.8 * logs[0].train_loss,
        "loss did not go down: {:?}",
        logs.iter().map(|l| l.train_loss).collect::<Vec<_>>()
    );
    assert!(logs[3].val_f1 > 0.4, "validation F1 {}", logs[3].val_f1);
    let d = urisc_nn::read_descriptor(&RunFiles { dir: out }.last()).unwrap();
    assert_eq!(d.pixel_size_nm, Some(8.0));
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let dir = setup();
    let data = dir.path().join("data");
    let full = config(&data, 3, &[]);
    let split = load_split(&full, dir.path()).unwrap();
    let a = dir.path().join("a");
    let logs_a = train(&full, &split, &a, false, false, &mut |_| {}).unwrap();

    // "Killed" after one epoch, then resumed to three.
    let b = dir.path().join("b");
    train(
        &config(&data, 1, &[]),
        &split,
        &b,
        false,
        false,
        &mut |_| {},
    )
    .unwrap();
    let logs_b = train(&full, &split, &b, true, false, &mut |_| {}).unwrap();
    assert_eq!(logs_b.len(), 2);
    for (x, y) in logs_a[1..].iter().zip(&logs_b) {
        assert!(
            (x.train_loss - y.train_loss).abs() < 1e-4 * x.train_loss.abs().max(1.0),
            "{x:?} vs {y:?}"
        );
        assert!((x.val_f1 - y.val_f1).abs() < 1e-3, "{x:?} vs {y:?}");
    }
    let ma = urisc_nn::FastSegmenter::load(&a.join("last.safetensors")).unwrap();
    let mb = urisc_nn::FastSegmenter::load(&b.join("last.safetensors")).unwrap();
    let input: Vec<f32> = (0..32 * 32).map(|i| (i % 7) as f32 / 7.0).collect();
    let shape = urisc_model::BatchShape {
        n: 1,
        height: 32,
        width: 32,
    };
    use urisc_model::SegmentationModel;
    let (oa, ob) = (
        ma.logits(&input, shape).unwrap(),
        mb.logits(&input, shape).unwrap(),
    );
    let worst = oa
        .iter()
        .zip(&ob)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-3,
        "resumed weights differ: max |Δlogit| = {worst}"
    );
    assert_eq!(
        std::fs::read_to_string(b.join("log.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

/// A learning rate near f32::MAX overflows the weights to infinity within steps.
#[test]
fn diverging_run_stops_with_a_clear_message() {
    let dir = setup();
    let c = config(&dir.path().join("data"), 3, &["optim.lr=3e38"]);
    let split = load_split(&c, dir.path()).unwrap();
    match train(
        &c,
        &split,
        &dir.path().join("run"),
        false,
        false,
        &mut |_| {},
    ) {
        Err(e @ TrainError::NonFinite { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("training stopped") && msg.contains("checkpoint"),
                "{msg}"
            );
        }
        other => panic!("expected a non-finite loss, got {other:?}"),
    }
}

/// `engine = "burn"` (here burn's CPU backend; a GPU with the `gpu` feature) trains, checkpoints
/// its own optimizer state and resumes. burn's backend is not bit-reproducible while other
/// tests load the thread pool, so the resumed run is checked for continuing (loss below a
/// fresh start's, epochs counted on), not for equality with an uninterrupted run.
#[cfg(feature = "burn")]
#[test]
fn burn_engine_trains_and_resumes() {
    let dir = setup();
    let data = dir.path().join("data");
    let split = load_split(&config(&data, 3, &[]), dir.path()).unwrap();
    let full = config(&data, 3, &["train.engine=burn"]);
    let a = dir.path().join("a");
    let logs = train(&full, &split, &a, false, false, &mut |_| {}).unwrap();
    assert!(
        logs[2].train_loss < logs[0].train_loss,
        "loss did not go down: {logs:?}"
    );
    assert!(a.join("last.optimizer.bpk").exists() && a.join("last.train.bpk").exists());
    let b = dir.path().join("b");
    let first = train(
        &config(&data, 1, &["train.engine=burn"]),
        &split,
        &b,
        false,
        false,
        &mut |_| {},
    )
    .unwrap();
    let resumed = train(&full, &split, &b, true, false, &mut |_| {}).unwrap();
    assert_eq!(
        resumed.iter().map(|l| l.epoch).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(
        resumed[1].train_loss < first[0].train_loss,
        "the resumed run did not continue: {first:?} then {resumed:?}"
    );
}

/// Resuming with the other engine is refused by name, before anything is written.
#[test]
fn resuming_with_the_other_engine_is_refused() {
    let dir = setup();
    let data = dir.path().join("data");
    let split = load_split(&config(&data, 1, &[]), dir.path()).unwrap();
    let out = dir.path().join("run");
    train(
        &config(&data, 1, &[]),
        &split,
        &out,
        false,
        false,
        &mut |_| {},
    )
    .unwrap();
    let log_before = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let err = train(
        &config(&data, 2, &["train.engine=burn"]),
        &split,
        &out,
        true,
        false,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("last.optimizer.bpk") && err.contains("other engine"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("log.jsonl")).unwrap(),
        log_before
    );
}
