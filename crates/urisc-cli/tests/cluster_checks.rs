//! What the cluster stages refuse to trust: an edited manifest (every stage checks it as its
//! plan would, and against its checksum), a done block whose chunk is gone or changed, a store
//! deleted or replaced after blocks were done; a failed block leaves nothing half-written, and
//! no stage writes over an input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{fails_with, s, tiny_model, urisc};

/// A 150 × 140 section, a tiny model, and a plan of it in 64² chunks (9 blocks, one per task):
/// (section, manifest).
fn planned(d: &Path, extra: &[&str]) -> (PathBuf, PathBuf) {
    let data: Vec<u8> = (0..150 * 140)
        .map(|i| ((i * 37 + i / 140 * 11) % 251) as u8)
        .collect();
    std::fs::create_dir_all(d.join("in")).unwrap();
    let input = d.join("in/s1.png");
    urisc_io::write_png(&input, &urisc_io::Image::new(150, 140, data), None, false).unwrap();
    let model = tiny_model(d);
    let out = d.join("out");
    let mut args = vec![
        "plan",
        s(&input),
        "--model",
        s(&model),
        "--out",
        s(&out),
        "--chunk",
        "64",
    ];
    args.extend_from_slice(extra);
    ok(&urisc(&args));
    (input, out.join("manifest.json"))
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

fn stage(what: &str, manifest: &Path, extra: &[&str]) -> Output {
    let mut args = vec![what, "--manifest", s(manifest)];
    args.extend_from_slice(extra);
    urisc(&args)
}

fn run_task(manifest: &Path, index: usize) -> Output {
    stage("run-block", manifest, &["--index", &index.to_string()])
}

fn status_json(manifest: &Path) -> serde_json::Value {
    let o = stage("status", manifest, &["--json"]);
    ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A copy of the manifest at `to` with `edit` applied; `reseal` gives it the checksum of its new
/// content (as a tool that writes manifests would), so the content checks, not the checksum,
/// must catch it. (A manifest without a checksum, from an urisc before format 3, stays as is.)
fn edited(
    manifest: &Path,
    to: &Path,
    reseal: bool,
    edit: impl Fn(&mut serde_json::Value),
) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    edit(&mut v);
    if reseal && v.get("checksum").is_some() {
        let mut m: urisc_cluster::Manifest = serde_json::from_value(v.clone()).unwrap();
        m.seal();
        v = serde_json::to_value(&m).unwrap();
    }
    std::fs::write(to, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    to.to_path_buf()
}

/// An edit of a manifest: its name, whether it is resealed, the edit, the message it gets.
type Edit = (
    &'static str,
    bool,
    Box<dyn Fn(&mut serde_json::Value)>,
    &'static str,
);

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                found.extend(files_under(&p));
            } else {
                found.push(p);
            }
        }
    }
    found
}

fn chunks(store: &Path) -> Vec<PathBuf> {
    files_under(&store.join("0/c"))
}

