//! Reading and writing the formats urisc supports, and refusing damaged files clearly.

use std::io::Write;
use std::path::Path;

use tiff::encoder::{colortype, Compression, TiffEncoder};
use urisc_io::{
    read_image, read_page, read_stack, write_png, write_tiff, write_tiff_stack, GreyImage, Image,
    IoErrorKind,
};

fn gradient(h: usize, w: usize) -> Image<u8> {
    Image::new(
        h,
        w,
        (0..h * w).map(|i| ((i * 7 + i / w) % 256) as u8).collect(),
    )
}

fn write_png_raw(
    path: &Path,
    w: u32,
    h: u32,
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

#[test]
fn png_round_trip_keeps_pixels_and_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.png");
    let img = gradient(13, 29);
    write_png(&p, &img, Some(2.18), false).unwrap();
    let back = read_image(&p).unwrap();
    assert_eq!(back.image, GreyImage::U8(img));
    assert!((back.pixel_size_nm.unwrap() - 2.18).abs() < 1e-3);
    assert!(!back.colour_converted);
}

#[test]
fn sixteen_bit_and_rgb_png_become_grey() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g16.png");
    let vals: [u16; 3] = [0, 300, 65535];
    let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_be_bytes()).collect();
    write_png_raw(
        &p,
        3,
        1,
        png::ColorType::Grayscale,
        png::BitDepth::Sixteen,
        &bytes,
    );
    assert_eq!(
        read_image(&p).unwrap().image,
        GreyImage::U16(Image::new(1, 3, vals.to_vec()))
    );

    // Equal channels are grey already; unequal ones go through luma and are flagged.
    let p = dir.path().join("rgb.png");
    write_png_raw(
        &p,
        2,
        1,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        &[9, 9, 9, 200, 200, 200],
    );
    let d = read_image(&p).unwrap();
    assert_eq!(d.image, GreyImage::U8(Image::new(1, 2, vec![9, 200])));
    assert!(!d.colour_converted);
    let p = dir.path().join("colour.png");
    write_png_raw(
        &p,
        1,
        1,
        png::ColorType::Rgba,
        png::BitDepth::Eight,
        &[255, 0, 0, 255],
    );
    let d = read_image(&p).unwrap();
    assert_eq!(d.image, GreyImage::U8(Image::new(1, 1, vec![76])));
    assert!(d.colour_converted);
}

#[test]
fn tiff_round_trips_in_every_sample_format() {
    let dir = tempfile::tempdir().unwrap();
    let img8 = gradient(70, 33); // more rows than one strip
    let img16 = Image::new(2, 2, vec![0u16, 1, 40000, 65535]);
    let imgf = Image::new(1, 3, vec![0.0f32, 0.25, 1.0]);
    for (name, img) in [
        ("u8.tif", GreyImage::U8(img8)),
        ("u16.tif", GreyImage::U16(img16)),
        ("f32.tiff", GreyImage::F32(imgf)),
    ] {
        let p = dir.path().join(name);
        write_tiff(&p, &img, Some(4.0), false).unwrap();
        let back = read_image(&p).unwrap();
        assert_eq!(back.image, img, "{name}");
        assert!((back.pixel_size_nm.unwrap() - 4.0).abs() < 1e-6, "{name}");
    }
}

#[test]
fn multi_page_stacks_read_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train-volume.tif");
    let pages: Vec<Image<u8>> = (0..3)
        .map(|k| Image::new(2, 2, vec![k, k + 1, k + 2, k + 3]))
        .collect();
    write_tiff_stack(&p, &pages, Some(4.0), false).unwrap();
    let stack = read_stack(&p).unwrap();
    assert_eq!(stack.len(), 3);
    assert_eq!(stack[2].image, GreyImage::U8(pages[2].clone()));
    assert_eq!(
        read_page(&p, 1).unwrap().image,
        GreyImage::U8(pages[1].clone())
    );
    let err = read_page(&p, 3).unwrap_err();
    assert_eq!(err.kind, IoErrorKind::Invalid);
}

