//! Row streaming: what is written row by row reads back exactly, and an unfinished image
//! leaves nothing behind.

use std::io::Read;
use std::path::Path;

use urisc_io::{open_rows, read_image, GreyImage, RowWriter, StreamFormat, ZARR_CHUNK};

fn pattern(h: usize, w: usize) -> Vec<u8> {
    (0..h * w).map(|i| ((i * 7 + i / w) % 256) as u8).collect()
}

fn write_all<T: urisc_io::StreamSample>(
    path: &Path,
    format: StreamFormat,
    h: usize,
    w: usize,
    data: &[T],
) {
    let mut writer = RowWriter::<T>::create(path, format, h, w, Some(2.0), false).unwrap();
    for row in data.chunks_exact(w) {
        writer.write_row(row).unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn png_and_tiff_round_trip_with_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (131, 77);
    let data = pattern(h, w);
    for format in [StreamFormat::Png, StreamFormat::Tiff] {
        let path = dir.path().join(format!("map.{}", format.extension()));
        write_all(&path, format, h, w, &data);
        let back = read_image(&path).unwrap();
        assert_eq!(back.image.into_u8().data, data);
        assert!((back.pixel_size_nm.unwrap() - 2.0).abs() < 1e-3);
        // And streaming it back in gives the same rows.
        let mut rows = open_rows(&path).unwrap();
        assert_eq!((rows.height(), rows.width()), (h, w));
        let mut row = vec![0u8; w];
        for r in 0..h {
            rows.read_row(&mut row).unwrap();
            assert_eq!(row, data[r * w..(r + 1) * w]);
        }
    }
    let floats: Vec<f32> = data.iter().map(|&v| v as f32 / 255.0).collect();
    let path = dir.path().join("p.tif");
    write_all(&path, StreamFormat::Tiff, h, w, &floats);
    match read_image(&path).unwrap().image {
        GreyImage::F32(i) => assert_eq!(i.data, floats),
        _ => panic!("float TIFF expected"),
    }
}

#[test]
fn ome_zarr_has_v3_metadata_and_padded_gzip_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (ZARR_CHUNK + 5, 2 * ZARR_CHUNK + 3);
    let data = pattern(h, w);
    let path = dir.path().join("map.ome.zarr");
    write_all(&path, StreamFormat::OmeZarr, h, w, &data);
    let group: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.join("zarr.json")).unwrap()).unwrap();
    assert_eq!(group["attributes"]["ome"]["version"], "0.5");
    let ms = &group["attributes"]["ome"]["multiscales"][0];
    assert_eq!(ms["axes"][0]["unit"], "nanometer");
    assert_eq!(
        ms["datasets"][0]["coordinateTransformations"][0]["scale"][1],
        2.0
    );
    let array: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.join("0/zarr.json")).unwrap()).unwrap();
    assert_eq!(array["shape"], serde_json::json!([h, w]));
    assert_eq!(array["data_type"], "uint8");
    // Every chunk of the 2 × 3 grid exists and holds its part of the image, padded with 0.
    for cr in 0..2 {
        for cc in 0..3 {
            let mut bytes = Vec::new();
            flate2::read::GzDecoder::new(
                std::fs::File::open(path.join(format!("0/c/{cr}/{cc}"))).unwrap(),
            )
            .read_to_end(&mut bytes)
            .unwrap();
            assert_eq!(bytes.len(), ZARR_CHUNK * ZARR_CHUNK);
            for r in 0..ZARR_CHUNK {
                for c in 0..ZARR_CHUNK {
                    let (y, x) = (cr * ZARR_CHUNK + r, cc * ZARR_CHUNK + c);
                    let expected = if y < h && x < w { data[y * w + x] } else { 0 };
                    assert_eq!(
                        bytes[r * ZARR_CHUNK + c],
                        expected,
                        "chunk {cr}/{cc} at {r},{c}"
                    );
                }
            }
        }
    }
}

