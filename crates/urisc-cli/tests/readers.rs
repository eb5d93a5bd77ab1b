//! The reader defects of issue 37, each through the binary: every command (streamed reads in
//! `predict`, whole reads in `eval` and `data info`) accepts and refuses the same files with
//! the same one line; TIFF photometric and bit depths are read right or refused by name; sizes
//! are checked from the headers before anything is allocated.

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{fails_with, s, tiny_model, urisc};
use urisc_io::{write_png, write_tiff, GreyImage, Image};

mod common;

/// `urisc predict` of `input` into `dir/out` (streamed reads).
fn predict(model: &Path, input: &Path, dir: &Path) -> Output {
    urisc(&[
        "predict",
        "--model",
        s(model),
        "--tile",
        "64",
        "--overlap",
        "8",
        s(input),
        "--out",
        s(&dir.join("out")),
    ])
}

/// `urisc eval` of `pred` against an all-background label of its size (whole reads), in
/// folders of their own.
fn eval(pred: &Path, height: usize, width: usize) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = (dir.path().join("pred"), dir.path().join("gt"));
    std::fs::create_dir_all(&p).unwrap();
    std::fs::create_dir_all(&g).unwrap();
    let name = pred.file_name().unwrap();
    std::fs::copy(pred, p.join(name)).unwrap();
    let stem = Path::new(name).file_stem().unwrap().to_str().unwrap();
    let gt = Image::filled(height, width, 255u8);
    write_png(&g.join(format!("{stem}.png")), &gt, None, true).unwrap();
    urisc(&["eval", "--pred", s(&p), "--gt", s(&g)])
}

/// The one stderr line of a failed run.
fn error_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one-line error expected, got: {err}");
    lines[0].to_string()
}

/// Asserts that predict, eval and data info all refuse `file` (of `size`) with the same line, which
/// mentions `needle` (the file as eval sees it is a copy under another folder, so the line is
/// compared after its path).
fn all_refuse(file: &Path, size: (usize, usize), needle: &str) {
    let models = tempfile::tempdir().unwrap();
    let model = tiny_model(models.path());
    let lines = [
        error_line(&predict(&model, file, models.path())),
        error_line(&eval(file, size.0, size.1)),
        error_line(&urisc(&["data", "info", s(file)])),
    ];
    let name = file.file_name().unwrap().to_str().unwrap();
    let problems: Vec<&str> = lines
        .iter()
        .map(|l| {
            let at = l.find(name).unwrap_or_else(|| panic!("{name} not in: {l}"));
            &l[at + name.len()..]
        })
        .collect();
    for (line, problem) in lines.iter().zip(&problems) {
        assert!(problem.contains(needle), "'{needle}' not in: {line}");
        assert_eq!(*problem, problems[0], "commands disagree: {lines:?}");
    }
}

/// A 64 × 64 grey test pattern.
fn pattern() -> Image<u8> {
    Image::new(64, 64, (0..64 * 64).map(|i| (i * 7 % 251) as u8).collect())
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Flips one bit of the CRC of every IDAT chunk of the PNG at `path`.
fn break_idat_crc(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let crc_at = at + 8 + len;
        if &bytes[at + 4..at + 8] == b"IDAT" {
            assert_eq!(
                u32::from_be_bytes(bytes[crc_at..crc_at + 4].try_into().unwrap()),
                crc32(&bytes[at + 4..crc_at])
            );
            bytes[crc_at + 3] ^= 1;
        }
        at = crc_at + 4;
    }
    std::fs::write(path, bytes).unwrap();
}

/// One tag of [`tiff_bytes`]: (tag, type, count, value or offset).
type Entry = (u16, u16, u32, u32);

/// A little-endian baseline TIFF of one strip, written by hand so that any header can be made:
/// `width × height`, `bits` per sample, one sample per pixel, `photometric` (0 WhiteIsZero, 1
/// BlackIsZero), `compression` (1 none, 4 CCITT group 4), `sample_format` (1 uint, 3 float),
/// and `data` as the strip's bytes.
fn tiff_bytes(
    width: u32,
    height: u32,
    bits: u16,
    photometric: u16,
    compression: u16,
    sample_format: u16,
    data: &[u8],
) -> Vec<u8> {
    let strip = [
        (273, 4, 1, 0),
        (278, 4, 1, height),
        (279, 4, 1, data.len() as u32),
    ];
    tiff_with(
        width,
        height,
        bits,
        photometric,
        compression,
        sample_format,
        &strip,
        data,
    )
}

/// [`tiff_bytes`] of one tile of `side × side` instead of a strip.
fn tiled_tiff(width: u32, height: u32, side: u32, data: &[u8]) -> Vec<u8> {
    let tile = [
        (322, 4, 1, side),
        (323, 4, 1, side),
        (324, 4, 1, 0),
        (325, 4, 1, data.len() as u32),
    ];
    tiff_with(width, height, 8, 1, 1, 1, &tile, data)
}