#[test]
fn bigtiff_and_lzw_tiffs_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let img = gradient(9, 11);
    let p = dir.path().join("big.tif");
    let mut enc = TiffEncoder::new_big(std::fs::File::create(&p).unwrap()).unwrap();
    enc.write_image::<colortype::Gray8>(11, 9, &img.data)
        .unwrap();
    assert_eq!(read_image(&p).unwrap().image, GreyImage::U8(img.clone()));

    let p = dir.path().join("lzw.tif");
    let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap())
        .unwrap()
        .with_compression(Compression::Lzw);
    let rgb: Vec<u8> = img.data.iter().flat_map(|&v| [v, v, v]).collect();
    enc.write_image::<colortype::RGB8>(11, 9, &rgb).unwrap();
    let d = read_image(&p).unwrap();
    assert_eq!(d.image, GreyImage::U8(img));
    assert!(!d.colour_converted);
}

#[test]
fn damaged_files_are_named_in_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    write_png(&good, &gradient(64, 64), None, false).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_image(&truncated).unwrap_err();
    assert_eq!(e.kind, IoErrorKind::Corrupt);
    let msg = e.to_string();
    assert!(msg.starts_with(&truncated.display().to_string()), "{msg}");
    assert!(!msg.contains('\n'));

    let empty = dir.path().join("empty.png");
    std::fs::File::create(&empty).unwrap();
    assert_eq!(read_image(&empty).unwrap_err().kind, IoErrorKind::Corrupt);

    let text = dir.path().join("notes.tif");
    std::fs::File::create(&text)
        .unwrap()
        .write_all(b"hello, not an image")
        .unwrap();
    assert_eq!(
        read_image(&text).unwrap_err().kind,
        IoErrorKind::Unsupported
    );

    let tif = dir.path().join("t.tif");
    write_tiff(&tif, &GreyImage::U8(gradient(200, 200)), None, false).unwrap();
    let bytes = std::fs::read(&tif).unwrap();
    std::fs::write(&tif, &bytes[..bytes.len() / 3]).unwrap();
    assert!(read_image(&tif).is_err());

    let missing = dir.path().join("missing.png");
    let e = read_image(&missing).unwrap_err();
    assert_eq!(e.kind, IoErrorKind::Open);
    assert!(e.to_string().contains("missing.png: no such file"));
}

#[test]
fn writes_refuse_to_overwrite_and_leave_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.png");
    write_png(&p, &gradient(4, 4), None, false).unwrap();
    let e = write_png(&p, &gradient(2, 2), None, false).unwrap_err();
    assert_eq!(e.kind, IoErrorKind::Exists);
    assert!(e.to_string().contains("--force"));
    assert_eq!(read_image(&p).unwrap().image.height(), 4, "original kept");
    write_png(&p, &gradient(2, 2), None, true).unwrap();
    assert_eq!(read_image(&p).unwrap().image.height(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o644,
            "results are readable by others, not private temp files"
        );
    }

    // A failing writer leaves neither the final name nor a temporary file.
    let q = dir.path().join("failed.png");
    let e = urisc_io::write_atomically(&q, false, |f| {
        f.write_all(b"partial")?;
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert_eq!(e.kind, IoErrorKind::Write);
    assert!(!q.exists());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "only out.png remains: {names:?}");
}

#[test]
fn full_size_urisc_section_round_trips() {
    // 9959 × 9958: odd, not a multiple of any tile, ~99 MPixel.
    let (h, w) = (9959, 9958);
    let img = Image::new(
        h,
        w,
        (0..h * w)
            .map(|i| if (i / w + i % w) % 37 < 3 { 0 } else { 255 })
            .collect(),
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("section.png");
    write_png(&p, &img, Some(2.18), false).unwrap();
    let back = read_image(&p).unwrap();
    assert_eq!((back.image.height(), back.image.width()), (h, w));
    assert!(back.image == GreyImage::U8(img));
}
