//! Issue 37's reader defects at the library: WhiteIsZero TIFFs read once inverted (by the
//! `tiff` crate), 1-bit TIFFs unpacked, other depths and CCITT refused by name, and the sizes a
//! header declares bounded before anything is allocated for them (TIFF, Zarr shapes and
//! chunks, gzip and zstd chunks that inflate beyond their chunk).

use std::io::Write;
use std::path::Path;

use tiff::encoder::colortype::ColorType;
use tiff::encoder::TiffEncoder;
use tiff::tags::{PhotometricInterpretation, SampleFormat};
use urisc_io::{open_rows, read_image, GreyImage, IoErrorKind};

/// 8-bit WhiteIsZero grey (0 is white).
struct WhiteIsZero8;

impl ColorType for WhiteIsZero8 {
    type Inner = u8;
    const TIFF_VALUE: PhotometricInterpretation = PhotometricInterpretation::WhiteIsZero;
    const BITS_PER_SAMPLE: &'static [u16] = &[8];
    const SAMPLE_FORMAT: &'static [SampleFormat] = &[SampleFormat::Uint];
    fn horizontal_predict(_: &[u8], _: &mut Vec<u8>) {
        unreachable!("no predictor")
    }
}

/// 16-bit WhiteIsZero grey.
struct WhiteIsZero16;

impl ColorType for WhiteIsZero16 {
    type Inner = u16;
    const TIFF_VALUE: PhotometricInterpretation = PhotometricInterpretation::WhiteIsZero;
    const BITS_PER_SAMPLE: &'static [u16] = &[16];
    const SAMPLE_FORMAT: &'static [SampleFormat] = &[SampleFormat::Uint];
    fn horizontal_predict(_: &[u16], _: &mut Vec<u16>) {
        unreachable!("no predictor")
    }
}

fn encode<C: ColorType>(path: &Path, (h, w): (usize, usize), data: &[C::Inner])
where
    [C::Inner]: tiff::encoder::TiffValue,
{
    let mut enc = TiffEncoder::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut image = enc.new_image::<C>(w as u32, h as u32).unwrap();
    image.rows_per_strip(64).unwrap();
    image.write_data(data).unwrap();
}

/// Every row of `path` through [`open_rows`].
fn streamed(path: &Path) -> Vec<u8> {
    let mut rows = open_rows(path).unwrap();
    let mut out = vec![0u8; rows.height() * rows.width()];
    for row in out.chunks_exact_mut(rows.width()) {
        rows.read_row(row).unwrap();
    }
    out
}

#[test]
fn white_is_zero_reads_as_its_black_is_zero_twin_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (130, 7);
    let values: Vec<u8> = (0..h * w).map(|i| (i * 37 % 256) as u8).collect();
    let black = dir.path().join("black.tif");
    encode::<tiff::encoder::colortype::Gray8>(&black, (h, w), &values);
    let white = dir.path().join("white.tif");
    let stored: Vec<u8> = values.iter().map(|v| 255 - v).collect();
    encode::<WhiteIsZero8>(&white, (h, w), &stored);
    for path in [&black, &white] {
        assert_eq!(read_image(path).unwrap().image.into_u8().data, values);
        assert_eq!(streamed(path), values);
    }
    // 16-bit too: WhiteIsZero stores 65535 − v for v.
    let wide: Vec<u16> = (0..h * w).map(|i| (i * 997 % 65536) as u16).collect();
    let white16 = dir.path().join("white16.tif");
    let stored: Vec<u16> = wide.iter().map(|v| 65535 - v).collect();
    encode::<WhiteIsZero16>(&white16, (h, w), &stored);
    let GreyImage::U16(back) = read_image(&white16).unwrap().image else {
        panic!("16-bit");
    };
    assert_eq!(back.data, wide);
}

