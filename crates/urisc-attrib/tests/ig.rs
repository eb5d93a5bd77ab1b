//! Integrated gradients checked against closed forms (linear and cubic hand-made models) and
//! against the uncropped, one-target-at-a-time computation on a real (tiny, untrained) U-Net.

use urisc_attrib::ig::{
    group_targets, integrated_gradients, logit_differences, Attribution, IgSettings, Rule,
    TargetClass,
};
use urisc_model::testing::LinearFilter;
use urisc_model::{BatchShape, InputGradient, ModelError, SegmentationModel};
use urisc_nn::{Architecture, FastSegmenter, ModelConfig, ModelDescriptor};

fn pattern(h: usize, w: usize) -> Vec<f32> {
    (0..h * w)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect()
}

fn run<M: InputGradient + Sync>(
    model: &M,
    image: &[f32],
    (h, w): (usize, usize),
    targets: &[(usize, usize)],
    settings: &IgSettings,
) -> Vec<Attribution> {
    let mut maps = Vec::new();
    integrated_gradients(model, image, h, w, targets, settings, |group, _| {
        maps.extend(group)
    })
    .unwrap();
    maps.sort_by_key(|m| m.target);
    maps
}

#[test]
fn linear_model_ig_is_input_minus_baseline_times_weights() {
    let kernel: Vec<f32> = (0..25).map(|i| (i as f32 * 0.7).sin()).collect();
    let model = LinearFilter::new(2, kernel, 0.3).with_size_multiple(4);
    let (h, w) = (16, 20);
    let image = pattern(h, w);
    // Corners, borders and interior; far-apart ones share backward passes.
    let targets = [(0, 0), (0, 19), (7, 9), (15, 0), (15, 19), (8, 2)];
    for class in [TargetClass::Membrane, TargetClass::Background] {
        let settings = IgSettings {
            steps: 7,
            rule: Rule::Right,
            class,
            baseline: 0.25,
            ..IgSettings::default()
        };
        let maps = run(&model, &image, (h, w), &targets, &settings);
        assert_eq!(maps.len(), targets.len());
        for map in &maps {
            let (tr, tc) = map.target;
            for r in 0..h {
                for c in 0..w {
                    let weight = model.weight(r as isize - tr as isize, c as isize - tc as isize);
                    let expected = class.sign() * (image[r * w + c] - 0.25) * weight;
                    assert!(
                        (map.at(r, c) - expected).abs() < 1e-5,
                        "target {:?} pixel ({r}, {c}): {} vs {expected}",
                        map.target,
                        map.at(r, c)
                    );
                }
            }
        }
    }
}

/// `logit = s³/3` with `s` the 3×3 box sum of the input (zero padding): nonlinear, with an exact
/// gradient `s²` on the box, so the quadrature errors of IG are known.
struct CubicBox;

impl CubicBox {
    fn box_sums(input: &[f32], h: usize, w: usize) -> Vec<f32> {
        let mut out = vec![0f32; h * w];
        for r in 0..h as isize {
            for c in 0..w as isize {
                for dr in -1..=1 {
                    for dc in -1..=1 {
                        let (y, x) = (r + dr, c + dc);
                        if (0..h as isize).contains(&y) && (0..w as isize).contains(&x) {
                            out[r as usize * w + c as usize] += input[y as usize * w + x as usize];
                        }
                    }
                }
            }
        }
        out
    }
}

impl SegmentationModel for CubicBox {
    fn size_multiple(&self) -> usize {
        2
    }
    fn normalize(&self, grey: u8) -> f32 {
        grey as f32 / 255.0
    }
    fn logits(&self, input: &[f32], shape: BatchShape) -> Result<Vec<f32>, ModelError> {
        let plane = shape.height * shape.width;
        Ok((0..shape.n)
            .flat_map(|k| {
                Self::box_sums(&input[k * plane..][..plane], shape.height, shape.width)
                    .into_iter()
                    .map(|s| s.powi(3) / 3.0)
            })
            .collect())
    }
    fn context_radius(&self) -> Option<usize> {
        Some(1)
    }
}

impl InputGradient for CubicBox {
    fn logit_input_gradient(
        &self,
        input: &[f32],
        shape: BatchShape,
        targets: &[(usize, usize)],
    ) -> Result<Vec<f32>, ModelError> {
        let (h, w) = (shape.height, shape.width);
        let mut out = vec![0f32; input.len()];
        for k in 0..shape.n {
            let sums = Self::box_sums(&input[k * h * w..][..h * w], h, w);
            for &(tr, tc) in targets {
                let g = sums[tr * w + tc].powi(2);
                for r in tr.saturating_sub(1)..(tr + 2).min(h) {
                    for c in tc.saturating_sub(1)..(tc + 2).min(w) {
                        out[k * h * w + r * w + c] += g;
                    }
                }
            }
        }
        Ok(out)
    }
}

