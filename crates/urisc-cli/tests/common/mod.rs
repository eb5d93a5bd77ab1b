//! Helpers shared by the binary's end-to-end tests.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn urisc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_urisc"))
        .args(args)
        .output()
        .expect("runs")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts failure with a single stderr line that mentions `needle`.
pub fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one-line error expected, got: {err}");
    assert!(lines[0].contains(needle), "'{needle}' not in: {}", lines[0]);
}

/// A small untrained model file, for commands that need one.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.safetensors");
    let config = urisc_nn::ModelConfig {
        architecture: urisc_nn::Architecture::Unet,
        base_width: 2,
        depth: 3,
    };
    let net = urisc_nn::seeded_net(&config, 7).unwrap();
    urisc_nn::save_model(
        &path,
        &net,
        &urisc_nn::ModelDescriptor::new(config, 64),
        false,
    )
    .unwrap();
    path
}
