//! Nothing lost, nothing silent (round two): an output never replaces an input, folder listings
//! name what they cannot read instead of skipping it, messages stay one line, absurd sizes and
//! parameters are refused before any work, and a failed run removes the folders it created.

mod common;

use std::path::Path;

use common::{fails_with, ok, s, urisc};
use urisc_io::{write_png, Image};

/// A 48×40 image of stripes.
fn stripes() -> Image<u8> {
    Image::new(
        48,
        40,
        (0..48 * 40)
            .map(|i| if i % 40 % 9 < 2 { 50 } else { 210 })
            .collect(),
    )
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn eval_never_writes_its_table_over_a_prediction_or_a_label() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["pred", "gt"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        write_png(&d.join(sub).join("a.png"), &stripes(), None, false).unwrap();
    }
    let before = bytes(&d.join("pred/a.png"));
    for (pred, gt, out) in [
        ("pred/a.png", "gt/a.png", "pred/a.png"),
        ("pred/a.png", "gt/a.png", "gt/./a.png"),
        ("pred", "gt", "pred/a.png"),
        ("pred", "gt", "gt/../gt/a.png"),
    ] {
        let (pred, gt, out) = (d.join(pred), d.join(gt), d.join(out));
        let args = [
            "eval",
            "--pred",
            s(&pred),
            "--gt",
            s(&gt),
            "--out",
            s(&out),
            "--force",
        ];
        fails_with(&urisc(&args), "never writes over its inputs");
        let mut instances = args.to_vec();
        instances.push("--instances");
        fails_with(&urisc(&instances), "never writes over its inputs");
    }
    assert_eq!(bytes(&d.join("pred/a.png")), before);
    // Another name in the prediction folder is not an input.
    ok(&[
        "eval",
        "--pred",
        s(&d.join("pred")),
        "--gt",
        s(&d.join("gt")),
        "--out",
        s(&d.join("pred/scores.json")),
    ]);
}

#[test]
fn synth_never_writes_over_the_dataset_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["images", "labels"] {
        std::fs::create_dir_all(d.join("data").join(sub)).unwrap();
        write_png(
            &d.join("data").join(sub).join("a.png"),
            &stripes(),
            None,
            false,
        )
        .unwrap();
    }
    let before = bytes(&d.join("data/images/a.png"));
    let data = d.join("data");
    fails_with(
        &urisc(&[
            "synth",
            "upsampled",
            "--data",
            s(&data),
            "--out",
            s(&data),
            "--force",
        ]),
        "never writes over its inputs",
    );
    fails_with(
        &urisc(&[
            "synth",
            "section",
            "--data",
            s(&data),
            "--out",
            s(&data),
            "--size",
            "64x64",
            "--name",
            "a",
            "--force",
        ]),
        "never writes over its inputs",
    );
    assert_eq!(bytes(&d.join("data/images/a.png")), before);
    // Absurd sizes and scales are refused before anything is allocated or created.
    let out = d.join("big");
    fails_with(
        &urisc(&[
            "synth",
            "section",
            "--data",
            s(&data),
            "--out",
            s(&out),
            "--size",
            "1000000x1000000",
        ]),
        "more than the 2147483648",
    );
    fails_with(
        &urisc(&[
            "synth",
            "section",
            "--data",
            s(&data),
            "--out",
            s(&out),
            "--scale",
            "1000",
        ]),
        "--scale 1000 is outside 1–16",
    );
    fails_with(
        &urisc(&[
            "synth",
            "upsampled",
            "--data",
            s(&data),
            "--out",
            s(&out),
            "--scale",
            "0",
        ]),
        "--scale 0",
    );
    assert!(!out.exists(), "nothing created");
}

