//! What every target does with an input once it is on disk: every entry point of the format
//! registry, and the property of issue 37 that whole and streamed reads agree.

use std::path::Path;

/// Headers may declare up to `urisc_io::MAX_PLANE_PIXELS`; decoding that much is legitimate
/// (and slow), so whole decodes are left to inputs of at most this many pixels. The header
/// paths (`probe`, `page_size`) and the size checks run on every input.
const DECODE_PIXELS: usize = 1 << 22;

/// Writes `bytes` as a file named `name` in a fresh folder and reads it every way.
#[allow(dead_code)]
pub fn file(bytes: &[u8], name: &str) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write input");
    read_every_way(&path);
}

/// Probes `path`, then reads it whole and by rows (when the header's size allows): both must
/// accept it with the same pixels or refuse it with the same one-line error.
pub fn read_every_way(path: &Path) {
    let _ = urisc_io::probe(path);
    let Ok((h, w)) = urisc_io::page_size(path, 0) else {
        return;
    };
    if h.saturating_mul(w) > DECODE_PIXELS {
        return;
    }
    let whole = urisc_io::read_image(path).map(|d| d.image.into_u8());
    let streamed = stream(path);
    match (&whole, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "whole and streamed pixels differ"),
        (Err(a), Err(b)) => {
            assert_eq!(
                a.to_string(),
                b.to_string(),
                "whole and streamed errors differ"
            );
            assert!(!a.to_string().contains('\n'), "a multi-line error: {a}");
        }
        _ => panic!(
            "whole read {:?}, streamed read {:?}",
            whole.as_ref().map(|_| "ok"),
            streamed.as_ref().map(|_| "ok")
        ),
    }
}

fn stream(path: &Path) -> Result<urisc_io::Image<u8>, urisc_io::IoError> {
    let mut rows = urisc_io::open_rows(path)?;
    let (h, w) = (rows.height(), rows.width());
    let mut data = vec![0u8; h * w];
    for row in data.chunks_exact_mut(w.max(1)) {
        rows.read_row(row)?;
    }
    Ok(urisc_io::Image::new(h, w, data))
}
