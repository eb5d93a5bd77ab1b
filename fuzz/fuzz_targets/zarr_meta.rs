//! Zarr metadata on untrusted bytes: the input is a store's `zarr.json` (an array, or a group
//! whose dataset `0` holds a valid small array), chunks absent (fill values).
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = dir.path().join("input.zarr");
    std::fs::create_dir_all(store.join("0")).expect("store folder");
    std::fs::write(store.join("zarr.json"), data).expect("write input");
    let array = r#"{"zarr_format":3,"node_type":"array","shape":[40,48],"data_type":"uint8",
        "chunk_grid":{"name":"regular","configuration":{"chunk_shape":[32,32]}},
        "chunk_key_encoding":{"name":"default"},"fill_value":7,
        "codecs":[{"name":"bytes"}]}"#;
    std::fs::write(store.join("0/zarr.json"), array).expect("write array");
    common::read_every_way(&store);
});
