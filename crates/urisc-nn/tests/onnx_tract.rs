//! urisc's ONNX exports run in tract, a pure-Rust ONNX runtime, with urisc's logits (both
//! architectures, logits and probability outputs, two input sizes through one file). Needs the
//! `tract` feature: `scripts/test-onnx-tract.sh`.
#![cfg(feature = "tract")]

mod common;

use common::{input, max_difference, net_with_statistics, urisc_logits};
use tract_onnx::prelude::*;
use urisc_nn::onnx::{export_onnx, OnnxOutput};
use urisc_nn::Architecture;

fn tract_run(onnx: &[u8], h: usize, w: usize, x: &[f32]) -> Vec<f32> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .unwrap()
        .with_input_fact(0, f32::fact([1, 1, h, w]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::Array4::from_shape_vec((1, 1, h, w), x.to_vec()).unwrap();
    let out = model.run(tvec!(Tensor::from(input).into())).unwrap();
    let view = out[0].to_plain_array_view::<f32>().unwrap();
    assert_eq!(view.shape(), &[1, 1, h, w]);
    view.iter().copied().collect()
}

#[test]
fn exported_models_run_in_tract_with_urisc_logits() {
    for architecture in [Architecture::Unet, Architecture::ResUnet] {
        let (net, descriptor) = net_with_statistics(architecture);
        // Two sizes through one file: height and width are dynamic.
        for (h, w) in [(32, 40), (24, 64)] {
            let x = input(h, w);
            let expected = urisc_logits(&net, h, w, &x);
            let logits = tract_run(
                &export_onnx(&net, &descriptor, OnnxOutput::Logits),
                h,
                w,
                &x,
            );
            let d = max_difference(&logits, &expected);
            assert!(d < 1e-4, "{architecture:?} {h}×{w}: logits differ by {d}");
            let probability = tract_run(
                &export_onnx(&net, &descriptor, OnnxOutput::Probability),
                h,
                w,
                &x,
            );
            let sigmoid: Vec<f32> = expected.iter().map(|z| 1.0 / (1.0 + (-z).exp())).collect();
            let d = max_difference(&probability, &sigmoid);
            assert!(
                d < 1e-5,
                "{architecture:?} {h}×{w}: probabilities differ by {d}"
            );
        }
    }
}

/// A two-stage model exports as one graph (AveragePool, the coarse network, Sigmoid, nearest
/// Resize, Concat, the fine network) that tract runs with urisc's logits: frozen stages at
/// factors 2 and 4, and a jointly trained branch fusing features.
#[test]
fn two_stage_models_export_as_one_graph() {
    // Frozen stages (probability) at factors 2 and 4, a joint branch (3 feature channels).
    for (factor, features) in [(2, None), (4, None), (2, Some(3))] {
        let (fine, mut descriptor) = net_with_statistics(Architecture::Unet);
        let (coarse, coarse_descriptor) = net_with_statistics(Architecture::ResUnet);
        descriptor.model.coarse = Some(Box::new(urisc_nn::CoarseStage {
            factor,
            features,
            model: coarse_descriptor.model,
        }));
        // The fine stage's weights with more input channels (seeded), the coarse stage's
        // statistics (a joint branch's head seeded for its channels).
        let mut net = urisc_nn::seeded_net(&descriptor.model, 5).unwrap();
        net.up = fine.up;
        net.head = fine.head;
        let mut coarse_net = net.coarse.take().unwrap().net;
        coarse_net.down = coarse.down;
        coarse_net.up = coarse.up;
        net.coarse = Some(Box::new(urisc_cpu::Coarse {
            net: coarse_net,
            factor,
            joint: features.is_some(),
        }));
        let (h, w) = (32, 48);
        let x = input(h, w);
        let expected = urisc_logits(&net, h, w, &x);
        let logits = tract_run(
            &export_onnx(&net, &descriptor, OnnxOutput::Logits),
            h,
            w,
            &x,
        );
        let d = max_difference(&logits, &expected);
        assert!(d < 1e-4, "factor {factor}: logits differ by {d}");
    }
}
