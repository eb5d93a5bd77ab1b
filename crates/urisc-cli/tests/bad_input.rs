//! The bad-input defects of issue 20, each through the binary: one line naming the file and the
//! problem, a non-zero exit, nothing lost and nothing half-written.

use std::path::{Path, PathBuf};

use common::{fails_with, repo, s, tiny_dataset, tiny_model, urisc};
use urisc_io::{write_png, write_tiff, GreyImage, Image};
use urisc_nn::{model_bytes, seeded_net, Architecture, ModelConfig, ModelDescriptor};

mod common;

fn slice(k: &str) -> PathBuf {
    repo().join(format!("data/isbi2012/images/{k}.png"))
}

fn succeeds(args: &[&str]) -> String {
    let out = urisc(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?} failed: {err}");
    err
}

fn predict_args<'a>(model: &'a Path, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "predict",
        "--model",
        s(model),
        "--tile",
        "64",
        "--overlap",
        "8",
    ];
    args.extend_from_slice(rest);
    args
}

#[test]
fn predict_never_loses_or_overwrites_outputs_or_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    // Two inputs with one stem: refused before anything is written, even with --force.
    for sub in ["dupa", "dupb"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::copy(slice("00"), dir.path().join(sub).join("s.png")).unwrap();
    }
    let (a, b) = (dir.path().join("dupa/s.png"), dir.path().join("dupb/s.png"));
    let out = dir.path().join("maps");
    let args = predict_args(&model, &[s(&a), s(&b), "--out", s(&out), "--force"]);
    fails_with(&urisc(&args), "same file name");
    assert!(!out.exists(), "nothing is created for a refused run");

    // --probabilities spelled differently from --out.
    let same = format!("{}/./", out.display());
    let args = predict_args(
        &model,
        &[s(&a), "--out", s(&out), "--probabilities", &same, "--force"],
    );
    fails_with(&urisc(&args), "same folder as --out");

    // --out is the input's folder: the input is never written over, even with --force.
    let before = std::fs::read(&a).unwrap();
    let input_dir = dir.path().join("dupa");
    let args = predict_args(&model, &[s(&a), "--out", s(&input_dir), "--force"]);
    fails_with(&urisc(&args), "never writes over its inputs");
    assert_eq!(std::fs::read(&a).unwrap(), before);
}

#[test]
fn predict_checks_ranges_reads_by_content_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let out = dir.path().join("maps");
    let input = slice("00");
    for (flag, value, needle) in [
        ("--threshold", "2", "--threshold 2"),
        ("--threshold", "nan", "--threshold NaN"),
        ("--batch", "0", "batch"),
        (
            "--overlap",
            "64",
            "overlap 64 must be smaller than the tile side 64",
        ),
    ] {
        let args = [
            "predict",
            "--model",
            s(&model),
            "--tile",
            "64",
            s(&input),
            "--out",
            s(&out),
            flag,
            value,
        ];
        fails_with(&urisc(&args), needle);
        assert!(!out.exists(), "{flag} {value}: no output folder left");
    }

    // A PNG named .tif is read by its content.
    let misnamed = dir.path().join("in/misnamed.tif");
    std::fs::create_dir_all(misnamed.parent().unwrap()).unwrap();
    std::fs::copy(&input, &misnamed).unwrap();
    // A stale temporary of an interrupted run is removed by the next write of that map.
    std::fs::create_dir_all(&out).unwrap();
    let stale = out.join(".misnamed.png.AbC123.tmp");
    std::fs::write(&stale, b"half a map").unwrap();
    succeeds(&predict_args(&model, &[s(&misnamed), "--out", s(&out)]));
    assert!(out.join("misnamed.png").exists());
    assert!(!stale.exists(), "stale temporary removed");

    // A failed run removes the (still empty) folders it created.
    let truncated = dir.path().join("in/truncated.png");
    let bytes = std::fs::read(&input).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let fresh = dir.path().join("fresh/maps");
    let args = predict_args(&model, &[s(&truncated), "--out", s(&fresh)]);
    fails_with(&urisc(&args), "truncated.png");
    assert!(
        !dir.path().join("fresh").exists(),
        "empty output folders removed"
    );
}

