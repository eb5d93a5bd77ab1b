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

/// A small untrained U-Net model file (`NAME.safetensors`, depth 3, tile 64).
pub fn untrained_model(dir: &Path, name: &str, base_width: usize) -> PathBuf {
    let path = dir.join(format!("{name}.safetensors"));
    let config = urisc_nn::ModelConfig {
        architecture: urisc_nn::Architecture::Unet,
        base_width,
        depth: 3,
        coarse: None,
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

/// A small untrained model file, for commands that need one.
pub fn tiny_model(dir: &Path) -> PathBuf {
    untrained_model(dir, "tiny", 2)
}

/// Two 32×32 labelled images of stripes in `dir/data` (`images/`, `labels/`) and a tiny training
/// config `dir/tiny.toml` for them (validation on sample "1", 2 epochs of 2 steps).
pub fn tiny_dataset(dir: &Path) -> PathBuf {
    for k in 0..2usize {
        let label: Vec<u8> = (0..32 * 32)
            .map(|i| if (i % 32 + k) % 8 < 2 { 0 } else { 255 })
            .collect();
        let image: Vec<u8> = label
            .iter()
            .map(|&v| if v == 0 { 60 } else { 200 })
            .collect();
        for (sub, img) in [("images", image), ("labels", label)] {
            std::fs::create_dir_all(dir.join("data").join(sub)).unwrap();
            let path = dir.join(format!("data/{sub}/{k}.png"));
            urisc_io::write_png(&path, &urisc_io::Image::new(32, 32, img), None, false).unwrap();
        }
    }
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        "seed = 1\n[data]\npath = \"data\"\nvalidation = [\"1\"]\n[model]\narchitecture = \"unet\"\nbase_width = 4\ndepth = 2\n\
         [crop]\nsize = 16\n[train]\nepochs = 2\nsteps_per_epoch = 2\nbatch = 2\n",
    )
    .unwrap();
    config
}

/// Runs `urisc ARGS`, asserts success (showing stderr otherwise), returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = urisc(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
