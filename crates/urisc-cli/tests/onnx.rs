//! Model exchange through the binary: a U-Net exported from PyTorch runs in `urisc predict`
//! (directly, and after `urisc model import`, with identical maps), `urisc model export`
//! round-trips, and bad files get one line naming them.

use common::{fails_with, ok, repo, s, urisc};
use urisc_io::{write_png, Image};

mod common;

#[test]
fn a_pytorch_unet_runs_in_predict_directly_and_after_import() {
    let dir = tempfile::tempdir().unwrap();
    let torch = repo().join("crates/urisc-nn/tests/fixtures/torch_unet_w4_d3.onnx");
    let image = dir.path().join("em.png");
    let data = (0..72 * 100)
        .map(|i| ((i * 37 + (i / 100) * 11) % 256) as u8)
        .collect();
    write_png(&image, &Image::new(72, 100, data), None, false).unwrap();
    let (direct, imported) = (dir.path().join("direct"), dir.path().join("imported"));
    ok(&[
        "predict",
        s(&image),
        "--model",
        s(&torch),
        "--out",
        s(&direct),
        "--probabilities",
        s(&direct.join("p")),
        "--tile",
        "32",
    ]);
    let model = dir.path().join("torch.safetensors");
    ok(&[
        "model",
        "import",
        s(&torch),
        "--out",
        s(&model),
        "--tile",
        "32",
    ]);
    ok(&[
        "predict",
        s(&image),
        "--model",
        s(&model),
        "--out",
        s(&imported),
        "--probabilities",
        s(&imported.join("p")),
    ]);
    for f in ["em.png", "p/em.png"] {
        let (a, b) = (
            std::fs::read(direct.join(f)).unwrap(),
            std::fs::read(imported.join(f)).unwrap(),
        );
        assert!(
            a == b,
            "{f}: the imported model's map differs from the ONNX file's"
        );
    }
    // The imported model describes itself and exports back to ONNX.
    let info = urisc(&["model", "info", s(&model)]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("base width 4, depth 3"), "{text}");
    assert!(text.contains("imported_from: ONNX (pytorch"), "{text}");
    ok(&[
        "model",
        "export",
        s(&model),
        "--out",
        s(&dir.path().join("again.onnx")),
    ]);
    fails_with(
        &urisc(&[
            "model",
            "export",
            s(&model),
            "--out",
            s(&dir.path().join("again.onnx")),
        ]),
        "exists",
    );
}

#[test]
fn bad_onnx_files_are_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"\x08\x07 not really protobuf").unwrap();
    let out = dir.path().join("m.safetensors");
    fails_with(
        &urisc(&["model", "import", s(&junk), "--out", s(&out)]),
        "junk.onnx",
    );
    assert!(!out.exists(), "nothing written");
    let image = dir.path().join("em.png");
    write_png(&image, &Image::new(32, 32, vec![128; 1024]), None, false).unwrap();
    fails_with(
        &urisc(&[
            "predict",
            s(&image),
            "--model",
            s(&junk),
            "--out",
            s(&dir.path().join("o")),
        ]),
        "junk.onnx",
    );
    // A usage error (clap's, with the usage line) names the missing option.
    let out = urisc(&[
        "model",
        "export",
        "--format",
        "bioimageio",
        "--out",
        s(&dir.path().join("p.zip")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sample"));
}

#[cfg(not(feature = "onnx"))]
#[test]
fn the_onnx_engine_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("em.png");
    write_png(&image, &Image::new(32, 32, vec![128; 1024]), None, false).unwrap();
    fails_with(
        &urisc(&[
            "predict",
            s(&image),
            "--engine",
            "onnx",
            "--out",
            s(&dir.path().join("o")),
        ]),
        "--features onnx",
    );
}
