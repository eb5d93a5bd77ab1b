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

/// A two-stage run: a trained one-stage model, frozen, as the coarse stage of a new network.
/// The loss goes down, the coarse stage is saved unchanged beside the trained fine stage, the
/// run resumes, and coarse models that do not fit are refused with the file named.
#[test]
fn a_two_stage_run_trains_the_fine_stage_on_a_frozen_coarse_model() {
    let dir = setup();
    let data = dir.path().join("data");
    let c = config(&data, 3, &[]);
    let coarse_run = dir.path().join("coarse");
    train(
        &c,
        &load_split(&c, dir.path()).unwrap(),
        &coarse_run,
        false,
        false,
        &mut |_| {},
    )
    .unwrap();
    let coarse_file = coarse_run.join("best.safetensors");
    let (coarse_net, coarse_descriptor) = urisc_nn::load_model(&coarse_file).unwrap();

    let two = config(
        &data,
        4,
        &[
            "coarse.model=\"coarse/best.safetensors\"",
            "coarse.factor=2",
        ],
    );
    let split = load_split(&two, dir.path()).unwrap();
    let out = dir.path().join("two-stage");
    let logs = train(&two, &split, &out, false, false, &mut |_| {}).unwrap();
    assert!(
        logs.last().unwrap().train_loss < logs[0].train_loss,
        "{} → {}",
        logs[0].train_loss,
        logs.last().unwrap().train_loss
    );
    let (net, descriptor) = urisc_nn::load_model(&out.join("best.safetensors")).unwrap();
    let stage = descriptor.model.coarse.as_ref().expect("a two-stage model");
    assert_eq!((stage.factor, &stage.model), (2, &coarse_descriptor.model));
    assert_eq!(net.input_channels(), 2);
    // The coarse stage is frozen: it predicts exactly as its own file does.
    let x = urisc_nn::urisc_cpu::Act::from_vec(
        1,
        16,
        16,
        1,
        urisc_nn::urisc_cpu::pseudo_random(256, 4),
    );
    let saved = &net.coarse.as_ref().unwrap().net;
    assert_eq!(saved.infer(x.clone()).data, coarse_net.infer(x).data);

    // Resuming continues from the last checkpoint, both stages loaded from it.
    let more = config(
        &data,
        5,
        &[
            "coarse.model=\"coarse/best.safetensors\"",
            "coarse.factor=2",
        ],
    );
    let logs = train(&more, &split, &out, true, false, &mut |_| {}).unwrap();
    assert_eq!(logs.len(), 1);

    // A coarse model trained at another pixel size than it would see is refused.
    let mismatched = config(
        &data,
        1,
        &[
            "coarse.model=\"coarse/best.safetensors\"",
            "coarse.factor=4",
            "data.pixel_size_nm=4.0",
        ],
    );
    let mut d = coarse_descriptor.clone();
    d.pixel_size_nm = Some(4.0);
    urisc_nn::save_model(&coarse_file, &coarse_net, &d, true).unwrap();
    let err = load_split(&mismatched, dir.path())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("coarse/best.safetensors") && err.contains("nm/pixel"),
        "{err}"
    );
    // A two-stage model cannot be a coarse stage.
    let nested = config(
        &data,
        1,
        &[
            "coarse.model=\"two-stage/best.safetensors\"",
            "coarse.factor=2",
        ],
    );
    let err = load_split(&nested, dir.path())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("two-stage/best.safetensors") && err.contains("one-stage"),
        "{err}"
    );
}

/// A two-scale run (`[model.coarse]` with `features`): the coarse branch trains with the fine
/// network — the loss goes down and the branch's weights move — and a killed-and-resumed run
/// equals an uninterrupted one (Adam's moments and running statistics cover the branch too).
#[test]
fn a_two_scale_run_trains_both_branches_and_resumes_exactly() {
    let dir = setup();
    let data = dir.path().join("data");
    let two_scale = [
        "model.coarse.factor=2",
        "model.coarse.features=2",
        "model.coarse.model.architecture=\"res_unet\"",
        "model.coarse.model.base_width=3",
        "model.coarse.model.depth=2",
    ];
    let c = config(&data, 4, &two_scale);
    let split = load_split(&c, dir.path()).unwrap();
    let out = dir.path().join("whole");
    let logs = train(&c, &split, &out, false, false, &mut |_| {}).unwrap();
    assert!(logs[3].train_loss < logs[0].train_loss, "{logs:?}");
    let (trained, descriptor) = urisc_nn::load_model(&out.join("last.safetensors")).unwrap();
    assert_eq!(descriptor.model, c.model);
    let initial = urisc_nn::seeded_net(&c.model, c.seed).unwrap();
    let weights = |n: &urisc_nn::urisc_cpu::Net| n.coarse.as_ref().unwrap().net.head.weight.clone();
    assert_ne!(weights(&trained), weights(&initial), "the branch trained");

    let two = config(&data, 2, &two_scale);
    let resumed = dir.path().join("resumed");
    train(&two, &split, &resumed, false, false, &mut |_| {}).unwrap();
    train(&c, &split, &resumed, true, false, &mut |_| {}).unwrap();
    // Equal up to the order of parallel sums (as for one-stage runs above).
    let logits = |d: &Path| {
        use urisc_model::SegmentationModel;
        let m = urisc_nn::FastSegmenter::load(&d.join("last.safetensors")).unwrap();
        let input: Vec<f32> = (0..32 * 32).map(|i| (i % 7) as f32 / 7.0).collect();
        let shape = urisc_model::BatchShape {
            n: 1,
            height: 32,
            width: 32,
        };
        m.logits(&input, shape).unwrap()
    };
    let worst = logits(&out)
        .iter()
        .zip(&logits(&resumed))
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-3, "resumed run differs: max |Δlogit| = {worst}");
}
