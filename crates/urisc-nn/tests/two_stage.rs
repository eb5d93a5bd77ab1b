//! Two-stage (coarse-to-fine) and two-scale models on urisc's kernels: the forward pass is the
//! composition it claims to be, input gradients through both stages (and a joint coarse
//! branch's parameter gradients) match finite differences, gradients stay inside the receptive
//! field `receptive_interval` reports (which the coarse path widens), and model files keep both
//! stages. The fine stage alone is checked against burn in `fast.rs`.

use urisc_cpu::{pseudo_random, Act, Coarse, LayerMut, Mode, Net};
use urisc_model::{BatchShape, InputGradient, SegmentationModel};
use urisc_nn::{
    forward_flops, load_model, model_bytes, model_from_bytes, receptive_interval, seeded_net,
    trainable_parameters, Architecture, CoarseStage, FastSegmenter, ModelConfig, ModelDescriptor,
};

fn one_stage(architecture: Architecture, base_width: usize, depth: usize) -> ModelConfig {
    ModelConfig {
        architecture,
        base_width,
        depth,
        coarse: None,
    }
}

fn two_stage(fine: ModelConfig, coarse: ModelConfig, factor: usize) -> ModelConfig {
    with_coarse(fine, coarse, factor, None)
}

fn with_coarse(
    fine: ModelConfig,
    coarse: ModelConfig,
    factor: usize,
    features: Option<usize>,
) -> ModelConfig {
    ModelConfig {
        coarse: Some(Box::new(CoarseStage {
            factor,
            features,
            model: coarse,
        })),
        ..fine
    }
}

/// Batch norm away from the identity, so that its use in either stage is tested.
fn scramble(net: &mut Net, mut seed: u64) {
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
}

fn model(config: &ModelConfig, seed: u64) -> FastSegmenter {
    let mut net = seeded_net(config, seed).unwrap();
    scramble(&mut net, 100);
    if let Some(c) = &mut net.coarse {
        scramble(&mut c.net, 200);
    }
    FastSegmenter::from_cpu_net(net, ModelDescriptor::new(config.clone(), 32))
}

