//! Whole-image reads ([`read_image`]) and streamed reads ([`open_rows`]) of one file go through
//! the same format's decoder, so they accept the same files with the same pixels and refuse the
//! same files with the same error (a streamed read may refuse at a later row).

use std::path::{Path, PathBuf};

use urisc_io::{
    open_rows, read_image, write_label_tiff, write_png, write_tiff, GreyImage, Image, IoError,
    IoErrorKind, RowWriter, StreamFormat,
};

fn gradient(h: usize, w: usize) -> Vec<u8> {
    (0..h * w).map(|i| ((i * 7 + i / w) % 256) as u8).collect()
}

/// Every row of `path` read through [`open_rows`].
fn stream(path: &Path) -> Result<Image<u8>, IoError> {
    let mut rows = open_rows(path)?;
    let (h, w) = (rows.height(), rows.width());
    let mut data = vec![0u8; h * w];
    for row in data.chunks_exact_mut(w.max(1)) {
        rows.read_row(row)?;
    }
    Ok(Image::new(h, w, data))
}

/// Reads `path` both ways and expects the same refusal (kind and message); returns it.
fn refused_both_ways(path: &Path) -> IoError {
    let whole = read_image(path).expect_err("the whole read accepted it");
    let streamed = stream(path).expect_err("the streamed read accepted it");
    assert_eq!(
        (whole.kind, whole.to_string()),
        (streamed.kind, streamed.to_string()),
        "{}",
        path.display()
    );
    whole
}

/// Reads `path` both ways and expects the same 8-bit pixels.
fn same_pixels_both_ways(path: &Path) {
    let whole = read_image(path).unwrap().image.into_u8();
    let streamed = stream(path).unwrap();
    assert_eq!(whole, streamed, "{}", path.display());
}

fn write_png_raw(
    path: &Path,
    (w, h): (u32, u32),
    colour: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(colour);
    enc.set_depth(depth);
    enc.write_header().unwrap().write_image_data(data).unwrap();
}

/// Flips one bit of the CRC of the PNG's last `IDAT` chunk: every row decodes, only the check
/// at the end of the image data can tell.
fn break_last_idat_crc(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let (mut at, mut last_crc) = (8, None);
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if &bytes[at + 4..at + 8] == b"IDAT" {
            last_crc = Some(at + 8 + len);
        }
        at += 12 + len;
    }
    bytes[last_crc.expect("an IDAT chunk")] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_png_with_a_bad_checksum_is_refused_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (40, 23);
    let grey = gradient(h, w);
    let cases: [(&str, png::ColorType, png::BitDepth, Vec<u8>); 3] = [
        (
            "grey8.png",
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            grey.clone(),
        ),
        (
            "rgb8.png",
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            grey.iter().flat_map(|&v| [v, v / 2, 255 - v]).collect(),
        ),
        (
            "grey16.png",
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            grey.iter()
                .flat_map(|&v| (v as u16 * 256 + 3).to_be_bytes())
                .collect(),
        ),
    ];
    for (name, colour, depth, data) in cases {
        let path = dir.path().join(name);
        write_png_raw(&path, (w as u32, h as u32), colour, depth, &data);
        same_pixels_both_ways(&path);
        break_last_idat_crc(&path);
        let e = refused_both_ways(&path);
        assert_eq!(e.kind, IoErrorKind::Corrupt, "{name}: {e}");
        assert!(e.to_string().contains("CRC"), "{name}: {e}");
    }
    // The PNGs urisc writes, too.
    let path = dir.path().join("written.png");
    write_png(&path, &Image::new(h, w, grey), None, false).unwrap();
    break_last_idat_crc(&path);
    refused_both_ways(&path);
}

#[test]
fn a_float_tiff_with_nan_or_infinity_is_refused_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    // 150 rows: three strips of 64; the bad pixels are in the second and third, after rows
    // the streamed read has already handed out.
    let (h, w) = (150, 9);
    for (name, bad) in [("nan.tif", f32::NAN), ("inf.tif", f32::INFINITY)] {
        let mut values: Vec<f32> = gradient(h, w).iter().map(|&v| v as f32 / 255.0).collect();
        values[100 * w + 4] = bad;
        values[140 * w] = bad;
        let path = dir.path().join(name);
        write_tiff(
            &path,
            &GreyImage::F32(Image::new(h, w, values)),
            None,
            false,
        )
        .unwrap();
        let e = refused_both_ways(&path);
        assert_eq!(e.kind, IoErrorKind::Invalid, "{name}");
        assert!(
            e.to_string()
                .contains("page 0: 2 non-finite (NaN or infinite) pixel value(s) of 1350"),
            "{e}"
        );
    }
}

