//! `urisc bench run`'s suite parser (TOML, datasets, methods, splits, every setting by
//! predict's rules): any text is accepted or refused with a one-line error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("suite.toml");
    if let Err(e) = urisc_bench::Suite::parse(text, &path) {
        assert!(!e.to_string().contains('\n'), "a multi-line error: {e}");
    }
});