#[test]
fn unfinished_or_refused_outputs_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    for format in [StreamFormat::Png, StreamFormat::Tiff, StreamFormat::OmeZarr] {
        let path = dir.path().join(format!("cut.{}", format.extension()));
        let mut writer = RowWriter::<u8>::create(&path, format, 10, 4, None, false).unwrap();
        writer.write_row(&[1, 2, 3, 4]).unwrap();
        let err = writer.finish().unwrap_err().to_string();
        assert!(err.contains("1 of 10 rows"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{format:?} left {left:?}");
    }
    // An existing output is refused without overwrite, and PNG refuses float samples.
    let path = dir.path().join("exists.png");
    std::fs::write(&path, b"x").unwrap();
    assert!(
        RowWriter::<u8>::create(&path, StreamFormat::Png, 1, 1, None, false)
            .err()
            .unwrap()
            .to_string()
            .contains("--force")
    );
    assert!(RowWriter::<f32>::create(
        &dir.path().join("f.png"),
        StreamFormat::Png,
        1,
        1,
        None,
        false
    )
    .is_err());
}

#[test]
fn stripped_tiffs_stream_like_whole_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (150, 61);
    let bytes = pattern(h, w);
    let pages = [
        GreyImage::U8(urisc_io::Image::new(h, w, bytes.clone())),
        GreyImage::U16(urisc_io::Image::new(
            h,
            w,
            bytes.iter().map(|&v| v as u16 * 250).collect(),
        )),
        GreyImage::F32(urisc_io::Image::new(
            h,
            w,
            bytes.iter().map(|&v| v as f32 / 300.0).collect(),
        )),
    ];
    for (k, page) in pages.into_iter().enumerate() {
        let path = dir.path().join(format!("{k}.tif"));
        urisc_io::write_tiff(&path, &page, Some(2.18), false).unwrap();
        let whole = read_image(&path).unwrap().image.into_u8();
        let mut rows = open_rows(&path).unwrap();
        assert!((rows.pixel_size_nm().unwrap() - 2.18).abs() < 1e-3);
        let mut row = vec![0u8; w];
        for r in 0..h {
            rows.read_row(&mut row).unwrap();
            assert_eq!(row, whole.row(r), "type {k}, row {r}");
        }
        assert!(
            rows.read_row(&mut row).is_err(),
            "reading past the end must fail"
        );
    }
}

/// Float membrane probabilities written with `create_probability` carry a mark that reads back
/// (TIFF ImageDescription, OME-Zarr attributes of the group and of the array); plain float and
/// 8-bit maps carry none.
#[test]
fn the_membrane_probability_mark_survives_write_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let (h, w) = (70, 33);
    let p: Vec<f32> = pattern(h, w).iter().map(|&v| v as f32 / 255.0).collect();
    for format in [StreamFormat::Tiff, StreamFormat::OmeZarr] {
        let ext = format.extension();
        let marked = dir.path().join(format!("marked.{ext}"));
        let mut writer =
            RowWriter::<f32>::create_probability(&marked, format, h, w, Some(2.0), false).unwrap();
        for row in p.chunks_exact(w) {
            writer.write_row(row).unwrap();
        }
        writer.finish().unwrap();
        let plain = dir.path().join(format!("plain.{ext}"));
        write_all(&plain, format, h, w, &p);
        let bytes = dir.path().join(format!("bytes.{ext}"));
        write_all(&bytes, format, h, w, &pattern(h, w));

        let back = read_image(&marked).unwrap();
        assert!(back.membrane_probability, "{ext}: mark lost");
        assert!((back.pixel_size_nm.unwrap() - 2.0).abs() < 1e-3);
        match back.image {
            GreyImage::F32(i) => assert_eq!(i.data, p, "{ext}: values as written"),
            _ => panic!("{ext}: float expected"),
        }
        assert!(
            urisc_io::read_page(&marked, 0)
                .unwrap()
                .membrane_probability
        );
        assert!(urisc_io::read_stack(&marked).unwrap()[0].membrane_probability);
        assert!(!read_image(&plain).unwrap().membrane_probability, "{ext}");
        assert!(!read_image(&bytes).unwrap().membrane_probability, "{ext}");
    }
    // The OME-Zarr mark is in the group's attributes and in the array's, so the array folder
    // opened on its own is marked too.
    let group: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("marked.ome.zarr/zarr.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        group["attributes"]["urisc"],
        serde_json::json!({"values": "membrane-probability"})
    );
    assert!(group["attributes"]["ome"]["multiscales"].is_array());
    let array = dir.path().join("marked.ome.zarr/0");
    assert!(read_image(&array).unwrap().membrane_probability);
    assert!(urisc_io::ZarrArray::open(&array)
        .unwrap()
        .membrane_probability());
    // The TIFF mark is the ImageDescription line.
    let tiff = std::fs::read(dir.path().join("marked.tif")).unwrap();
    let needle = urisc_io::PROBABILITY_DESCRIPTION.as_bytes();
    assert!(tiff.windows(needle.len()).any(|win| win == needle));
}
