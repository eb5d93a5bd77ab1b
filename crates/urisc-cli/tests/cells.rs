//! `urisc cells` and `urisc eval --instances` through the binary: outputs that decode, the
//! polarity of stored probability maps, and the bad-input rules (one line naming the file,
//! non-zero exit, nothing half-written, existing outputs refused without --force).

use std::path::Path;

use common::{fails_with, ok, s, urisc};
use urisc_io::{read_labels, write_png, write_tiff, GreyImage, Image};

mod common;

const H: usize = 40;
const W: usize = 60;

/// Membrane probability of a 2 × 3 grid of cells (lines at rows 0, 20, 39 and columns 0, 20,
/// 40, 59).
fn p(i: usize) -> f32 {
    let (r, c) = (i / W, i % W);
    if r % 20 == 0 || r == H - 1 || c % 20 == 0 || c == W - 1 {
        0.9
    } else {
        0.05
    }
}

/// The map as `urisc predict --probabilities` writes it (8-bit, membrane dark).
fn stored_map(path: &Path) {
    let data = (0..H * W)
        .map(|i| urisc_io::encoding::stored_from_probability(p(i)))
        .collect();
    write_png(path, &Image::new(H, W, data), Some(4.0), false).unwrap();
}

/// GT membrane labels of the same grid (membrane black).
fn gt(path: &Path) {
    let data = (0..H * W)
        .map(|i| if p(i) > 0.5 { 0 } else { 255 })
        .collect();
    write_png(path, &Image::new(H, W, data), None, false).unwrap();
}

#[test]
fn cells_of_a_grid_are_found_and_score_perfectly() {
    let dir = tempfile::tempdir().unwrap();
    let (maps, out, gts) = (
        dir.path().join("p"),
        dir.path().join("cells"),
        dir.path().join("gt"),
    );
    for d in [&maps, &gts] {
        std::fs::create_dir_all(d).unwrap();
    }
    stored_map(&maps.join("a.png"));
    gt(&gts.join("a.png"));
    // The same probabilities as a float TIFF (p itself, membrane high) give the same cells.
    let f32_map = (0..H * W).map(p).collect();
    let float = dir.path().join("float/a.tif");
    std::fs::create_dir_all(float.parent().unwrap()).unwrap();
    write_tiff(
        &float,
        &GreyImage::F32(Image::new(H, W, f32_map)),
        None,
        false,
    )
    .unwrap();
    let em = dir.path().join("em.png");
    write_png(&em, &Image::filled(H, W, 128u8), None, false).unwrap();

    ok(&[
        "cells",
        s(&maps.join("a.png")),
        "--out",
        s(&out),
        "--overlay-image",
        s(&em),
    ]);
    let labels = read_labels(&out.join("a.tif")).unwrap();
    assert_eq!((labels.height, labels.width), (H, W));
    assert_eq!(*labels.data.iter().max().unwrap(), 6, "six cells");
    assert_eq!(labels.get(10, 10), 1);
    // Ids in row-major order of first pixel: the lower right cell's membrane corner on row 20
    // comes before the lower middle cell's first pixel.
    assert_eq!(labels.get(30, 50), 5);
    assert_eq!(labels.get(30, 30), 6);
    let overlay = urisc_io::read_image(&out.join("overlays/a.png")).unwrap();
    assert_eq!((overlay.image.height(), overlay.image.width()), (H, W));
    let float_out = dir.path().join("cells-float");
    ok(&["cells", s(&float), "--out", s(&float_out)]);
    assert_eq!(read_labels(&float_out.join("a.tif")).unwrap(), labels);

    // Scores: every GT cell found; JSON is the machine interface.
    let json = ok(&[
        "eval",
        "--instances",
        "--pred",
        s(&out),
        "--gt",
        s(&gts),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kind"], "instances");
    assert_eq!(v["images"][0]["name"], "a");
    assert_eq!(v["mean"]["are"], 0.0);
    assert_eq!(v["mean"]["gt_cells"], 6.0);
    assert_eq!(v["mean"]["cells"], 6.0);
    let table = ok(&["eval", "--instances", "--pred", s(&out), "--gt", s(&gts)]);
    assert!(table.contains("cremi") && table.contains("mean"), "{table}");
}

#[test]
fn cells_refuses_bad_input_in_one_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("a.png");
    stored_map(&map);
    let out = dir.path().join("cells");

    // Parameters out of range: refused before anything is created.
    for (flag, value, needle) in [
        ("--merge-threshold", "2", "--merge-threshold 2"),
        ("--threshold", "1.5", "--threshold 1.5"),
        ("--sigma", "nan", "--sigma NaN"),
    ] {
        let args = ["cells", s(&map), "--out", s(&out), flag, value];
        fails_with(&urisc(&args), needle);
        assert!(!out.exists(), "{flag}: nothing created");
    }
    // A missing input, a truncated one: named; the new output folder is removed again.
    fails_with(&urisc(&["cells", "nope.png", "--out", s(&out)]), "nope.png");
    let truncated = dir.path().join("t.png");
    let bytes = std::fs::read(&map).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&urisc(&["cells", s(&truncated), "--out", s(&out)]), "t.png");
    assert!(!out.exists(), "failed run leaves no folder");
    // An overlay image of another size: named, before any work.
    let em = dir.path().join("em.png");
    write_png(&em, &Image::filled(3, 3, 0u8), None, false).unwrap();
    let args = [
        "cells",
        s(&map),
        "--out",
        s(&out),
        "--overlay-image",
        s(&em),
    ];
    fails_with(&urisc(&args), "em.png: EM image is 3×3");
    assert!(!out.exists());

    // Existing outputs: refused without --force (the file is untouched), replaced with it.
    ok(&["cells", s(&map), "--out", s(&out)]);
    let label = out.join("a.tif");
    let before = std::fs::read(&label).unwrap();
    fails_with(
        &urisc(&["cells", s(&map), "--out", s(&out), "--merge-threshold", "0"]),
        "--force",
    );
    assert_eq!(std::fs::read(&label).unwrap(), before);
    ok(&[
        "cells",
        s(&map),
        "--out",
        s(&out),
        "--force",
        "--no-boundaries",
    ]);
    let labels = read_labels(&label).unwrap();
    assert!(labels.data.iter().all(|&l| l != 0), "no boundaries drawn");
    // --out is the input folder: the input is never written over (same stem, other extension
    // is allowed, so use a .tif input).
    let tif_in = dir.path().join("in/b.tif");
    std::fs::create_dir_all(tif_in.parent().unwrap()).unwrap();
    std::fs::copy(&label, &tif_in).unwrap();
    let args = [
        "cells",
        s(&tif_in),
        "--out",
        s(tif_in.parent().unwrap()),
        "--force",
    ];
    fails_with(&urisc(&args), "never writes over its inputs");
}

