//! urisc's own CPU kernels (`urisc-cpu`) against burn's reference implementation: each layer
//! forward and both gradients on awkward shapes, then whole networks in inference, input
//! gradients and a training step (batch statistics, every parameter gradient, running
//! statistics).
#![cfg(feature = "burn")]

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::module::{conv2d, interpolate, max_pool2d};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions, MaxPoolOptions};
use urisc_cpu::{pseudo_random as random, Act, Conv, Mode};
use urisc_model::{BatchShape, InputGradient, SegmentationModel};
use urisc_nn::burn;
use urisc_nn::{
    from_cpu_net, to_cpu_net, Architecture, BurnSegmenter, FastSegmenter, ModelConfig,
    ModelDescriptor, Normalization, SegmentationNet,
};

fn tensor4(data: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Largest |a − b| must be within `tol` times the reference's largest magnitude (at least 1).
fn assert_close(what: &str, ours: &[f32], reference: &[f32], tol: f32) {
    assert_eq!(ours.len(), reference.len(), "{what}: length");
    let scale = reference.iter().fold(1f32, |m, v| m.max(v.abs()));
    let worst = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= tol * scale,
        "{what}: max difference {worst} (scale {scale})"
    );
}

/// NCHW data → NHWC activation.
fn act(nchw: &[f32], [n, c, h, w]: [usize; 4]) -> Act {
    Act::from_nchw(n, c, h, w, nchw)
}

/// Batch, input channel groups, output channels, height, width, kernel side.
type ConvCase = (usize, &'static [usize], usize, usize, usize, usize);

#[test]
fn convolutions_match_burn_forward_and_both_gradients() {
    let device = Device::flex();
    let autodiff = device.clone().autodiff();
    // (batch, input channel groups, cout, h, w, k): odd sizes, one-pixel images, channels 1 to
    // 512, concatenated inputs, 1×1 kernels.
    let cases: &[ConvCase] = &[
        (1, &[1], 1, 1, 1, 3),
        (1, &[1], 16, 13, 7, 3),
        (3, &[3], 5, 5, 9, 3),
        (2, &[16], 32, 9, 11, 3),
        (1, &[40, 24], 17, 6, 5, 3),
        (2, &[64], 8, 1, 13, 3),
        (1, &[512], 512, 3, 5, 3),
        (2, &[7], 9, 5, 3, 1),
        (1, &[300], 1, 4, 7, 1),
    ];
    for (case, &(n, groups, cout, h, w, k)) in cases.iter().enumerate() {
        let cin: usize = groups.iter().sum();
        let seed = case as u64 * 10;
        let x = random(n * cin * h * w, seed);
        let weight = random(cout * cin * k * k, seed + 1);
        let bias = random(cout, seed + 2);
        let r = random(n * cout * h * w, seed + 3);
        let options = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);

        let xt = tensor4(x.clone(), [n, cin, h, w], &autodiff).require_grad();
        let wt = tensor4(weight.clone(), [cout, cin, k, k], &autodiff).require_grad();
        let bt =
            Tensor::<1>::from_data(TensorData::new(bias.clone(), [cout]), &autodiff).require_grad();
        let yt = conv2d(xt.clone(), wt.clone(), Some(bt.clone()), options);
        let grads = (yt.clone() * tensor4(r.clone(), [n, cout, h, w], &autodiff))
            .sum()
            .backward();

        // Split x into the channel groups as separate NHWC inputs.
        let x_act = act(&x, [n, cin, h, w]);
        let mut inputs = Vec::new();
        let mut offset = 0;
        for &c in groups {
            let mut g = Act::zeros(n, h, w, c);
            for (p, px) in g.data.chunks_exact_mut(c).enumerate() {
                px.copy_from_slice(&x_act.data[p * cin + offset..][..c]);
            }
            inputs.push(g);
            offset += c;
        }
        let refs: Vec<&Act> = inputs.iter().collect();
        let conv = Conv::from_oihw(cin, cout, k, &weight, bias.clone());
        let y = conv.forward(&refs, None);
        let label = format!("case {case} ({n}×{cin}→{cout}, {h}×{w}, k{k})");
        assert_close(&format!("{label} forward"), &y.to_nchw(), &values(yt), 1e-5);

        let dy = act(&r, [n, cout, h, w]);
        // Exact support (input gradients) and training's data gradients (F(4×4) on native paths).
        for exact_support in [true, false] {
            let dxs = conv.backward_data(&dy, groups, exact_support);
            // Reassemble the groups' gradients into one NCHW tensor.
            let mut dx = Act::zeros(n, h, w, cin);
            let mut offset = 0;
            for g in &dxs {
                for (p, px) in g.data.chunks_exact(g.c).enumerate() {
                    dx.data[p * cin + offset..][..g.c].copy_from_slice(px);
                }
                offset += g.c;
            }
            assert_close(
                &format!("{label} input gradient (exact support: {exact_support})"),
                &dx.to_nchw(),
                &values(xt.grad(&grads).unwrap()),
                1e-5,
            );
        }
        let (dw, db) = conv.backward_weight(&refs, &dy);
        assert_close(
            &format!("{label} weight gradient"),
            &conv.to_oihw(&dw),
            &values(wt.grad(&grads).unwrap()),
            1e-5,
        );
        assert_close(
            &format!("{label} bias gradient"),
            &db,
            &values(bt.grad(&grads).unwrap()),
            1e-5,
        );
    }
}

