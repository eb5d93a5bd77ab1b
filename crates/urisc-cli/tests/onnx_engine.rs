//! `--engine onnx` (feature `onnx`): ONNX graphs urisc cannot map onto its own network run in
//! tract; graphs it can map give the same maps on both engines. Run by
//! `scripts/test-onnx-tract.sh`.
#![cfg(feature = "onnx")]

use common::{fails_with, ok, s, urisc};
use prost::Message;
use urisc_io::{read_u8, write_png, Image};
use urisc_nn::onnx::proto::ModelProto;
use urisc_nn::onnx::{export_onnx, OnnxOutput};
use urisc_nn::{seeded_net, Architecture, ModelConfig, ModelDescriptor};

mod common;

#[test]
fn graphs_urisc_cannot_map_run_on_the_onnx_engine() {
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig {
        architecture: Architecture::Unet,
        base_width: 4,
        depth: 3,
        coarse: None,
    };
    let net = seeded_net(&config, 5).unwrap();
    let descriptor = ModelDescriptor::new(config, 32);
    let bytes = export_onnx(&net, &descriptor, OnnxOutput::Probability);
    let unet = dir.path().join("unet.onnx");
    std::fs::write(&unet, &bytes).unwrap();
    // The same graph with one ReLU replaced by an ELU: not a network urisc can map.
    let mut model = ModelProto::decode(&bytes[..]).unwrap();
    let graph = model.graph.as_mut().unwrap();
    graph
        .node
        .iter_mut()
        .find(|n| n.op_type == "Relu")
        .unwrap()
        .op_type = "Elu".into();
    let elu = dir.path().join("elu.onnx");
    std::fs::write(&elu, model.encode_to_vec()).unwrap();

    let image = dir.path().join("em.png");
    let data = (0..64 * 96)
        .map(|i| ((i * 53 + i / 96 * 7) % 256) as u8)
        .collect();
    write_png(&image, &Image::new(64, 96, data), None, false).unwrap();
    let predict = |model: &std::path::Path, engine: &str, out: &str| {
        let out = dir.path().join(out);
        ok(&[
            "predict",
            s(&image),
            "--model",
            s(model),
            "--engine",
            engine,
            "--out",
            s(&out),
            "--probabilities",
            s(&out.join("p")),
            "--tile",
            "32",
        ]);
        read_u8(&out.join("p/em.png")).unwrap().data
    };
    // A mappable graph: both engines, the same map to within one grey level.
    let (cpu, onnx) = (predict(&unet, "cpu", "cpu"), predict(&unet, "onnx", "onnx"));
    let worst = cpu
        .iter()
        .zip(&onnx)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 1, "engines differ by {worst} grey levels");
    // The ELU graph: refused by urisc's kernels with the node named, run by tract.
    fails_with(
        &urisc(&[
            "predict",
            s(&image),
            "--model",
            s(&elu),
            "--out",
            s(&dir.path().join("x")),
        ]),
        "Elu",
    );
    let elu_map = predict(&elu, "onnx", "elu");
    assert_eq!(elu_map.len(), 64 * 96);
    assert!(elu_map != onnx, "the ELU changes the map");
    // No gradients on the ONNX engine: attribution says so.
    let out = urisc(&[
        "attribute",
        "--model",
        s(&elu),
        "--engine",
        "onnx",
        "--image",
        s(&image),
        "--pixels",
        "30,40",
        "--steps",
        "4",
        "--out",
        s(&dir.path().join("attr")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gradients"));
}
