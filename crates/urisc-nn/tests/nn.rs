//! The networks: shapes, counts against PyTorch, receptive fields against real gradients,
//! finite-difference gradient checks, and model files. burn is the reference here.
#![cfg(feature = "burn")]

use burn::prelude::*;
use urisc_nn::burn;
use urisc_nn::{
    forward_flops, from_cpu_net, load_burn_model, load_model, logits, model_bytes,
    model_from_bytes, read_descriptor, receptive_field, receptive_interval, save_model, to_cpu_net,
    trainable_parameters, Architecture, ModelConfig, ModelDescriptor, SegmentationNet,
};

fn config(architecture: Architecture, base_width: usize, depth: usize) -> ModelConfig {
    ModelConfig {
        architecture,
        base_width,
        depth,
        coarse: None,
    }
}

fn pattern(n: usize, h: usize, w: usize) -> Vec<f32> {
    (0..n * h * w)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect()
}

#[test]
fn both_architectures_map_a_tile_to_logits_of_the_same_size() {
    let device = Device::flex();
    for arch in [Architecture::Unet, Architecture::ResUnet] {
        let net = SegmentationNet::new(&config(arch, 4, 3), &device);
        let out = logits(&net, &pattern(2, 16, 24), 2, 16, 24, &device);
        assert_eq!(out.len(), 2 * 16 * 24, "{arch:?}");
        assert!(out.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn parameter_counts_match_pytorch_and_burn() {
    // The same U-Net in PyTorch (bench/frameworks): 2,161,841 and 8,636,769 parameters.
    assert_eq!(
        trainable_parameters(&config(Architecture::Unet, 16, 5)),
        2_161_841
    );
    assert_eq!(
        trainable_parameters(&config(Architecture::Unet, 32, 5)),
        8_636_769
    );
    // burn also counts BatchNorm running mean and variance (2 per BN channel).
    let device = Device::flex();
    for arch in [Architecture::Unet, Architecture::ResUnet] {
        let c = config(arch, 4, 3);
        let w = c.widths();
        // Two ConvBn per block, a reduce ConvBn per decoder level.
        let bn_channels: usize = w.iter().map(|x| 2 * x).sum::<usize>()
            + w[..c.depth - 1].iter().map(|x| 3 * x).sum::<usize>();
        let burn_count = SegmentationNet::new(&c, &device).num_params() as u64;
        assert_eq!(
            trainable_parameters(&c) + 2 * bn_channels as u64,
            burn_count,
            "{arch:?}"
        );
    }
}

#[test]
fn flops_are_hand_computable() {
    // Depth 1: conv 1→w, conv w→w (3×3) and the 1×1 head, two FLOPs per multiply-add.
    let c = config(Architecture::Unet, 8, 1);
    assert_eq!(forward_flops(&c, 10, 12), 2 * (9 * 8 + 9 * 64 + 8) * 120);
    let deep = config(Architecture::Unet, 16, 5);
    assert_eq!(
        forward_flops(&deep, 512, 512),
        4 * forward_flops(&deep, 256, 256)
    );
}

/// d(logit at the centre pixel) / d(input) of a frozen model (BN on running statistics).
fn centre_gradient(c: &ModelConfig, size: usize) -> Vec<f32> {
    let device = Device::flex().autodiff();
    let net = SegmentationNet::new(c, &device).freeze();
    let x = Tensor::<4>::from_data(
        TensorData::new(pattern(1, size, size), [1, 1, size, size]),
        &device,
    )
    .require_grad();
    let p = size / 2;
    let grads = net
        .forward(x.clone())
        .slice(s![0..1, 0..1, p..p + 1, p..p + 1])
        .sum()
        .backward();
    x.grad(&grads)
        .expect("input gradient")
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn input_gradient_stays_inside_the_receptive_field() {
    for arch in [Architecture::Unet, Architecture::ResUnet] {
        // Wide enough that random ReLUs cannot cut every path to the border of the field.
        let c = config(arch, 16, 3);
        let size = 96;
        let g = centre_gradient(&c, size);
        // Absolute input rows (and, by symmetry of the network, columns) the centre pixel sees.
        let (lo, hi) = receptive_interval(&c, (size / 2) as i64);
        let rows: Vec<usize> = (0..size)
            .filter(|r| (0..size).any(|col| g[r * size + col] != 0.0))
            .collect();
        let (first, last) = (*rows.first().unwrap() as i64, *rows.last().unwrap() as i64);
        assert!(
            first >= lo && last <= hi,
            "{arch:?}: rows {first}..{last} outside {lo}..{hi}"
        );
        // ReLU may zero a few border paths, but the support must nearly fill the field.
        assert!(
            last - first >= hi - lo - 8,
            "{arch:?}: support {first}..{last} vs field {lo}..{hi}"
        );
        // Nothing outside the interval in columns either.
        for r in 0..size {
            for col in 0..size {
                if (col as i64) < lo || (col as i64) > hi {
                    assert_eq!(g[r * size + col], 0.0);
                }
            }
        }
    }
}

#[test]
fn input_gradient_matches_finite_differences() {
    let c = config(Architecture::ResUnet, 3, 2);
    let size = 8;
    let device = Device::flex().autodiff();
    // Seeded: the same weights every run (random ones made the check flaky near kinks).
    let net = from_cpu_net(
        SegmentationNet::new(&c, &device),
        &urisc_nn::seeded_net(&c, 4).unwrap(),
    )
    .freeze();
    let base = pattern(1, size, size);
    // A fixed random projection of the output, so every output pixel contributes.
    let weights: Vec<f32> = (0..size * size)
        .map(|i| ((i * 53 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let w = Tensor::<4>::from_data(
        TensorData::new(weights.clone(), [1, 1, size, size]),
        &device,
    );
    let objective = |input: &[f32]| -> f64 {
        let x =
            Tensor::<4>::from_data(TensorData::new(input.to_vec(), [1, 1, size, size]), &device);
        let out: Vec<f32> = net.forward(x).into_data().try_to_vec().unwrap();
        out.iter()
            .zip(&weights)
            .map(|(o, w)| (*o as f64) * (*w as f64))
            .sum()
    };
    let x = Tensor::<4>::from_data(TensorData::new(base.clone(), [1, 1, size, size]), &device)
        .require_grad();
    let grads = (net.forward(x.clone()) * w).sum().backward();
    let g: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    // Central differences; the network is piecewise linear (ReLU, max-pool), so a step that
    // crosses a kink is retried smaller: a kink shrinks away with the step, a wrong gradient
    // does not.
    for i in [0, 9, 27, 36, 63] {
        let numeric_at = |h: f32| {
            let (mut plus, mut minus) = (base.clone(), base.clone());
            plus[i] += h;
            minus[i] -= h;
            (objective(&plus) - objective(&minus)) / (2.0 * h as f64)
        };
        let rel = |numeric: f64| (numeric - g[i] as f64).abs() / numeric.abs().max(0.1);
        let (coarse, fine) = (numeric_at(1e-3), numeric_at(2.5e-4));
        let (numeric, err) = if rel(coarse) <= rel(fine) {
            (coarse, rel(coarse))
        } else {
            (fine, rel(fine))
        };
        assert!(
            err < 2e-2,
            "pixel {i}: autodiff {} vs finite differences {numeric}",
            g[i]
        );
    }
}

#[test]
fn saved_models_load_with_identical_outputs_and_describe_themselves() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for arch in [Architecture::Unet, Architecture::ResUnet] {
        let c = config(arch, 4, 3);
        let net = SegmentationNet::new(&c, &device);
        let mut descriptor = ModelDescriptor::new(c.clone(), 64);
        descriptor.threshold = 0.42;
        descriptor.pixel_size_nm = Some(4.0);
        descriptor
            .training
            .insert("data".into(), "data/isbi2012 slices 00-15".into());
        let path = dir.path().join(format!("{arch:?}.safetensors"));
        save_model(&path, &to_cpu_net(&net), &descriptor, false).unwrap();
        // The file carries a checksum of its tensors besides what was given.
        let read = read_descriptor(&path).unwrap();
        assert!(read
            .weights_checksum
            .as_deref()
            .unwrap()
            .starts_with("fnv1a64:"));
        descriptor.weights_checksum = read.weights_checksum.clone();
        assert_eq!(read, descriptor);
        let (loaded, d) = load_burn_model(&path, &device).unwrap();
        assert_eq!(d, descriptor);
        let input = pattern(1, 16, 16);
        assert_eq!(
            logits(&net, &input, 1, 16, 16, &device),
            logits(&loaded, &input, 1, 16, 16, &device)
        );
        // Existing files are kept unless overwriting is asked for.
        let err = save_model(&path, &to_cpu_net(&net), &descriptor, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--force"), "{err}");
    }
}

#[test]
fn mismatched_or_foreign_files_are_refused_with_the_file_named() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let c = config(Architecture::Unet, 4, 3);
    let path = dir.path().join("m.safetensors");
    // Weights of a width-4 net under a descriptor that claims width 8.
    let mut lying = ModelDescriptor::new(c.clone(), 64);
    lying.model.base_width = 8;
    let bytes = model_bytes(&to_cpu_net(&SegmentationNet::new(&c, &device)), &lying).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let err = load_model(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&path.display().to_string()) && err.contains("do not match"),
        "{err}"
    );

    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a model").unwrap();
    let err = load_model(&junk).unwrap_err().to_string();
    assert!(
        err.contains("junk.safetensors") && err.contains("not a safetensors"),
        "{err}"
    );
}

/// Files written by burn's own safetensors store (how urisc wrote models before it had its own
/// reader) load through urisc's reader with identical outputs, for both architectures.
#[test]
fn files_written_by_burn_load_with_identical_outputs() {
    use burn::store::{ModuleSnapshot, SafetensorsStore};
    let device = Device::flex();
    for arch in [Architecture::Unet, Architecture::ResUnet] {
        let c = config(arch, 4, 3);
        let net = SegmentationNet::new(&c, &device);
        let json = serde_json::to_string(&ModelDescriptor::new(c.clone(), 64)).unwrap();
        let mut store = SafetensorsStore::from_bytes(None).metadata("urisc", json);
        net.save_into(&mut store).unwrap();
        let bytes = store.get_bytes().unwrap();
        let (cpu, _) = model_from_bytes(std::path::Path::new("burn.safetensors"), &bytes).unwrap();
        let input = pattern(1, 16, 16);
        let ours = from_cpu_net(SegmentationNet::new(&c, &device), &cpu);
        assert_eq!(
            logits(&net, &input, 1, 16, 16, &device),
            logits(&ours, &input, 1, 16, 16, &device),
            "{arch:?}"
        );
    }
}

/// Checks d(Σ r·op(x))/dx from autodiff against central differences at a few inputs.
fn check_layer(name: &str, shape: [usize; 4], op: impl Fn(Tensor<4>) -> Tensor<4>) {
    let device = Device::flex().autodiff();
    let n: usize = shape.iter().product();
    let base: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0 + (i as f32) * 1e-3)
        .collect();
    let out_len = op(Tensor::<4>::from_data(
        TensorData::new(base.clone(), shape),
        &device,
    ))
    .dims();
    let m: usize = out_len.iter().product();
    let r: Vec<f32> = (0..m).map(|i| ((i * 53 % 17) as f32 - 8.0) / 8.0).collect();
    let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), out_len), &device);
    let objective = |input: &[f32]| -> f64 {
        let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), shape), &device);
        let out: Vec<f32> = op(x).into_data().try_to_vec().unwrap();
        out.iter()
            .zip(&r)
            .map(|(o, w)| (*o as f64) * (*w as f64))
            .sum()
    };
    let x = Tensor::<4>::from_data(TensorData::new(base.clone(), shape), &device).require_grad();
    let grads = (op(x.clone()) * rt).sum().backward();
    let g: Vec<f32> = x
        .grad(&grads)
        .expect("input gradient")
        .into_data()
        .try_to_vec()
        .unwrap();
    for i in [0, n / 3, n / 2, n - 1] {
        let numeric_at = |h: f32| {
            let (mut plus, mut minus) = (base.clone(), base.clone());
            plus[i] += h;
            minus[i] -= h;
            (objective(&plus) - objective(&minus)) / (2.0 * h as f64)
        };
        let rel = |v: f64| (v - g[i] as f64).abs() / v.abs().max(0.1);
        let err = rel(numeric_at(1e-3)).min(rel(numeric_at(2.5e-4)));
        assert!(
            err < 1e-2,
            "{name}, input {i}: autodiff {} vs finite differences {}",
            g[i],
            numeric_at(1e-3)
        );
    }
}