#[test]
fn pooling_and_upsampling_match_burn_forward_and_backward() {
    let autodiff = Device::flex().autodiff();
    for (case, &(n, c, h, w)) in [(1, 1, 2, 2), (2, 3, 7, 9), (1, 16, 10, 6), (3, 5, 1, 4)]
        .iter()
        .enumerate()
    {
        let x = random(n * c * h * w, 100 + case as u64);
        let xt = tensor4(x.clone(), [n, c, h, w], &autodiff).require_grad();
        let pooled = max_pool2d(xt.clone(), MaxPoolOptions::new([2, 2]));
        let [_, _, oh, ow] = pooled.dims();
        let r = random(n * c * oh * ow, 200 + case as u64);
        let grads = (pooled.clone() * tensor4(r.clone(), [n, c, oh, ow], &autodiff))
            .sum()
            .backward();
        let (ours, arg) = urisc_cpu::max_pool2(&act(&x, [n, c, h, w]));
        assert_close("pool forward", &ours.to_nchw(), &values(pooled), 0.0);
        let dx = urisc_cpu::max_pool2_backward(&act(&r, [n, c, oh, ow]), &arg, h, w);
        assert_close(
            "pool backward",
            &dx.to_nchw(),
            &values(xt.grad(&grads).unwrap()),
            0.0,
        );

        let xt = tensor4(x.clone(), [n, c, h, w], &autodiff).require_grad();
        let options =
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]);
        let up = interpolate(xt.clone(), options);
        let r = random(n * c * 4 * h * w, 300 + case as u64);
        let grads = (up.clone() * tensor4(r.clone(), [n, c, 2 * h, 2 * w], &autodiff))
            .sum()
            .backward();
        let ours = urisc_cpu::upsample2(&act(&x, [n, c, h, w]));
        assert_close("upsample forward", &ours.to_nchw(), &values(up), 0.0);
        let dx = urisc_cpu::upsample2_backward(&act(&r, [n, c, 2 * h, 2 * w]));
        assert_close(
            "upsample backward",
            &dx.to_nchw(),
            &values(xt.grad(&grads).unwrap()),
            1e-6,
        );
    }
}

fn config(architecture: Architecture) -> ModelConfig {
    ModelConfig {
        architecture,
        base_width: 4,
        depth: 3,
        coarse: None,
    }
}