#[cfg(unix)]
#[test]
fn listings_name_fifos_broken_links_and_names_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pred = d.join("pred");
    std::fs::create_dir_all(&pred).unwrap();
    write_png(&pred.join("a.png"), &stripes(), None, false).unwrap();
    std::fs::write(pred.join("notes.txt"), "not an image").unwrap();
    let gt = d.join("gt.png");
    write_png(&gt, &stripes(), None, false).unwrap();
    // A FIFO given as input is refused at once instead of blocking forever.
    let fifo = d.join("f.png");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    fails_with(
        &urisc(&["predict", s(&fifo), "--out", s(&d.join("o"))]),
        "not a regular file (a FIFO)",
    );
    fails_with(
        &urisc(&["eval", "--pred", s(&fifo), "--gt", s(&gt)]),
        "not a regular file (a FIFO)",
    );
    assert!(started.elapsed().as_secs() < 30);
    assert!(!d.join("o").exists());
    // A dangling link inside an input folder is named, not skipped.
    std::os::unix::fs::symlink(d.join("gone.png"), pred.join("b.png")).unwrap();
    fails_with(
        &urisc(&["predict", s(&pred), "--out", s(&d.join("o"))]),
        "b.png: a symbolic link that cannot be followed",
    );
    std::fs::remove_file(pred.join("b.png")).unwrap();
    // `a\xff.png` and `a\xfe.png` are two files, not one lossy name twice.
    for b in [0xffu8, 0xfe] {
        let name = [b'a', b, b'.', b'p', b'n', b'g'];
        let path = pred.join(std::ffi::OsStr::from_bytes(&name));
        write_png(&path, &stripes(), None, false).unwrap();
    }
    fails_with(
        &urisc(&["eval", "--pred", s(&pred), "--gt", s(&pred)]),
        "file name is not valid UTF-8",
    );
}

#[test]
fn a_name_with_a_newline_keeps_the_error_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("a\nb.png");
    std::fs::write(&odd, b"not a png at all").unwrap();
    let out = urisc(&["predict", s(&odd), "--out", s(&dir.path().join("o"))]);
    fails_with(&out, "a\\nb.png");
}

#[test]
fn pixel_sizes_and_scales_far_out_of_range_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = d.join("a.png");
    write_png(&image, &stripes(), None, false).unwrap();
    let out = d.join("o");
    for (flag, value, message) in [
        (
            "--pixel-size",
            "1e9",
            "--pixel-size 1000000000: must be between",
        ),
        (
            "--pixel-size",
            "1e-9",
            "--pixel-size 0.000000001: must be between",
        ),
        ("--scale", "1e-6", "--scale 0.000001"),
    ] {
        let out = urisc(&["predict", s(&image), "--out", s(&out), flag, value]);
        fails_with(&out, message);
        // The message says the rule once, not once per error in its chain.
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(text.matches("must be between").count(), 1, "{text}");
    }
    // A header whose pixel size is absurd (here the user's, as a header would say it) is refused
    // through the scale it asks for, naming the file.
    write_png(&image, &stripes(), Some(1e7), true).unwrap();
    let refused = urisc(&["predict", s(&image), "--out", s(&out)]);
    fails_with(&refused, "a.png: pixel size");
    assert!(!out.exists(), "nothing created");
}

#[test]
fn attribute_refuses_absurd_scales_and_steps_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = d.join("a.png");
    write_png(&image, &stripes(), None, false).unwrap();
    let out = d.join("attr");
    let base = [
        "attribute",
        "--image",
        s(&image),
        "--out",
        s(&out),
        "--grid",
        "16",
    ];
    let mut scale = base.to_vec();
    scale.extend(["--scale", "1000"]);
    fails_with(&urisc(&scale), "--scale 1000");
    let mut steps = base.to_vec();
    steps.extend(["--steps", "100000000000"]);
    fails_with(&urisc(&steps), "--steps 100000000000");
    assert!(!out.exists(), "nothing created");
}

#[test]
fn cells_refuses_blocks_too_small_to_finish() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("m.png");
    write_png(&map, &stripes(), None, false).unwrap();
    let out = dir.path().join("cells");
    for block in ["1", "15"] {
        fails_with(
            &urisc(&[
                "cells",
                s(&map),
                "--out",
                s(&out),
                "--watershed",
                "descent",
                "--block",
                block,
            ]),
            "blocks must be at least 16 pixels",
        );
        fails_with(
            &urisc(&["cells-plan", s(&map), "--out", s(&out), "--block", block]),
            "blocks must be at least 16 pixels",
        );
    }
    assert!(!out.exists());
}

