//! `urisc plan` / `run-block` / `status` / `assemble`: a section cut into blocks, run by array
//! index (Slurm, Kubernetes, shards), equals single-process `urisc predict` bit for bit; done
//! blocks are skipped; exit codes separate retryable from fatal errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{repo, s, urisc};

fn section(dir: &Path) -> PathBuf {
    let o = urisc(&[
        "synth",
        "section",
        "--data",
        s(&repo().join("data/isbi2012")),
        "--size",
        "700x600",
        "--out",
        s(&dir.join("syn")),
        "--name",
        "s1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join("syn/images/s1.png")
}

fn run_block(manifest: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_urisc"))
        .args(["run-block", "--manifest", s(manifest)])
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

fn tasks(manifest: &Path) -> usize {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    m["tasks"].as_u64().unwrap() as usize
}

fn same_pixels(a: &Path, b: &Path) {
    let (x, y) = (
        urisc_io::read_image(a).unwrap(),
        urisc_io::read_image(b).unwrap(),
    );
    assert_eq!(
        x.image,
        y.image,
        "{} differs from {}",
        a.display(),
        b.display()
    );
}

#[test]
fn blocks_by_array_index_equal_single_process_predict() {
    let dir = tempfile::tempdir().unwrap();
    let input = section(dir.path());
    let d = dir.path();
    ok(&urisc(&[
        "predict",
        s(&input),
        "--out",
        s(&d.join("pred")),
        "--probabilities",
        s(&d.join("prob")),
        // Cluster blocks run on the section's grid (2 nm/pixel here), not resampled.
        "--scale",
        "1",
    ]));
    ok(&urisc(&[
        "predict",
        s(&input),
        "--out",
        s(&d.join("pred-zarr")),
        "--format",
        "ome-zarr",
        "--scale",
        "1",
    ]));

    // Chunks of 1024 (the section is one chunk wide): the same chunk files as predict writes.
    // Chunks of 256 in shards of 2 × 2 chunks: blocks of 512², assembled and compared.
    for (chunk, shard, per_task) in [("1024", "1", "1"), ("128", "1", "4"), ("256", "2", "1")] {
        let out = d.join(format!("store-{chunk}-{shard}"));
        let manifest = out.join("manifest.json");
        ok(&urisc(&[
            "plan",
            s(&input),
            "--out",
            s(&out),
            "--chunk",
            chunk,
            "--shard",
            shard,
            "--blocks-per-task",
            per_task,
            "--probabilities",
            "u8",
        ]));
        let n = tasks(&manifest);
        // Task 0 through Slurm's variable, the rest through Kubernetes' (or shards).
        ok(&run_block(&manifest, &[("SLURM_ARRAY_TASK_ID", "0")], &[]));
        if chunk == "128" {
            for k in 0..2 {
                ok(&run_block(
                    &manifest,
                    &[],
                    &["--shard-id", &k.to_string(), "--num-shards", "2"],
                ));
            }
        } else {
            for i in 1..n {
                ok(&run_block(
                    &manifest,
                    &[("JOB_COMPLETION_INDEX", &i.to_string())],
                    &[],
                ));
            }
        }
        // A re-run does nothing.
        let err = ok(&run_block(&manifest, &[], &["--index", "0"]));
        assert!(err.contains("0 block(s) computed"), "{err}");
        let status = urisc(&["status", "--manifest", s(&manifest), "--json"]);
        let st: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(
            (st["pending"].as_u64(), st["failed"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(st["tasks_done"].as_u64(), Some(n as u64));

        let asm = d.join(format!("asm-{chunk}-{shard}"));
        ok(&urisc(&[
            "assemble",
            "--manifest",
            s(&manifest),
            "--out",
            s(&asm),
        ]));
        same_pixels(&asm.join("s1.png"), &d.join("pred/s1.png"));
        // Any Zarr reader sees the same map in the store (urisc's own reader here).
        let store = urisc_io::zarr::ZarrArray::open(&out.join("s1.ome.zarr")).unwrap();
        assert_eq!(
            store.read_region(0, 0..700, 0..600).unwrap(),
            urisc_io::read_u8(&d.join("pred/s1.png")).unwrap()
        );
        let asm_p = d.join(format!("asm-p-{chunk}-{shard}"));
        ok(&urisc(&[
            "assemble",
            "--manifest",
            s(&manifest),
            "--out",
            s(&asm_p),
            "--probabilities",
        ]));
        same_pixels(&asm_p.join("s1.png"), &d.join("prob/s1.png"));
        if chunk == "1024" {
            for c in ["0/c/0/0", "0/zarr.json"] {
                assert_eq!(
                    std::fs::read(out.join("s1.ome.zarr").join(c)).unwrap(),
                    std::fs::read(d.join("pred-zarr/s1.ome.zarr").join(c)).unwrap(),
                    "{c}: the same bytes as urisc predict --format ome-zarr"
                );
            }
        }
    }
}

/// Float probability stores hold p, marked as `urisc predict --probability-type f32` marks its
/// maps (so `urisc eval` scores them as 1 − p), and so are the TIFFs assembled from them.
#[test]
fn float_probability_stores_and_their_tiffs_are_marked_as_predict_marks_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = section(d);
    for format in ["tiff", "ome-zarr"] {
        ok(&urisc(&[
            "predict",
            s(&input),
            "--out",
            s(&d.join(format!("pred-{format}"))),
            "--format",
            format,
            "--probabilities",
            s(&d.join(format!("prob-{format}"))),
            "--probability-type",
            "f32",
            "--scale",
            "1",
        ]));
    }
    let out = d.join("store");
    let manifest = out.join("manifest.json");
    ok(&urisc(&[
        "plan",
        s(&input),
        "--out",
        s(&out),
        "--chunk",
        "1024",
        "--probabilities",
        "f32",
    ]));
    for i in 0..tasks(&manifest) {
        ok(&run_block(&manifest, &[], &["--index", &i.to_string()]));
    }
    let store = out.join("s1-probability.ome.zarr");
    assert!(urisc_io::read_image(&store).unwrap().membrane_probability);
    assert!(
        !urisc_io::read_image(&out.join("s1.ome.zarr"))
            .unwrap()
            .membrane_probability
    );
    assert_eq!(
        std::fs::read(store.join("0/zarr.json")).unwrap(),
        std::fs::read(d.join("prob-ome-zarr/s1.ome.zarr/0/zarr.json")).unwrap(),
        "the same array metadata, mark included, as urisc predict --format ome-zarr"
    );
    let asm = d.join("asm");
    ok(&urisc(&[
        "assemble",
        "--manifest",
        s(&manifest),
        "--out",
        s(&asm),
        "--format",
        "tiff",
        "--probabilities",
    ]));
    let assembled = urisc_io::read_image(&asm.join("s1.tif")).unwrap();
    assert!(assembled.membrane_probability);
    same_pixels(&asm.join("s1.tif"), &d.join("prob-tiff/s1.tif"));
}

#[test]
fn exit_codes_separate_retryable_from_fatal_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = section(d);
    let out = d.join("store");
    let manifest = out.join("manifest.json");
    ok(&urisc(&[
        "plan",
        s(&input),
        "--out",
        s(&out),
        "--chunk",
        "256",
    ]));
    // Planning again over the same outputs needs --force.
    let again = urisc(&["plan", s(&input), "--out", s(&out), "--chunk", "256"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    // No index anywhere: fatal, with the ways to give one.
    let o = run_block(&manifest, &[], &[]);
    assert_eq!(o.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SLURM_ARRAY_TASK_ID"));
    // An index beyond the plan: fatal.
    let o = run_block(&manifest, &[("SLURM_ARRAY_TASK_ID", "999")], &[]);
    assert_eq!(o.status.code(), Some(78));
    // A damaged manifest: fatal.
    let bad = d.join("bad.json");
    std::fs::write(&bad, "{\"format\": 3").unwrap();
    assert_eq!(
        run_block(&bad, &[], &["--index", "0"]).status.code(),
        Some(78)
    );
    // The input gone (a storage outage): retryable, marked as such.
    std::fs::rename(&input, d.join("moved.png")).unwrap();
    let o = run_block(&manifest, &[], &["--index", "0"]);
    assert_eq!(
        o.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let st: serde_json::Value =
        serde_json::from_slice(&urisc(&["status", "--manifest", s(&manifest), "--json"]).stdout)
            .unwrap();
    assert_eq!(st["failed"].as_u64(), Some(1));
    assert_eq!(
        st["sections"][0]["first_error"]["retryable"],
        serde_json::json!(true)
    );
    // Back: the retry succeeds, and assemble refuses until every block is done.
    std::fs::rename(d.join("moved.png"), &input).unwrap();
    ok(&run_block(&manifest, &[], &["--index", "0"]));
    let o = urisc(&[
        "assemble",
        "--manifest",
        s(&manifest),
        "--out",
        s(&d.join("asm")),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("pending"));
    // A damaged input: fatal.
    std::fs::write(&input, b"\x89PNG\r\n\x1a\n broken").unwrap();
    let o = run_block(&manifest, &[], &["--index", "1"]);
    assert_eq!(
        o.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_zarr_stack_is_planned_plane_by_plane_into_a_3d_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = section(d);
    let image = urisc_io::read_u8(&input).unwrap();
    // A two-plane OME-Zarr stack of the section (plane 1 mirrored), chunks of 256.
    let layout = urisc_io::zarr_store::StoreLayout {
        root: d.join("stack.ome.zarr"),
        planes: Some(2),
        height: 700,
        width: 600,
        chunk: 256,
        shard: 1,
        data_type: "uint8".into(),
    };
    urisc_io::zarr_store::create(&layout, "stack", Some(4.0), false).unwrap();
    let mirrored: Vec<u8> = image
        .data
        .chunks(600)
        .flat_map(|row| row.iter().rev().copied().collect::<Vec<_>>())
        .collect();
    let planes = [image.data.clone(), mirrored.clone()];
    for (z, plane) in planes.iter().enumerate() {
        let (uy, ux) = layout.units();
        for y in 0..uy {
            for x in 0..ux {
                let (y0, x0) = (y * 256, x * 256);
                let (y1, x1) = ((y0 + 256).min(700), (x0 + 256).min(600));
                let unit: Vec<u8> = (y0..y1)
                    .flat_map(|r| plane[r * 600 + x0..r * 600 + x1].to_vec())
                    .collect();
                urisc_io::zarr_store::write_unit(&layout, z, y, x, &unit).unwrap();
            }
        }
    }
    let png = d.join("mirrored.png");
    urisc_io::write_png(&png, &urisc_io::Image::new(700, 600, mirrored), None, false).unwrap();
    ok(&urisc(&[
        "predict",
        s(&input),
        s(&png),
        "--out",
        s(&d.join("pred")),
        "--scale",
        "1",
    ]));

    let out = d.join("out");
    let manifest = out.join("manifest.json");
    ok(&urisc(&[
        "plan",
        s(&layout.root),
        "--out",
        s(&out),
        "--chunk",
        "512",
    ]));
    for i in 0..tasks(&manifest) {
        ok(&run_block(&manifest, &[], &["--index", &i.to_string()]));
    }
    let result = urisc_io::zarr::ZarrArray::open(&out.join("stack.ome.zarr")).unwrap();
    assert_eq!(result.shape(), [2, 700, 600]);
    assert_eq!(result.pixel_size_nm(), Some(4.0));
    for (z, name) in [(0, "s1"), (1, "mirrored")] {
        assert_eq!(
            result.read_region(z, 0..700, 0..600).unwrap(),
            urisc_io::read_u8(&d.join(format!("pred/{name}.png"))).unwrap(),
            "plane {z}"
        );
    }
    ok(&urisc(&[
        "assemble",
        "--manifest",
        s(&manifest),
        "--out",
        s(&d.join("asm")),
    ]));
    same_pixels(&d.join("asm/stack_z000.png"), &d.join("pred/s1.png"));
    // `urisc predict` streams each plane of the stack, chunk row by chunk row.
    ok(&urisc(&[
        "predict",
        s(&layout.root),
        "--out",
        s(&d.join("planes")),
        "--scale",
        "1",
    ]));
    same_pixels(&d.join("planes/stack_z000.png"), &d.join("pred/s1.png"));
    same_pixels(
        &d.join("planes/stack_z001.png"),
        &d.join("pred/mirrored.png"),
    );
    same_pixels(&d.join("asm/stack_z001.png"), &d.join("pred/mirrored.png"));
}