#[test]
fn a_nan_zarr_plane_is_refused_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.ome.zarr");
    let (h, w) = (5, 7);
    let mut writer =
        RowWriter::<f32>::create(&path, StreamFormat::OmeZarr, h, w, None, false).expect("writer");
    for r in 0..h {
        let mut row = vec![0.5f32; w];
        if r == 3 {
            row[2] = f32::NAN;
        }
        writer.write_row(&row).unwrap();
    }
    writer.finish().unwrap();
    let e = refused_both_ways(&path);
    assert_eq!(e.kind, IoErrorKind::Invalid);
}

#[test]
fn unsupported_samples_and_damaged_files_are_refused_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| -> PathBuf { dir.path().join(name) };

    // 32-bit unsigned cell ids are labels (read_labels), not images.
    let labels = file("labels.tif");
    write_label_tiff(&labels, &Image::new(70, 3, vec![7u32; 210]), None, false).unwrap();
    let e = refused_both_ways(&labels);
    assert_eq!(e.kind, IoErrorKind::Unsupported, "{e}");
    assert!(
        e.to_string()
            .contains("unsigned 32-bit samples is not supported"),
        "{e}"
    );

    // Truncated files of each format.
    let png = file("cut.png");
    write_png(&png, &Image::new(64, 64, gradient(64, 64)), None, false).unwrap();
    let tif = file("cut.tif");
    write_tiff(
        &tif,
        &GreyImage::U8(Image::new(200, 200, gradient(200, 200))),
        None,
        false,
    )
    .unwrap();
    let jpg = file("cut.jpg");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/grey.jpg"),
        &jpg,
    )
    .unwrap();
    for path in [&png, &tif, &jpg] {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
        refused_both_ways(path);
    }

    // Nothing an image reader knows.
    let empty = file("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(refused_both_ways(&empty).kind, IoErrorKind::Corrupt);
    let text = file("notes.tif");
    std::fs::write(&text, b"hello, not an image").unwrap();
    assert_eq!(refused_both_ways(&text).kind, IoErrorKind::Unsupported);
    assert_eq!(refused_both_ways(dir.path()).kind, IoErrorKind::Unsupported);
}

#[test]
fn good_files_stream_like_whole_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (37, 19);
    let grey = gradient(h, w);
    // PNGs that used to be decoded whole before streaming (16-bit, grey + alpha, palette).
    let wide: Vec<u8> = grey
        .iter()
        .flat_map(|&v| (v as u16 * 250).to_be_bytes())
        .collect();
    write_png_raw(
        &dir.path().join("g16.png"),
        (w as u32, h as u32),
        png::ColorType::Grayscale,
        png::BitDepth::Sixteen,
        &wide,
    );
    let ga: Vec<u8> = grey.iter().flat_map(|&v| [v, 255]).collect();
    write_png_raw(
        &dir.path().join("ga.png"),
        (w as u32, h as u32),
        png::ColorType::GrayscaleAlpha,
        png::BitDepth::Eight,
        &ga,
    );
    let rgb16: Vec<u8> = grey
        .iter()
        .flat_map(|&v| [v, v, v / 3, 0, 200, 1])
        .collect();
    write_png_raw(
        &dir.path().join("rgb16.png"),
        (w as u32, h as u32),
        png::ColorType::Rgb,
        png::BitDepth::Sixteen,
        &rgb16,
    );
    for name in ["g16.png", "ga.png", "rgb16.png"] {
        same_pixels_both_ways(&dir.path().join(name));
    }
    // A multi-strip 16-bit and float TIFF with values past the ends of the ranges.
    let tiff16 = dir.path().join("t16.tif");
    let values: Vec<u16> = (0..200 * 5).map(|i| (i * 331 % 65536) as u16).collect();
    write_tiff(
        &tiff16,
        &GreyImage::U16(Image::new(200, 5, values)),
        None,
        false,
    )
    .unwrap();
    same_pixels_both_ways(&tiff16);
    let tiff_f = dir.path().join("tf.tif");
    let values: Vec<f32> = (0..200 * 5).map(|i| i as f32 / 500.0 - 0.5).collect();
    write_tiff(
        &tiff_f,
        &GreyImage::F32(Image::new(200, 5, values)),
        None,
        false,
    )
    .unwrap();
    same_pixels_both_ways(&tiff_f);
}

/// Grey WhiteIsZero TIFF samples (0 is white), which both readers invert before anything else.
struct WhiteIsZero<T>(std::marker::PhantomData<T>);

impl tiff::encoder::colortype::ColorType for WhiteIsZero<f32> {
    type Inner = f32;
    const TIFF_VALUE: tiff::tags::PhotometricInterpretation =
        tiff::tags::PhotometricInterpretation::WhiteIsZero;
    const BITS_PER_SAMPLE: &'static [u16] = &[32];
    const SAMPLE_FORMAT: &'static [tiff::tags::SampleFormat] = &[tiff::tags::SampleFormat::IEEEFP];
    fn horizontal_predict(_: &[f32], _: &mut Vec<f32>) {
        unreachable!("no predictor")
    }
}