/// Writes `descriptor` and the tensors of `config`'s seeded network, edited by `edit`.
fn model_file(
    dir: &Path,
    name: &str,
    config: &ModelConfig,
    descriptor: ModelDescriptor,
    edit: impl FnOnce(&mut urisc_nn::urisc_cpu::Net),
) -> PathBuf {
    let mut net = seeded_net(config, 1).unwrap();
    edit(&mut net);
    let path = dir.join(name);
    std::fs::write(&path, model_bytes(&net, &descriptor).unwrap()).unwrap();
    path
}

#[test]
fn corrupt_or_invalid_models_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig {
        architecture: Architecture::Unet,
        base_width: 4,
        depth: 3,
        coarse: None,
    };
    let good = || ModelDescriptor::new(config.clone(), 64);
    let nan = model_file(dir.path(), "nan.safetensors", &config, good(), |net| {
        net.head.weight[0] = f32::NAN
    });
    fails_with(&urisc(&["model", "info", s(&nan)]), "non-finite");

    let mut d = good();
    d.normalization.std = 0.0;
    let std0 = model_file(dir.path(), "std0.safetensors", &config, d, |_| {});
    fails_with(
        &urisc(&["model", "info", s(&std0)]),
        "std must be finite and > 0",
    );

    let mut d = good();
    d.threshold = 5.0;
    let t5 = model_file(dir.path(), "t5.safetensors", &config, d, |_| {});
    fails_with(&urisc(&["model", "info", s(&t5)]), "threshold 5");

    let mut d = good();
    d.model.base_width = 8;
    let wide = model_file(dir.path(), "wide.safetensors", &config, d, |_| {});
    fails_with(&urisc(&["model", "info", s(&wide)]), "has shape");

    let mut d = good();
    d.model.depth = 4;
    let deep = model_file(dir.path(), "deep.safetensors", &config, d, |_| {});
    fails_with(&urisc(&["model", "info", s(&deep)]), "deep.safetensors");

    // Flipped bits in the tensor data: the stored checksum names the damage.
    let flipped = model_file(dir.path(), "flipped.safetensors", &config, good(), |_| {});
    let mut bytes = std::fs::read(&flipped).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x10;
    std::fs::write(&flipped, bytes).unwrap();
    fails_with(
        &urisc(&["model", "info", s(&flipped)]),
        "damaged weights: checksum",
    );
    let out = dir.path().join("maps");
    let input = slice("00");
    let args = predict_args(&flipped, &[s(&input), "--out", s(&out)]);
    fails_with(&urisc(&args), "flipped.safetensors");

    // The shipped model (written before checksums) still loads.
    let shipped = repo().join("models/default/best.safetensors");
    let info = String::from_utf8_lossy(&urisc(&["model", "info", s(&shipped)]).stdout).into_owned();
    assert!(info.contains("weights:          checked"), "{info}");
}

