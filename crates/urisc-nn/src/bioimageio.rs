//! bioimage.io model packages (model spec 0.5): the network as ONNX weights with a probability
//! output, a test input and urisc's output on it (`.npy`), a cover (input beside output), a
//! README, the model's descriptor and training provenance, and `rdf.yaml` tying them together
//! with every file's SHA-256. bioimage.io tools (bioimageio.core, ilastik, deepImageJ, BiaPy)
//! run the package with ONNX Runtime; `bench/onnx/bioimageio_test.sh` checks one with
//! `bioimageio test`.

use std::io::Write;

use sha2::{Digest, Sha256};
use urisc_cpu::{Act, Net};
use urisc_io::Image;

use crate::descriptor::ModelDescriptor;
use crate::onnx::{export_onnx, OnnxOutput, OPSET};

/// The model spec version of the packages written.
pub const FORMAT_VERSION: &str = "0.5.12";

/// Side of the test tensor (a centred crop of the sample, or the whole sample if smaller,
/// rounded down to the model's size multiple).
const TEST_SIDE: usize = 256;

/// A `.npy` file (format 1.0) of little-endian f32 values with `shape`.
pub fn npy_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), values.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces and ending in a
    // newline so the data starts on a 64-byte boundary.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn png_grey(height: usize, width: usize, pixels: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(pixels).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of a Unix time.
