//! Dataset discovery on miniature copies of the real layouts, built from the bundled ISBI slices.

use std::path::{Path, PathBuf};

use urisc_io::dataset::{discover, inspect, Layout};
use urisc_io::{read_u8, write_png, write_tiff, write_tiff_stack, GreyImage, Image};

fn bundled(kind: &str, k: usize) -> Image<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../data/isbi2012/{kind}/{k:02}.png"));
    read_u8(&p).unwrap()
}

fn put_png(path: &Path, img: &Image<u8>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_png(path, img, None, false).unwrap();
}

#[test]
fn miniature_urisc_release_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Track1 labels mirror the image tree (PNG); Track2 labels are TIFF under another folder
    // name, matched by stem and split, as in the competition release.
    for (k, split) in [(0, "train"), (1, "train"), (2, "val"), (3, "test")] {
        put_png(
            &root.join(format!("imgs/Track1/{split}/{k:04}_1.png")),
            &bundled("images", k),
        );
        put_png(
            &root.join(format!("label/Track1/{split}/{k:04}_1.png")),
            &bundled("labels", k),
        );
    }
    put_png(
        &root.join("imgs/Track2/train/0078_1_1565791505_0.png"),
        &bundled("images", 4),
    );
    let lab = root.join("label/complex/train/0078_1_1565791505_0.tiff");
    std::fs::create_dir_all(lab.parent().unwrap()).unwrap();
    write_tiff(&lab, &GreyImage::U8(bundled("labels", 4)), None, false).unwrap();
    // An image without label, and annotation rounds.
    put_png(
        &root.join("imgs/Track1/test/9999_1.png"),
        &bundled("images", 5),
    );
    for round in ["1st", "2nd", "final"] {
        put_png(
            &root.join(format!("Human_Annotation_Process/{round}/0003_1.png")),
            &bundled("labels", 3),
        );
    }

    let ds = discover(root).unwrap();
    assert_eq!(ds.layout, Layout::Urisc);
    assert_eq!(ds.pairs().count(), 5);
    let track2 = ds
        .samples
        .iter()
        .find(|s| s.name.ends_with("0078_1_1565791505_0"))
        .unwrap();
    assert_eq!(track2.split.as_deref(), Some("Track2/train"));
    assert!(track2
        .label
        .as_ref()
        .unwrap()
        .path
        .ends_with("label/complex/train/0078_1_1565791505_0.tiff"));

    let info = inspect(&ds, &|| {});
    assert_eq!((info.images, info.labels, info.pairs), (6, 5, 5));
    assert_eq!(info.splits["Track1/train"], 2);
    assert_eq!(info.pixel_size_nm, Some(2.18));
    assert_eq!(
        info.annotation_rounds,
        vec![("1st".into(), 1), ("2nd".into(), 1), ("final".into(), 1)]
    );
    assert_eq!(info.problems.len(), 1, "{:?}", info.problems);
    assert!(
        info.problems[0].contains("without a label: Track1/test/9999_1"),
        "{:?}",
        info.problems
    );
    let f = info.membrane_fraction.unwrap();
    assert!(f > 0.15 && f < 0.3, "{f}");
}

#[test]
fn isbi_stacks_are_recognised_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let images: Vec<Image<u8>> = (0..4).map(|k| bundled("images", k)).collect();
    let labels: Vec<Image<u8>> = (0..4).map(|k| bundled("labels", k)).collect();
    write_tiff_stack(&dir.path().join("train-volume.tif"), &images, None, false).unwrap();
    write_tiff_stack(&dir.path().join("train-labels.tif"), &labels, None, false).unwrap();
    for root in [
        dir.path().to_path_buf(),
        dir.path().join("train-volume.tif"),
    ] {
        let ds = discover(&root).unwrap();
        assert_eq!(ds.layout, Layout::IsbiStack);
        assert_eq!(ds.pairs().count(), 4);
        let info = inspect(&ds, &|| {});
        assert_eq!(info.sizes["512×512"], 4);
        assert_eq!(info.pixel_size_nm, Some(4.0));
        assert!(info.problems.is_empty(), "{:?}", info.problems);
    }
}

#[test]
fn unreadable_files_and_missing_folders_are_problems_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(discover(&dir.path().join("absent"))
        .unwrap_err()
        .to_string()
        .contains("no such file"));
    let empty = tempfile::tempdir().unwrap();
    assert!(discover(empty.path())
        .unwrap_err()
        .to_string()
        .contains("no dataset found"));

    put_png(&dir.path().join("images/a.png"), &bundled("images", 0));
    std::fs::create_dir_all(dir.path().join("labels")).unwrap();
    std::fs::write(dir.path().join("labels/a.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    let info = inspect(&discover(dir.path()).unwrap(), &|| {});
    assert_eq!(info.problems.len(), 1);
    assert!(
        info.problems[0].contains("labels/a.png"),
        "{:?}",
        info.problems
    );
}

/// A folder link that loops back lists no file twice, and an image-named entry that cannot be
/// read (a broken link) is an error naming it, not a sample silently missing.
#[cfg(unix)]
#[test]
fn links_that_loop_list_nothing_twice_and_broken_entries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for k in 0..2 {
        put_png(
            &root.join(format!("imgs/train/{k:04}.png")),
            &bundled("images", k),
        );
        put_png(
            &root.join(format!("label/train/{k:04}.png")),
            &bundled("labels", k),
        );
    }
    std::os::unix::fs::symlink(root.join("imgs"), root.join("imgs/train/again")).unwrap();
    let d = discover(root).unwrap();
    assert_eq!(d.layout, Layout::Urisc);
    assert_eq!(d.samples.len(), 2, "{:?}", d.samples);
    let pairs = dir.path().join("pairs");
    put_png(&pairs.join("images/a.png"), &bundled("images", 0));
    put_png(&pairs.join("labels/a.png"), &bundled("labels", 0));
    std::os::unix::fs::symlink(pairs.join("gone.png"), pairs.join("labels/b.png")).unwrap();
    let e = discover(&pairs).unwrap_err().to_string();
    assert!(
        e.contains("labels/b.png") && e.contains("symbolic link"),
        "{e}"
    );
}
