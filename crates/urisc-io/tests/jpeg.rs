//! JPEG input: grey and colour, baseline and progressive, read whole or by rows, recognised by
//! content whatever the file name, sized from the header, and refused clearly when damaged.
//!
//! The fixtures in `tests/data/` were made by `tests/data/make_jpegs.py` (Pillow, quality 95)
//! from the formulas below; JPEG keeps them within ±3.

use std::path::{Path, PathBuf};

use urisc_io::{
    luma, open_rows, page_size, probe, read_image, read_page, read_stack, GreyImage, IoErrorKind,
};

const H: usize = 20;
const W: usize = 24;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn grey_source(y: usize, x: usize) -> u8 {
    (10 + 7 * x + 3 * y) as u8
}

fn colour_source(y: usize, x: usize) -> u8 {
    let (r, g, b) = (30 + 7 * x, 200 - 6 * y, 60 + 3 * x + 4 * y);
    luma(r as u16, g as u16, b as u16) as u8
}

/// The expected grey value at (y, x).
type Source = fn(usize, usize) -> u8;

/// (file, its source, colour with unequal channels)
fn fixtures() -> [(&'static str, Source, bool); 3] {
    [
        ("grey.jpg", grey_source, false),
        ("grey_rgb.jpg", grey_source, false),
        ("colour.jpg", colour_source, true),
    ]
}

fn pixels(path: &Path) -> Vec<u8> {
    match read_image(path).unwrap().image {
        GreyImage::U8(i) => {
            assert_eq!((i.height, i.width), (H, W), "{}", path.display());
            i.data
        }
        other => panic!("8-bit grey expected, got {} bits", other.bit_depth()),
    }
}

#[test]
fn grey_and_colour_jpegs_read_close_to_their_source() {
    for (name, source, colour) in fixtures() {
        let path = data(name);
        let d = read_image(&path).unwrap();
        assert_eq!(d.colour_converted, colour, "{name}");
        assert_eq!(d.pixel_size_nm, None, "{name}");
        assert_eq!(d.out_of_range, 0);
        let got = pixels(&path);
        for y in 0..H {
            for x in 0..W {
                let (v, want) = (got[y * W + x], source(y, x));
                assert!(
                    v.abs_diff(want) <= 3,
                    "{name} at ({y}, {x}): {v}, source {want}"
                );
            }
        }
        // A JPEG is a one-page stack.
        let stack = read_stack(&path).unwrap();
        assert_eq!(stack.len(), 1);
        assert_eq!(stack[0].image.clone().into_u8().data, got);
        assert_eq!(read_page(&path, 0).unwrap().image.into_u8().data, got);
        let e = read_page(&path, 1).unwrap_err();
        assert_eq!(e.kind, IoErrorKind::Invalid);
        assert!(e.to_string().contains("a JPEG has no page 1"), "{e}");
    }
}

#[test]
fn content_decides_not_the_name() {
    let dir = tempfile::tempdir().unwrap();
    for (name, _, colour) in fixtures() {
        let want = pixels(&data(name));
        // The U-RISC release ships JPEGs named .png; a .tif name or none fools nothing either.
        for fake in ["section.png", "section.tif", "section"] {
            let path = dir.path().join(fake);
            std::fs::copy(data(name), &path).unwrap();
            assert_eq!(pixels(&path), want, "{name} as {fake}");
            assert_eq!(read_image(&path).unwrap().colour_converted, colour);
            assert_eq!(probe(&path).unwrap(), (1, H, W));
        }
    }
    let info = urisc_io::dataset::inspect_file(&data("grey.jpg")).unwrap();
    assert_eq!(info.format, "JPEG");
    assert!(urisc_io::is_image_path(Path::new("a.jpg")));
    assert!(urisc_io::is_image_path(Path::new("a.JPEG")));
}

#[test]
fn jpegs_stream_row_by_row_like_whole_decoding() {
    let dir = tempfile::tempdir().unwrap();
    for (name, _, _) in fixtures() {
        let renamed = dir.path().join(name.replace(".jpg", ".png"));
        std::fs::copy(data(name), &renamed).unwrap();
        for path in [data(name), renamed] {
            let whole = pixels(&path);
            let mut rows = open_rows(&path).unwrap();
            assert_eq!((rows.height(), rows.width()), (H, W));
            assert_eq!(rows.pixel_size_nm(), None);
            let mut row = vec![0u8; W];
            for r in 0..H {
                rows.read_row(&mut row).unwrap();
                assert_eq!(row, whole[r * W..(r + 1) * W], "{name}, row {r}");
            }
        }
    }
}

#[test]
fn probe_and_page_size_come_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    for (name, _, _) in fixtures() {
        assert_eq!(probe(&data(name)).unwrap(), (1, H, W), "{name}");
        assert_eq!(page_size(&data(name), 0).unwrap(), (H, W), "{name}");
        // Without the pixels: a file cut inside its scan data still has its size, while
        // decoding it fails.
        let bytes = std::fs::read(data(name)).unwrap();
        let cut = dir.path().join(name);
        std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
        assert_eq!(page_size(&cut, 0).unwrap(), (H, W), "{name}");
        assert!(read_image(&cut).is_err(), "{name} cut");
    }
}

#[test]
fn damaged_jpegs_are_named_in_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, _, _) in fixtures() {
        let bytes = std::fs::read(data(name)).unwrap();
        // In the headers, in the (first) scan, and near the end.
        for keep in [3, 20, 200, bytes.len() / 2, bytes.len() - 20] {
            let path = dir.path().join(format!("cut{keep}-{name}"));
            std::fs::write(&path, &bytes[..keep]).unwrap();
            let e = read_image(&path).unwrap_err();
            assert_eq!(e.kind, IoErrorKind::Corrupt, "{name} cut at {keep}: {e}");
            let msg = e.to_string();
            assert!(msg.starts_with(&path.display().to_string()), "{msg}");
            assert!(msg.contains("JPEG"), "{msg}");
            assert!(!msg.contains('\n'), "{msg:?}");
            let e = open_rows(&path)
                .err()
                .expect("streaming a damaged JPEG fails");
            assert!(e.to_string().starts_with(&path.display().to_string()));
        }
        // Cut at half: what the issue asks for, said plainly.
        let path = dir.path().join(format!("half-{name}"));
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let msg = read_image(&path).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!("{}: truncated JPEG (file ends early)", path.display())
        );
    }
    // Two bytes of SOI are no JPEG signature yet.
    let stub = dir.path().join("stub.jpg");
    std::fs::write(&stub, [0xFF, 0xD8]).unwrap();
    assert_eq!(
        read_image(&stub).unwrap_err().kind,
        IoErrorKind::Unsupported
    );

    // A valid CMYK JPEG is refused as CMYK TIFF is.
    let e = read_image(&data("cmyk.jpg")).unwrap_err();
    assert_eq!(e.kind, IoErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("CMYK"), "{e}");
}
