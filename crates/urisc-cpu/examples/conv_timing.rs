//! Times one 3×3 convolution's forward pass (training and inference), direct and Winograd, and
//! its weight gradient:
//! `cargo run --release -p urisc-cpu --example conv_timing -- H W CIN COUT [REPS]`.
use std::time::Instant;
use urisc_cpu::{pseudo_random, set_conv_algorithm, Act, Conv, ConvAlgorithm};

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (h, w, cin, cout) = (a[0], a[1], a[2], a[3]);
    let reps = a.get(4).copied().unwrap_or(20);
    let x = Act::from_vec(1, h, w, cin, pseudo_random(h * w * cin, 1));
    let conv = Conv::new(
        cin,
        cout,
        3,
        pseudo_random(9 * cin * cout, 2),
        vec![0.0; cout],
    );
    let flops = 2.0 * 9.0 * (h * w * cin * cout) as f64;
    let only = std::env::var("ONLY").ok();
    for algorithm in [ConvAlgorithm::Direct, ConvAlgorithm::Winograd] {
        if only.as_deref().is_some_and(|o| o != algorithm.name()) {
            continue;
        }
        set_conv_algorithm(algorithm);
        for inference in [false, true] {
            let run = || {
                if inference {
                    conv.forward_inference(&[&x], None)
                } else {
                    conv.forward(&[&x], None)
                }
            };
            run();
            let t = Instant::now();
            for _ in 0..reps {
                std::hint::black_box(run());
            }
            let s = t.elapsed().as_secs_f64() / reps as f64;
            let pass = if inference { "inference" } else { "training" };
            println!(
                "{:>8} {pass:>9} {h}x{w} {cin}->{cout}: {:.3} ms, {:.0} GFLOP/s (direct-equivalent)",
                algorithm.name(),
                s * 1e3,
                flops / s / 1e9
            );
        }
    }
    let dy = Act::from_vec(1, h, w, cout, pseudo_random(h * w * cout, 3));
    conv.backward_weight(&[&x], &dy);
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(conv.backward_weight(&[&x], &dy));
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "  weight gradient {h}x{w} {cin}->{cout}: {:.3} ms, {:.0} GFLOP/s",
        s * 1e3,
        flops / s / 1e9
    );
}