#[test]
fn a_failed_predict_removes_the_folders_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = d.join("a.png");
    write_png(&image, &stripes(), None, false).unwrap();
    // The probability folder cannot be made (its parent is a file): --out, made first, goes too.
    let blocker = d.join("file");
    std::fs::write(&blocker, "x").unwrap();
    let out = d.join("new/maps");
    let failed = urisc(&[
        "predict",
        s(&image),
        "--out",
        s(&out),
        "--probabilities",
        s(&blocker.join("p")),
    ]);
    assert!(!failed.status.success());
    assert!(!d.join("new").exists(), "the created --out is removed");
}

#[test]
fn demo_checks_every_output_before_predicting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("scores.json"), "{}").unwrap();
    let data = common::repo().join("data/isbi2012");
    let refused = urisc(&[
        "demo",
        "--data",
        s(&data),
        "--out",
        s(&out),
        "--slices",
        "16",
    ]);
    fails_with(&refused, "scores.json: output exists");
    assert!(!out.join("predictions").exists(), "nothing predicted");
}

#[test]
fn cells_attribute_and_demo_outputs_never_replace_their_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A probability store beside the maps: `cells --ome-zarr` into the same folder would
    // replace it with the cells' store of the same name.
    let maps = d.join("maps");
    ok(&[
        "predict",
        s(&common::repo().join("data/isbi2012/images/16.png")),
        "--out",
        s(&maps),
        "--format",
        "ome-zarr",
        "--tile",
        "256",
    ]);
    let store = maps.join("16.ome.zarr");
    assert!(store.join("zarr.json").is_file());
    fails_with(
        &urisc(&[
            "cells",
            s(&store),
            "--out",
            s(&maps),
            "--ome-zarr",
            "--force",
        ]),
        "never writes over its inputs",
    );
    assert!(store.join("zarr.json").is_file());
    fails_with(
        &urisc(&["cells-plan", s(&store), "--out", s(&maps), "--force"]),
        "holds the input",
    );
    // `attribute study --out run/attribution.svg` would write its numbers over the report.
    let run = d.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("attribution.json"), "{}").unwrap();
    fails_with(
        &urisc(&[
            "attribute",
            "study",
            "--group",
            &format!("a={}", s(&run.join("attribution.json"))),
            "--out",
            s(&run.join("attribution.svg")),
            "--force",
        ]),
        "never writes over its inputs",
    );
    fails_with(
        &urisc(&[
            "attribute",
            "compare",
            s(&run.join("attribution.json")),
            s(&run.join("attribution.json")),
            "--out",
            s(&run.join("attribution.json")),
            "--force",
        ]),
        "never writes over its inputs",
    );
    assert_eq!(
        std::fs::read_to_string(run.join("attribution.json")).unwrap(),
        "{}"
    );
    // The demo's folder never holds the slices it reads.
    let data = d.join("data");
    for sub in ["images", "labels"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
        write_png(&data.join(sub).join("16.png"), &stripes(), None, false).unwrap();
    }
    let before = bytes(&data.join("labels/16.png"));
    fails_with(
        &urisc(&[
            "demo",
            "--data",
            s(&data),
            "--out",
            s(&data),
            "--slices",
            "16",
            "--force",
        ]),
        "never writes over its inputs",
    );
    assert_eq!(bytes(&data.join("labels/16.png")), before);
}

#[test]
fn bench_eval_refuses_a_section_too_large_to_build() {
    fails_with(
        &urisc(&["bench", "eval", "--size", "1000000x1000000"]),
        "more than the 2147483648",
    );
}