#[test]
fn eval_instances_refuses_mismatched_sizes_and_float_labels() {
    let dir = tempfile::tempdir().unwrap();
    let gt_path = dir.path().join("gt.png");
    gt(&gt_path);
    let small = dir.path().join("small.tif");
    urisc_io::write_label_tiff(&small, &Image::filled(2, 2, 1u32), None, false).unwrap();
    let args = [
        "eval",
        "--instances",
        "--pred",
        s(&small),
        "--gt",
        s(&gt_path),
    ];
    fails_with(&urisc(&args), "small.tif: labels are 2×2 but ground truth");
    let float = dir.path().join("float.tif");
    write_tiff(
        &float,
        &GreyImage::F32(Image::filled(H, W, 0.5)),
        None,
        false,
    )
    .unwrap();
    let args = [
        "eval",
        "--instances",
        "--pred",
        s(&float),
        "--gt",
        s(&gt_path),
    ];
    fails_with(
        &urisc(&args),
        "float.tif: a floating-point image is not a label image",
    );
}

#[test]
fn cells_as_an_ome_zarr_label_image() {
    let dir = tempfile::tempdir().unwrap();
    let (map, out) = (dir.path().join("a.png"), dir.path().join("cells"));
    stored_map(&map);
    ok(&["cells", s(&map), "--out", s(&out), "--ome-zarr"]);
    let tiff = read_labels(&out.join("a.tif")).unwrap();
    let store = out.join("a.ome.zarr");
    let json = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p.join("zarr.json")).unwrap()).unwrap()
    };
    // The image group, its label group and the label image's colours (one per cell).
    assert_eq!(json(&store)["attributes"]["ome"]["version"], "0.5");
    assert_eq!(
        json(&store.join("labels"))["attributes"]["ome"]["labels"],
        serde_json::json!(["cells"])
    );
    let label = json(&store.join("labels/cells"));
    let image_label = &label["attributes"]["ome"]["image-label"];
    let cells = *tiff.data.iter().max().unwrap();
    assert_eq!(cells, 6);
    assert_eq!(
        image_label["colors"].as_array().unwrap().len(),
        cells as usize
    );
    assert_eq!(image_label["colors"][0]["label-value"], 1);
    assert_eq!(image_label["source"]["image"], "../../");
    let array = json(&store.join("labels/cells/0"));
    assert_eq!(array["data_type"], "uint32");
    assert_eq!(array["shape"], serde_json::json!([H, W]));
    // The label array holds exactly the TIFF's ids; the image is the stored probability map.
    let layout = |root: &Path, data_type: &str| urisc_io::zarr_store::StoreLayout {
        root: root.to_path_buf(),
        planes: None,
        height: H,
        width: W,
        chunk: 1024,
        shard: 1,
        data_type: data_type.into(),
    };
    let bytes =
        urisc_io::zarr_store::read_unit(&layout(&store.join("labels/cells"), "uint32"), 0, 0, 0, 4)
            .unwrap();
    let ids: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(ids, tiff.data);
    let grey = urisc_io::zarr_store::read_unit(&layout(&store, "uint8"), 0, 0, 0, 1).unwrap();
    assert_eq!(grey, urisc_io::read_u8(&map).unwrap().data);
    // Not again without --force, and no staging folder left behind.
    let again = urisc(&["cells", s(&map), "--out", s(&out), "--ome-zarr"]);
    assert!(!again.status.success());
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn block_wise_cells_equal_the_whole_section() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("a.png");
    stored_map(&map);
    let (whole, blocks) = (dir.path().join("whole"), dir.path().join("blocks"));
    descent_cells(&map, &whole);
    ok(&[
        "cells",
        s(&map),
        "--out",
        s(&blocks),
        "--watershed",
        "descent",
        "--block",
        "16",
    ]);
    let (a, b) = (
        read_labels(&whole.join("a.tif")).unwrap(),
        read_labels(&blocks.join("a.tif")).unwrap(),
    );
    assert_eq!(a.data, b.data);
    assert_eq!(*a.data.iter().max().unwrap(), 6, "the grid's six cells");
    fails_with(
        &urisc(&[
            "cells",
            s(&map),
            "--out",
            s(&dir.path().join("c")),
            "--block",
            "64",
        ]),
        "--watershed descent",
    );
}

