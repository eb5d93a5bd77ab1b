//! Zarr v3 reading: urisc's own OME-Zarr output reads back, and hand-built arrays (chunk files
//! written here byte by byte) exercise data types, chunk keys, fill values, stacks, edge
//! chunks, sharding and the compression codecs.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use urisc_io::{
    open_rows, page_size, probe, read_image, read_page, GreyImage, IoErrorKind, RowWriter,
    StreamFormat, ZarrArray, ZarrRows,
};

fn pattern(h: usize, w: usize) -> Vec<u8> {
    (0..h * w).map(|i| ((i * 7 + i / w) % 256) as u8).collect()
}

/// Writes an array's `zarr.json`.
fn array_meta(
    dir: &Path,
    shape: &[usize],
    chunk: &[usize],
    data_type: &str,
    codecs: Value,
    keys: Value,
    fill: Value,
) {
    std::fs::create_dir_all(dir).unwrap();
    let meta = json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
        "chunk_key_encoding": keys,
        "fill_value": fill,
        "codecs": codecs,
    });
    std::fs::write(dir.join("zarr.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
}

fn put(dir: &Path, key: &str, bytes: &[u8]) {
    let path = dir.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn bytes_codec() -> Value {
    json!([{"name": "bytes", "configuration": {"endian": "little"}}])
}

fn default_keys(sep: &str) -> Value {
    json!({"name": "default", "configuration": {"separator": sep}})
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// CRC-32C, bit by bit (independent of the library's table version).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The samples of chunk (cr, cc) of a `h × w` u8 image in `ch × cw` chunks, padded with `pad`.
fn chunk_of(
    data: &[u8],
    w: usize,
    h: usize,
    (ch, cw): (usize, usize),
    cr: usize,
    cc: usize,
    pad: u8,
) -> Vec<u8> {
    let mut out = vec![pad; ch * cw];
    for r in 0..ch {
        for c in 0..cw {
            let (y, x) = (cr * ch + r, cc * cw + c);
            if y < h && x < w {
                out[r * cw + c] = data[y * w + x];
            }
        }
    }
    out
}

#[test]
fn own_ome_zarr_output_reads_back_whole_by_region_and_by_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (1030, 1100);
    let data = pattern(h, w);
    let path = dir.path().join("map.ome.zarr");
    let mut writer =
        RowWriter::<u8>::create(&path, StreamFormat::OmeZarr, h, w, Some(2.18), false).unwrap();
    for row in data.chunks_exact(w) {
        writer.write_row(row).unwrap();
    }
    writer.finish().unwrap();

    let array = ZarrArray::open(&path).unwrap();
    assert_eq!(array.shape(), &[h, w]);
    assert_eq!(array.chunk_shape(), &[1024, 1024]);
    assert_eq!(array.planes(), 1);
    assert!((array.pixel_size_nm().unwrap() - 2.18).abs() < 1e-9);
    let region = array.read_region(0, 1000..1030, 1020..1030).unwrap();
    for r in 0..30 {
        assert_eq!(region.row(r), &data[(1000 + r) * w + 1020..][..10]);
    }

    let back = read_image(&path).unwrap();
    assert_eq!(back.image.into_u8().data, data);
    assert!((back.pixel_size_nm.unwrap() - 2.18).abs() < 1e-9);
    assert_eq!(probe(&path).unwrap(), (1, h, w));
    assert_eq!(page_size(&path, 0).unwrap(), (h, w));

    let mut rows = open_rows(&path).unwrap();
    assert_eq!((rows.height(), rows.width()), (h, w));
    assert!((rows.pixel_size_nm().unwrap() - 2.18).abs() < 1e-9);
    let mut row = vec![0u8; w];
    for r in 0..h {
        rows.read_row(&mut row).unwrap();
        assert_eq!(row, data[r * w..(r + 1) * w]);
    }

    // Float output reads back in its stored type.
    let floats: Vec<f32> = data.iter().map(|&v| v as f32 / 255.0).collect();
    let fpath = dir.path().join("p.ome.zarr");
    let mut writer =
        RowWriter::<f32>::create(&fpath, StreamFormat::OmeZarr, h, w, None, false).unwrap();
    for row in floats.chunks_exact(w) {
        writer.write_row(row).unwrap();
    }
    writer.finish().unwrap();
    let back = read_image(&fpath).unwrap();
    assert_eq!(back.pixel_size_nm, None, "unit `pixel` is no length");
    match back.image {
        GreyImage::F32(i) => assert_eq!(i.data, floats),
        other => panic!("float expected, got {}-bit", other.bit_depth()),
    }
}

#[test]
fn uint16_and_float32_convert_by_the_spec_rules() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("u16");
    array_meta(
        &a,
        &[2, 3],
        &[2, 3],
        "uint16",
        bytes_codec(),
        default_keys("/"),
        json!(0),
    );
    let values: [u16; 6] = [0, 257 * 122, 65535, 128, 129, 257 * 200];
    put(
        &a,
        "c/0/0",
        &values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>(),
    );
    let array = ZarrArray::open(&a).unwrap();
    assert_eq!(
        array.read_region(0, 0..2, 0..3).unwrap().data,
        vec![0, 122, 255, 0, 1, 200]
    );

    // Big-endian float32, one value out of range (clamped and counted).
    let f = dir.path().join("f32");
    let codecs = json!([{"name": "bytes", "configuration": {"endian": "big"}}]);
    array_meta(
        &f,
        &[1, 4],
        &[1, 4],
        "float32",
        codecs,
        default_keys("/"),
        json!(0.0),
    );
    let values: [f32; 4] = [0.0, 0.5, 1.0, 1.5];
    put(
        &f,
        "c/0/0",
        &values
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    let array = ZarrArray::open(&f).unwrap();
    assert_eq!(
        array.read_region(0, 0..1, 0..4).unwrap().data,
        vec![0, 128, 255, 255]
    );
    let decoded = read_image(&f).unwrap();
    assert_eq!(decoded.out_of_range, 1);

    // NaN is refused, naming the array.
    let values: [f32; 4] = [0.0, f32::NAN, 1.0, 0.2];
    put(
        &f,
        "c/0/0",
        &values
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    let err = ZarrArray::open(&f)
        .unwrap()
        .read_region(0, 0..1, 0..4)
        .unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
}

#[test]
fn dot_and_slash_separators_and_v2_keys_with_missing_chunks_as_fill() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w, ch, cw) = (5, 7, 2, 3);
    let data = pattern(h, w);
    for (name, keys, key) in [
        ("slash", default_keys("/"), "c/{r}/{c}"),
        ("dot", default_keys("."), "c.{r}.{c}"),
        (
            "v2",
            json!({"name": "v2", "configuration": {"separator": "."}}),
            "{r}.{c}",
        ),
    ] {
        let a = dir.path().join(name);
        array_meta(
            &a,
            &[h, w],
            &[ch, cw],
            "uint8",
            bytes_codec(),
            keys,
            json!(9),
        );
        for cr in 0..h.div_ceil(ch) {
            for cc in 0..w.div_ceil(cw) {
                // Chunk (1, 1) is missing: it reads as the fill value.
                if (cr, cc) == (1, 1) {
                    continue;
                }
                let k = key
                    .replace("{r}", &cr.to_string())
                    .replace("{c}", &cc.to_string());
                put(&a, &k, &chunk_of(&data, w, h, (ch, cw), cr, cc, 0));
            }
        }
        let mut expected = data.clone();
        for y in 2..4 {
            for x in 3..6 {
                expected[y * w + x] = 9;
            }
        }
        let array = ZarrArray::open(&a).unwrap();
        assert_eq!(
            array.read_region(0, 0..h, 0..w).unwrap().data,
            expected,
            "{name}"
        );
        // Edge chunks: a region in the last, partial chunk row and column.
        let edge = array.read_region(0, 4..5, 6..7).unwrap();
        assert_eq!(edge.data, vec![data[4 * w + 6]], "{name}");
        // Streaming by rows gives the same.
        let mut rows = ZarrRows::open(&a, 0).unwrap();
        let mut row = vec![0u8; w];
        for r in 0..h {
            urisc_io::RowSource::read_row(&mut rows, &mut row).unwrap();
            assert_eq!(row, expected[r * w..(r + 1) * w], "{name} row {r}");
        }
    }
}

#[test]
fn stack_plane_one_by_region_page_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (z, h, w) = (3, 4, 5);
    let data = pattern(z * h, w);
    let a = dir.path().join("stack.zarr");
    array_meta(
        &a,
        &[z, h, w],
        &[2, 3, 3],
        "uint8",
        bytes_codec(),
        default_keys("/"),
        json!(0),
    );
    for cz in 0..2 {
        for cy in 0..2 {
            for cx in 0..2 {
                let mut chunk = vec![0u8; 2 * 3 * 3];
                for dz in 0..2 {
                    for dy in 0..3 {
                        for dx in 0..3 {
                            let (pz, py, px) = (cz * 2 + dz, cy * 3 + dy, cx * 3 + dx);
                            if pz < z && py < h && px < w {
                                chunk[(dz * 3 + dy) * 3 + dx] = data[(pz * h + py) * w + px];
                            }
                        }
                    }
                }
                put(&a, &format!("c/{cz}/{cy}/{cx}"), &chunk);
            }
        }
    }
    let array = ZarrArray::open(&a).unwrap();
    assert_eq!(array.planes(), 3);
    assert_eq!(array.shape(), &[3, 4, 5]);
    let plane1 = &data[h * w..2 * h * w];
    assert_eq!(array.read_region(1, 0..h, 0..w).unwrap().data, plane1);
    let part = array.read_region(2, 1..4, 2..5).unwrap();
    for r in 0..3 {
        assert_eq!(part.row(r), &data[(2 * h + 1 + r) * w + 2..][..3]);
    }
    assert_eq!(probe(&a).unwrap(), (3, h, w));
    assert_eq!(read_page(&a, 1).unwrap().image.into_u8().data, plane1);
    assert_eq!(urisc_io::read_stack(&a).unwrap().len(), 3);
    assert!(read_page(&a, 3).is_err());
    let mut rows = ZarrRows::open(&a, 1).unwrap();
    let mut row = vec![0u8; w];
    for r in 0..h {
        urisc_io::RowSource::read_row(&mut rows, &mut row).unwrap();
        assert_eq!(row, plane1[r * w..(r + 1) * w]);
    }
}