#[test]
fn every_layer_gradient_matches_finite_differences() {
    use urisc_nn::burn::nn::conv::Conv2dConfig;
    use urisc_nn::burn::nn::pool::MaxPool2dConfig;
    use urisc_nn::burn::nn::{BatchNormConfig, PaddingConfig2d};
    use urisc_nn::burn::tensor::activation::relu;
    use urisc_nn::burn::tensor::module::interpolate;
    use urisc_nn::burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    let device = Device::flex().autodiff();
    let conv = Conv2dConfig::new([3, 4], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    check_layer("conv3x3", [2, 3, 6, 5], |x| conv.forward(x));
    let head = Conv2dConfig::new([3, 1], [1, 1]).init(&device);
    check_layer("conv1x1", [1, 3, 4, 4], |x| head.forward(x));
    // Training-mode batch norm: batch statistics depend on every input.
    let bn = BatchNormConfig::new(3).init(&device);
    check_layer("batch norm (train)", [2, 3, 4, 5], |x| bn.forward(x));
    check_layer("relu", [1, 2, 4, 4], relu);
    let pool = MaxPool2dConfig::new([2, 2]).init();
    check_layer("max-pool 2×2", [1, 2, 6, 6], |x| pool.forward(x));
    check_layer("nearest upsampling ×2", [1, 2, 3, 4], |x| {
        let [_, _, h, w] = x.dims();
        interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]),
        )
    });
    check_layer("concatenation", [1, 2, 3, 3], |x| {
        Tensor::cat(vec![x.clone(), x * 2.0], 1)
    });
    check_layer("residual addition", [1, 2, 3, 3], |x| {
        relu(conv_like(x.clone())) + x
    });
}

