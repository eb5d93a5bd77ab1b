//! Label images (cell ids): 32-bit TIFF round trip, 8/16-bit ids, refusals.

use urisc_io::{read_labels, write_label_tiff, write_png, write_tiff, GreyImage, Image};

#[test]
fn label_tiff_round_trips_every_u32_and_the_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cells.tif");
    // Odd size, more than one 64-row strip, ids across the whole u32 range.
    let (h, w) = (131, 7);
    let data: Vec<u32> = (0..h * w as u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let labels = Image::new(h as usize, w, data);
    write_label_tiff(&path, &labels, Some(4.0), false).unwrap();
    assert_eq!(read_labels(&path).unwrap(), labels);
    let decoded = urisc_io::probe(&path).unwrap();
    assert_eq!(decoded, (1, h as usize, w));
    // Refused without overwrite; replaced with it.
    let err = write_label_tiff(&path, &labels, None, false).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    write_label_tiff(&path, &Image::filled(1, 1, 5), None, true).unwrap();
    assert_eq!(read_labels(&path).unwrap().data, vec![5]);
}

#[test]
fn eight_and_sixteen_bit_images_are_ids_and_float_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("ids.png");
    write_png(&png, &Image::new(1, 3, vec![0u8, 3, 255]), None, false).unwrap();
    assert_eq!(read_labels(&png).unwrap().data, vec![0, 3, 255]);
    let tif16 = dir.path().join("ids16.tif");
    write_tiff(
        &tif16,
        &GreyImage::U16(Image::new(1, 2, vec![0, 60000])),
        None,
        false,
    )
    .unwrap();
    assert_eq!(read_labels(&tif16).unwrap().data, vec![0, 60000]);
    let float = dir.path().join("p.tif");
    write_tiff(
        &float,
        &GreyImage::F32(Image::new(1, 1, vec![0.5])),
        None,
        false,
    )
    .unwrap();
    let err = read_labels(&float).unwrap_err();
    assert!(err.to_string().contains("not a label image"), "{err}");
    assert!(err.to_string().contains("p.tif"), "{err}");
}

#[test]
fn rgb_png_is_written_and_reads_back_as_luma() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overlay.png");
    urisc_io::write_png_rgb(&path, 1, 2, &[10, 10, 10, 255, 0, 0], Some(4.0), false).unwrap();
    let back = urisc_io::read_image(&path).unwrap();
    assert!(back.colour_converted);
    assert_eq!(back.image.into_u8().data, vec![10, 76]);
}