/// A shard of a `sh × sw` u8 block in `ih × iw` inner chunks, each gzip-compressed; inner chunk
/// `skip` is left out (empty in the index).
fn shard(
    block: &[u8],
    (sh, sw): (usize, usize),
    (ih, iw): (usize, usize),
    skip: Option<usize>,
    index_at_start: bool,
) -> Vec<u8> {
    let (gh, gw) = (sh / ih, sw / iw);
    let index_len = gh * gw * 16 + 4;
    let mut body = Vec::new();
    let mut index = Vec::new();
    let base = if index_at_start { index_len } else { 0 };
    for k in 0..gh * gw {
        let (gr, gc) = (k / gw, k % gw);
        if Some(k) == skip {
            index.extend(u64::MAX.to_le_bytes());
            index.extend(u64::MAX.to_le_bytes());
            continue;
        }
        let inner = chunk_of(block, sw, sh, (ih, iw), gr, gc, 0);
        let bytes = gzip(&inner);
        index.extend(((base + body.len()) as u64).to_le_bytes());
        index.extend((bytes.len() as u64).to_le_bytes());
        body.extend(bytes);
    }
    let crc = crc32c(&index);
    index.extend(crc.to_le_bytes());
    if index_at_start {
        index.extend(body);
        index
    } else {
        body.extend(index);
        body
    }
}