/// A reader that stops early (`urisc … | head`) is no bug: no "internal error" line. Here the
/// reader (`true`) is gone before the scores (a 512² pair, tens of ms) are printed.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_output_quietly() {
    let label = common::repo().join("data/isbi2012/labels/16.png");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' eval --pred '{l}' --gt '{l}' | true",
            env!("CARGO_BIN_EXE_urisc"),
            l = label.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("internal error"), "{err}");
}

/// Spellings through symbolic links (`link/..` is the parent of the link's target, as the OS
/// resolves it) and links inside an output folder reach no input: predict, eval, synth and demo
/// refuse them; an output inside an input Zarr store is refused too.
#[cfg(unix)]
#[test]
fn links_and_stores_do_not_open_a_way_over_an_input() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["images", "labels"] {
        std::fs::create_dir_all(d.join("data").join(sub)).unwrap();
        write_png(
            &d.join("data").join(sub).join("0.png"),
            &stripes(),
            None,
            false,
        )
        .unwrap();
    }
    let image = d.join("data/images/0.png");
    let label = d.join("data/labels/0.png");
    let (image_bytes, label_bytes) = (bytes(&image), bytes(&label));
    // L/.. is data/, so L/../images/0.png is the input.
    symlink(d.join("data/images"), d.join("L")).unwrap();
    fails_with(
        &urisc(&[
            "predict",
            s(&image),
            "--out",
            s(&d.join("L/../images")),
            "--force",
        ]),
        "never writes over its inputs",
    );
    let pred = d.join("pred");
    std::fs::create_dir_all(&pred).unwrap();
    write_png(&pred.join("0.png"), &stripes(), None, false).unwrap();
    fails_with(
        &urisc(&[
            "eval",
            "--pred",
            s(&pred),
            "--gt",
            s(&d.join("data/labels")),
            "--out",
            s(&d.join("L/../labels/0.png")),
            "--force",
        ]),
        "never writes over its inputs",
    );
    // A link inside the output folder pointing at the dataset.
    let up = d.join("up");
    std::fs::create_dir_all(&up).unwrap();
    symlink(d.join("data/images"), up.join("images")).unwrap();
    fails_with(
        &urisc(&[
            "synth",
            "upsampled",
            "--data",
            s(&d.join("data")),
            "--out",
            s(&up),
            "--force",
        ]),
        "never writes over its inputs",
    );
    let demo = d.join("demo");
    std::fs::create_dir_all(&demo).unwrap();
    symlink(d.join("data/labels"), demo.join("labels")).unwrap();
    fails_with(
        &urisc(&[
            "demo",
            "--data",
            s(&d.join("data")),
            "--slices",
            "0",
            "--out",
            s(&demo),
            "--force",
        ]),
        "never writes over its inputs",
    );
    assert_eq!(bytes(&image), image_bytes);
    assert_eq!(bytes(&label), label_bytes);
    // The demo's folder may hold its data folder: it writes none of the data's files.
    let outside = urisc(&[
        "demo",
        "--data",
        s(&d.join("data")),
        "--slices",
        "0",
        "--out",
        s(d),
    ]);
    assert!(
        outside.status.success(),
        "{}",
        String::from_utf8_lossy(&outside.stderr)
    );
    // Outputs inside an input store, and a manifest over the input image.
    let store = d.join("z/0.ome.zarr");
    ok(&[
        "predict",
        s(&image),
        "--out",
        s(&d.join("z")),
        "--format",
        "ome-zarr",
    ]);
    fails_with(
        &urisc(&["predict", s(&store), "--out", s(&store), "--force"]),
        "lies inside the input",
    );
    fails_with(
        &urisc(&["cells", s(&store), "--out", s(&store), "--force"]),
        "lies inside the input",
    );
    fails_with(
        &urisc(&[
            "plan",
            s(&image),
            "--out",
            s(&d.join("cl")),
            "--manifest",
            s(&image),
            "--force",
        ]),
        "never writes over its inputs",
    );
    assert_eq!(bytes(&image), image_bytes);
}