/// A fixed linear map standing in for a residual branch.
fn conv_like(x: Tensor<4>) -> Tensor<4> {
    x.clone() * 0.5 - x.powf_scalar(2.0) * 0.1
}

#[test]
fn segmenter_matches_the_network_and_its_gradient() {
    use urisc_model::{BatchShape, InputGradient, SegmentationModel};
    let c = ModelConfig {
        architecture: Architecture::Unet,
        base_width: 4,
        depth: 3,
        coarse: None,
    };
    let device = Device::flex();
    // Seeded: with some random weights a corner target's ReLUs are all off (zero gradient).
    let net = from_cpu_net(
        SegmentationNet::new(&c, &device),
        &urisc_nn::seeded_net(&c, 11).unwrap(),
    );
    let segmenter =
        urisc_nn::BurnSegmenter::new(net.clone(), ModelDescriptor::new(c.clone(), 32), &device);
    let input = pattern(2, 32, 32);
    let shape = BatchShape {
        n: 2,
        height: 32,
        width: 32,
    };
    assert_eq!(
        segmenter.logits(&input, shape).unwrap(),
        logits(&net.valid(), &input, 2, 32, 32, &device)
    );
    assert_eq!(segmenter.normalize(255), 1.0);
    let radius = segmenter.context_radius().unwrap();
    assert!(2 * radius + 1 >= receptive_field(&c) && radius <= receptive_field(&c));
    // Two targets whose receptive fields do not overlap: one backward pass gives each one's
    // gradient inside its own receptive field.
    let n = 96;
    let single = pattern(1, n, n);
    let one = BatchShape {
        n: 1,
        height: n,
        width: n,
    };
    let r = segmenter.context_radius().unwrap();
    let (a, b) = ((2, 3), (n - 3, n - 2));
    assert!(b.0 - a.0 > 2 * r, "radius {r}");
    let g_both = segmenter
        .logit_input_gradient(&single, one, &[a, b])
        .unwrap();
    let g_a = segmenter.logit_input_gradient(&single, one, &[a]).unwrap();
    let g_b = segmenter.logit_input_gradient(&single, one, &[b]).unwrap();
    for (i, ((&both, &ga), &gb)) in g_both.iter().zip(&g_a).zip(&g_b).enumerate() {
        assert!((both - ga - gb).abs() < 1e-5, "pixel {i}");
        assert!(
            ga == 0.0 || gb == 0.0,
            "pixel {i}: receptive fields overlap"
        );
    }
    assert!(g_a.iter().any(|&v| v != 0.0) && g_b.iter().any(|&v| v != 0.0));
}