#[test]
fn sharded_arrays_with_index_at_end_or_start() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (8, 8);
    let data = pattern(h, w);
    for at_start in [false, true] {
        let a = dir.path().join(format!("sharded-{at_start}"));
        let codecs = json!([{
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": [2, 2],
                "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "gzip", "configuration": {"level": 5}}],
                "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
                "index_location": if at_start { "start" } else { "end" }
            }
        }]);
        array_meta(
            &a,
            &[h, w],
            &[4, 4],
            "uint8",
            codecs,
            default_keys("/"),
            json!(3),
        );
        for sr in 0..2 {
            for sc in 0..2 {
                let block = chunk_of(&data, w, h, (4, 4), sr, sc, 0);
                // Inner chunk 3 of shard (1, 0) is empty: fill value.
                let skip = ((sr, sc) == (1, 0)).then_some(3);
                put(
                    &a,
                    &format!("c/{sr}/{sc}"),
                    &shard(&block, (4, 4), (2, 2), skip, at_start),
                );
            }
        }
        let mut expected = data.clone();
        for y in 6..8 {
            for x in 2..4 {
                expected[y * w + x] = 3;
            }
        }
        let array = ZarrArray::open(&a).unwrap();
        assert_eq!(array.read_region(0, 0..h, 0..w).unwrap().data, expected);
        let part = array.read_region(0, 3..7, 1..6).unwrap();
        for r in 0..4 {
            assert_eq!(part.row(r), &expected[(3 + r) * w + 1..][..5]);
        }
        let mut rows = open_rows(&a).unwrap();
        let mut row = vec![0u8; w];
        for r in 0..h {
            rows.read_row(&mut row).unwrap();
            assert_eq!(row, expected[r * w..(r + 1) * w]);
        }
    }
    // A damaged index checksum is reported, naming the shard file.
    let a = dir.path().join("sharded-false");
    let file = a.join("c/0/0");
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xFF;
    std::fs::write(&file, bytes).unwrap();
    let err = ZarrArray::open(&a)
        .unwrap()
        .read_region(0, 0..1, 0..1)
        .unwrap_err();
    assert_eq!(err.kind, IoErrorKind::Corrupt);
    assert!(
        err.to_string().contains("c/0/0") && err.to_string().contains("crc32c"),
        "{err}"
    );
}