/// A little-endian, uncompressed TIFF of one strip (one sample a pixel), by hand, so that any
/// header can be made.
fn tiff_bytes(
    (w, h): (u32, u32),
    bits: u16,
    photometric: u16,
    compression: u16,
    data: &[u8],
) -> Vec<u8> {
    let entries: [(u16, u16, u32); 9] = [
        (256, 4, w),
        (257, 4, h),
        (258, 3, bits as u32),
        (259, 3, compression as u32),
        (262, 3, photometric as u32),
        (273, 4, 8 + 2 + 12 * 9 + 4),
        (277, 3, 1),
        (278, 4, h),
        (279, 4, data.len() as u32),
    ];
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend(9u16.to_le_bytes());
    for (tag, kind, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        out.extend(value.to_le_bytes());
    }
    out.extend(0u32.to_le_bytes());
    out.extend(data);
    out
}

#[test]
fn one_bit_tiffs_unpack_by_row_and_photometric() {
    let dir = tempfile::tempdir().unwrap();
    // 9 columns: two bytes a row, the second holding one pixel (its most significant bit).
    let packed = [0b1010_0101, 0b1000_0000, 0b0000_1111, 0b0000_0000];
    let expected: Vec<u8> = [1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0]
        .iter()
        .map(|&b| if b == 1 { 255 } else { 0 })
        .collect();
    let black = dir.path().join("black.tif");
    std::fs::write(&black, tiff_bytes((9, 2), 1, 1, 1, &packed)).unwrap();
    let white = dir.path().join("white.tif");
    let inverted: Vec<u8> = packed.iter().map(|b| !b).collect();
    std::fs::write(&white, tiff_bytes((9, 2), 1, 0, 1, &inverted)).unwrap();
    for path in [&black, &white] {
        let image = read_image(path).unwrap().image.into_u8();
        assert_eq!((image.height, image.width), (2, 9));
        assert_eq!(image.data, expected, "{}", path.display());
        assert_eq!(streamed(path), expected, "{}", path.display());
    }
}

#[test]
fn odd_depths_and_ccitt_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bits, compression, needle) in [
        (
            "3.tif",
            3u16,
            1u16,
            "TIFF with 3 bits per sample is not supported",
        ),
        (
            "4.tif",
            4,
            1,
            "TIFF with 4 bits per sample is not supported",
        ),
        (
            "12.tif",
            12,
            1,
            "TIFF with 12 bits per sample is not supported",
        ),
        (
            "g4.tif",
            1,
            4,
            "TIFF with CCITT group 4 compression is not supported",
        ),
        (
            "g3.tif",
            1,
            3,
            "TIFF with CCITT group 3 compression is not supported",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, tiff_bytes((8, 8), bits, 1, compression, &[0; 96])).unwrap();
        for e in [
            read_image(&path).unwrap_err(),
            open_rows(&path).err().unwrap(),
        ] {
            assert_eq!(e.kind, IoErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}

#[test]
fn tiff_pages_and_strips_beyond_the_bound_are_refused_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.tif");
    std::fs::write(&path, tiff_bytes((100_000, 100_000), 8, 1, 1, &[0; 64])).unwrap();
    for e in [
        read_image(&path).unwrap_err(),
        open_rows(&path).err().unwrap(),
    ] {
        assert!(e.to_string().contains("100000×100000 pixels"), "{e}");
    }
}

fn zarr(dir: &Path, shape: &str, chunk: &str, data_type: &str, codecs: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let meta = format!(
        r#"{{"zarr_format": 3, "node_type": "array", "shape": {shape}, "data_type": "{data_type}",
        "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": {chunk}}}}},
        "chunk_key_encoding": {{"name": "default"}}, "fill_value": 0, "codecs": {codecs}}}"#
    );
    std::fs::write(dir.join("zarr.json"), meta).unwrap();
}