#[test]
fn staged_block_wise_cells_equal_the_whole_section() {
    let dir = tempfile::tempdir().unwrap();
    // A 90 × 130 map: a grid of cells (membranes every 17 rows and 13 columns) under noise.
    let (h, w) = (90, 130);
    let mut x = 12345u64;
    let data: Vec<u8> = (0..h * w)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (r, c) = (i / w, i % w);
            let p = if r % 17 == 0 || c % 13 == 0 { 0.8 } else { 0.1 } + (x % 100) as f32 / 400.0;
            urisc_io::encoding::stored_from_probability(p.min(1.0))
        })
        .collect();
    let map = dir.path().join("m.png");
    write_png(&map, &Image::new(h, w, data), None, false).unwrap();
    let whole = dir.path().join("whole");
    descent_cells(&map, &whole);
    let expected = read_labels(&whole.join("m.tif")).unwrap();
    assert!(*expected.data.iter().max().unwrap() > 30, "many cells");

    let work = dir.path().join("work");
    let plan = ok(&[
        "cells-plan",
        s(&map),
        "--out",
        s(&work),
        "--block",
        "16",
        "--blocks-per-task",
        "3",
    ]);
    assert!(
        plan.contains("6 × 9 = ") || plan.contains("54 blocks"),
        "{plan}"
    );
    // Later stages refuse to run before their inputs exist.
    let early = urisc(&["cells-run", s(&work), "--stage", "ids"]);
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("missing"));
    let tasks = 54usize.div_ceil(3);
    for stage in ["fragments", "join", "first", "ids", "labels"] {
        if ["join", "ids"].contains(&stage) {
            ok(&["cells-run", s(&work), "--stage", stage]);
        } else {
            for t in 0..tasks {
                ok(&[
                    "cells-run",
                    s(&work),
                    "--stage",
                    stage,
                    "--task",
                    &t.to_string(),
                ]);
            }
        }
    }
    // Rerunning a finished stage skips its blocks.
    ok(&["cells-run", s(&work), "--stage", "labels", "--task", "0"]);
    // The store's chunks assemble to the whole-section labels.
    let got = read_label_store(&work, h, w, 16);
    assert_eq!(got, expected.data);
}