#[test]
fn the_forward_pass_is_the_coarse_map_stacked_on_the_image() {
    let config = two_stage(
        one_stage(Architecture::Unet, 4, 3),
        one_stage(Architecture::ResUnet, 3, 2),
        2,
    );
    let m = model(&config, 3);
    assert_eq!(m.size_multiple(), 4);
    let (h, w) = (8, 12);
    let x = pseudo_random(h * w, 9);
    let shape = BatchShape {
        n: 1,
        height: h,
        width: w,
    };
    let ours = m.logits(&x, shape).unwrap();
    // By hand: 2×2 means, the coarse logits, sigmoid, nearest upsampling, stacked.
    let net = m.cpu_net();
    let Coarse {
        net: coarse,
        factor,
        joint,
    } = &**net.coarse.as_ref().unwrap();
    assert!(!joint);
    assert_eq!(*factor, 2);
    let (sh, sw) = (h / 2, w / 2);
    let small: Vec<f32> = (0..sh * sw)
        .map(|i| {
            let (r, c) = (2 * (i / sw), 2 * (i % sw));
            (x[r * w + c] + x[r * w + c + 1] + x[(r + 1) * w + c] + x[(r + 1) * w + c + 1]) / 4.0
        })
        .collect();
    let p = coarse.infer(Act::from_vec(1, sh, sw, 1, small)).data;
    let mut stacked = Vec::with_capacity(2 * h * w);
    for r in 0..h {
        for c in 0..w {
            stacked.push(x[r * w + c]);
            stacked.push(1.0 / (1.0 + (-p[(r / 2) * sw + c / 2]).exp()));
        }
    }
    let mut fine = net.clone();
    fine.coarse = None;
    assert_eq!(fine.input_channels(), 2);
    let reference = fine.infer(Act::from_vec(1, h, w, 2, stacked)).data;
    for (a, b) in ours.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn input_gradients_through_both_stages_match_finite_differences() {
    for factor in [1, 2, 4] {
        let config = two_stage(
            one_stage(Architecture::ResUnet, 3, 2),
            one_stage(Architecture::Unet, 3, 2),
            factor,
        );
        let m = model(&config, 5);
        let size = 8;
        let shape = BatchShape {
            n: 1,
            height: size,
            width: size,
        };
        let base = pseudo_random(size * size, 13);
        let targets = [(2, 3), (5, 5), (7, 0)];
        let g = m.logit_input_gradient(&base, shape, &targets).unwrap();
        let objective = |input: &[f32]| -> f64 {
            let out = m.logits(input, shape).unwrap();
            targets.iter().map(|&(r, c)| out[r * size + c] as f64).sum()
        };
        // Central differences; a step that crosses a ReLU or max-pool kink is retried smaller
        // (a kink shrinks away with the step, a wrong gradient does not).
        for i in [0, 9, 27, 36, 63] {
            let numeric_at = |h: f32| {
                let (mut plus, mut minus) = (base.clone(), base.clone());
                plus[i] += h;
                minus[i] -= h;
                (objective(&plus) - objective(&minus)) / (2.0 * h as f64)
            };
            let rel = |numeric: f64| (numeric - g[i] as f64).abs() / numeric.abs().max(0.1);
            let err = rel(numeric_at(1e-3)).min(rel(numeric_at(2.5e-4)));
            assert!(
                err < 2e-2,
                "factor {factor}, pixel {i}: gradient {} vs finite differences (rel. error {err})",
                g[i]
            );
        }
    }
}

#[test]
fn the_coarse_stage_widens_the_receptive_field_and_gradients_stay_inside_it() {
    let fine = one_stage(Architecture::Unet, 8, 2);
    let config = two_stage(fine.clone(), one_stage(Architecture::Unet, 8, 3), 2);
    let size = 96;
    let centre = size / 2;
    let (lo, hi) = receptive_interval(&config, centre as i64);
    let (fine_lo, fine_hi) = receptive_interval(&fine, centre as i64);
    assert!(
        lo < fine_lo - 10 && hi > fine_hi + 10,
        "{lo}..{hi} vs the fine stage's {fine_lo}..{fine_hi}"
    );
    let m = model(&config, 7);
    let shape = BatchShape {
        n: 1,
        height: size,
        width: size,
    };
    let g = m
        .logit_input_gradient(&pseudo_random(size * size, 3), shape, &[(centre, centre)])
        .unwrap();
    let rows: Vec<i64> = (0..size)
        .filter(|r| (0..size).any(|c| g[r * size + c] != 0.0))
        .map(|r| r as i64)
        .collect();
    let (first, last) = (rows[0], *rows.last().unwrap());
    assert!(
        first >= lo && last <= hi,
        "rows {first}..{last} outside {lo}..{hi}"
    );
    // The gradient reaches beyond what the fine stage alone sees: the coarse path is used.
    assert!(
        first < fine_lo && last > fine_hi,
        "rows {first}..{last} within the fine stage's {fine_lo}..{fine_hi}"
    );
}

#[test]
fn counts_include_both_stages() {
    let fine = one_stage(Architecture::Unet, 8, 5);
    let coarse = one_stage(Architecture::Unet, 8, 5);
    let config = two_stage(fine.clone(), coarse.clone(), 2);
    // The fine stage's first convolution has a second input channel: 8 × 9 more weights.
    assert_eq!(
        trainable_parameters(&config),
        trainable_parameters(&fine) + 72 + trainable_parameters(&coarse)
    );
    assert_eq!(
        forward_flops(&config, 512, 512),
        forward_flops(&fine, 512, 512) + 2 * 72 * 512 * 512 + forward_flops(&coarse, 256, 256)
    );
    assert_eq!(config.size_multiple(), 32);
}

#[test]
fn model_files_keep_both_stages_and_refuse_a_missing_one() {
    let config = two_stage(
        one_stage(Architecture::Unet, 4, 3),
        one_stage(Architecture::Unet, 4, 3),
        2,
    );
    let m = model(&config, 11);
    let mut descriptor = ModelDescriptor::new(config.clone(), 64);
    descriptor.pixel_size_nm = Some(2.0);
    let bytes = model_bytes(m.cpu_net(), &descriptor).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two-stage.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let (net, read) = load_model(&path).unwrap();
    assert_eq!(read.model, config);
    let shape = BatchShape {
        n: 1,
        height: 16,
        width: 16,
    };
    let x = pseudo_random(256, 1);
    let loaded = FastSegmenter::from_cpu_net(net, read);
    assert_eq!(
        loaded.logits(&x, shape).unwrap(),
        m.logits(&x, shape).unwrap()
    );
    // The same weights under a descriptor without the coarse stage: its tensors are extra.
    let mut one = descriptor.clone();
    one.model.coarse = None;
    let err = model_from_bytes(&path, &model_bytes(m.cpu_net(), &one).unwrap())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not match"), "{err}");
    // A one-stage file under a two-stage descriptor: the coarse tensors are missing.
    let mut fine_only = m.cpu_net().clone();
    fine_only.coarse = None;
    let err = model_from_bytes(&path, &model_bytes(&fine_only, &descriptor).unwrap())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("coarse.down.0") && err.contains("missing"),
        "{err}"
    );
}