#[test]
fn non_finite_and_out_of_range_float_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let (pred, gt) = (dir.path().join("pred"), dir.path().join("gt"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    let label: Vec<u8> = (0..64).map(|i| if i % 8 == 3 { 0 } else { 255 }).collect();
    write_png(&gt.join("a.png"), &Image::new(8, 8, label), None, false).unwrap();
    let mut values = vec![1.0f32; 64];
    values[5] = f32::NAN;
    values[9] = f32::INFINITY;
    let nan = GreyImage::F32(Image::new(8, 8, values));
    write_tiff(&pred.join("a.tif"), &nan, None, false).unwrap();
    fails_with(
        &urisc(&["eval", "--pred", s(&pred), "--gt", s(&gt)]),
        "2 non-finite (NaN or infinite) pixel value(s)",
    );
    let wide = GreyImage::F32(Image::new(8, 8, vec![1.5f32; 64]));
    write_tiff(&pred.join("a.tif"), &wide, None, true).unwrap();
    let err = succeeds(&["eval", "--pred", s(&pred), "--gt", s(&gt)]);
    assert!(
        err.contains("64 floating-point pixel(s) outside [0, 1] were clamped"),
        "{err}"
    );
}

/// A PNG whose header declares `height × width` pixels but that holds almost no data.
fn header_only_png(path: &Path, height: u32, width: u32) {
    let mut bytes = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit grey
    let crc = crc32(&ihdr);
    bytes.extend(13u32.to_be_bytes());
    bytes.extend(&ihdr);
    bytes.extend(crc.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn huge_headers_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let (pred, gt) = (dir.path().join("pred"), dir.path().join("gt"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    std::fs::copy(
        repo().join("data/isbi2012/labels/00.png"),
        gt.join("00.png"),
    )
    .unwrap();
    header_only_png(&pred.join("00.png"), 40000, 40000);
    fails_with(
        &urisc(&["eval", "--pred", s(&pred), "--gt", s(&gt)]),
        "size 40000×40000 (rows×columns) does not match ground truth",
    );
    let model = tiny_model(dir.path());
    let huge = dir.path().join("huge.png");
    header_only_png(&huge, 400_000, 400_000);
    fails_with(
        &urisc(&[
            "attribute",
            "--model",
            s(&model),
            "--image",
            s(&huge),
            "--out",
            s(&dir.path().join("attr")),
            "--grid",
            "64",
        ]),
        "to attribute",
    );
}

#[test]
fn attribute_checks_its_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let image = slice("00");
    let out = dir.path().join("attr");
    let base = [
        "attribute",
        "--model",
        s(&model),
        "--image",
        s(&image),
        "--out",
        s(&out),
        "--grid",
        "64",
    ];
    for (flag, value, needle) in [
        ("--steps", "0", "need 1 to 10000 interpolation steps"),
        ("--heatmap-gamma", "nan", "--heatmap-gamma NaN"),
    ] {
        let mut args = base.to_vec();
        args.extend([flag, value]);
        fails_with(&urisc(&args), needle);
    }
    assert!(!out.exists());
}

#[test]
fn data_info_decodes_every_file_and_describes_single_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for sub in ["images", "labels"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
        for k in ["00", "01"] {
            std::fs::copy(
                repo().join(format!("data/isbi2012/{sub}/{k}.png")),
                data.join(sub).join(format!("{k}.png")),
            )
            .unwrap();
        }
    }
    let image = data.join("images/01.png");
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(&image, &bytes[..bytes.len() / 2]).unwrap();
    let out = urisc(&["data", "info", s(&data)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("problems:    1"), "{text}");
    assert!(text.contains("images/01.png"), "{text}");

    let single = urisc(&["data", "info", s(&slice("00"))]);
    let text = String::from_utf8_lossy(&single.stdout);
    assert!(single.status.success());
    assert!(
        text.starts_with("file:") && text.contains("512×512") && text.contains("PNG, 8-bit"),
        "{text}"
    );
    fails_with(&urisc(&["data", "info", s(&image)]), "01.png");
}

#[test]
fn training_configs_and_resumes_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_dataset(dir.path());
    let out = dir.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--config", s(&config), "--out", s(&out)];
        args.extend_from_slice(extra);
        urisc(&args)
    };
    for (set, needle) in [
        (
            "optim.lr=inf",
            "--set optim.lr=inf: optim.lr = inf: must be finite",
        ),
        ("train.batch=0", "at least 1"),
        ("train.steps_per_epoch=0", "at least 1"),
        ("train.batch=lots", "--set train.batch=lots:"),
    ] {
        fails_with(&train(&["--set", set]), needle);
    }
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&bad, text.replace("epochs = 2", "epochs = \"two\"")).unwrap();
    fails_with(
        &urisc(&["train", "--config", s(&bad), "--out", s(&out)]),
        "line 12 (`epochs = \"two\"`)",
    );

    let run = train(&[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Changed hyper-parameters are refused by name; the run's config is untouched.
    fails_with(
        &train(&["--resume", "--set", "optim.lr=0.01", "--set", "seed=2"]),
        "--resume would change optim.lr (0.001 → 0.01), seed (1 → 2)",
    );
    fails_with(
        &train(&["--resume", "--set", "train.epochs=1"]),
        "has done 2 epochs already",
    );
    // More epochs: trained, recorded in the run's config, and said.
    let more = train(&["--resume", "--set", "train.epochs=3"]);
    let err = String::from_utf8_lossy(&more.stderr);
    assert!(more.status.success(), "{err}");
    assert!(
        err.contains("resuming with train.epochs = 3 instead of 2"),
        "{err}"
    );
    let recorded = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(recorded.contains("epochs = 3"), "{recorded}");
}

#[test]
fn a_diverging_run_warns() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_dataset(dir.path());
    let out = dir.path().join("run");
    let run = urisc(&[
        "train",
        "--config",
        s(&config),
        "--out",
        s(&out),
        "--set",
        "optim.lr=1000",
        "--set",
        "train.epochs=4",
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    // Either the loss blows up (a warning) or it becomes non-finite (an error): never a silent "done".
    assert!(
        err.contains("training is diverging") || err.contains("training stopped"),
        "{err}"
    );
}