#[test]
fn gzip_zstd_crc32c_and_transpose_codecs() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (3, 4);
    let data = pattern(h, w);
    let zstd =
        ruzstd::encoding::compress_to_vec(&data[..], ruzstd::encoding::CompressionLevel::Fastest);
    let mut with_crc = gzip(&data);
    with_crc.extend(crc32c(&with_crc).to_le_bytes());
    // Column-major storage: transpose order [1, 0].
    let mut transposed = vec![0u8; h * w];
    for y in 0..h {
        for x in 0..w {
            transposed[x * h + y] = data[y * w + x];
        }
    }
    for (name, codecs, bytes) in [
        (
            "gzip",
            json!([{"name": "bytes"}, {"name": "gzip", "configuration": {"level": 1}}]),
            gzip(&data),
        ),
        (
            "zstd",
            json!([{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 0, "checksum": false}}]),
            zstd.clone(),
        ),
        (
            "crc",
            json!([{"name": "bytes"}, {"name": "gzip", "configuration": {"level": 1}}, {"name": "crc32c"}]),
            with_crc.clone(),
        ),
        (
            "transpose",
            json!([{"name": "transpose", "configuration": {"order": [1, 0]}}, {"name": "bytes"}]),
            transposed.clone(),
        ),
    ] {
        let a = dir.path().join(name);
        array_meta(
            &a,
            &[h, w],
            &[h, w],
            "uint8",
            codecs,
            default_keys("/"),
            json!(0),
        );
        put(&a, "c/0/0", &bytes);
        let array = ZarrArray::open(&a).unwrap();
        assert_eq!(
            array.read_region(0, 0..h, 0..w).unwrap().data,
            data,
            "{name}"
        );
    }
}

#[test]
fn ome_group_pixel_size_units_and_leading_singleton_axes() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("img.ome.zarr");
    std::fs::create_dir_all(&g).unwrap();
    let group = json!({
        "zarr_format": 3, "node_type": "group",
        "attributes": {"ome": {"version": "0.5", "multiscales": [{
            "axes": [
                {"name": "c", "type": "channel"},
                {"name": "y", "type": "space", "unit": "micrometer"},
                {"name": "x", "type": "space", "unit": "micrometer"}
            ],
            "datasets": [
                {"path": "s0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 0.002, 0.002]}]},
                {"path": "s1", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 0.004, 0.004]}]}
            ],
            "coordinateTransformations": [{"type": "scale", "scale": [1.0, 2.0, 2.0]}]
        }]}}
    });
    std::fs::write(g.join("zarr.json"), serde_json::to_vec(&group).unwrap()).unwrap();
    let a = g.join("s0");
    array_meta(
        &a,
        &[1, 2, 2],
        &[1, 2, 2],
        "uint8",
        bytes_codec(),
        default_keys("/"),
        json!(0),
    );
    put(&a, "c/0/0/0", &[1, 2, 3, 4]);
    let array = ZarrArray::open(&g).unwrap();
    assert_eq!(array.shape(), &[2, 2]);
    assert_eq!(array.planes(), 1);
    // 0.002 µm × root scale 2 = 4 nm.
    assert!((array.pixel_size_nm().unwrap() - 4.0).abs() < 1e-9);
    assert_eq!(
        array.read_region(0, 0..2, 0..2).unwrap().data,
        vec![1, 2, 3, 4]
    );
}