#[test]
fn completeness_error_shrinks_at_the_rate_of_the_rule() {
    let (h, w) = (6, 6);
    let image: Vec<f32> = pattern(h, w).iter().map(|v| 0.3 + 0.2 * v).collect();
    let targets = [(2, 3)];
    let error = |rule: Rule, steps: usize| {
        let settings = IgSettings {
            steps,
            rule,
            ..IgSettings::default()
        };
        let maps = run(&CubicBox, &image, (h, w), &targets, &settings);
        let exact = logit_differences(&CubicBox, &image, h, w, &targets, &settings).unwrap()[0];
        (maps[0].sum() - exact, exact)
    };
    // Along the path s(α) = α·S, so Σ IG = S³·Σ w_i α_i² against ∫ = S³/3:
    // right rule error S³(1/(2n) + 1/(6n²)), trapezoid S³/(6n²).
    let (right_10, exact) = error(Rule::Right, 10);
    let s_cubed = 3.0 * exact;
    assert!(exact.abs() > 1.0, "the test needs a clearly nonzero logit");
    for n in [10usize, 20, 40, 100] {
        let nf = n as f64;
        let (right, _) = error(Rule::Right, n);
        let (trapezoid, _) = error(Rule::Trapezoid, n);
        let right_expected = s_cubed * (1.0 / (2.0 * nf) + 1.0 / (6.0 * nf * nf));
        let trapezoid_expected = s_cubed / (6.0 * nf * nf);
        assert!(
            (right - right_expected).abs() < 1e-4 * exact.abs(),
            "right n={n}"
        );
        assert!(
            (trapezoid - trapezoid_expected).abs() < 1e-4 * exact.abs(),
            "trapezoid n={n}: {trapezoid} vs {trapezoid_expected}"
        );
    }
    let (right_100, _) = error(Rule::Right, 100);
    assert!(right_100.abs() < right_10.abs() / 9.0);
}

fn tiny_unet(depth: usize) -> FastSegmenter {
    let config = ModelConfig {
        architecture: Architecture::Unet,
        base_width: 4,
        depth,
        coarse: None,
    };
    let net = urisc_nn::seeded_net(&config, 2012).unwrap();
    FastSegmenter::from_cpu_net(net, ModelDescriptor::new(config, 32))
}

/// IG on the whole image, one target, no crop: the reference the fast path must reproduce.
fn reference_ig(
    model: &FastSegmenter,
    image: &[f32],
    (h, w): (usize, usize),
    target: (usize, usize),
    settings: &IgSettings,
) -> Vec<f64> {
    let nodes = settings.rule.nodes(settings.steps);
    let mut acc = vec![0f64; h * w];
    for &(alpha, weight) in &nodes {
        let point: Vec<f32> = image.iter().map(|&x| alpha * x).collect();
        let shape = BatchShape {
            n: 1,
            height: h,
            width: w,
        };
        let g = model
            .logit_input_gradient(&point, shape, &[target])
            .unwrap();
        for (a, g) in acc.iter_mut().zip(g) {
            *a += weight as f64 * g as f64;
        }
    }
    acc.iter().zip(image).map(|(a, &x)| a * x as f64).collect()
}

