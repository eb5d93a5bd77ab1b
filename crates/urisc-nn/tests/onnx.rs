//! ONNX exchange without an ONNX runtime: export then import restores the model, a U-Net
//! exported from PyTorch runs on urisc's kernels with PyTorch's logits, and graphs urisc cannot
//! run are named. (That the exports run in other runtimes: `tests/onnx_tract.rs` with tract,
//! `python/tests` with ONNX Runtime.)

mod common;

use std::path::Path;

use common::{input, max_difference, net_with_statistics, urisc_logits};
use urisc_nn::onnx::{export_onnx, import_onnx, ImportDefaults, OnnxOutput};
use urisc_nn::{load_model, Architecture};

#[test]
fn export_then_import_restores_the_model() {
    for architecture in [Architecture::Unet, Architecture::ResUnet] {
        let (net, descriptor) = net_with_statistics(architecture);
        for output in [OnnxOutput::Logits, OnnxOutput::Probability] {
            let bytes = export_onnx(&net, &descriptor, output);
            let (imported, d) = import_onnx(&bytes, &ImportDefaults::default()).unwrap();
            assert_eq!(d, descriptor, "the descriptor travels in the metadata");
            let x = input(32, 32);
            let diff = max_difference(
                &urisc_logits(&imported, 32, 32, &x),
                &urisc_logits(&net, 32, 32, &x),
            );
            assert!(
                diff < 1e-5,
                "{architecture:?}: imported logits differ by {diff}"
            );
        }
    }
}

/// Reads a little-endian f32 `.npy` file (numpy's format 1.0) as (shape, values).
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_text = header.split("'shape': (").nth(1).unwrap();
    let shape: Vec<usize> = shape_text[..shape_text.find(')').unwrap()]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let values = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (shape, values)
}

#[test]
fn a_unet_exported_from_pytorch_runs_on_urisc_kernels() {
    // Made by bench/onnx/export_torch_unet.py (the PyTorch peer's U-Net, width 4, depth 3,
    // batch-norm statistics randomised; torch's classic exporter folds them into the convs).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model = dir.join("torch_unet_w4_d3.onnx");
    let (shape, x) = read_npy(&dir.join("torch_unet_w4_d3_input.npy"));
    let (out_shape, expected) = read_npy(&dir.join("torch_unet_w4_d3_logits.npy"));
    assert_eq!(shape, out_shape);
    let (h, w) = (shape[2], shape[3]);
    // Through load_model, as `urisc predict --model FILE.onnx` loads it.
    let (net, descriptor) = load_model(&model).unwrap();
    assert_eq!(descriptor.model.architecture, Architecture::Unet);
    assert_eq!(
        (descriptor.model.base_width, descriptor.model.depth),
        (4, 3)
    );
    let d = max_difference(&urisc_logits(&net, h, w, &x), &expected);
    // The fixture's logits span only ≈ 0.06 (a random net): a tight bound.
    assert!(d < 1e-5, "urisc's logits differ from PyTorch's by {d}");
}

#[test]
fn graphs_urisc_cannot_run_are_named() {
    let (net, descriptor) = net_with_statistics(Architecture::Unet);
    let bytes = export_onnx(&net, &descriptor, OnnxOutput::Logits);
    // Swap one ReLU for another activation.
    use prost::Message;
    let mut model = urisc_nn::onnx::proto::ModelProto::decode(&bytes[..]).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let relu = graph.node.iter_mut().find(|n| n.op_type == "Relu").unwrap();
    relu.op_type = "Elu".into();
    let name = relu.name.clone();
    let err = import_onnx(&model.encode_to_vec(), &ImportDefaults::default()).unwrap_err();
    assert!(
        err.contains("expected one Relu") && err.contains(&name),
        "{err}"
    );
    let err = import_onnx(b"not a model at all", &ImportDefaults::default()).unwrap_err();
    assert!(err.contains("not an ONNX model"), "{err}");
}