#[test]
fn unsupported_codec_and_data_type_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("blosc");
    let codecs = json!([{"name": "bytes"}, {"name": "blosc", "configuration": {"cname": "lz4"}}]);
    array_meta(
        &a,
        &[2, 2],
        &[2, 2],
        "uint8",
        codecs,
        default_keys("/"),
        json!(0),
    );
    let err = ZarrArray::open(&a).unwrap_err();
    assert_eq!(err.kind, IoErrorKind::Unsupported);
    let msg = err.to_string();
    assert!(
        msg.contains("blosc") && msg.contains("zarr.json") && !msg.contains('\n'),
        "{msg}"
    );
    let err = read_image(&a).unwrap_err();
    assert!(err.to_string().contains("blosc"));

    let b = dir.path().join("complex");
    array_meta(
        &b,
        &[2, 2],
        &[2, 2],
        "complex64",
        bytes_codec(),
        default_keys("/"),
        json!(0),
    );
    let msg = ZarrArray::open(&b).unwrap_err().to_string();
    assert!(
        msg.contains("complex64") && msg.contains("zarr.json"),
        "{msg}"
    );

    // A folder without zarr.json is no image.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(read_image(&empty)
        .unwrap_err()
        .to_string()
        .contains("zarr.json"));
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/zarr")
        .join(name)
}

#[test]
fn arrays_written_by_zarr_python_read_back() {
    // tests/data/zarr/make_fixtures.py (zarr-python 3.1.6) says what they hold.
    let a = ZarrArray::open(&fixture("zstd_u16.zarr")).unwrap();
    assert_eq!(a.shape(), &[5, 7]);
    match read_image(&fixture("zstd_u16.zarr")).unwrap().image {
        GreyImage::U16(i) => {
            let expected: Vec<u16> = (0..35u32).map(|i| (i * 977 % 65536) as u16).collect();
            assert_eq!(i.data, expected);
        }
        other => panic!("16-bit expected, got {}-bit", other.bit_depth()),
    }

    let b = ZarrArray::open(&fixture("sharded_f32.zarr")).unwrap();
    assert_eq!((b.planes(), b.height(), b.width()), (3, 6, 5));
    for z in 0..3 {
        let GreyImage::F32(plane) = read_page(&fixture("sharded_f32.zarr"), z).unwrap().image
        else {
            panic!("float expected");
        };
        for y in 0..6 {
            for x in 0..5 {
                let want = if y < 4 {
                    ((z * 30 + y * 5 + x) as f32) / 89.0
                } else {
                    0.25
                };
                assert_eq!(plane.get(y, x), want, "({z}, {y}, {x})");
            }
        }
    }
    let region = b.read_region(2, 3..5, 1..4).unwrap();
    let want = |y: usize, x: usize| urisc_io::encoding::unit_to_u8((60 + y * 5 + x) as f32 / 89.0);
    assert_eq!(
        region.data,
        vec![want(3, 1), want(3, 2), want(3, 3), 64, 64, 64]
    );

    let err = ZarrArray::open(&fixture("blosc_u8.zarr")).unwrap_err();
    assert!(err.to_string().contains("blosc"), "{err}");
}

