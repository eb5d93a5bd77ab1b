//! The block-wise cells plan (`cells-plan.json`, loaded by every `urisc cells-run` stage): any
//! bytes are accepted or refused with a one-line error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::write(dir.path().join(urisc_cells::plan::PLAN_FILE), data).expect("write input");
    if let Err(e) = urisc_cells::plan::CellsPlan::load(dir.path()) {
        assert!(!e.to_string().contains('\n'), "a multi-line error: {e}");
    }
});
