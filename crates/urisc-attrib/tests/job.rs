//! The attribution job on hand-made models: targets chosen with `urisc predict`'s tiling, the
//! outputs and report, stacks split page by page, the checks made before anything is computed.

use std::path::{Path, PathBuf};

use urisc_attrib::job::{
    choose_targets, prepare, run, AttribJobError, AttributionJob, TargetChoice,
};
use urisc_infer::job::{default_overlap, PredictFlags, PredictSettings};
use urisc_infer::{predict_image_scaled, InferenceOptions};
use urisc_io::encoding::is_membrane;
use urisc_io::sections::Section;
use urisc_io::{write_png, write_tiff_stack, Image};
use urisc_model::testing::LinearFilter;
use urisc_model::ModelDefaults;

/// A 5×5 filter of mixed signs: its logits straddle 0 (p = 0.5) all over a textured image, and
/// zero padding at tile borders changes them, so the tiling shows in the membrane mask.
fn model() -> LinearFilter {
    let kernel: Vec<f32> = (0..25).map(|i| (i as f32 * 0.9).sin()).collect();
    LinearFilter::new(2, kernel, 0.05).with_size_multiple(8)
}

fn defaults() -> ModelDefaults {
    ModelDefaults {
        tile: 16,
        size_multiple: 8,
        threshold: 0.5,
        pixel_size_nm: None,
    }
}

fn texture(h: usize, w: usize, seed: usize) -> Image<u8> {
    Image::new(
        h,
        w,
        (0..h * w)
            .map(|i| ((i * 37 + seed * 101 + (i / w) * 13) % 251) as u8)
            .collect(),
    )
}

fn png(dir: &Path, name: &str, image: &Image<u8>) -> PathBuf {
    let path = dir.join(name);
    write_png(&path, image, None, false).unwrap();
    path
}

fn quick(job: &mut AttributionJob) {
    job.steps = 2;
    job.heatmaps = 1;
    job.montage = 2;
}

#[test]
fn label_targets_are_true_positives_of_urisc_predicts_tiling() {
    let dir = tempfile::tempdir().unwrap();
    let image = texture(48, 56, 0);
    let image_path = png(dir.path(), "image.png", &image);
    // Membrane (dark) everywhere: the targets are exactly the predicted membrane pixels.
    let label = png(dir.path(), "label.png", &Image::filled(48, 56, 0u8));
    let model = model();
    let job = AttributionJob::new(
        Section::single(&image_path),
        TargetChoice::Label(Section::single(&label)),
        dir.path().join("out"),
    );
    let settings = PredictSettings::resolve(&defaults(), &PredictFlags::default()).unwrap();
    assert_eq!(settings.options.overlap, default_overlap(16));
    let predicted = |options: &InferenceOptions, scale: f64| -> Vec<(usize, usize)> {
        let p = predict_image_scaled(&model, &image, options, scale).unwrap();
        (0..p.data.len())
            .filter(|&i| is_membrane(p.data[i], 0.5))
            .map(|i| (i / p.width, i % p.width))
            .collect()
    };
    for scale in [1.0, 2.0] {
        let chosen = choose_targets(&model, &settings, &job, &image, scale).unwrap();
        assert_eq!(chosen, predicted(&settings.options, scale), "scale {scale}");
    }
    // The rule attribution used to have, (tile / 4).min(64), tiles differently: the test can
    // tell the two apart.
    let tile = settings.options.tile;
    let old = InferenceOptions {
        overlap: (tile / 4).min(64),
        ..settings.options.clone()
    };
    assert_ne!(
        choose_targets(&model, &settings, &job, &image, 1.0).unwrap(),
        predicted(&old, 1.0)
    );
    // A label of another size is refused, naming it.
    let small = png(dir.path(), "small.png", &Image::filled(8, 8, 0u8));
    let mut wrong = job.clone();
    wrong.targets = TargetChoice::Label(Section::single(&small));
    let e = choose_targets(&model, &settings, &wrong, &image, 1.0).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("small.png: label is 8×8, image is 48×56"),
        "{e}"
    );
}