#[test]
fn attribute_never_writes_over_its_label() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = d.join("a.png");
    write_png(&image, &stripes(), None, false).unwrap();
    let out = d.join("attr");
    std::fs::create_dir_all(&out).unwrap();
    let label = out.join("montage.png");
    write_png(&label, &stripes(), None, false).unwrap();
    let before = bytes(&label);
    fails_with(
        &urisc(&[
            "attribute",
            "--image",
            s(&image),
            "--label",
            s(&label),
            "--out",
            s(&out),
            "--steps",
            "2",
            "--force",
        ]),
        "never writes over its inputs",
    );
    assert_eq!(bytes(&label), before);
}

#[test]
fn data_info_names_folders_and_twins_that_look_like_images() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["images", "labels"] {
        std::fs::create_dir_all(d.join("t").join(sub)).unwrap();
        write_png(
            &d.join("t").join(sub).join("a.png"),
            &stripes(),
            None,
            false,
        )
        .unwrap();
    }
    std::fs::create_dir_all(d.join("t/images/d.png")).unwrap();
    fails_with(
        &urisc(&["data", "info", s(&d.join("t"))]),
        "d.png: a folder, not an image",
    );
    std::fs::remove_dir(d.join("t/images/d.png")).unwrap();
    urisc_io::write_tiff(
        &d.join("t/images/a.tif"),
        &urisc_io::GreyImage::U8(stripes()),
        None,
        false,
    )
    .unwrap();
    fails_with(
        &urisc(&["data", "info", s(&d.join("t"))]),
        "samples are matched by name",
    );
}

/// The config a run records names its data absolutely, so `--resume` with the run's own
/// `config.toml` finds the data wherever the run folder is.
#[test]
fn a_run_resumes_from_its_own_recorded_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::tiny_dataset(dir.path());
    let run = dir.path().join("runs/tiny");
    ok(&["train", "--config", s(&config), "--out", s(&run)]);
    let recorded = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        recorded.contains(s(&dir.path().canonicalize().unwrap().join("data"))),
        "{recorded}"
    );
    ok(&[
        "train",
        "--config",
        s(&run.join("config.toml")),
        "--out",
        s(&run),
        "--resume",
        "--set",
        "train.epochs=3",
    ]);
}

#[test]
fn model_import_bounds_the_pixel_size_as_predict_does() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path());
    let onnx = dir.path().join("m.onnx");
    ok(&["model", "export", s(&model), "--out", s(&onnx)]);
    for bad in ["1e-9", "1e9"] {
        fails_with(
            &urisc(&[
                "model",
                "import",
                s(&onnx),
                "--out",
                s(&dir.path().join("i.safetensors")),
                "--pixel-size",
                bad,
            ]),
            "must be between 0.01 and 100000 nm/pixel",
        );
    }
}

#[test]
fn predict_warns_on_colour_as_eval_does() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = dir.path().join("rgb.png");
    let pixels: Vec<u8> = (0..48 * 40)
        .flat_map(|i| [(i % 256) as u8, 30, 200])
        .collect();
    urisc_io::write_png_rgb(&rgb, 48, 40, &pixels, None, false).unwrap();
    let out = urisc(&["predict", s(&rgb), "--out", s(&dir.path().join("o"))]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 image(s) were colour with unequal channels"),
        "{err}"
    );
}

/// cells-plan reads 8-bit levels by rows: a float probability map (membrane high) was read
/// narrowed and inverted, 463 cells instead of 134 on ISBI slice 16. Refused now, naming the way.
#[test]
fn cells_plan_refuses_maps_it_would_misread() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("p.tif");
    let p = Image::new(48, 40, (0..48 * 40).map(|i| (i % 7) as f32 / 7.0).collect());
    urisc_io::write_tiff(&map, &urisc_io::GreyImage::F32(p), None, false).unwrap();
    fails_with(
        &urisc(&[
            "cells-plan",
            s(&map),
            "--out",
            s(&dir.path().join("w")),
            "--block",
            "16",
        ]),
        "cells-plan reads 8-bit membrane maps",
    );
}
