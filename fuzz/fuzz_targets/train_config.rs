//! `urisc train`'s config parser (TOML, then every range check): any text is accepted or
//! refused with a one-line error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = urisc_train::TrainConfig::parse(text, &[]) {
        assert!(!e.to_string().contains('\n'), "a multi-line error: {e}");
    }
});