#[test]
fn a_job_writes_its_outputs_and_a_linear_model_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let image = png(dir.path(), "a.png", &texture(32, 40, 1));
    let out = dir.path().join("out");
    let mut job = AttributionJob::new(
        Section::single(&image),
        TargetChoice::Grid { step: 8, offset: 3 },
        out.clone(),
    );
    quick(&mut job);
    job.model_name = "filter".into();
    let mut calls = Vec::new();
    let outcome = run(&model(), &defaults(), &job, &mut |done, total| {
        calls.push((done, total))
    })
    .unwrap();
    let report = &outcome.report;
    assert_eq!(
        (report.name.as_str(), report.model.as_str()),
        ("a", "filter")
    );
    assert_eq!((report.plane, report.height, report.width), (None, 32, 40));
    assert_eq!(report.targets.len(), 4 * 5);
    assert_eq!(outcome.evaluations, 2);
    assert_eq!(calls.first(), Some(&(0, 40)));
    assert_eq!(calls.last(), Some(&(40, 40)));
    // The gradient of a linear model is constant: Σ IG is Δlogit.
    assert!(outcome.completeness.mean_gap < 1e-4, "{outcome:?}");
    assert!(outcome.completeness.mean_difference > 0.0);
    assert!(outcome.csv && outcome.montage);
    assert_eq!(outcome.heatmaps.len(), 1);
    for path in [&outcome.paths.json, &outcome.paths.csv, &outcome.paths.svg] {
        assert!(path.exists(), "{}", path.display());
    }
    assert!(outcome.heatmaps[0].exists() && outcome.paths.montage.exists());
    let written = urisc_attrib::job::read_report(&outcome.paths.json).unwrap();
    // (JSON keeps f64s to the last bit or so.)
    assert_eq!((&written.name, written.plane), (&report.name, None));
    let pixels = |r: &urisc_attrib::report::AttributionReport| -> Vec<_> {
        r.targets.iter().map(|t| (t.row, t.col, t.r90)).collect()
    };
    assert_eq!(pixels(&written), pixels(report));
    // Existing outputs are refused before anything is computed, then overwritten with force.
    let e = prepare(&model(), &defaults(), &job).unwrap_err();
    assert!(matches!(e, AttribJobError::Io(_)) && e.to_string().contains("--force"));
    job.force = true;
    run(&model(), &defaults(), &job, &mut |_, _| {}).unwrap();
}

#[test]
fn stacks_are_attributed_page_by_page_with_their_label_pages() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack.tif");
    let pages = [texture(24, 32, 2), texture(24, 32, 3)];
    write_tiff_stack(&stack, &pages, None, false).unwrap();
    let labels = dir.path().join("labels.tif");
    write_tiff_stack(
        &labels,
        &[Image::filled(24, 32, 0u8), Image::filled(24, 32, 0u8)],
        None,
        false,
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut job = AttributionJob::new(
        Section::single(&stack),
        TargetChoice::Label(Section::single(&labels)),
        out.clone(),
    );
    quick(&mut job);
    job.max_targets = Some(6);
    let jobs = job.clone().per_section().unwrap();
    assert_eq!(jobs.len(), 2);
    for (z, part) in jobs.iter().enumerate() {
        assert_eq!(part.image.plane, Some(z));
        assert_eq!(part.out, out.join(format!("stack_z00{z}")));
        match &part.targets {
            TargetChoice::Label(label) => assert_eq!(label.plane, Some(z)),
            other => panic!("{other:?}"),
        }
    }
    let reports: Vec<_> = jobs
        .iter()
        .map(|part| {
            run(&model(), &defaults(), part, &mut |_, _| {})
                .unwrap()
                .report
        })
        .collect();
    assert_eq!(reports[0].name, "stack_z000");
    assert_eq!(
        (reports[1].name.as_str(), reports[1].plane),
        ("stack_z001", Some(1))
    );
    assert!(out.join("stack_z001/attribution.json").exists());
    assert_ne!(
        reports[0].targets, reports[1].targets,
        "page 1 is not page 0"
    );

    // A given name is suffixed per page.
    let mut named = job.clone();
    named.name = Some("run".into());
    let names: Vec<_> = named
        .per_section()
        .unwrap()
        .into_iter()
        .map(|j| j.name.unwrap())
        .collect();
    assert_eq!(names, ["run_z000", "run_z001"]);
    // A single label for a stack, or a stack label for a single image, is refused.
    let single = png(dir.path(), "single.png", &Image::filled(24, 32, 0u8));
    let mut one_label = job.clone();
    one_label.targets = TargetChoice::Label(Section::single(&single));
    let e = one_label.per_section().unwrap_err().to_string();
    assert!(
        e.contains("single.png: 1 label section(s) for the 2 section(s)"),
        "{e}"
    );
    let mut one_image = job;
    one_image.image = Section::single(&single);
    assert!(matches!(
        one_image.per_section(),
        Err(AttribJobError::LabelSections { .. })
    ));
}

#[test]
fn settings_and_memory_are_checked_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let image = png(dir.path(), "b.png", &texture(16, 16, 4));
    let mut job = AttributionJob::new(
        Section::single(&image),
        TargetChoice::Grid { step: 4, offset: 0 },
        dir.path().join("out"),
    );
    let fails = |job: &AttributionJob, needle: &str| {
        let e = run(&model(), &defaults(), job, &mut |_, _| {}).unwrap_err();
        assert!(e.to_string().contains(needle), "{e} lacks {needle}");
    };
    job.steps = 0;
    fails(&job, "--steps 0");
    job.steps = 2;
    job.scale = Some(0.0);
    fails(&job, "--scale 0");
    // Outside the bounds `urisc predict` keeps too.
    job.scale = Some(100.0);
    fails(&job, "scale 100: must be between 1/16 and 16");
    job.scale = None;
    job.targets = TargetChoice::Grid { step: 0, offset: 0 };
    fails(&job, "--grid must be at least 1");
    job.targets = TargetChoice::Pixels(vec![(3, 40)]);
    fails(
        &job,
        "b.png: target pixel (3, 40) is outside the 16×16 image",
    );
    job.available_memory_bytes = Some(1000);
    fails(&job, "b.png: 16×16 pixels need");
    assert!(!dir.path().join("out").exists());
}