#[test]
fn stacks_are_segmented_plane_by_plane() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("a.png");
    stored_map(&map);
    let grid = urisc_io::read_u8(&map).unwrap();
    // Plane 0: the grid; plane 1: no membrane at all (one cell).
    let stack = dir.path().join("stack.tif");
    urisc_io::write_tiff_stack(&stack, &[grid, Image::filled(H, W, 255u8)], None, false).unwrap();
    let (single, stacked) = (dir.path().join("single"), dir.path().join("stacked"));
    ok(&["cells", s(&map), "--out", s(&single)]);
    ok(&["cells", s(&stack), "--out", s(&stacked), "--ome-zarr"]);
    let z0 = read_labels(&stacked.join("stack_z000.tif")).unwrap();
    assert_eq!(z0.data, read_labels(&single.join("a.tif")).unwrap().data);
    let z1 = read_labels(&stacked.join("stack_z001.tif")).unwrap();
    assert!(
        z1.data.iter().all(|&l| l == 1),
        "an empty plane is one cell"
    );
    assert!(stacked
        .join("stack_z001.ome.zarr/labels/cells/zarr.json")
        .is_file());
}

#[test]
fn a_plane_of_a_stack_runs_through_the_stages() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("a.png");
    stored_map(&map);
    let grid = urisc_io::read_u8(&map).unwrap();
    let stack = dir.path().join("stack.tif");
    urisc_io::write_tiff_stack(&stack, &[Image::filled(H, W, 255u8), grid], None, false).unwrap();
    let whole = dir.path().join("whole");
    descent_cells(&map, &whole);
    let work = dir.path().join("work");
    fails_with(
        &urisc(&["cells-plan", s(&stack), "--out", s(&work), "--plane", "2"]),
        "2 plane(s)",
    );
    ok(&[
        "cells-plan",
        s(&stack),
        "--out",
        s(&work),
        "--plane",
        "1",
        "--block",
        "16",
    ]);
    for stage in ["fragments", "join", "first", "ids", "labels"] {
        ok(&["cells-run", s(&work), "--stage", stage]); // no task: every block
    }
    let expected = read_labels(&whole.join("a.tif")).unwrap().data;
    let got = read_label_store(&work, H, W, 16);
    assert_eq!(got, expected);
}

/// The uint32 label store of a `cells-plan` work folder, assembled.
fn read_label_store(work: &Path, h: usize, w: usize, chunk: usize) -> Vec<u32> {
    let layout = urisc_io::zarr_store::StoreLayout {
        root: work.join("cells.ome.zarr"),
        planes: None,
        height: h,
        width: w,
        chunk,
        shard: 1,
        data_type: "uint32".into(),
    };
    let mut got = vec![0u32; h * w];
    for uy in 0..h.div_ceil(chunk) {
        for ux in 0..w.div_ceil(chunk) {
            let bytes = urisc_io::zarr_store::read_unit(&layout, 0, uy, ux, 4).unwrap();
            let cols = chunk.min(w - ux * chunk);
            for (k, v) in bytes.chunks_exact(4).enumerate() {
                got[(uy * chunk + k / cols) * w + ux * chunk + k % cols] =
                    u32::from_le_bytes(v.try_into().unwrap());
            }
        }
    }
    got
}

/// `urisc cells MAP --out DIR --watershed descent`: the single-process reference of the
/// block-wise runs.
fn descent_cells(map: &Path, out: &Path) {
    ok(&["cells", s(map), "--out", s(out), "--watershed", "descent"]);
}

/// A 3-page stack of probability maps: the grid, a coarser grid, no membrane.
fn three_pages() -> Vec<Image<u8>> {
    let coarse = (0..H * W)
        .map(|i| {
            let (r, c) = (i / W, i % W);
            let p = if r % 13 == 0 || c % 29 == 0 {
                0.95
            } else {
                0.1
            };
            urisc_io::encoding::stored_from_probability(p)
        })
        .collect();
    let grid = (0..H * W)
        .map(|i| urisc_io::encoding::stored_from_probability(p(i)))
        .collect();
    vec![
        Image::new(H, W, grid),
        Image::new(H, W, coarse),
        Image::filled(H, W, 255u8),
    ]
}