#[test]
fn every_stage_refuses_an_edited_manifest_before_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, manifest) = planned(d, &[]);
    let store = d.join("out/s1.ome.zarr");
    let cases: Vec<Edit> = vec![
        // A threshold `urisc predict` refuses, by predict's own rule.
        (
            "threshold",
            false,
            Box::new(|m| m["inference"]["threshold"] = 7.into()),
            "threshold 7: a membrane probability in [0, 1]",
        ),
        (
            "tta",
            true,
            Box::new(|m| m["inference"]["tta"] = 3.into()),
            "tta 3",
        ),
        // Block 1's unit moved onto block 0's chunk.
        (
            "unit",
            true,
            Box::new(|m| m["blocks"][1]["unit"] = serde_json::json!([0, 0])),
            "block 1: unit (0, 0) (planned: (0, 1))",
        ),
        // Overlapping write regions.
        (
            "overlap",
            true,
            Box::new(|m| m["blocks"][1]["write"] = m["blocks"][0]["write"].clone()),
            "block 1: writes rows 0..64, columns 0..64",
        ),
        // A read region that is not input_region's.
        (
            "read",
            true,
            Box::new(|m| m["blocks"][4]["read"]["y0"] = 1.into()),
            "block 4: reads rows 1..",
        ),
        // A block dropped: the units no longer cover the section.
        (
            "dropped",
            true,
            Box::new(|m| {
                m["blocks"].as_array_mut().unwrap().pop();
                m["tasks"] = 8.into();
            }),
            "8 blocks, the plan gives 9",
        ),
        // A store moved out of the plan's folder, a section name that is a path.
        (
            "store",
            true,
            Box::new(|m| m["stores"][0]["layout"]["root"] = "/tmp/elsewhere/s1.ome.zarr".into()),
            "store 0 (/tmp/elsewhere/s1.ome.zarr) is not as planned",
        ),
        (
            "name",
            true,
            Box::new(|m| m["sections"][0]["name"] = "../s1".into()),
            "section 0: name \"../s1\"",
        ),
        // Any other edit: the checksum.
        (
            "checksum",
            false,
            Box::new(|m| m["inference"]["threshold"] = 0.25.into()),
            "the manifest was edited since urisc plan wrote it",
        ),
        (
            "format",
            false,
            Box::new(|m| m["format"] = "urisc-block-manifest/2".into()),
            "is from an older urisc",
        ),
    ];
    for (name, reseal, edit, message) in &cases {
        let m = edited(&manifest, &d.join(format!("{name}.json")), *reseal, edit);
        for o in [
            run_task(&m, 1),
            stage("status", &m, &[]),
            stage("assemble", &m, &["--out", s(&d.join("asm"))]),
        ] {
            fails_with(&o, message);
            assert_eq!(o.status.code(), Some(78), "{name}: fatal");
            assert!(String::from_utf8_lossy(&o.stderr).contains("plan again"));
        }
    }
    // Nothing was computed or written.
    assert!(chunks(&store).is_empty(), "{:?}", chunks(&store));
    assert!(!d.join("out/.blocks").exists());
    assert!(!d.join("asm").exists());
    // The manifest as planned runs.
    ok(&run_task(&manifest, 1));
}

#[test]
fn a_deleted_or_changed_chunk_is_damaged_and_redone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, manifest) = planned(d, &["--probabilities", "u8"]);
    for i in 0..9 {
        ok(&run_task(&manifest, i));
    }
    let asm = d.join("asm");
    ok(&stage("assemble", &manifest, &["--out", s(&asm)]));
    let store = d.join("out/s1.ome.zarr");
    // Block 4 is unit (1, 1); its binary chunk deleted.
    std::fs::remove_file(store.join("0/c/1/1")).unwrap();
    let st = status_json(&manifest);
    assert_eq!(
        (st["done"].as_u64(), st["damaged"].as_u64()),
        (Some(8), Some(1))
    );
    assert_eq!(st["damage"][0]["block"], 4);
    assert_eq!(st["damage"][0]["task"], 4);
    assert_eq!(st["damage"][0]["redo"], "run-block");
    assert!(st["damage"][0]["message"]
        .as_str()
        .unwrap()
        .contains("0/c/1/1: missing"));
    assert_eq!(st["tasks_done"], 8);
    let text = String::from_utf8_lossy(&stage("status", &manifest, &[]).stdout).into_owned();
    assert!(
        text.contains("block 4 (task 4) damaged")
            && text.contains(&format!(
                "urisc run-block --manifest {} --index T, for T in 4",
                s(&manifest)
            )),
        "{text}"
    );
    let o = stage("assemble", &manifest, &["--out", s(&d.join("asm2"))]);
    fails_with(&o, "1 block(s) damaged (block 4: ");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--index T, for T in 4"));
    assert!(!d.join("asm2").exists());
    // The task redoes it; the map is the one assembled before.
    let err = ok(&run_task(&manifest, 4));
    assert!(err.contains("1 block(s) computed"), "{err}");
    ok(&stage(
        "assemble",
        &manifest,
        &["--out", s(&asm), "--force"],
    ));
    ok(&stage(
        "assemble",
        &manifest,
        &["--out", s(&d.join("asm3"))],
    ));
    assert_eq!(
        std::fs::read(asm.join("s1.png")).unwrap(),
        std::fs::read(d.join("asm3/s1.png")).unwrap()
    );

    // A probability chunk changed in place, its size kept: status (sizes only) cannot tell,
    // assemble (hashes) refuses, and the task (hashes of its own units) redoes it.
    let unit = d.join("out/s1-probability.ome.zarr/0/c/2/0");
    let mut bytes = std::fs::read(&unit).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&unit, &bytes).unwrap();
    let o = stage("assemble", &manifest, &["--out", s(&d.join("asm4"))]);
    fails_with(&o, "(block 6: ");
    assert!(String::from_utf8_lossy(&o.stderr).contains("hash differs"));
    let err = ok(&run_task(&manifest, 6));
    assert!(err.contains("1 block(s) computed"), "{err}");
    ok(&stage(
        "assemble",
        &manifest,
        &["--out", s(&d.join("asm4"))],
    ));
}

