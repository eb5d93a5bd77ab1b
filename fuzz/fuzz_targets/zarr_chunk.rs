//! Zarr chunk decoding on untrusted bytes: the first byte picks a data type and a codec
//! pipeline of a 40 × 48 array in 32² chunks, the rest is the bytes of its chunk (0, 0).
#![no_main]

#[path = "common.rs"]
mod common;

const PIPELINES: [&str; 8] = [
    r#"[{"name":"bytes"}]"#,
    r#"[{"name":"bytes"},{"name":"gzip","configuration":{"level":1}}]"#,
    r#"[{"name":"bytes"},{"name":"zstd","configuration":{"level":1}}]"#,
    r#"[{"name":"bytes"},{"name":"crc32c"}]"#,
    r#"[{"name":"sharding_indexed","configuration":{"chunk_shape":[16,16],
        "codecs":[{"name":"bytes"},{"name":"gzip"}],
        "index_codecs":[{"name":"bytes"},{"name":"crc32c"}]}}]"#,
    r#"[{"name":"transpose","configuration":{"order":[1,0]}},{"name":"bytes"},{"name":"zstd"}]"#,
    r#"[{"name":"sharding_indexed","configuration":{"chunk_shape":[8,16],
        "codecs":[{"name":"bytes","configuration":{"endian":"big"}},{"name":"crc32c"}],
        "index_codecs":[{"name":"bytes"}],"index_location":"start"}}]"#,
    r#"[{"name":"bytes","configuration":{"endian":"big"}},{"name":"gzip"},{"name":"crc32c"}]"#,
];

const TYPES: [&str; 4] = ["uint8", "uint16", "float32", "float64"];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, chunk)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = dir.path().join("input.zarr");
    std::fs::create_dir_all(store.join("c/0")).expect("store folder");
    let meta = format!(
        r#"{{"zarr_format":3,"node_type":"array","shape":[40,48],"data_type":"{}",
        "chunk_grid":{{"name":"regular","configuration":{{"chunk_shape":[32,32]}}}},
        "chunk_key_encoding":{{"name":"default"}},"fill_value":0,"codecs":{}}}"#,
        TYPES[(pick >> 3) as usize % TYPES.len()],
        PIPELINES[pick as usize % PIPELINES.len()]
    );
    std::fs::write(store.join("zarr.json"), meta).expect("write metadata");
    std::fs::write(store.join("c/0/0"), chunk).expect("write chunk");
    common::read_every_way(&store);
});