#[test]
fn real_network_crops_and_shared_passes_match_the_full_image_and_vanish_outside_the_field() {
    let model = tiny_unet(3);
    let radius = model.context_radius().unwrap();
    let m = model.size_multiple();
    let (h, w) = (96, 104);
    let image = pattern(h, w);
    // Targets at borders, corners and the interior, at several phases of the pooling grid.
    let targets = [
        (0, 0),
        (0, 56), // its aligned crop abuts that of (0, 0): one shared pass
        (1, 101),
        (47, 50),
        (95, 3),
        (94, 103),
        (30, 13),
        (63, 86),
    ];
    let groups = group_targets(&targets, Some(radius), m, h, w);
    assert!(
        groups.len() < targets.len(),
        "some targets should share a pass (radius {radius})"
    );
    let settings = IgSettings {
        steps: 6,
        rule: Rule::Trapezoid,
        max_batch_pixels: 3 * 64 * 64, // several steps per call, and several calls
        ..IgSettings::default()
    };
    let maps = run(&model, &image, (h, w), &targets, &settings);
    let mut outside_checked = 0;
    for map in &maps {
        let reference = reference_ig(&model, &image, (h, w), map.target, &settings);
        let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for r in 0..h {
            for c in 0..w {
                let expected = reference[r * w + c];
                let got = map.at(r, c) as f64;
                assert!(
                    (got - expected).abs() <= 1e-4 * scale,
                    "target {:?} pixel ({r}, {c}): {got} vs {expected}",
                    map.target
                );
                let (dr, dc) = (r.abs_diff(map.target.0), c.abs_diff(map.target.1));
                if dr > radius || dc > radius {
                    // The reference, computed without any window, is exactly zero there.
                    assert_eq!(expected, 0.0, "outside the receptive field");
                    outside_checked += 1;
                }
            }
        }
    }
    assert!(outside_checked > 1000);
}

#[test]
fn real_network_logit_on_an_aligned_crop_equals_the_full_image_logit() {
    let model = tiny_unet(4);
    let radius = model.context_radius().unwrap();
    let m = model.size_multiple();
    let (h, w) = (192, 176);
    let image = pattern(h, w);
    let full = model
        .logits(
            &image,
            BatchShape {
                n: 1,
                height: h,
                width: w,
            },
        )
        .unwrap();
    for target in [(96usize, 88usize), (5, 170), (191, 0), (70, 33), (131, 150)] {
        let window = urisc_attrib::ig::receptive_window(target, Some(radius), h, w);
        let crop = urisc_attrib::ig::aligned_crop(window, m, h, w);
        assert_eq!((crop.top % m, crop.left % m), (0, 0));
        assert!(crop.height * crop.width < h * w, "the crop must be smaller");
        let input: Vec<f32> = (crop.top..crop.top + crop.height)
            .flat_map(|r| &image[r * w + crop.left..][..crop.width])
            .copied()
            .collect();
        let logits = model
            .logits(
                &input,
                BatchShape {
                    n: 1,
                    height: crop.height,
                    width: crop.width,
                },
            )
            .unwrap();
        let local = (target.0 - crop.top) * crop.width + target.1 - crop.left;
        let expected = full[target.0 * w + target.1];
        assert!(
            (logits[local] - expected).abs() < 1e-5 * expected.abs().max(1.0),
            "target {target:?}: {} vs {expected}",
            logits[local]
        );
    }
}

#[test]
fn real_network_completeness_error_shrinks_with_steps() {
    // A ReLU network is piecewise linear along the path, with many kinks: the quadrature error
    // does not fall smoothly step by step (it can even rise from 256 to 1024 steps), but it
    // vanishes as the steps grow.
    let model = tiny_unet(3);
    let (h, w) = (32, 32);
    let image: Vec<f32> = pattern(h, w).iter().map(|v| 3.0 * v).collect();
    let targets = [(3, 28), (16, 16)]; // sorted, as `run` returns the maps
    let error = |rule, steps| {
        let settings = IgSettings {
            steps,
            rule,
            ..IgSettings::default()
        };
        let exact = logit_differences(&model, &image, h, w, &targets, &settings).unwrap();
        let maps = run(&model, &image, (h, w), &targets, &settings);
        let size = exact.iter().map(|e| e.abs()).sum::<f64>();
        let error = maps
            .iter()
            .zip(&exact)
            .map(|(m, e)| (m.sum() - e).abs())
            .sum::<f64>();
        (error, size)
    };
    let (coarse, size) = error(Rule::Trapezoid, 8);
    let (fine, _) = error(Rule::Trapezoid, 4096);
    let (coarse_right, _) = error(Rule::Right, 8);
    let (fine_right, _) = error(Rule::Right, 4096);
    eprintln!("|Δf| {size}: trapezoid {coarse} → {fine}, right {coarse_right} → {fine_right}");
    assert!(
        size > 1e-3,
        "the logits must move between baseline and image"
    );
    assert!(
        coarse > 0.01 * size,
        "8 steps should visibly miss: {coarse} of {size}"
    );
    assert!(
        fine < coarse / 20.0,
        "trapezoid error {coarse} at 8 steps, {fine} at 4096"
    );
    assert!(
        fine < 2e-3 * size,
        "trapezoid error {fine} against |Δf| {size}"
    );
    assert!(
        fine_right < coarse_right / 20.0,
        "right rule {coarse_right} → {fine_right}"
    );
}