fn iso_timestamp(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// bioimage.io names: 5 to 128 of letters, digits and `_+- ()`.
fn package_name(stem: &str) -> String {
    let clean: String = format!("urisc {stem}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+- ()".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    clean
}

/// Text safe inside a double-quoted YAML scalar.
fn quoted(s: &str) -> String {
    format!("{:?}", s)
}

/// The centred crop of `sample` the package's test tensor is made of.
fn test_crop(sample: &Image<u8>, multiple: usize) -> Result<Image<u8>, String> {
    let side = |n: usize| n.min(TEST_SIDE) / multiple * multiple;
    let (h, w) = (side(sample.height), side(sample.width));
    if h == 0 || w == 0 {
        return Err(format!(
            "the sample image ({}×{}) is smaller than the model's size multiple {multiple}",
            sample.height, sample.width
        ));
    }
    let (top, left) = ((sample.height - h) / 2, (sample.width - w) / 2);
    let data = (top..top + h)
        .flat_map(|r| sample.row(r)[left..left + w].iter().copied())
        .collect();
    Ok(Image::new(h, w, data))
}

/// The bytes of a bioimage.io package (`.zip`) of `net` named `name`, its test tensor a crop
/// of `sample` (an EM image of the kind the model is for); `unix_time` stamps it. `attachments`
/// (file name, bytes) travel with it, e.g. the training config, log and curves.
pub fn package(
    net: &Net,
    descriptor: &ModelDescriptor,
    name: &str,
    sample: &Image<u8>,
    unix_time: u64,
    attachments: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    const OWN: [&str; 7] = [
        "rdf.yaml",
        "weights.onnx",
        "test_input.npy",
        "test_output.npy",
        "cover.png",
        "README.md",
        "training.json",
    ];
    if let Some((n, _)) = attachments
        .iter()
        .find(|(n, _)| OWN.contains(&n.as_str()) || n.contains('/') || n.is_empty())
    {
        return Err(format!(
            "attachment name {n:?} clashes with the package's own files"
        ));
    }
    let crop = test_crop(sample, descriptor.model.size_multiple())?;
    let (h, w) = (crop.height, crop.width);
    let norm = descriptor.normalization;
    // bioimage.io's scale_linear: x = gain·v + offset, the descriptor's (v/255 − mean)/std.
    let gain = 1.0 / (255.0 * norm.std);
    let offset = -norm.mean / norm.std;
    let test_input: Vec<f32> = crop.data.iter().map(|&v| v as f32).collect();
    let x: Vec<f32> = test_input.iter().map(|&v| gain * v + offset).collect();
    let logits = net.infer(Act::from_vec(1, h, w, 1, x)).data;
    let probability: Vec<f32> = logits.iter().map(|z| 1.0 / (1.0 + (-z).exp())).collect();
    let cover = {
        // Input beside the membrane probability (membrane dark, as the input shows it).
        let mut pixels = Vec::with_capacity(2 * h * w);
        for r in 0..h {
            pixels.extend_from_slice(crop.row(r));
            pixels.extend(
                probability[r * w..][..w]
                    .iter()
                    .map(|&p| urisc_io::encoding::stored_from_probability(p)),
            );
        }
        png_grey(h, 2 * w, &pixels)?
    };
    let onnx = export_onnx(net, descriptor, OnnxOutput::Probability);
    let provenance =
        serde_json::to_vec_pretty(descriptor).map_err(|e| format!("descriptor: {e}"))?;
    let config = &descriptor.model;
    let pixel_size = descriptor
        .pixel_size_nm
        .map_or("unknown".to_string(), |p| format!("{p} nm/pixel"));
    let readme = format!(
        "# {name}: membrane segmentation of electron-microscopy sections\n\n\
         A {arch:?} network (base width {width}, depth {depth}) from urisc, exported with \
         `urisc model export --format bioimageio`.\n\n\
         ## Inputs and outputs\n\n\
         - `input`: one grey channel, axes `batch, channel, y, x`, 8-bit intensities 0–255 \
         (as float32); y and x multiples of {multiple}. Preprocessing: \
         `(v/255 − {mean}) / {std}`.\n\
         - `probability`: membrane probability in [0, 1], same size. A pixel is membrane when \
         its probability is ≥ {threshold} (the threshold chosen on validation data).\n\n\
         The network sees {field} pixels around each output pixel; on large images run it in \
         overlapping tiles (urisc's `predict` blends tiles seamlessly).\n\n\
         ## Training\n\n\
         Pixel size of the training data: {pixel_size}. Provenance (data, split, seed, steps) is \
         in `training.json` and under `config.urisc` in `rdf.yaml`{attached}.\n\n\
         ## Validation\n\n\
         The test output was computed by urisc's own CPU kernels; `bioimageio test` reproduces \
         it with ONNX Runtime. For scores on held-out data see the urisc repository's \
         `docs/results/`.\n",
        arch = config.architecture,
        width = config.base_width,
        depth = config.depth,
        multiple = config.size_multiple(),
        mean = norm.mean,
        std = norm.std,
        threshold = descriptor.threshold,
        field = crate::receptive_field(config),
        attached = if attachments.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = attachments.iter().map(|(n, _)| format!("`{n}`")).collect();
            format!(
                "; the training run's files are attached: {}",
                names.join(", ")
            )
        },
    );
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("weights.onnx", onnx),
        ("test_input.npy", npy_f32(&[1, 1, h, w], &test_input)),
        ("test_output.npy", npy_f32(&[1, 1, h, w], &probability)),
        ("cover.png", cover),
        ("README.md", readme.into_bytes()),
        ("training.json", provenance),
    ];
    files.extend(attachments.iter().map(|(n, b)| (n.as_str(), b.clone())));
    let sha = |file: &str| {
        sha256_hex(
            &files
                .iter()
                .find(|(n, _)| *n == file)
                .expect("a packaged file")
                .1,
        )
    };
    let extra_attachments: String = attachments
        .iter()
        .map(|(n, _)| format!("\n  - source: {n}\n    sha256: {}", sha(n)))
        .collect();
    let training: String = descriptor
        .training
        .iter()
        .map(|(k, v)| format!("\n      {}: {}", quoted(k), quoted(v)))
        .collect();
    let rdf = format!(
        r#"# bioimage.io model description, written by urisc {version}
format_version: {FORMAT_VERSION}
type: model
name: {name_q}
description: "Membrane probability of electron-microscopy sections: a {arch:?} network (base width {width}, depth {depth}) trained with urisc."
version: 0.1.0
timestamp: "{timestamp}"
authors:
  - name: urisc developers
license: MIT
tags: [unet, 2d, electron-microscopy, cell-membrane, semantic-segmentation, connectomics, onnx, urisc]
cite:
  - text: "Shi et al. (2022): U-RISC: An Annotated Ultra-High-Resolution Electron Microscopy Dataset Challenging the Existing Deep Learning Algorithms"
    doi: 10.3389/fncom.2022.842760
  - text: "Ronneberger et al. (2015): U-Net: Convolutional Networks for Biomedical Image Segmentation"
    doi: 10.1007/978-3-319-24574-4_28
documentation:
  source: README.md
  sha256: {sha_readme}
covers:
  - source: cover.png
    sha256: {sha_cover}
attachments:
  - source: training.json
    sha256: {sha_training}{extra_attachments}
inputs:
  - id: input
    description: grey values in the 8-bit range 0..255
    axes:
      - type: batch
      - type: channel
        channel_names: [raw]
      - type: space
        id: y
        size: {{min: {multiple}, step: {multiple}}}
      - type: space
        id: x
        size: {{min: {multiple}, step: {multiple}}}
    data:
      type: float32
      range: [0.0, 255.0]
    test_tensor:
      source: test_input.npy
      sha256: {sha_in}
    preprocessing:
      - id: scale_linear
        kwargs:
          gain: {gain:?}
          offset: {offset:?}
outputs:
  - id: probability
    description: membrane probability (membrane iff >= {threshold})
    axes:
      - type: batch
      - type: channel
        channel_names: [membrane]
      - type: space
        id: y
        size: {{tensor_id: input, axis_id: y}}
      - type: space
        id: x
        size: {{tensor_id: input, axis_id: x}}
    data:
      type: float32
      range: [0.0, 1.0]
    test_tensor:
      source: test_output.npy
      sha256: {sha_out}
weights:
  onnx:
    source: weights.onnx
    sha256: {sha_onnx}
    opset_version: {OPSET}
    authors:
      - name: urisc developers
    comment: "written by urisc model export; batch norm folded into the convolutions"
config:
  bioimageio:
    reproducibility_tolerance:
      - absolute_tolerance: 0.0001
        relative_tolerance: 0.0001
        mismatched_elements_per_million: 0
    architecture_type: U-Net
    model_parameter_count: {params}
  urisc:
    architecture: {arch_snake}
    base_width: {width}
    depth: {depth}
    tile_size: {tile}
    threshold: {threshold}
    pixel_size_nm: {pixel_size_yaml}
    normalization: {{mean: {mean}, std: {std}}}
    training:{training_or_empty}
"#,
        version = env!("CARGO_PKG_VERSION"),
        name_q = quoted(&package_name(name)),
        arch = config.architecture,
        arch_snake = serde_json::to_value(config.architecture)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        width = config.base_width,
        depth = config.depth,
        timestamp = iso_timestamp(unix_time),
        sha_readme = sha("README.md"),
        sha_cover = sha("cover.png"),
        sha_training = sha("training.json"),
        sha_in = sha("test_input.npy"),
        sha_out = sha("test_output.npy"),
        sha_onnx = sha("weights.onnx"),
        multiple = config.size_multiple(),
        threshold = descriptor.threshold,
        params = crate::trainable_parameters(config),
        tile = descriptor.tile_size,
        pixel_size_yaml = descriptor
            .pixel_size_nm
            .map_or("null".to_string(), |p| p.to_string()),
        mean = norm.mean,
        std = norm.std,
        training_or_empty = if training.is_empty() {
            " {}".to_string()
        } else {
            training
        },
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (file, bytes) in std::iter::once(("rdf.yaml", rdf.as_bytes()))
        .chain(files.iter().map(|(n, b)| (*n, b.as_slice())))
    {
        zip.start_file(file, options).map_err(|e| e.to_string())?;
        zip.write_all(bytes).map_err(|e| e.to_string())?;
    }
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_dates() {
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(iso_timestamp(1_796_000_000), "2026-11-30T00:53:20");
        assert_eq!(iso_timestamp(951_782_400), "2000-02-29T00:00:00");
    }

    #[test]
    fn npy_headers_align_the_data() {
        let bytes = npy_f32(&[1, 1, 2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let data = bytes.len() - 24;
        assert_eq!(data % 64, 0, "data starts on a 64-byte boundary");
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(bytes[data - 1], b'\n');
        let header = std::str::from_utf8(&bytes[10..data]).unwrap();
        assert!(header.contains("'shape': (1, 1, 2, 3)"), "{header}");
        assert_eq!(
            f32::from_le_bytes(bytes[data + 4..data + 8].try_into().unwrap()),
            1.0
        );
    }
}