#[test]
fn a_deleted_or_replaced_store_is_noticed_by_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (input, manifest) = planned(d, &[]);
    for i in 0..4 {
        ok(&run_task(&manifest, i));
    }
    let store = d.join("out/s1.ome.zarr");
    // Replaced by a store of the same name and layout from another plan.
    ok(&urisc(&[
        "plan",
        s(&input),
        "--model",
        s(&d.join("tiny.safetensors")),
        "--out",
        s(&d.join("other")),
        "--chunk",
        "64",
    ]));
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::rename(d.join("other/s1.ome.zarr"), &store).unwrap();
    let o = run_task(&manifest, 5);
    fails_with(&o, "not the store this manifest planned");
    assert_eq!(o.status.code(), Some(78));
    assert!(chunks(&store).is_empty(), "nothing written into it");
    let st = status_json(&manifest);
    assert_eq!(
        (st["done"].as_u64(), st["damaged"].as_u64()),
        (Some(0), Some(4)),
        "{st}"
    );
    assert_eq!(st["damage"][0]["redo"], "plan");
    assert_eq!(st["store_problems"].as_array().unwrap().len(), 1);
    let o = stage("assemble", &manifest, &["--out", s(&d.join("asm"))]);
    fails_with(&o, "4 block(s) damaged");
    assert!(String::from_utf8_lossy(&o.stderr).contains("plan again"));

    // Deleted: the same.
    std::fs::remove_dir_all(&store).unwrap();
    let o = run_task(&manifest, 5);
    fails_with(&o, "the store is missing");
    assert_eq!(o.status.code(), Some(78));
    assert!(
        !store.exists(),
        "run-block does not write chunks without a store"
    );
    let text = String::from_utf8_lossy(&stage("status", &manifest, &[]).stdout).into_owned();
    assert!(
        text.contains("the store is missing") && text.contains("plan again"),
        "{text}"
    );
    fails_with(
        &stage("assemble", &manifest, &["--out", s(&d.join("asm"))]),
        "damaged",
    );
}

#[test]
fn a_failed_block_leaves_no_done_marker_and_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, manifest) = planned(d, &["--probabilities", "f32"]);
    ok(&run_task(&manifest, 0));
    // Block 0's probability unit cannot be written (a folder holds its place): the block fails
    // after its binary unit was written, and must not count as done.
    let unit = d.join("out/s1-probability.ome.zarr/0/c/0/0");
    std::fs::remove_file(&unit).unwrap();
    std::fs::create_dir_all(unit.join("x")).unwrap();
    let o = run_task(&manifest, 0);
    assert_eq!(
        o.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let st = status_json(&manifest);
    assert_eq!(
        (st["done"].as_u64(), st["failed"].as_u64()),
        (Some(0), Some(1)),
        "{st}"
    );
    // Every file left is whole: the markers parse, no temporary survives.
    for f in files_under(&d.join("out")) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "left behind: {}", f.display());
        if f.extension().is_some_and(|e| e == "json") {
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(&f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
    }
    std::fs::remove_dir_all(&unit).unwrap();
    ok(&run_task(&manifest, 0));
    assert_eq!(status_json(&manifest)["done"], 1);
}

#[test]
fn assemble_and_plan_never_write_over_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (input, manifest) = planned(d, &[]);
    for i in 0..9 {
        ok(&run_task(&manifest, i));
    }
    let before = std::fs::read(&input).unwrap();
    // The inputs' folder, spelled two ways, with --force.
    for out in [d.join("in"), d.join("out/../in")] {
        let o = stage("assemble", &manifest, &["--out", s(&out), "--force"]);
        fails_with(&o, "never writes over its inputs");
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);

    // A Zarr input planned into its own folder: the output store would be the input.
    let zarr_dir = d.join("zarr");
    ok(&urisc(&[
        "predict",
        s(&input),
        "--model",
        s(&d.join("tiny.safetensors")),
        "--out",
        s(&zarr_dir),
        "--format",
        "ome-zarr",
    ]));
    let zarr = zarr_dir.join("s1.ome.zarr");
    let o = urisc(&[
        "plan",
        s(&zarr),
        "--model",
        s(&d.join("tiny.safetensors")),
        "--out",
        s(&zarr_dir),
        "--force",
    ]);
    fails_with(&o, "never writes over its inputs");
    assert!(!chunks(&zarr).is_empty(), "the input store is intact");
    assert!(!zarr_dir.join("manifest.json").exists());
}