#[test]
fn absurd_zarr_shapes_and_chunks_are_refused_from_the_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = r#"[{"name": "bytes"}]"#;
    for (k, (shape, chunk, data_type, needle)) in [
        (
            "[1000000000, 1000000000]",
            "[1024, 1024]",
            "uint8",
            "a plane of",
        ),
        (
            "[4611686018427387904, 4611686018427387904]",
            "[1, 1]",
            "uint8",
            "a plane of",
        ),
        // Planes within the bound, but the whole array does not fit an address space.
        (
            "[4611686018427387904, 1, 1]",
            "[1, 1, 1]",
            "float64",
            "larger than memory",
        ),
        ("[10, 10]", "[1099511627776, 1]", "uint8", "a chunk of"),
        (
            "[10, 10]",
            "[8192, 8192]",
            "uint8",
            "a chunk of 8192×8192 is larger than its image",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let store = dir.path().join(format!("{k}.zarr"));
        zarr(&store, shape, chunk, data_type, bytes);
        let e = read_image(&store).unwrap_err();
        assert!(e.to_string().contains(needle), "{shape} {chunk}: {e}");
        assert!(!e.to_string().contains('\n'));
    }
    // A shard whose inner chunks are absurd is refused as well.
    let store = dir.path().join("shard.zarr");
    let sharded = r#"[{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [4294967296, 4294967296], "codecs": [{"name": "bytes"}]}}]"#;
    zarr(&store, "[10, 10]", "[10, 10]", "uint8", sharded);
    let e = read_image(&store).unwrap_err();
    assert!(e.to_string().contains("an inner chunk"), "{e}");
    // A shard may be far larger than its image (it is read through its index), as block jobs
    // write them: shards of 16 × 1024² chunks on a small array read.
    let store = dir.path().join("big_shard.zarr");
    let sharded = r#"[{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [1024, 1024], "codecs": [{"name": "bytes"}]}}]"#;
    zarr(&store, "[10, 10]", "[16384, 16384]", "uint8", sharded);
    assert_eq!(
        read_image(&store).unwrap().image.into_u8().data,
        vec![0u8; 100]
    );
}

#[test]
fn compressed_chunks_may_not_inflate_beyond_their_chunk() {
    let dir = tempfile::tempdir().unwrap();
    // 256 MiB of zeros in a 250 KiB gzip member, behind a chunk of 64 × 64 bytes.
    let store = dir.path().join("bomb.zarr");
    zarr(
        &store,
        "[64, 64]",
        "[64, 64]",
        "uint8",
        r#"[{"name": "bytes"}, {"name": "gzip"}]"#,
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&zeros).unwrap();
    }
    std::fs::create_dir_all(store.join("c/0")).unwrap();
    std::fs::write(store.join("c/0/0"), gz.finish().unwrap()).unwrap();
    let started = std::time::Instant::now();
    let e = read_image(&store).unwrap_err();
    assert!(
        e.to_string()
            .contains("gzip chunk inflates beyond the 4096 bytes its chunk can hold"),
        "{e}"
    );
    assert!(started.elapsed().as_secs_f64() < 1.0, "inflated it all");

    // zstd, and a chunk that inflates to exactly its size still reads.
    let store = dir.path().join("zstd.zarr");
    zarr(
        &store,
        "[64, 64]",
        "[64, 64]",
        "uint8",
        r#"[{"name": "bytes"}, {"name": "zstd"}]"#,
    );
    std::fs::create_dir_all(store.join("c/0")).unwrap();
    let zstd = |n: usize| {
        ruzstd::encoding::compress_to_vec(
            &vec![3u8; n][..],
            ruzstd::encoding::CompressionLevel::Fastest,
        )
    };
    std::fs::write(store.join("c/0/0"), zstd(4097)).unwrap();
    let e = read_image(&store).unwrap_err();
    assert!(e.to_string().contains("zstd chunk inflates beyond"), "{e}");
    std::fs::write(store.join("c/0/0"), zstd(4096)).unwrap();
    assert_eq!(
        read_image(&store).unwrap().image.into_u8().data,
        vec![3u8; 4096]
    );
}
