//! The `urisc` binary end to end: outputs, and one-line errors with a non-zero exit for every
//! bad input of SPEC §11.

use std::path::{Path, PathBuf};

use common::{fails_with, repo, s, tiny_model, urisc};
use urisc_io::{write_png, Image};

mod common;

/// A 12×12 label with a cross of membrane, and a prediction.
fn write_pair(dir: &Path, name: &str, pred_value_on_membrane: u8) -> (PathBuf, PathBuf) {
    let label: Vec<u8> = (0..144)
        .map(|i| if i % 12 == 5 || i / 12 == 5 { 0 } else { 255 })
        .collect();
    let pred: Vec<u8> = label
        .iter()
        .map(|&v| if v == 0 { pred_value_on_membrane } else { 255 })
        .collect();
    std::fs::create_dir_all(dir.join("gt")).unwrap();
    std::fs::create_dir_all(dir.join("pred")).unwrap();
    let (g, p) = (
        dir.join("gt").join(format!("{name}.png")),
        dir.join("pred").join(format!("{name}.png")),
    );
    write_png(&g, &Image::new(12, 12, label), None, true).unwrap();
    write_png(&p, &Image::new(12, 12, pred), None, true).unwrap();
    (p, g)
}

#[test]
fn json_output_has_the_stable_keys_and_matches_the_fixture() {
    let fx = repo().join("data/fixtures/pairs");
    let out = urisc(&[
        "eval",
        "--pred",
        s(&fx.join("pred")),
        "--gt",
        s(&fx.join("gt")),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["protocol"], "binarized");
    let first = &v["images"][0];
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "are",
            "dice",
            "f1",
            "iou",
            "name",
            "phd",
            "precision",
            "recall",
            "vinfo",
            "voi_merge",
            "voi_split",
            "vrand"
        ]
    );
    // PHD tolerances in numeric order in the text (a parsed map would sort them as strings).
    let text = String::from_utf8_lossy(&out.stdout);
    let block = &text[text.find("\"phd\"").unwrap()..];
    let block = &block[..block.find('}').unwrap()];
    let pos: Vec<usize> = ["\"0\"", "\"1\"", "\"3\"", "\"5\"", "\"10\""]
        .iter()
        .map(|k| block.find(k).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{block}");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("expected.json")).unwrap()).unwrap();
    let (got, exp) = (
        v["mean"]["f1"].as_f64().unwrap(),
        expected["mean"]["f1"].as_f64().unwrap(),
    );
    assert!((got - exp).abs() < 1e-12);
    assert!(v["mean"].get("name").is_none());
}

#[test]
fn metrics_selection_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = write_pair(dir.path(), "a", 0);
    let out = urisc(&[
        "eval",
        "--pred",
        s(&p),
        "--gt",
        s(&g),
        "--metrics",
        "f1,vrand",
        "--format",
        "csv",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "name,f1,vrand");
    assert_eq!(lines[1], "a,1,1");
    assert_eq!(lines[2], "mean,1,1");
    fails_with(
        &urisc(&[
            "eval",
            "--pred",
            s(&p),
            "--gt",
            s(&g),
            "--metrics",
            "f1,nope",
        ]),
        "unknown metric 'nope'",
    );
}

#[test]
fn faithful_protocol_refuses_grey_and_inverted_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = write_pair(dir.path(), "grey", 100);
    // Three grey values: not binary for eval.py.
    let mut grey = urisc_io::read_u8(&p).unwrap();
    grey.data[0] = 0;
    write_png(&p, &grey, None, true).unwrap();
    let out = urisc(&[
        "eval",
        "--pred",
        s(&p),
        "--gt",
        s(&g),
        "--protocol",
        "faithful",
    ]);
    fails_with(&out, "not binarized");
    fails_with(&out, "grey.png");
    // The binarised protocol accepts the same grey map.
    assert!(urisc(&["eval", "--pred", s(&p), "--gt", s(&g)])
        .status
        .success());

    let inverted: Vec<u8> = (0..144)
        .map(|i| if i % 12 == 5 || i / 12 == 5 { 255 } else { 0 })
        .collect();
    let q = dir.path().join("inverted.png");
    write_png(&q, &Image::new(12, 12, inverted), None, false).unwrap();
    fails_with(
        &urisc(&[
            "eval",
            "--pred",
            s(&q),
            "--gt",
            s(&g),
            "--protocol",
            "faithful",
        ]),
        "inverted",
    );
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = write_pair(dir.path(), "a", 0);

    // Truncated file.
    let bytes = std::fs::read(&p).unwrap();
    let t = dir.path().join("truncated.png");
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        &urisc(&["eval", "--pred", s(&t), "--gt", s(&g)]),
        "truncated.png",
    );

    // Size mismatch.
    let small = dir.path().join("small.png");
    write_png(&small, &Image::filled(5, 7, 255), None, false).unwrap();
    fails_with(&urisc(&["eval", "--pred", s(&small), "--gt", s(&g)]), "5×7");

    // Empty folder.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails_with(
        &urisc(&[
            "eval",
            "--pred",
            s(&empty),
            "--gt",
            s(&dir.path().join("gt")),
        ]),
        "no PNG, TIFF or JPEG",
    );

    // Unmatched names.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(&p, other.join("b.png")).unwrap();
    fails_with(
        &urisc(&[
            "eval",
            "--pred",
            s(&other),
            "--gt",
            s(&dir.path().join("gt")),
        ]),
        "'b'",
    );

    // Missing file.
    fails_with(
        &urisc(&[
            "eval",
            "--pred",
            s(&dir.path().join("nope.png")),
            "--gt",
            s(&g),
        ]),
        "no such file",
    );
}

