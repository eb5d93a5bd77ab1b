//! One section rule for every command (`urisc_io::sections`): a multi-page TIFF and a 3-D Zarr
//! are processed page by page, each page named `STEM_zNNN`, by predict, eval, plan/assemble
//! and data info alike (cells and attribute have their own stack tests).

mod common;

use common::{ok, s, urisc};
use urisc_io::Image;

/// Three different 48×40 pages of stripes (a page each of a different phase).
fn pages() -> Vec<Image<u8>> {
    (0..3usize)
        .map(|k| {
            Image::new(
                48,
                40,
                (0..48 * 40)
                    .map(|i| if (i % 40 + 3 * k) % 9 < 2 { 50 } else { 210 })
                    .collect(),
            )
        })
        .collect()
}

fn read(path: &std::path::Path) -> Image<u8> {
    urisc_io::read_u8(path).unwrap()
}

/// `urisc predict` (the embedded model) on a 3-page TIFF writes one map per page (not page 0
/// only), each equal to the map of that page predicted on its own; `urisc eval` pairs those maps with the stack's pages by
/// name.
#[test]
fn predict_and_eval_take_every_page_of_a_stack() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack.tif");
    let pages = pages();
    urisc_io::write_tiff_stack(&stack, &pages, None, false).unwrap();
    let singles = dir.path().join("singles");
    std::fs::create_dir(&singles).unwrap();
    for (z, page) in pages.iter().enumerate() {
        urisc_io::write_png(
            &singles.join(format!("stack_z{z:03}.png")),
            page,
            None,
            false,
        )
        .unwrap();
    }
    let out = dir.path().join("maps");
    let probabilities = dir.path().join("probabilities");
    ok(&[
        "predict",
        s(&stack),
        "--out",
        s(&out),
        "--probabilities",
        s(&probabilities),
    ]);
    let single_out = dir.path().join("single-maps");
    let single_probabilities = dir.path().join("single-probabilities");
    ok(&[
        "predict",
        s(&singles),
        "--out",
        s(&single_out),
        "--probabilities",
        s(&single_probabilities),
    ]);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["stack_z000.png", "stack_z001.png", "stack_z002.png"]
    );
    for name in &names {
        assert!(
            read(&probabilities.join(name)).data == read(&single_probabilities.join(name)).data,
            "{name}: the stack's page predicts as the page on its own"
        );
    }
    // The pages differ, so their maps do: page 0 was not predicted three times.
    assert!(
        read(&probabilities.join(&names[0])).data != read(&probabilities.join(&names[1])).data,
        "pages 0 and 1 gave the same map"
    );

    // eval: the folder of STEM_zNNN maps against the stack itself, page by page by name.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        "--pred",
        s(&out),
        "--gt",
        s(&stack),
        "--format",
        "json",
    ]))
    .unwrap();
    let rows: Vec<&str> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["stack_z000", "stack_z001", "stack_z002"]);
    // … and equal to scoring each page as a single file.
    let by_file: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        "--pred",
        s(&out),
        "--gt",
        s(&singles),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["images"], by_file["images"]);
    // A stack with a page missing from the folder is named, not scored in part.
    std::fs::remove_file(out.join("stack_z002.png")).unwrap();
    common::fails_with(
        &urisc(&["eval", "--pred", s(&out), "--gt", s(&stack)]),
        "no prediction for ground truth 'stack_z002'",
    );
}

/// `urisc plan` (the embedded model) names a stack's sections `STEM_zNNN` (status and assemble
/// use the names), and the assembled maps equal `urisc predict`'s.
#[test]
fn plan_and_assemble_name_stack_pages_like_predict() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack.tif");
    urisc_io::write_tiff_stack(&stack, &pages(), None, false).unwrap();
    let work = dir.path().join("work");
    ok(&["plan", s(&stack), "--out", s(&work), "--chunk", "32"]);
    let manifest = work.join("manifest.json");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let names: Vec<&str> = m["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["stack_z000", "stack_z001", "stack_z002"]);
    ok(&[
        "run-block",
        "--manifest",
        s(&manifest),
        "--shard-id",
        "0",
        "--num-shards",
        "1",
    ]);
    let status = ok(&["status", "--manifest", s(&manifest)]);
    assert!(status.contains("stack_z001"), "{status}");
    let assembled = dir.path().join("assembled");
    ok(&[
        "assemble",
        "--manifest",
        s(&manifest),
        "--out",
        s(&assembled),
    ]);
    let predicted = dir.path().join("predicted");
    ok(&["predict", s(&stack), "--out", s(&predicted)]);
    // The pages differ, so their maps do (a wrong plane would show).
    assert!(
        read(&assembled.join("stack_z000.png")).data
            != read(&assembled.join("stack_z001.png")).data,
        "pages 0 and 1 assembled alike"
    );
    for name in names {
        let file = format!("{name}.png");
        assert!(
            read(&assembled.join(&file)).data == read(&predicted.join(&file)).data,
            "{file}: assembled blocks differ from urisc predict"
        );
    }
}

/// `urisc data info` on ISBI-style stacks names their pages as every other command does (a
/// page without a label is reported by its section name).
#[test]
fn data_info_names_stack_pages_like_the_other_commands() {
    let dir = tempfile::tempdir().unwrap();
    let pages = pages();
    urisc_io::write_tiff_stack(&dir.path().join("train-volume.tif"), &pages, None, false).unwrap();
    urisc_io::write_tiff_stack(
        &dir.path().join("train-labels.tif"),
        &pages[..2],
        None,
        false,
    )
    .unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&ok(&["data", "info", s(dir.path()), "--json"])).unwrap();
    assert_eq!(info["images"], 3, "{info}");
    let problems = info["problems"].to_string();
    assert!(problems.contains("_z002"), "{problems}");
    assert!(!problems.contains('#'), "{problems}");
}
