//! Times one 3×3 convolution's forward pass and weight gradient with each algorithm (`ONLY=direct`,
//! `winograd2` or `winograd` for one):
//! `cargo run --release -p urisc-cpu --example conv_timing -- H W CIN COUT [REPS [K]]` (kernel
//! side K: 3, or 1).
use std::time::Instant;
use urisc_cpu::{pseudo_random, Act, Conv, ConvAlgorithm, Kernels, Recycling};

// As in `urisc train`: large freed buffers are kept for the next call rather than unmapped.
#[global_allocator]
static ALLOCATOR: Recycling = Recycling;

fn main() {
    Recycling::keep_freed_blocks(true);
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (h, w, cin, cout) = (a[0], a[1], a[2], a[3]);
    let reps = a.get(4).copied().unwrap_or(20);
    let k = a.get(5).copied().unwrap_or(3);
    let x = Act::from_vec(1, h, w, cin, pseudo_random(h * w * cin, 1));
    let conv = Conv::new(
        cin,
        cout,
        k,
        pseudo_random(k * k * cin * cout, 2),
        vec![0.0; cout],
    );
    let flops = 2.0 * (k * k * h * w * cin * cout) as f64;
    let dy = Act::from_vec(1, h, w, cout, pseudo_random(h * w * cout, 3));
    let only = std::env::var("ONLY").ok();
    for algorithm in [
        ConvAlgorithm::Direct,
        ConvAlgorithm::Winograd2,
        ConvAlgorithm::Winograd,
    ] {
        if only.as_deref().is_some_and(|o| o != algorithm.name()) {
            continue;
        }
        // The default kernel path (`URISC_KERNELS`) with this algorithm.
        let kernels = Kernels::default().with_algorithm(algorithm);
        let time = |pass: &dyn Fn()| {
            pass();
            let t = Instant::now();
            for _ in 0..reps {
                pass();
            }
            t.elapsed().as_secs_f64() / reps as f64
        };
        let forward = time(&|| {
            std::hint::black_box(conv.forward_with(kernels, &[&x], None));
        });
        let gradient = time(&|| {
            std::hint::black_box(conv.backward_weight_with(kernels, &[&x], &dy));
        });
        for (pass, s) in [("forward", forward), ("weight gradient", gradient)] {
            println!(
                "{:>9} {pass:>15} {h}x{w} {cin}->{cout}: {:.3} ms, {:.0} GFLOP/s (direct-equivalent)",
                algorithm.name(),
                s * 1e3,
                flops / s / 1e9
            );
        }
    }
}
