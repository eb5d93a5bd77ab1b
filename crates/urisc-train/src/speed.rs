//! The speed benchmark behind `urisc bench speed`: a training step (batch 4 × 256², train-mode
//! batch norm, BCE with logits, backward, Adam) and a 512² inference forward pass of the U-Net
//! on urisc's CPU kernels, with achieved GFLOP/s against this machine's measured fp32 peak.

use std::time::Instant;

use serde::Serialize;
use urisc_nn::urisc_cpu::{self, Act, Adam, Mode};
use urisc_nn::{forward_flops, seeded_net, Architecture, ModelConfig};

/// What one benchmark run measured (the `--json` line, field for field).
#[derive(Clone, Debug, Serialize)]
pub struct SpeedReport {
    /// Base width of the benchmarked U-Net.
    pub width: usize,
    /// Threads of the rayon pool it ran on.
    pub threads: usize,
    /// The kernel path that ran (`avx512`, `avx2` or `portable`; `URISC_KERNELS` chooses).
    pub kernels: &'static str,
    /// Median seconds per training step.
    pub train_step_s: f64,
    /// Median seconds per 512² forward pass.
    pub fwd512_s: f64,
    /// Achieved GFLOP/s of the training step (forward + backward ≈ 3 × forward FLOPs).
    pub gflops_train: f64,
    /// Achieved GFLOP/s of the forward pass.
    pub gflops_fwd: f64,
    /// fp32 FMA peak of `threads` threads, measured in the same run.
    pub peak_gflops: f64,
}

/// Timing settings.
#[derive(Clone, Debug)]
pub struct SpeedOptions {
    /// Base width of the U-Net.
    pub width: usize,
    /// Levels of the U-Net.
    pub depth: usize,
    /// Untimed runs before timing.
    pub warmup: usize,
    /// Timed runs (the median is reported).
    pub steps: usize,
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

fn time_steps(warmup: usize, steps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let times = (0..steps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// Runs the benchmark on the current rayon pool (`threads` is reported and used for the peak).
pub fn measure_speed(options: &SpeedOptions, threads: usize) -> SpeedReport {
    let config = ModelConfig {
        architecture: Architecture::Unet,
        base_width: options.width,
        depth: options.depth,
        coarse: None,
    };
    config.validate().expect("valid model config");
    let mut net = seeded_net(&config, 0).expect("valid benchmark network");

    let (batch, side) = (4, 256);
    let x = urisc_cpu::pseudo_random(batch * side * side, 1);
    let target: Vec<f32> = urisc_cpu::pseudo_random(batch * side * side, 2)
        .iter()
        .map(|&v| (v >= 0.0) as u8 as f32)
        .collect();
    // The forward pass first, in the process state `urisc predict` runs in; then training,
    // which keeps large freed buffers for reuse as `urisc train` does (where the binary's
    // allocator is `urisc_cpu::Recycling`). Timed after training, the forward pass was 8 % slower:
    // glibc had not adapted its mmap threshold to buffers that were never freed.
    let x512 = urisc_cpu::pseudo_random(512 * 512, 3);
    let fwd512_s = time_steps(options.warmup, options.steps, || {
        std::hint::black_box(net.infer(Act::from_vec(1, 512, 512, 1, x512.clone())));
    });

    let mut adam = Adam::new(0.5, 0.999, 1e-8);
    urisc_cpu::Recycling::keep_freed_blocks(true);
    let train_step_s = time_steps(options.warmup, options.steps, || {
        let input = Act::from_vec(batch, side, side, 1, x.clone());
        let (logits, tape) = net.forward_recorded(input, Mode::Train);
        let (_, dlogits) = urisc_cpu::bce_with_logits(&logits.data, &target);
        net.update_running_stats(&tape);
        let dlogits = Act::from_vec(batch, side, side, 1, dlogits);
        let (_, grads) = net.backward(tape, &dlogits, urisc_nn::urisc_cpu::Gradients::PARAMS);
        adam.step(net.params_mut(), &grads.expect("parameter gradients"), 1e-4);
    });
    urisc_cpu::Recycling::keep_freed_blocks(false);

    // A training step: forward, input-side and weight-side backward (2× forward each way less
    // nothing worth counting), as PyTorch's profilers count it.
    let train_flops = 3.0 * batch as f64 * forward_flops(&config, side, side) as f64;
    let fwd_flops = forward_flops(&config, 512, 512) as f64;
    SpeedReport {
        width: options.width,
        threads,
        kernels: urisc_cpu::kernel_path().name(),
        train_step_s,
        fwd512_s,
        gflops_train: train_flops / train_step_s / 1e9,
        gflops_fwd: fwd_flops / fwd512_s / 1e9,
        peak_gflops: urisc_cpu::peak_gflops(threads),
    }
}