/// A one-chunk TIFF whose layout tags are `layout`; the offset tag's value (273 or 324) is
/// filled in.
#[allow(clippy::too_many_arguments)]
fn tiff_with(
    width: u32,
    height: u32,
    bits: u16,
    photometric: u16,
    compression: u16,
    sample_format: u16,
    layout: &[Entry],
    data: &[u8],
) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    let mut entries: Vec<Entry> = vec![
        (256, LONG, 1, width),
        (257, LONG, 1, height),
        (258, SHORT, 1, bits as u32),
        (259, SHORT, 1, compression as u32),
        (262, SHORT, 1, photometric as u32),
        (277, SHORT, 1, 1),
        (339, SHORT, 1, sample_format as u32),
    ];
    entries.extend_from_slice(layout);
    entries.sort();
    let ifd_len = 2 + 12 * entries.len() + 4;
    let data_at = (8 + ifd_len) as u32;
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        let value = if tag == 273 || tag == 324 {
            data_at
        } else {
            value
        };
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend(value.to_le_bytes());
    }
    out.extend(0u32.to_le_bytes());
    out.extend(data);
    out
}

/// Writes `bytes` as `dir/name` and returns the path.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_png_with_a_bad_idat_checksum_is_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("crc.png");
    write_png(&png, &pattern(), None, false).unwrap();
    break_idat_crc(&png);
    all_refuse(&png, (64, 64), "CRC");
}

#[test]
fn a_float_tiff_with_nan_or_inf_is_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let tif = dir.path().join("nan.tif");
    let mut values = vec![0.5f32; 64 * 64];
    values[5] = f32::NAN;
    values[64 * 63 + 9] = f32::INFINITY;
    write_tiff(
        &tif,
        &GreyImage::F32(Image::new(64, 64, values)),
        None,
        false,
    )
    .unwrap();
    all_refuse(
        &tif,
        (64, 64),
        "2 non-finite (NaN or infinite) pixel value(s)",
    );
}

#[test]
fn white_is_zero_tiffs_read_as_their_black_is_zero_twin() {
    let dir = tempfile::tempdir().unwrap();
    let image = pattern();
    let inverted: Vec<u8> = image.data.iter().map(|v| 255 - v).collect();
    let black = file(
        dir.path(),
        "black.tif",
        &tiff_bytes(64, 64, 8, 1, 1, 1, &image.data),
    );
    let white = file(
        dir.path(),
        "white.tif",
        &tiff_bytes(64, 64, 8, 0, 1, 1, &inverted),
    );
    let reference = dir.path().join("reference.png");
    write_png(&reference, &image, None, false).unwrap();
    for path in [&black, &white] {
        let info = urisc(&["data", "info", s(path)]);
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(info.status.success(), "{text}");
        // The same membrane fraction as the PNG holding the values: the values are the same.
        let expected = String::from_utf8_lossy(&urisc(&["data", "info", s(&reference)]).stdout)
            .lines()
            .find(|l| l.starts_with("as a label:"))
            .unwrap()
            .to_string();
        assert!(text.contains(&expected), "{path:?}: {text} vs {expected}");
    }
    // And through eval: a WhiteIsZero prediction scores as its BlackIsZero twin against a label
    // that is the image itself (a perfect score).
    let (pred, gt) = (dir.path().join("pred"), dir.path().join("gt"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    let stripes: Vec<u8> = (0..64 * 64)
        .map(|i| if i % 64 % 8 < 2 { 0 } else { 255 })
        .collect();
    write_png(
        &gt.join("a.png"),
        &Image::new(64, 64, stripes.clone()),
        None,
        false,
    )
    .unwrap();
    let flipped: Vec<u8> = stripes.iter().map(|v| 255 - v).collect();
    file(&pred, "a.tif", &tiff_bytes(64, 64, 8, 0, 1, 1, &flipped));
    let out = urisc(&[
        "eval",
        "--pred",
        s(&pred),
        "--gt",
        s(&gt),
        "--metrics",
        "f1",
        "--format",
        "json",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("\"f1\": 1.0"), "{text}");
}

#[test]
fn one_bit_tiffs_are_unpacked_and_odd_depths_and_ccitt_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // 16 × 16, one bit per pixel, 2 bytes a row: the left half black, the right half white.
    let row = [0x00u8, 0xFF];
    let bits: Vec<u8> = row.iter().copied().cycle().take(32).collect();
    let one = file(
        dir.path(),
        "one.tif",
        &tiff_bytes(16, 16, 1, 1, 1, 1, &bits),
    );
    let inverted: Vec<u8> = bits.iter().map(|b| !b).collect();
    let one_white = file(
        dir.path(),
        "one_white.tif",
        &tiff_bytes(16, 16, 1, 0, 1, 1, &inverted),
    );
    for path in [&one, &one_white] {
        let info = urisc(&["data", "info", s(path)]);
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(info.status.success(), "{text}");
        // Half the pixels are 0 (membrane as a label), half 255.
        assert!(text.contains("50.00% membrane"), "{path:?}: {text}");
    }
    let three = file(
        dir.path(),
        "three.tif",
        &tiff_bytes(16, 16, 3, 1, 1, 1, &[0u8; 6 * 16]),
    );
    all_refuse(
        &three,
        (16, 16),
        "TIFF with 3 bits per sample is not supported",
    );
    let fax = file(
        dir.path(),
        "fax.tif",
        &tiff_bytes(16, 16, 1, 0, 4, 1, &[0u8; 8]),
    );
    all_refuse(&fax, (16, 16), "CCITT");
}

/// A JPEG header (SOI, a quantisation table, a baseline frame of `height × width`, one grey
/// component, a scan header) with no image data.
fn jpeg_header(height: u16, width: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    out.extend([0xFF, 0xDB, 0, 67, 0]);
    out.extend([1u8; 64]);
    out.extend([0xFF, 0xC0, 0, 11, 8]);
    out.extend(height.to_be_bytes());
    out.extend(width.to_be_bytes());
    out.extend([1, 1, 0x11, 0]);
    out.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
    out.extend([0xFF, 0xD9]);
    out
}

/// A Zarr v3 array store `dir/name` of `shape` (uint8) in chunks of `chunk`, `codecs` as JSON.
fn zarr_store(dir: &Path, name: &str, shape: &str, chunk: &str, codecs: &str) -> PathBuf {
    let store = dir.join(name);
    std::fs::create_dir_all(&store).unwrap();
    let meta = format!(
        r#"{{"zarr_format": 3, "node_type": "array", "shape": {shape}, "data_type": "uint8",
        "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": {chunk}}}}},
        "chunk_key_encoding": {{"name": "default"}}, "fill_value": 0, "codecs": {codecs}}}"#
    );
    std::fs::write(store.join("zarr.json"), meta).unwrap();
    store
}