#[test]
fn existing_output_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = write_pair(dir.path(), "a", 0);
    let out = dir.path().join("scores.json");
    std::fs::write(&out, "keep me").unwrap();
    let args = [
        "eval",
        "--pred",
        s(&p),
        "--gt",
        s(&g),
        "--format",
        "json",
        "--out",
        s(&out),
    ];
    fails_with(&urisc(&args), "--force");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(urisc(&forced).status.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["images"][0]["f1"], 1.0);
}

#[test]
fn data_info_reports_bundled_isbi_and_problems() {
    let out = urisc(&["data", "info", s(&repo().join("data/isbi2012")), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pairs"], 20);
    assert_eq!(v["sizes"]["512×512"], 20);
    assert_eq!(v["pixel_size_nm"], 4.0);
    let f = v["membrane_fraction"].as_f64().unwrap();
    assert!(f > 0.18 && f < 0.27, "{f}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);

    // Unmatched names, size mismatch and a grey label are each reported.
    let dir = tempfile::tempdir().unwrap();
    let (img, lab) = (dir.path().join("images"), dir.path().join("labels"));
    std::fs::create_dir_all(&img).unwrap();
    std::fs::create_dir_all(&lab).unwrap();
    write_png(&img.join("a.png"), &Image::filled(4, 4, 128), None, false).unwrap();
    write_png(&lab.join("a.png"), &Image::filled(4, 5, 255), None, false).unwrap();
    write_png(&img.join("b.png"), &Image::filled(4, 4, 128), None, false).unwrap();
    write_png(
        &lab.join("b.png"),
        &Image::new(2, 2, vec![0, 100, 255, 255]),
        None,
        false,
    )
    .unwrap();
    write_png(&img.join("c.png"), &Image::filled(4, 4, 128), None, false).unwrap();
    let out = urisc(&["data", "info", s(dir.path())]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("label is 4×5 but its image is 4×4"), "{text}");
    assert!(text.contains("label is not binary"), "{text}");
    assert!(text.contains("1 image(s) without a label: c"), "{text}");
}

#[test]
fn multi_page_stacks_score_page_by_page_like_folders() {
    let fx = repo().join("data/fixtures/grey");
    let names = ["05_blur1", "11_ramp", "17_greygt"];
    let load = |kind: &str| -> Vec<Image<u8>> {
        names
            .iter()
            .map(|n| urisc_io::read_u8(&fx.join(kind).join(format!("{n}.png"))).unwrap())
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let (ps, gs) = (
        dir.path().join("pred-volume.tif"),
        dir.path().join("gt-volume.tif"),
    );
    urisc_io::write_tiff_stack(&ps, &load("pred"), None, false).unwrap();
    urisc_io::write_tiff_stack(&gs, &load("gt"), None, false).unwrap();
    let out = urisc(&["eval", "--pred", s(&ps), "--gt", s(&gs), "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("expected.json")).unwrap()).unwrap();
    for (page, name) in names.iter().enumerate() {
        let got = &v["images"][page];
        assert_eq!(got["name"], format!("pred-volume_z{page:03}"));
        let exp = expected["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == *name)
            .unwrap();
        for key in ["f1", "vrand", "vinfo", "are"] {
            let (a, b) = (got[key].as_f64().unwrap(), exp[key].as_f64().unwrap());
            assert!((a - b).abs() < 1e-9, "{name} {key}: {a} vs {b}");
        }
    }
}

#[test]
fn model_info_counts_like_pytorch_and_reads_model_files() {
    let out = urisc(&[
        "model", "info", "--width", "16", "--depth", "5", "--tile", "256",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2,161,841 trainable"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    let config = urisc_nn::ModelConfig {
        architecture: urisc_nn::Architecture::ResUnet,
        base_width: 4,
        depth: 3,
        coarse: None,
    };
    let net = urisc_nn::seeded_net(&config, 7).unwrap();
    let mut descriptor = urisc_nn::ModelDescriptor::new(config, 128);
    descriptor.threshold = 0.37;
    urisc_nn::save_model(&path, &net, &descriptor, false).unwrap();
    let out = urisc(&["model", "info", s(&path)]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ResUnet, base width 4, depth 3"), "{text}");
    assert!(text.contains("threshold:        0.37"), "{text}");

    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"nope").unwrap();
    fails_with(&urisc(&["model", "info", s(&junk)]), "junk.safetensors");
    fails_with(
        &urisc(&["model", "info", "--tile", "100"]),
        "multiple of 16",
    );
}

#[test]
fn train_runs_a_tiny_config_and_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::tiny_dataset(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("epochs = 2", "epochs = 1")).unwrap();
    let out = dir.path().join("run");
    let run = urisc(&["train", "--config", s(&config), "--out", s(&out)]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.join("best.safetensors").exists());
    let info = urisc(&["model", "info", s(&out.join("best.safetensors"))]);
    assert!(String::from_utf8_lossy(&info.stdout).contains("training data: data"));

    fails_with(
        &urisc(&["train", "--config", s(&config), "--out", s(&out)]),
        "--resume",
    );
    fails_with(
        &urisc(&[
            "train",
            "--config",
            s(&config),
            "--out",
            s(&out),
            "--force",
            "--set",
            "optim.lr_max=1",
        ]),
        "lr_max",
    );
}

#[test]
fn predict_writes_binary_and_probability_maps_and_protects_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let images = repo().join("data/isbi2012/images");
    let (out, prob) = (dir.path().join("pred"), dir.path().join("prob"));
    let (first, second) = (images.join("00.png"), images.join("01.png"));
    let args = [
        "predict",
        "--model",
        s(&model),
        s(&first),
        s(&second),
        "--out",
        s(&out),
        "--probabilities",
        s(&prob),
        "--tile",
        "128",
        "--overlap",
        "32",
    ];
    let run = urisc(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let binary = urisc_io::read_u8(&out.join("00.png")).unwrap();
    assert_eq!((binary.height, binary.width), (512, 512));
    assert!(binary.data.iter().all(|&v| v == 0 || v == 255));
    assert!(prob.join("01.png").exists());
    fails_with(&urisc(&args), "--force");
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(urisc(&forced).status.success());
    fails_with(
        &urisc(&[
            "predict",
            "--model",
            s(&dir.path().join("none.safetensors")),
            s(&images),
            "--out",
            s(&out),
        ]),
        "none.safetensors",
    );
}

#[test]
fn demo_segments_and_scores_bundled_slices() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let out = dir.path().join("demo");
    let data = repo().join("data/isbi2012");
    let run = urisc(&[
        "demo",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--slices",
        "18,19",
        "--out",
        s(&out),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(
        text.contains("mean") && text.contains("scores (JSON)"),
        "{text}"
    );
    let scores: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scores.json")).unwrap()).unwrap();
    assert_eq!(scores["images"].as_array().unwrap().len(), 2);
    assert!(out.join("predictions/18.png").exists() && out.join("probabilities/19.png").exists());
}

#[test]
fn synth_makes_sections_and_upsampled_datasets_with_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("data/isbi2012");
    let out = dir.path().join("section");
    let made = urisc(&[
        "synth",
        "section",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--size",
        "1100x1030",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let image = urisc_io::read_image(&out.join("images/section.png")).unwrap();
    let label = urisc_io::read_u8(&out.join("labels/section.png")).unwrap();
    assert_eq!((image.image.height(), image.image.width()), (1100, 1030));
    assert_eq!((label.height, label.width), (1100, 1030));
    assert!((image.pixel_size_nm.unwrap() - 2.0).abs() < 1e-3);
    let membrane = label.data.iter().filter(|&&v| v == 0).count() as f64 / label.len() as f64;
    assert!(
        (0.1..0.4).contains(&membrane),
        "membrane fraction {membrane}"
    );
    fails_with(
        &urisc(&[
            "synth",
            "section",
            "--data",
            s(&data),
            "--out",
            s(&out),
            "--size",
            "64x64",
        ]),
        "exists",
    );
    let bad = urisc(&["synth", "section", "--out", s(&out), "--size", "0x9"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("0x9: sizes must be positive"));

    let up = dir.path().join("up");
    let made = urisc(&[
        "synth",
        "upsampled",
        "--data",
        s(&data),
        "--out",
        s(&up),
        "--scale",
        "3",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let slice = urisc_io::read_image(&up.join("images/07.png")).unwrap();
    assert_eq!((slice.image.height(), slice.image.width()), (1536, 1536));
    assert!((slice.pixel_size_nm.unwrap() - 4.0 / 3.0).abs() < 1e-3);
    assert!(up.join("labels/19.png").exists());
}

#[test]
fn predict_streams_to_tiff_and_ome_zarr_with_tta_and_clean_up() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    // An odd-sized input: 200 × 333 crop of a bundled slice.
    let slice = urisc_io::read_u8(&repo().join("data/isbi2012/images/03.png")).unwrap();
    let crop = Image::new(
        200,
        333,
        (0..200)
            .flat_map(|r| slice.row(r)[..333].to_vec())
            .collect(),
    );
    let input = dir.path().join("odd.png");
    write_png(&input, &crop, Some(2.0), false).unwrap();
    let (out, prob) = (dir.path().join("tif"), dir.path().join("zarr"));
    let run = urisc(&[
        "predict",
        "--model",
        s(&model),
        s(&input),
        "--out",
        s(&out),
        "--format",
        "tiff",
        "--tile",
        "64",
        "--overlap",
        "16",
        "--tta",
        "8",
        "--min-size",
        "20",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("MPixel/s") && err.contains("clean-up changed"),
        "{err}"
    );
    let binary = urisc_io::read_image(&out.join("odd.tif")).unwrap();
    assert!((binary.pixel_size_nm.unwrap() - 2.0).abs() < 1e-3);
    let binary = binary.image.into_u8();
    assert_eq!((binary.height, binary.width), (200, 333));
    assert!(binary.data.iter().all(|&v| v == 0 || v == 255));

    let run = urisc(&[
        "predict",
        "--model",
        s(&model),
        s(&input),
        "--out",
        s(&prob),
        "--format",
        "ome-zarr",
        "--probabilities",
        s(&prob),
        "--probability-type",
        "f32",
        "--tile",
        "64",
        "--force",
    ]);
    // Binary and probability maps into one folder under one name: the second is refused.
    assert!(!run.status.success());
    let probs = dir.path().join("zarr-p");
    let run = urisc(&[
        "predict",
        "--model",
        s(&model),
        s(&input),
        "--out",
        s(&prob),
        "--format",
        "ome-zarr",
        "--probabilities",
        s(&probs),
        "--probability-type",
        "f32",
        "--tile",
        "64",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(probs.join("odd.ome.zarr/0/zarr.json")).unwrap())
            .unwrap();
    assert_eq!(meta["data_type"], "float32");
    assert_eq!(meta["shape"], serde_json::json!([200, 333]));
    assert!(prob.join("odd.ome.zarr/0/c/0/0").exists());

    let bad = urisc(&[
        "predict",
        "--model",
        s(&model),
        s(&input),
        "--out",
        s(&out),
        "--tta",
        "3",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--tta 3: must be one of 1, 2, 4, 8"));
    fails_with(
        &urisc(&[
            "predict",
            "--model",
            s(&model),
            s(&input),
            "--out",
            s(&dir.path().join("p")),
            "--probabilities",
            s(&dir.path().join("q")),
            "--probability-type",
            "f32",
        ]),
        "PNG holds 8-bit",
    );
    // A truncated section: the error names it and no output appears.
    let bytes = std::fs::read(&input).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let outdir = dir.path().join("cut-out");
    fails_with(
        &urisc(&[
            "predict",
            "--model",
            s(&model),
            s(&cut),
            "--out",
            s(&outdir),
            "--tile",
            "64",
        ]),
        "cut.png",
    );
    assert!(
        !outdir.exists(),
        "the output folder it created is removed again"
    );
}

/// `predict --probability-type f32` writes p (membrane bright) and marks it; `eval` scores the
/// marked map as 1 − p, so TIFF and OME-Zarr float maps score as the 8-bit membrane-dark map of
/// the same prediction (which they did not: read as dark, they scored the inverted map).
#[test]
fn eval_scores_f32_probability_maps_as_their_8_bit_twins() {
    let dir = tempfile::tempdir().unwrap();
    let crop = |path: &Path| {
        let img = urisc_io::read_u8(path).unwrap();
        Image::new(
            192,
            256,
            (0..192).flat_map(|r| img.row(r)[..256].to_vec()).collect(),
        )
    };
    let (images, labels) = (dir.path().join("images"), dir.path().join("labels"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&labels).unwrap();
    let isbi = repo().join("data/isbi2012");
    write_png(
        &images.join("16.png"),
        &crop(&isbi.join("images/16.png")),
        Some(4.0),
        false,
    )
    .unwrap();
    write_png(
        &labels.join("16.png"),
        &crop(&isbi.join("labels/16.png")),
        Some(4.0),
        false,
    )
    .unwrap();
    // The embedded default model: a trained one, so that inverted maps score far worse.
    let predict = |name: &str, format: &str, samples: &str| {
        let prob = dir.path().join(name);
        let run = urisc(&[
            "predict",
            s(&images),
            "--out",
            s(&dir.path().join(format!("{name}-binary"))),
            "--format",
            format,
            "--probabilities",
            s(&prob),
            "--probability-type",
            samples,
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        prob
    };
    let eval = |pred: &Path, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--pred",
            s(pred),
            "--gt",
            s(&labels),
            "--metrics",
            "f1,vrand,vinfo,are",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = urisc(&args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["mean"].clone(), err)
    };
    let dark = predict("u8", "tiff", "u8");
    let (want, said) = eval(&dark, &[]);
    assert!(!said.contains("membrane probabilities"), "{said}");
    assert!(
        !urisc_io::read_image(&dark.join("16.tif"))
            .unwrap()
            .membrane_probability
    );
    assert!(want["f1"].as_f64().unwrap() > 0.6, "{want}");
    for (name, format, file) in [
        ("f32-tiff", "tiff", "16.tif"),
        ("f32-zarr", "ome-zarr", "16.ome.zarr"),
    ] {
        let prob = predict(name, format, "f32");
        let decoded = urisc_io::read_image(&prob.join(file)).unwrap();
        assert!(decoded.membrane_probability, "{name}: not marked");
        assert_eq!(decoded.image.bit_depth(), 32);
        let (got, said) = eval(&prob, &[]);
        assert!(
            said.contains("1 prediction(s) are marked as membrane probabilities"),
            "{name}: {said}"
        );
        for metric in ["f1", "vrand", "vinfo", "are"] {
            let (a, b) = (
                got[metric].as_f64().unwrap(),
                want[metric].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() < 1e-3,
                "{name} {metric}: f32 {a}, u8 {b} (same prediction)"
            );
        }
        // Read as dark against the mark: the inverted map, far worse.
        let (inverted, said) = eval(&prob, &["--pred-values", "dark"]);
        assert!(!said.contains("membrane probabilities"), "{said}");
        let (a, b) = (
            inverted["f1"].as_f64().unwrap(),
            want["f1"].as_f64().unwrap(),
        );
        assert!(a < b - 0.2, "{name}: --pred-values dark F1 {a}, u8 {b}");
        // Explicitly probability: as the mark says.
        let (explicit, _) = eval(&prob, &["--pred-values", "probability"]);
        assert_eq!(explicit, got, "{name}");
    }
}

/// Float maps without urisc's mark stay membrane dark, as before; `--pred-values probability`
/// reads them (another tool's sigmoid output, say) as p and inverts them.
#[test]
fn unmarked_float_maps_are_dark_unless_pred_values_says_probability() {
    let dir = tempfile::tempdir().unwrap();
    let (_, gt) = write_pair(dir.path(), "x", 0);
    let label = urisc_io::read_u8(&gt).unwrap();
    let float_map = |name: &str, value: fn(u8) -> f32| {
        let path = dir.path().join(format!("{name}.tif"));
        let data = label.data.iter().map(|&v| value(v)).collect();
        let image = urisc_io::GreyImage::F32(Image::new(12, 12, data));
        urisc_io::write_tiff(&path, &image, None, false).unwrap();
        assert!(!urisc_io::read_image(&path).unwrap().membrane_probability);
        path
    };
    // Membrane dark (0 on membrane) and membrane bright (p = 1 on membrane).
    let dark = float_map("dark", |v| v as f32 / 255.0);
    let bright = float_map("bright", |v| 1.0 - v as f32 / 255.0);
    let f1 = |pred: &Path, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--pred",
            s(pred),
            "--gt",
            s(&gt),
            "--metrics",
            "f1",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = urisc(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(!err.contains("marked as membrane probabilities"), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["mean"]["f1"].as_f64().unwrap()
    };
    assert_eq!(f1(&dark, &[]), 1.0, "unmarked float: dark");
    assert_eq!(f1(&dark, &["--pred-values", "dark"]), 1.0);
    assert_eq!(f1(&dark, &["--pred-values", "probability"]), 0.0);
    assert_eq!(f1(&bright, &[]), 0.0, "unmarked float p is read as dark");
    assert_eq!(f1(&bright, &["--pred-values", "probability"]), 1.0);
    assert_eq!(f1(&bright, &["--pred-values", "auto"]), 0.0);
    fails_with(
        &urisc(&[
            "eval",
            "--instances",
            "--pred",
            s(&dark),
            "--gt",
            s(&gt),
            "--pred-values",
            "probability",
        ]),
        "--pred-values does not apply to --instances",
    );
}

/// A small untrained model wide enough that its input gradients are not all zero (width 2
/// can leave every path through a dead ReLU).
fn attribution_model(dir: &Path) -> PathBuf {
    common::untrained_model(dir, "attribution", 8)
}

#[test]
fn attribute_writes_curves_heatmaps_and_compares_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = attribution_model(dir.path());
    let image = repo().join("data/isbi2012/images/00.png");
    let out = dir.path().join("attr");
    let args = [
        "attribute",
        "--model",
        s(&model),
        "--image",
        s(&image),
        "--grid",
        "128",
        "--grid-offset",
        "4",
        "--steps",
        "4",
        "--heatmaps",
        "2",
        "--montage",
        "9",
        "--name",
        "tiny",
        "--out",
        s(&out),
    ];
    let run = urisc(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("attribution.json")).unwrap())
            .unwrap();
    assert_eq!(report["name"], "tiny");
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 16); // rows and columns 4, 132, 260, 388
    assert_eq!(
        (targets[0]["row"].as_u64(), targets[0]["col"].as_u64()),
        (Some(4), Some(4))
    );
    let mean = report["summary"]["mean"].as_array().unwrap();
    // Radii 0 … ⌈511·√2⌉, the curve rising to 1.
    assert_eq!(mean.len(), 724);
    assert!((mean.last().unwrap().as_f64().unwrap() - 1.0).abs() < 1e-9);
    let r90 = report["summary"]["r90_of_mean"].as_u64().unwrap() as usize;
    let radius = report["context_radius"].as_u64().unwrap() as usize;
    // Nothing beyond the receptive field: the whole mass within its corner distance.
    assert!(
        2 * r90 <= 3 * radius,
        "R90 {r90} beyond the receptive field {radius}"
    );
    let csv = std::fs::read_to_string(out.join("context-curve.csv")).unwrap();
    assert!(csv.starts_with("radius,mean,std,q25,median,q75\n0,"));
    assert_eq!(csv.lines().count(), 725);
    assert!(std::fs::read_to_string(out.join("context-curve.svg"))
        .unwrap()
        .contains("<svg"));
    let heatmaps: Vec<_> = std::fs::read_dir(out.join("heatmaps")).unwrap().collect();
    assert_eq!(heatmaps.len(), 2);
    assert!(out.join("montage.png").exists());
    // Existing outputs are refused, then overwritten with --force.
    fails_with(&urisc(&args), "--force");
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(urisc(&forced).status.success());

    let plot = dir.path().join("both.svg");
    let json = out.join("attribution.json");
    let compare = urisc(&[
        "attribute",
        "compare",
        s(&json),
        s(&json),
        "--out",
        s(&plot),
    ]);
    assert!(
        compare.status.success(),
        "{}",
        String::from_utf8_lossy(&compare.stderr)
    );
    let table = String::from_utf8_lossy(&compare.stdout);
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("tiny\t16\t"))
            .count(),
        2
    );
    assert!(std::fs::read_to_string(&plot).unwrap().contains("R90"));
    fails_with(
        &urisc(&[
            "attribute",
            "compare",
            s(&json),
            s(&image),
            "--out",
            s(&plot),
            "--force",
        ]),
        "00.png",
    );
}

/// The top-left `side`² of an ISBI slice (`images` or `labels`).
fn isbi_crop(sub: &str, k: &str, side: usize) -> Image<u8> {
    let full = urisc_io::read_u8(&repo().join(format!("data/isbi2012/{sub}/{k}.png"))).unwrap();
    let data = (0..side)
        .flat_map(|r| full.data[r * full.width..][..side].to_vec())
        .collect();
    Image::new(side, side, data)
}

#[test]
fn attribute_takes_every_page_of_a_stack() {
    let dir = tempfile::tempdir().unwrap();
    let model = attribution_model(dir.path());
    let stack = dir.path().join("stack.tif");
    let pages = [
        isbi_crop("images", "00", 128),
        isbi_crop("images", "01", 128),
    ];
    urisc_io::write_tiff_stack(&stack, &pages, None, false).unwrap();
    let out = dir.path().join("attr");
    let attribute = |extra: &[&str]| {
        let mut args = vec![
            "attribute",
            "--model",
            s(&model),
            "--image",
            s(&stack),
            "--steps",
            "2",
            "--heatmaps",
            "1",
            "--montage",
            "0",
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        urisc(&args)
    };
    let run = attribute(&["--grid", "64", "--grid-offset", "4"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = |z: usize| -> serde_json::Value {
        let path = out.join(format!("stack_z00{z}/attribution.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (first, second) = (report(0), report(1));
    assert!(!out.join("attribution.json").exists());
    assert_eq!(
        (&first["name"], &first["plane"]),
        (&"stack_z000".into(), &0.into())
    );
    assert_eq!(
        (&second["name"], &second["plane"]),
        (&"stack_z001".into(), &1.into())
    );
    assert!(out.join("stack_z001/heatmaps").read_dir().unwrap().count() == 1);
    // The same targets on different pages: different attributions.
    let sums = |r: &serde_json::Value| -> Vec<f64> {
        let targets = r["targets"].as_array().unwrap();
        targets
            .iter()
            .map(|t| t["sum_ig"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(sums(&first).len(), 4);
    assert_ne!(sums(&first), sums(&second), "page 1 attributed as page 0");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("stack_z000: 4 targets") && stdout.contains("stack_z001: 4 targets"));

    // A label stack pairs page by page; a single label for a stack is refused.
    let labels = dir.path().join("labels.tif");
    let label_pages = [
        isbi_crop("labels", "00", 128),
        isbi_crop("labels", "01", 128),
    ];
    urisc_io::write_tiff_stack(&labels, &label_pages, None, false).unwrap();
    let run = attribute(&["--label", s(&labels), "--max-targets", "3", "--force"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(report(1)["targets"].as_array().unwrap().len(), 3);
    let single = dir.path().join("single.png");
    write_png(&single, &label_pages[0], None, false).unwrap();
    fails_with(
        &attribute(&["--label", s(&single), "--force"]),
        "single.png: 1 label section(s) for the 2 section(s)",
    );
}

#[test]
fn attribute_resamples_to_the_models_pixel_size_and_moves_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("at4nm.safetensors");
    let config = urisc_nn::ModelConfig {
        architecture: urisc_nn::Architecture::Unet,
        base_width: 8,
        depth: 3,
        coarse: None,
    };
    let mut descriptor = urisc_nn::ModelDescriptor::new(config.clone(), 64);
    descriptor.pixel_size_nm = Some(4.0);
    urisc_nn::save_model(
        &model,
        &urisc_nn::seeded_net(&config, 7).unwrap(),
        &descriptor,
        false,
    )
    .unwrap();
    let image = repo().join("data/isbi2012/images/00.png");
    let attribute = |extra: &[&str], out: &Path| {
        let mut args = vec![
            "attribute",
            "--model",
            s(&model),
            "--image",
            s(&image),
            "--grid",
            "128",
            "--grid-offset",
            "4",
            "--steps",
            "2",
            "--heatmaps",
            "0",
            "--montage",
            "0",
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        let run = urisc(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("attribution.json")).unwrap())
                .unwrap();
        (report, String::from_utf8_lossy(&run.stderr).into_owned())
    };
    // A 2 nm/pixel image for a 4 nm/pixel model: attributed at half the resolution.
    let (half, stderr) = attribute(&["--pixel-size", "2"], &dir.path().join("half"));
    assert!(
        stderr.contains("attributing at scale 0.5: 512×512 resampled to 256×256"),
        "{stderr}"
    );
    assert_eq!(half["scale"], 0.5);
    assert_eq!(
        (half["height"].as_u64(), half["width"].as_u64()),
        (Some(256), Some(256))
    );
    assert_eq!(half["pixel_size_nm"], 4.0);
    let targets = half["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 16);
    // Rows 4, 132, 260, 388 by their pixel centres: 2, 66, 130, 194.
    let rows: Vec<u64> = targets.iter().map(|t| t["row"].as_u64().unwrap()).collect();
    assert_eq!(&rows[..5], &[2, 2, 2, 2, 66]);
    // --scale overrides the pixel sizes.
    let (native, _) = attribute(
        &["--pixel-size", "2", "--scale", "1"],
        &dir.path().join("native"),
    );
    assert_eq!(
        (native["scale"].as_f64(), native["height"].as_u64()),
        (Some(1.0), Some(512))
    );
    assert_eq!(native["targets"][4]["row"], 132);
    fails_with(
        &urisc(&[
            "attribute",
            "--model",
            s(&model),
            "--image",
            s(&image),
            "--grid",
            "8",
            "--scale",
            "0",
            "--out",
            s(&dir.path().join("zero")),
        ]),
        "--scale 0",
    );
}

#[test]
fn attribute_study_reports_intervals_per_condition_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let docs = repo().join("docs/attribution");
    let (native, native_tp, twice) = (
        docs.join("native.json"),
        docs.join("native-tp.json"),
        docs.join("2x.json"),
    );
    let plot = dir.path().join("study.svg");
    let native_group = format!("native={},{}", s(&native), s(&native_tp));
    let twice_group = format!("2x={}", s(&twice));
    let args = [
        "attribute",
        "study",
        "--group",
        &native_group,
        "--group",
        &twice_group,
        "--resamples",
        "500",
        "--out",
        s(&plot),
    ];
    let run = urisc(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("study.json")).unwrap())
            .unwrap();
    let groups = result["groups"].as_array().unwrap();
    // Both native runs are of one model file: pooled as one model of 121 + 64 targets.
    assert_eq!(groups[0]["models"].as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["models"][0]["targets"], 185);
    assert_eq!(groups[0]["r90_ratio"]["estimate"], 1.0);
    let ratio = groups[1]["r90_ratio"]["estimate"].as_f64().unwrap();
    let (low, high) = (
        groups[1]["r90_ratio"]["low"].as_f64().unwrap(),
        groups[1]["r90_ratio"]["high"].as_f64().unwrap(),
    );
    assert!(
        low < ratio && ratio < high && low > 1.0,
        "{low} {ratio} {high}"
    );
    assert!(std::fs::read_to_string(&plot).unwrap().contains("<svg"));
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(
        table.lines().any(|l| l.starts_with("2x\t1\t121\t")),
        "{table}"
    );
    fails_with(&urisc(&args), "--force");
    fails_with(
        &urisc(&[
            "attribute",
            "study",
            "--group",
            s(&native),
            "--out",
            s(&plot),
            "--force",
        ]),
        "expected NAME=JSON",
    );
}

#[test]
fn attribute_rejects_bad_targets_and_images_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let image = repo().join("data/isbi2012/images/00.png");
    let out = dir.path().join("attr");
    let run = |extra: &[&str], image: &Path| {
        let mut args = vec![
            "attribute",
            "--model",
            s(&model),
            "--image",
            s(image),
            "--out",
            s(&out),
            "--steps",
            "2",
        ];
        args.extend_from_slice(extra);
        urisc(&args)
    };
    fails_with(
        &run(&["--pixels", "10,10;600,3"], &image),
        "(600, 3) is outside",
    );
    fails_with(&run(&["--pixels", "10;3"], &image), "\"10\"");
    fails_with(&run(&[], &image), "--grid");
    fails_with(&urisc(&["attribute", "--image", s(&image)]), "--out DIR");
    let odd = dir.path().join("odd.png");
    write_png(&odd, &Image::new(50, 52, vec![128; 50 * 52]), None, false).unwrap();
    fails_with(&run(&["--grid", "8"], &odd), "odd.png");
    fails_with(&run(&["--grid", "8"], &odd), "multiple");
    fails_with(
        &run(&["--label", s(&odd)], &image),
        "odd.png: label is 50×52, image is 512×512",
    );
}

#[test]
fn the_embedded_default_model_runs_without_model_files_around() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("16.png");
    std::fs::copy(repo().join("data/isbi2012/images/16.png"), &input).unwrap();
    let (embedded, shipped) = (dir.path().join("embedded"), dir.path().join("shipped"));
    // From a folder that holds no model: the one compiled into urisc.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_urisc"))
        .current_dir(dir.path())
        .args(["predict", "16.png", "--out", "embedded"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let model = repo().join("models/default/best.safetensors");
    let run = urisc(&[
        "predict",
        "--model",
        s(&model),
        s(&input),
        "--out",
        s(&shipped),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        urisc_io::read_u8(&embedded.join("16.png")).unwrap().data,
        urisc_io::read_u8(&shipped.join("16.png")).unwrap().data,
        "the embedded model is the shipped one"
    );
}

/// A 2× upsampled slice at 2 nm/pixel is predicted at the default model's 4 nm/pixel (its 2×2
/// blocks average back to the slice), the map on the big grid; it scores far better than the
/// model run on the upsampled pixels as they are.
#[test]
fn predict_resamples_sections_to_the_model_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    let slice = urisc_io::read_u8(&repo().join("data/isbi2012/images/16.png")).unwrap();
    let label = urisc_io::read_u8(&repo().join("data/isbi2012/labels/16.png")).unwrap();
    let up = |img: &Image<u8>| {
        Image::new(
            1024,
            1024,
            (0..1024 * 1024)
                .map(|i| img.data[(i / 1024) / 2 * 512 + (i % 1024) / 2])
                .collect(),
        )
    };
    let (images, labels) = (dir.path().join("images"), dir.path().join("labels"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&labels).unwrap();
    write_png(&images.join("16.png"), &up(&slice), Some(2.0), false).unwrap();
    write_png(&labels.join("16.png"), &up(&label), Some(2.0), false).unwrap();
    let predict = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["predict", s(&images), "--out", s(&out)];
        args.extend_from_slice(extra);
        let run = urisc(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let f1 = urisc(&[
            "eval",
            "--pred",
            s(&out),
            "--gt",
            s(&labels),
            "--metrics",
            "f1",
            "--format",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&f1.stdout).unwrap();
        let binary = urisc_io::read_image(&out.join("16.png")).unwrap();
        // The maps carry the input's pixel size (as declared by --pixel-size, if given).
        let declared = extra
            .windows(2)
            .find(|w| w[0] == "--pixel-size")
            .map_or(2.0, |w| w[1].parse().unwrap());
        assert!(
            (binary.pixel_size_nm.unwrap() - declared).abs() < 1e-3,
            "{name}: {:?}",
            binary.pixel_size_nm
        );
        (
            String::from_utf8_lossy(&run.stderr).into_owned(),
            v["mean"]["f1"].as_f64().unwrap(),
            binary.image.into_u8(),
        )
    };
    let (said, f1_scaled, scaled) = predict("scaled", &[]);
    assert!(
        said.contains("predicting at scale 0.500 (512×512: input 2 nm/pixel, model 4 nm/pixel), maps back to 1024×1024"),
        "{said}"
    );
    assert_eq!((scaled.height, scaled.width), (1024, 1024));
    let (said, f1_native, _) = predict("native", &["--pixel-size", "4"]);
    assert!(!said.contains("predicting at scale"), "{said}");
    let (_, _, explicit) = predict("explicit", &["--scale", "0.5", "--pixel-size", "4"]);
    assert_eq!(
        explicit.data, scaled.data,
        "--scale 0.5 = the pixel sizes' scale"
    );
    assert!(
        f1_scaled > f1_native + 0.05 && f1_scaled > 0.75,
        "at the model's scale F1 {f1_scaled}, as is {f1_native}"
    );
    fails_with(
        &urisc(&[
            "predict",
            s(&images),
            "--out",
            s(&dir.path().join("bad")),
            "--scale",
            "0",
        ]),
        "--scale 0: must be between 1/16 and 16",
    );
}

/// `[coarse]` through the CLI: a two-stage model trains from a config, `model info` shows both
/// stages and the field through the coarse path, `predict` runs it; a missing coarse model is
/// one line naming the file.
#[test]
fn train_predict_and_describe_a_two_stage_model() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::tiny_dataset(dir.path());
    let coarse = tiny_model(dir.path());
    let out = dir.path().join("run");
    let run = urisc(&[
        "train",
        "--config",
        s(&config),
        "--out",
        s(&out),
        "--set",
        &format!("coarse.model=\"{}\"", coarse.display()),
        "--set",
        "coarse.factor=2",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let model = out.join("best.safetensors");
    let info = urisc(&["model", "info", s(&model)]);
    let text = String::from_utf8(info.stdout).unwrap();
    assert!(
        text.contains(
            "coarse stage:     Unet, base width 2, depth 3 on the input downsampled 2× (frozen)"
        ),
        "{text}"
    );
    assert!(text.contains("tile sides:       multiples of 8"), "{text}");
    assert!(text.contains("training coarse:"), "{text}");
    let maps = dir.path().join("maps");
    let predict = urisc(&[
        "predict",
        "--model",
        s(&model),
        "--out",
        s(&maps),
        s(&dir.path().join("data/images/0.png")),
    ]);
    assert!(
        predict.status.success(),
        "{}",
        String::from_utf8_lossy(&predict.stderr)
    );
    fails_with(
        &urisc(&[
            "train",
            "--config",
            s(&config),
            "--out",
            s(&dir.path().join("other")),
            "--set",
            "coarse.model=\"missing.safetensors\"",
            "--set",
            "coarse.factor=2",
        ]),
        "missing.safetensors",
    );
}