#[test]
fn a_zarr_store_is_a_dataset_of_its_planes() {
    let ds = urisc_io::dataset::discover(&fixture("sharded_f32.zarr")).unwrap();
    assert_eq!(ds.layout, urisc_io::dataset::Layout::ImagesOnly);
    let names: Vec<&str> = ds.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["sharded_f32_z000", "sharded_f32_z001", "sharded_f32_z002"]
    );
    let img = ds.samples[1].image.as_ref().unwrap();
    assert_eq!(img.page, 1);
    assert_eq!(read_page(&img.path, img.page).unwrap().image.height(), 6);
    let info = urisc_io::dataset::inspect(&ds, &|| {});
    assert_eq!(info.images, 3);
}

/// `zarr_store::read_unit` (what `urisc assemble` reads) goes through the same reader: a store
/// with codecs urisc does not write reads, uint32 cell ids come back as written, and the
/// public reader still refuses uint32 as an image.
#[test]
fn storage_units_are_read_through_the_same_reader() {
    use urisc_io::zarr_store::{read_unit, StoreLayout};
    let dir = tempfile::tempdir().unwrap();
    // A 2-D uint8 array in 4 × 4 chunks, zstd then crc32c; chunk (1, 0) missing (fill 0).
    let a = dir.path().join("foreign.zarr");
    let (h, w) = (6, 5);
    let data = pattern(h, w);
    array_meta(
        &a,
        &[h, w],
        &[4, 4],
        "uint8",
        json!([{"name": "bytes"}, {"name": "zstd"}, {"name": "crc32c"}]),
        default_keys("/"),
        json!(0),
    );
    for (cy, cx) in [(0, 0), (0, 1), (1, 1)] {
        let mut chunk = [0u8; 16];
        for r in 0..4 {
            for c in 0..4 {
                let (y, x) = (cy * 4 + r, cx * 4 + c);
                if y < h && x < w {
                    chunk[r * 4 + c] = data[y * w + x];
                }
            }
        }
        let mut bytes = ruzstd::encoding::compress_to_vec(
            &chunk[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let sum = crc32c(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        put(&a, &format!("c/{cy}/{cx}"), &bytes);
    }
    let layout = StoreLayout {
        root: a.clone(),
        planes: None,
        height: h,
        width: w,
        chunk: 4,
        shard: 1,
        data_type: "uint8".into(),
    };
    for (uy, ux) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        let (y0, x0) = (uy * 4, ux * 4);
        let expected: Vec<u8> = (y0..h.min(y0 + 4))
            .flat_map(|y| (x0..w.min(x0 + 4)).map(move |x| (y, x)))
            .map(|(y, x)| {
                if (uy, ux) == (1, 0) {
                    0
                } else {
                    data[y * w + x]
                }
            })
            .collect();
        assert_eq!(
            read_unit(&layout, 0, uy, ux, 1).unwrap(),
            expected,
            "{uy},{ux}"
        );
    }
    // A damaged checksum is refused as the reader refuses it.
    let key = a.join("c/0/0");
    let mut bytes = std::fs::read(&key).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&key, bytes).unwrap();
    let e = read_unit(&layout, 0, 0, 0, 1).unwrap_err();
    assert_eq!(e.kind, IoErrorKind::Corrupt);
    assert!(e.to_string().contains("crc32c"), "{e}");
    assert!(
        read_unit(&layout, 0, 0, 1, 2).is_err(),
        "uint8 is 1 byte a sample"
    );

    // uint32 cell ids, as `urisc cells` writes them.
    let store = dir.path().join("cells.ome.zarr");
    let grey = urisc_io::Image::new(3, 2, vec![0u8, 255, 7, 9, 11, 13]);
    let ids = urisc_io::Image::new(3, 2, vec![0u32, 1, 300, 2, 2, 299]);
    urisc_io::zarr_store::write_labelled_image(
        &store,
        &grey,
        "cells",
        &ids,
        |_| [1, 2, 3],
        None,
        false,
    )
    .unwrap();
    let labels = StoreLayout {
        root: store.join("labels/cells"),
        planes: None,
        height: 3,
        width: 2,
        chunk: 1024,
        shard: 1,
        data_type: "uint32".into(),
    };
    let bytes = read_unit(&labels, 0, 0, 0, 4).unwrap();
    let back: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(back, ids.data);
    let e = ZarrArray::open(&labels.root).unwrap_err();
    assert_eq!(e.kind, IoErrorKind::Unsupported);
    assert!(e.to_string().contains("`uint32` is not supported"), "{e}");
}