/// A network with random batch-norm parameters and running statistics (a fresh one has
/// γ = 1, β = 0, mean 0, variance 1, which would hide mistakes in their use).
fn scrambled_net(architecture: Architecture, device: &Device) -> SegmentationNet {
    let net = SegmentationNet::new(&config(architecture), device);
    let mut cpu = to_cpu_net(&net);
    let mut seed = 1000;
    cpu.visit_mut(&mut |layer| {
        if let urisc_cpu::LayerMut::ConvBn(l) = layer {
            let c = l.bn.gamma.len();
            seed += 4;
            l.bn.gamma = random(c, seed).iter().map(|v| 1.0 + 0.5 * v).collect();
            l.bn.beta = random(c, seed + 1).iter().map(|v| 0.3 * v).collect();
            l.bn.running_mean = random(c, seed + 2).iter().map(|v| 0.2 * v).collect();
            l.bn.running_var = random(c, seed + 3).iter().map(|v| 1.0 + 0.5 * v).collect();
        }
    });
    from_cpu_net(net, &cpu)
}

fn descriptor(architecture: Architecture) -> ModelDescriptor {
    let mut d = ModelDescriptor::new(config(architecture), 16);
    d.normalization = Normalization::default();
    d
}

#[test]
fn whole_networks_match_burn_in_inference_and_input_gradients() {
    let device = Device::flex();
    let shape = BatchShape {
        n: 2,
        height: 12,
        width: 20,
    };
    let x = random(shape.len(), 7);
    for arch in [Architecture::Unet, Architecture::ResUnet] {
        let net = scrambled_net(arch, &device);
        let reference = BurnSegmenter::new(net.clone(), descriptor(arch), &device);
        let fast = FastSegmenter::from_cpu_net(to_cpu_net(&net), descriptor(arch));
        assert_close(
            &format!("{arch:?} logits"),
            &fast.logits(&x, shape).unwrap(),
            &reference.logits(&x, shape).unwrap(),
            1e-4,
        );
        let targets = [(0, 0), (5, 11), (11, 19)];
        assert_close(
            &format!("{arch:?} input gradient"),
            &fast.logit_input_gradient(&x, shape, &targets).unwrap(),
            &reference.logit_input_gradient(&x, shape, &targets).unwrap(),
            1e-4,
        );
    }
}

/// Values of every float parameter (running statistics included), in visiting order.
struct Collect<'g> {
    grads: Option<&'g burn::tensor::Gradients>,
    out: Vec<Option<Vec<f32>>>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let v = match self.grads {
            Some(g) => param.val().grad(g).map(values),
            None => Some(values(param.val())),
        };
        self.out.push(v);
    }
}

fn collect(
    net: &SegmentationNet,
    grads: Option<&burn::tensor::Gradients>,
) -> Vec<Option<Vec<f32>>> {
    let mut c = Collect {
        grads,
        out: Vec::new(),
    };
    net.visit(&mut c);
    c.out
}

#[test]
fn a_training_step_matches_burn_gradients_and_running_statistics() {
    let autodiff = Device::flex().autodiff();
    let (n, h, w) = (2, 8, 12);
    let x = random(n * h * w, 11);
    let r = random(n * h * w, 12);
    for arch in [Architecture::Unet, Architecture::ResUnet] {
        // burn: batch statistics on an autodiff device (not frozen).
        let net = scrambled_net(arch, &autodiff);
        let mut cpu = to_cpu_net(&net);
        let trained = net.clone();
        let logits = trained.forward(tensor4(x.clone(), [n, 1, h, w], &autodiff));
        let grads = (logits.clone() * tensor4(r.clone(), [n, 1, h, w], &autodiff))
            .sum()
            .backward();

        let (ours, tape) = cpu.forward_recorded(Act::from_vec(n, h, w, 1, x.clone()), Mode::Train);
        assert_close(
            &format!("{arch:?} train logits"),
            &ours.data,
            &values(logits),
            1e-4,
        );
        cpu.update_running_stats(&tape);
        let (_, param_grads) = cpu.backward(
            tape,
            &Act::from_vec(n, h, w, 1, r.clone()),
            urisc_nn::urisc_cpu::Gradients::PARAMS,
        );

        // Our gradients, put into a burn network's parameter slots, visited beside burn's.
        let mut grad_net = cpu.clone();
        for (p, g) in grad_net.params_mut().into_iter().zip(param_grads.unwrap()) {
            *p = g;
        }
        let ours_in_burn_layout = collect(&from_cpu_net(net.clone(), &grad_net), None);
        let reference = collect(&trained, Some(&grads));
        let mut compared = 0;
        for (i, (o, r)) in ours_in_burn_layout.iter().zip(&reference).enumerate() {
            if let Some(r) = r {
                assert_close(
                    &format!("{arch:?} parameter {i} gradient"),
                    o.as_ref().unwrap(),
                    r,
                    1e-3,
                );
                compared += 1;
            }
        }
        let trainable = cpu.params_mut().len();
        assert_eq!(compared, trainable, "{arch:?}: every parameter compared");

        // Running statistics after the step.
        let ours_stats = collect(&from_cpu_net(net.clone(), &cpu), None);
        let reference_stats = collect(&trained.valid(), None);
        for (i, (o, r)) in ours_stats.iter().zip(&reference_stats).enumerate() {
            assert_close(
                &format!("{arch:?} parameter/statistic {i}"),
                o.as_ref().unwrap(),
                r.as_ref().unwrap(),
                1e-5,
            );
        }
    }
}