impl tiff::encoder::colortype::ColorType for WhiteIsZero<u16> {
    type Inner = u16;
    const TIFF_VALUE: tiff::tags::PhotometricInterpretation =
        tiff::tags::PhotometricInterpretation::WhiteIsZero;
    const BITS_PER_SAMPLE: &'static [u16] = &[16];
    const SAMPLE_FORMAT: &'static [tiff::tags::SampleFormat] = &[tiff::tags::SampleFormat::Uint];
    fn horizontal_predict(_: &[u16], _: &mut Vec<u16>) {
        unreachable!("no predictor")
    }
}

#[test]
fn white_is_zero_tiffs_stream_like_whole_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (130, 4);
    // 0.5 inverts to 0.5: 128 either way (inverting after rounding gave 255 − 128 = 127).
    let floats: Vec<f32> = (0..h * w)
        .map(|i| [0.5, 0.0, 1.0, 0.25, 1.5, -0.5][i % 6])
        .collect();
    let path = dir.path().join("wiz_f32.tif");
    let mut enc = tiff::encoder::TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
    let mut image = enc
        .new_image::<WhiteIsZero<f32>>(w as u32, h as u32)
        .unwrap();
    image.rows_per_strip(64).unwrap();
    image.write_data(&floats).unwrap();
    same_pixels_both_ways(&path);
    assert_eq!(read_image(&path).unwrap().image.into_u8().data[0], 128);

    let wide: Vec<u16> = (0..h * w).map(|i| (i * 997 % 65536) as u16).collect();
    let path = dir.path().join("wiz_u16.tif");
    let mut enc = tiff::encoder::TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
    let mut image = enc
        .new_image::<WhiteIsZero<u16>>(w as u32, h as u32)
        .unwrap();
    image.rows_per_strip(64).unwrap();
    image.write_data(&wide).unwrap();
    same_pixels_both_ways(&path);
}

/// A little-endian, uncompressed, tiled grey TIFF of `samples` (`h × w`, `bits` 8 or 16), in
/// tiles of `tile × tile` (edge tiles padded, as TIFF stores them).
fn tiled_tiff(path: &Path, (h, w): (usize, usize), tile: usize, bits: u16, samples: &[u16]) {
    let bytes_per = bits as usize / 8;
    let (across, down) = (w.div_ceil(tile), h.div_ceil(tile));
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for ty in 0..down {
        for tx in 0..across {
            offsets.push(8 + data.len() as u32);
            for r in 0..tile {
                for c in 0..tile {
                    let (y, x) = (ty * tile + r, tx * tile + c);
                    let v = if y < h && x < w {
                        samples[y * w + x]
                    } else {
                        0
                    };
                    data.extend_from_slice(&v.to_le_bytes()[..bytes_per]);
                }
            }
        }
    }
    let tile_bytes = (tile * tile * bytes_per) as u32;
    let n = offsets.len() as u32;
    // IFD after the data, then the two arrays it points to.
    let ifd_at = 8 + data.len() as u32;
    let entries: [(u16, u16, u32, u32); 9] = [
        (256, 4, 1, w as u32),                        // ImageWidth
        (257, 4, 1, h as u32),                        // ImageLength
        (258, 3, 1, bits as u32),                     // BitsPerSample
        (259, 3, 1, 1),                               // Compression: none
        (262, 3, 1, 1),                               // BlackIsZero
        (322, 3, 1, tile as u32),                     // TileWidth
        (323, 3, 1, tile as u32),                     // TileLength
        (324, 4, n, ifd_at + 2 + 9 * 12 + 4),         // TileOffsets
        (325, 4, n, ifd_at + 2 + 9 * 12 + 4 + 4 * n), // TileByteCounts
    ];
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&ifd_at.to_le_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        if kind == 3 && count == 1 {
            out.extend_from_slice(&(value as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    offsets
        .iter()
        .for_each(|o| out.extend_from_slice(&o.to_le_bytes()));
    (0..n).for_each(|_| out.extend_from_slice(&tile_bytes.to_le_bytes()));
    std::fs::write(path, out).unwrap();
}

#[test]
fn tiled_tiffs_stream_by_rows_of_tiles_like_whole_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (37, 40);
    let values: Vec<u16> = gradient(h, w).iter().map(|&v| v as u16).collect();
    let path = dir.path().join("tiled8.tif");
    tiled_tiff(&path, (h, w), 16, 8, &values);
    let whole = read_image(&path).unwrap().image;
    assert_eq!(
        whole,
        GreyImage::U8(Image::new(h, w, gradient(h, w))),
        "pixels as written"
    );
    same_pixels_both_ways(&path);

    let wide: Vec<u16> = (0..h * w).map(|i| (i * 1013 % 65536) as u16).collect();
    let path = dir.path().join("tiled16.tif");
    tiled_tiff(&path, (h, w), 16, 16, &wide);
    assert_eq!(
        read_image(&path).unwrap().image,
        GreyImage::U16(Image::new(h, w, wide))
    );
    same_pixels_both_ways(&path);
}