#[test]
fn tiled_prediction_of_a_real_network_equals_the_whole_image_away_from_tile_borders() {
    use urisc_infer::{origins, predict_image, InferenceOptions};
    let c = ModelConfig {
        architecture: Architecture::Unet,
        base_width: 4,
        depth: 2,
        coarse: None,
    };
    let device = Device::flex();
    let segmenter = urisc_nn::BurnSegmenter::new(
        SegmentationNet::new(&c, &device),
        ModelDescriptor::new(c.clone(), 32),
        &device,
    );
    let (h, w) = (96, 80);
    let image = urisc_io::Image::new(
        h,
        w,
        (0..h * w)
            .map(|i| ((i * 31 + i / w * 7) % 256) as u8)
            .collect(),
    );
    let run = |tile, overlap| {
        predict_image(
            &segmenter,
            &image,
            &InferenceOptions {
                tile,
                overlap,
                batch: 3,
                tta: 1,
            },
        )
        .unwrap()
    };
    let (whole, tiled) = (run(128, 0), run(32, 16));
    let margin = urisc_model::SegmentationModel::context_radius(&segmenter).unwrap();
    let inside = |x: usize, o: usize, len: usize| {
        (x >= o + margin || o == 0) && (x + margin < o + 32 || o + 32 == len)
    };
    let (rows, cols) = (origins(h, 32, 16), origins(w, 32, 16));
    let mut compared = 0;
    for y in 0..h {
        for x in 0..w {
            if rows
                .iter()
                .filter(|&&o| o <= y && y < o + 32)
                .all(|&o| inside(y, o, h))
                && cols
                    .iter()
                    .filter(|&&o| o <= x && x < o + 32)
                    .all(|&o| inside(x, o, w))
            {
                let (a, b) = (whole.get(y, x), tiled.get(y, x));
                assert!((a - b).abs() < 1e-5, "({y},{x}): whole {a} vs tiled {b}");
                compared += 1;
            }
        }
    }
    assert!(compared > 0, "margin {margin} left no pixel to compare");
    assert!(tiled.data.iter().all(|p| (0.0..=1.0).contains(p)));
}