#[test]
fn a_stack_equals_its_pages_and_takes_the_em_stack_of_its_name_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let pages = three_pages();
    let stack = dir.path().join("maps/a.tif");
    std::fs::create_dir_all(stack.parent().unwrap()).unwrap();
    urisc_io::write_tiff_stack(&stack, &pages, None, false).unwrap();
    // The EM folder holds a 3-page EM stack of the same name, each page its own grey.
    let em_dir = dir.path().join("em");
    std::fs::create_dir_all(&em_dir).unwrap();
    let em: Vec<Image<u8>> = [60u8, 120, 180]
        .iter()
        .map(|&v| Image::filled(H, W, v))
        .collect();
    urisc_io::write_tiff_stack(&em_dir.join("a.tif"), &em, None, false).unwrap();
    let out = dir.path().join("cells");
    ok(&[
        "cells",
        s(&stack),
        "--out",
        s(&out),
        "--overlay-image",
        s(&em_dir),
        "--ome-zarr",
    ]);
    for (z, page) in pages.iter().enumerate() {
        // Page z equals `urisc cells` on that page saved as a single file.
        let single = dir.path().join(format!("page{z}/a.png"));
        std::fs::create_dir_all(single.parent().unwrap()).unwrap();
        write_png(&single, page, None, false).unwrap();
        let single_out = dir.path().join(format!("single{z}"));
        ok(&["cells", s(&single), "--out", s(&single_out)]);
        let name = format!("a_z{z:03}");
        let labels = read_labels(&out.join(format!("{name}.tif"))).unwrap();
        assert_eq!(
            labels,
            read_labels(&single_out.join("a.tif")).unwrap(),
            "{name}"
        );
        // Its overlay and its OME-Zarr image show EM page z.
        let overlay = urisc_io::read_image(&out.join(format!("overlays/{name}.png"))).unwrap();
        assert_eq!((overlay.image.height(), overlay.image.width()), (H, W));
        let layout = urisc_io::zarr_store::StoreLayout {
            root: out.join(format!("{name}.ome.zarr")),
            planes: None,
            height: H,
            width: W,
            chunk: 1024,
            shard: 1,
            data_type: "uint8".into(),
        };
        let grey = urisc_io::zarr_store::read_unit(&layout, 0, 0, 0, 1).unwrap();
        assert_eq!(grey, em[z].data, "{name}: EM page {z}");
    }
    assert_eq!(
        *read_labels(&out.join("a_z002.tif"))
            .unwrap()
            .data
            .iter()
            .max()
            .unwrap(),
        1,
        "the empty page is one cell"
    );
    // An EM folder without a section of the name is refused before any work.
    let other = dir.path().join("other-em");
    std::fs::create_dir_all(&other).unwrap();
    write_png(&other.join("a.png"), &em[0], None, false).unwrap();
    let refused = dir.path().join("refused");
    let args = [
        "cells",
        s(&stack),
        "--out",
        s(&refused),
        "--overlay-image",
        s(&other),
    ];
    fails_with(&urisc(&args), "no EM image named a_z000.*");
    assert!(!refused.exists());
}

#[test]
fn cells_run_refuses_a_bad_array_index() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("a.png");
    stored_map(&map);
    let work = dir.path().join("work");
    ok(&["cells-plan", s(&map), "--out", s(&work), "--block", "16"]);
    // A scheduler's index that is not one is an error (it would run the wrong blocks), of the
    // scale-out kind no retry fixes.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_urisc"))
        .args(["cells-run", s(&work), "--stage", "fragments"])
        .env("SLURM_ARRAY_TASK_ID", "x")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    fails_with(&bad, "$SLURM_ARRAY_TASK_ID = \"x\" is not an index");
    assert_eq!(bad.status.code(), Some(urisc_cluster::EXIT_FATAL));
    assert!(!work.join("fragments").exists(), "no block run");
    // An index beyond the plan's tasks (3 × 4 blocks, one per task) names the plan.
    let beyond = urisc(&[
        "cells-run",
        s(&work),
        "--stage",
        "fragments",
        "--task",
        "12",
    ]);
    fails_with(&beyond, "index 12 is beyond the plan's 12 tasks");
    // From the environment, as Kubernetes gives it.
    let k8s = std::process::Command::new(env!("CARGO_BIN_EXE_urisc"))
        .args(["cells-run", s(&work), "--stage", "fragments"])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env("JOB_COMPLETION_INDEX", "11")
        .output()
        .unwrap();
    assert!(
        k8s.status.success(),
        "{}",
        String::from_utf8_lossy(&k8s.stderr)
    );
    let written: Vec<_> = std::fs::read_dir(work.join("fragments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, ["000011.json"]);
}