/// The fine stage of a two-stage or two-scale model (input channels: the image and the coarse
/// stage's map or features) against burn: logits, input gradients for every channel, and every
/// parameter gradient of a training step. The coarse path around it is checked by finite
/// differences in `two_stage.rs`.
#[test]
fn multi_channel_fine_stages_match_burn() {
    let autodiff = Device::flex().autodiff();
    let (n, h, w) = (2, 8, 12);
    let r = random(n * h * w, 22);
    // A frozen stage's probability (one channel), a joint branch's three feature channels.
    for (arch, features) in [
        (Architecture::Unet, None),
        (Architecture::ResUnet, None),
        (Architecture::Unet, Some(3)),
    ] {
        let mut two_stage = config(arch);
        two_stage.coarse = Some(Box::new(urisc_nn::CoarseStage {
            factor: 2,
            features,
            model: config(arch),
        }));
        let c = 1 + features.unwrap_or(1);
        let x = random(n * c * h * w, 21);
        let net = SegmentationNet::new(&two_stage, &autodiff);
        let mut cpu = to_cpu_net(&net);
        assert_eq!(cpu.input_channels(), c);
        let input = tensor4(x.clone(), [n, c, h, w], &autodiff).require_grad();
        let logits = net.forward(input.clone());
        let grads = (logits.clone() * tensor4(r.clone(), [n, 1, h, w], &autodiff))
            .sum()
            .backward();
        let (ours, tape) = cpu.forward_recorded(act(&x, [n, c, h, w]), Mode::Train);
        assert_close(
            &format!("{arch:?} logits"),
            &ours.data,
            &values(logits),
            1e-4,
        );
        cpu.update_running_stats(&tape);
        let (dx, param_grads) = cpu.backward(
            tape,
            &Act::from_vec(n, h, w, 1, r.clone()),
            urisc_nn::urisc_cpu::Gradients::BOTH,
        );
        assert_close(
            &format!("{arch:?} input gradient (every channel)"),
            &dx.unwrap().to_nchw(),
            &values(input.grad(&grads).unwrap()),
            1e-4,
        );
        let mut grad_net = cpu.clone();
        for (p, g) in grad_net.params_mut().into_iter().zip(param_grads.unwrap()) {
            *p = g;
        }
        let ours_in_burn_layout = collect(&from_cpu_net(net.clone(), &grad_net), None);
        let reference = collect(&net, Some(&grads));
        let mut compared = 0;
        for (i, (o, r)) in ours_in_burn_layout.iter().zip(&reference).enumerate() {
            if let Some(r) = r {
                assert_close(
                    &format!("{arch:?} parameter {i} gradient"),
                    o.as_ref().unwrap(),
                    r,
                    1e-3,
                );
                compared += 1;
            }
        }
        assert_eq!(
            compared,
            cpu.params_mut().len(),
            "{arch:?}: every parameter"
        );
    }
}
