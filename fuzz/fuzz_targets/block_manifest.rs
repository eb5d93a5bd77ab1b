//! The block manifest every cluster stage loads (`Manifest::load`: JSON, format, the model, the
//! full plan check, the seal): any bytes are accepted or refused with a one-line error, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, data).expect("write input");
    if let Err(e) = urisc_cluster::manifest::Manifest::load(&path) {
        assert!(!e.to_string().contains('\n'), "a multi-line error: {e}");
    }
});