/// `data` as a gzip member of one stored (uncompressed) deflate block, as any gzip decoder
/// reads it.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let len = data.len() as u16;
    out.push(1); // the final block, stored
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(data);
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

#[test]
fn huge_headers_of_every_format_are_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let bound = "is larger than urisc reads (2147483648 pixels per plane)";
    // A TIFF strip of 100000² pixels, a JPEG frame of 65500², with almost no data.
    let tif = file(
        dir.path(),
        "huge.tif",
        &tiff_bytes(100_000, 100_000, 8, 1, 1, 1, &[0u8; 64]),
    );
    fails_with(&urisc(&["data", "info", s(&tif)]), bound);
    let jpg = file(dir.path(), "huge.jpg", &jpeg_header(65500, 65500));
    fails_with(&urisc(&["data", "info", s(&jpg)]), bound);
    // A tile far larger than its image and any usual tile size.
    let tiled = file(
        dir.path(),
        "tiled.tif",
        &tiled_tiff(16, 16, 40_000, &[0u8; 256]),
    );
    fails_with(
        &urisc(&["data", "info", s(&tiled)]),
        "a tile of 40000×40000 is larger than its image of 16×16",
    );
    // Zarr shapes of 1e9² and 2^62², and a chunk of 2^40 × 1, refused from the metadata
    // (`data info` lists a store's problems; `eval` stops at them).
    let gt = dir.path().join("gt.png");
    write_png(&gt, &Image::filled(4, 4, 255u8), None, false).unwrap();
    let eval = |store: &Path| urisc(&["eval", "--pred", s(store), "--gt", s(&gt)]);
    let bytes = r#"[{"name": "bytes"}]"#;
    for (name, shape, chunk, needle) in [
        ("e9.zarr", "[1000000000, 1000000000]", "[1024, 1024]", bound),
        (
            "e62.zarr",
            "[4611686018427387904, 4611686018427387904]",
            "[1024, 1024]",
            bound,
        ),
        ("chunk.zarr", "[10, 10]", "[1099511627776, 1]", "a chunk of"),
    ] {
        let store = zarr_store(dir.path(), name, shape, chunk, bytes);
        fails_with(&eval(&store), needle);
    }
    // A gzip chunk that inflates beyond what its 4 × 4 chunk holds is refused as it inflates.
    let gzip = r#"[{"name": "bytes"}, {"name": "gzip"}]"#;
    let store = zarr_store(dir.path(), "gzip.zarr", "[4, 4]", "[4, 4]", gzip);
    std::fs::create_dir_all(store.join("c/0")).unwrap();
    std::fs::write(store.join("c/0/0"), gzip_stored(&[9u8; 4000])).unwrap();
    fails_with(
        &eval(&store),
        "gzip chunk inflates beyond the 16 bytes its chunk can hold",
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_by_name_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.png");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let gt = dir.path().join("gt.png");
    write_png(&gt, &pattern(), None, false).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_urisc"))
        .args(["eval", "--pred", s(&fifo), "--gt", s(&gt)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() > 20 {
            child.kill().unwrap();
            panic!("urisc eval blocked on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    fails_with(
        &out,
        "fifo.png: not a regular file (a FIFO), so not an image",
    );
}