/// A two-scale model (a coarse branch trained jointly, fusing 3 feature channels): the forward
/// pass stacks the branch's raw head outputs (no sigmoid), and in a training step the gradients
/// of the branch's parameters and of the input match finite differences; running statistics
/// of both stages move.
#[test]
fn a_joint_coarse_branch_fuses_features_and_gets_parameter_gradients() {
    let config = with_coarse(
        one_stage(Architecture::Unet, 3, 2),
        one_stage(Architecture::ResUnet, 3, 2),
        2,
        Some(3),
    );
    let mut net = seeded_net(&config, 8).unwrap();
    assert!(net.coarse.as_ref().unwrap().joint);
    assert_eq!(net.input_channels(), 4);
    assert_eq!(net.coarse.as_ref().unwrap().channels(), 3);
    let (n, h, w) = (2, 8, 8);
    let x = pseudo_random(n * h * w, 30);
    let r = pseudo_random(n * h * w, 31);
    // Σ r · logits in training mode (batch statistics in both stages).
    let objective = |net: &Net, x: &[f32]| -> f64 {
        let (y, _) = net.forward_recorded(Act::from_vec(n, h, w, 1, x.to_vec()), Mode::Train);
        y.data
            .iter()
            .zip(&r)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum()
    };
    let (_, tape) = net.forward_recorded(Act::from_vec(n, h, w, 1, x.clone()), Mode::Train);
    let (dx, grads) = net.backward(
        tape,
        &Act::from_vec(n, h, w, 1, r.clone()),
        urisc_nn::urisc_cpu::Gradients::BOTH,
    );
    let (dx, grads) = (dx.unwrap().data, grads.unwrap());
    let fine_count = {
        let mut fine = net.clone();
        fine.coarse = None;
        fine.params_mut().len()
    };
    let count = net.params_mut().len();
    assert!(count > fine_count, "the branch's parameters are trained");
    assert_eq!(grads.len(), count);
    // Relative error, against at least `floor`: objectives summed in f32 over the batch leave
    // about 1e-2 of absolute noise in a difference quotient at the small steps dense kinks need.
    let close = |numeric: f64, ours: f32, floor: f64, what: &str| {
        let err = (numeric - ours as f64).abs() / numeric.abs().max(floor);
        assert!(err < 3e-2, "{what}: {ours} vs finite differences {numeric}");
    };
    // The branch's first convolution weight, its head bias, and the fine head's bias.
    for (param, index) in [(fine_count, 4), (count - 1, 2), (fine_count - 1, 0)] {
        let numeric_at = |h: f32| {
            let (mut plus, mut minus) = (net.clone(), net.clone());
            plus.params_mut()[param][index] += h;
            minus.params_mut()[param][index] -= h;
            (objective(&plus, &x) - objective(&minus, &x)) / (2.0 * h as f64)
        };
        let ours = grads[param][index];
        let best = [1e-2, 2.5e-3]
            .map(numeric_at)
            .into_iter()
            .min_by(|a, b| (a - ours as f64).abs().total_cmp(&(b - ours as f64).abs()))
            .unwrap();
        close(best, ours, 0.1, &format!("parameter {param}[{index}]"));
    }
    for i in [0, 17, 63, 100] {
        let numeric_at = |h: f32| {
            let (mut plus, mut minus) = (x.clone(), x.clone());
            plus[i] += h;
            minus[i] -= h;
            (objective(&net, &plus) - objective(&net, &minus)) / (2.0 * h as f64)
        };
        // Batch statistics tie every input to every output: kinks are dense, steps small.
        let best = [1e-3, 3e-4]
            .map(numeric_at)
            .into_iter()
            .min_by(|a, b| {
                (a - dx[i] as f64)
                    .abs()
                    .total_cmp(&(b - dx[i] as f64).abs())
            })
            .unwrap();
        close(best, dx[i], 1.0, &format!("input {i}"));
    }
    // Running statistics: a training step moves the branch's as well as the fine stage's.
    let before = net.clone();
    let (_, tape) = net.forward_recorded(Act::from_vec(n, h, w, 1, x.clone()), Mode::Train);
    net.update_running_stats(&tape);
    let mean = |net: &Net| match &net.coarse.as_ref().unwrap().net.down[0] {
        urisc_cpu::Block::Plain { a, .. } | urisc_cpu::Block::Residual { a, .. } => {
            a.bn.running_mean.clone()
        }
    };
    assert_ne!(mean(&net), mean(&before));
    // Inference stacks the raw features: no sigmoid on the branch's head.
    let m = FastSegmenter::from_cpu_net(before.clone(), ModelDescriptor::new(config.clone(), 8));
    let shape = BatchShape {
        n: 1,
        height: h,
        width: w,
    };
    let x1 = &x[..h * w];
    let coarse = &before.coarse.as_ref().unwrap().net;
    let small: Vec<f32> = (0..16)
        .map(|i| {
            let (r, c) = (2 * (i / 4), 2 * (i % 4));
            (x1[r * w + c] + x1[r * w + c + 1] + x1[(r + 1) * w + c] + x1[(r + 1) * w + c + 1])
                / 4.0
        })
        .collect();
    let features = coarse.infer(Act::from_vec(1, 4, 4, 1, small)).data;
    let mut stacked = Vec::new();
    for r in 0..h {
        for c in 0..w {
            stacked.push(x1[r * w + c]);
            stacked.extend_from_slice(&features[((r / 2) * 4 + c / 2) * 3..][..3]);
        }
    }
    let mut fine = before.clone();
    fine.coarse = None;
    let reference = fine.infer(Act::from_vec(1, h, w, 4, stacked)).data;
    for (a, b) in m.logits(x1, shape).unwrap().iter().zip(&reference) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}
