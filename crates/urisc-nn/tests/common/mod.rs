//! Helpers shared by the ONNX tests.
#![allow(dead_code)]

use urisc_cpu::{pseudo_random, Act, LayerMut, Net};
use urisc_nn::{seeded_net, Architecture, ModelConfig, ModelDescriptor};

/// A seeded network with batch-norm statistics and affines away from the identity, so that
/// folding them is tested.
pub fn net_with_statistics(architecture: Architecture) -> (Net, ModelDescriptor) {
    let config = ModelConfig {
        architecture,
        base_width: 4,
        depth: 3,
        coarse: None,
    };
    let mut net = seeded_net(&config, 11).unwrap();
    let mut seed = 100;
    net.visit_mut(&mut |layer| {
        if let LayerMut::ConvBn(l) = layer {
            seed += 1;
            let n = l.bn.channels();
            let r = pseudo_random(4 * n, seed);
            for c in 0..n {
                l.bn.gamma[c] = 1.0 + 0.4 * r[c];
                l.bn.beta[c] = 0.2 * r[n + c];
                l.bn.running_mean[c] = 0.1 * r[2 * n + c];
                l.bn.running_var[c] = 1.0 + 0.5 * r[3 * n + c];
            }
        }
    });
    let mut descriptor = ModelDescriptor::new(config, 32);
    descriptor.threshold = 0.42;
    descriptor.pixel_size_nm = Some(4.0);
    (net, descriptor)
}

pub fn input(h: usize, w: usize) -> Vec<f32> {
    pseudo_random(h * w, 5)
}

pub fn urisc_logits(net: &Net, h: usize, w: usize, x: &[f32]) -> Vec<f32> {
    net.infer(Act::from_vec(1, h, w, 1, x.to_vec())).data
}

pub fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}
