//! Every input the fuzzer (`fuzz/`, see its README) found a defect with, kept in
//! `tests/data/fuzz/` and read as the fuzz targets read it: no panic, and a whole read and a
//! streamed read agree (the same pixels, or the same one-line error).

use std::path::Path;

use urisc_io::{open_rows, read_image, Image, IoError};

fn stream(path: &Path) -> Result<Image<u8>, IoError> {
    let mut rows = open_rows(path)?;
    let (h, w) = (rows.height(), rows.width());
    let mut data = vec![0u8; h * w];
    for row in data.chunks_exact_mut(w.max(1)) {
        rows.read_row(row)?;
    }
    Ok(Image::new(h, w, data))
}

#[test]
fn fuzz_findings_read_the_same_both_ways_in_one_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        seen += 1;
        let whole = read_image(&path).map(|d| d.image.into_u8());
        match (whole, stream(&path)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", path.display()),
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{}", path.display());
                assert!(!a.to_string().contains('\n'), "{a}");
            }
            (a, b) => panic!(
                "{}: whole {:?}, streamed {:?}",
                path.display(),
                a.err(),
                b.err()
            ),
        }
    }
    assert!(seen > 0);
}
