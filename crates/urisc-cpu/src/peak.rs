//! This machine's fp32 FMA peak, measured: independent FMA chains on the widest vectors the
//! CPU has (AVX2's where the default kernels are AVX2's), on every thread at once.

use std::time::Instant;

use rayon::prelude::*;

/// Measured fp32 peak in GFLOP/s (an FMA counts two) with `threads` threads, best of three.
pub fn peak_gflops(threads: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .expect("thread pool");
    let iterations = 20_000_000u64;
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let flops: u64 = pool.install(|| {
            (0..threads.max(1))
                .into_par_iter()
                .map(|_| fma_chains(iterations))
                .sum()
        });
        best = best.max(flops as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// Runs FMA chains on the widest vectors the CPU has — AVX2's where the default kernel path
/// (`Kernels::default`) is AVX2, so that a run standing in for an AVX2-only CPU is measured
/// against that CPU's peak — and returns the floating-point operations done.
fn fma_chains(iterations: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::kernels::{KernelPath, Kernels};
        let forced_avx2 = Kernels::default().path() == KernelPath::Avx2;
        if std::arch::is_x86_feature_detected!("avx512f") && !forced_avx2 {
            // SAFETY: the feature was detected at run time.
            return unsafe { x86::fma_avx512(iterations) };
        }
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the feature was detected at run time.
            return unsafe { x86::fma_avx2(iterations) };
        }
    }
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    {
        neon_chains(iterations)
    }
    #[cfg(not(all(target_arch = "aarch64", target_feature = "neon")))]
    {
        scalar_chains(iterations / 16)
    }
}

/// Twelve independent chains of 4-float FMAs (targets with NEON): enough to
/// cover FMA latency on up to four pipes.
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
fn neon_chains(iterations: u64) -> u64 {
    use std::arch::aarch64::*;
    const CHAINS: usize = 12;
    // SAFETY: the target has NEON (this is compiled only where it does).
    unsafe {
        let mut acc = [vdupq_n_f32(1.0); CHAINS];
        let b = vdupq_n_f32(0.999_999);
        let c = vdupq_n_f32(1e-7);
        for _ in 0..iterations {
            for a in &mut acc {
                *a = vfmaq_f32(c, *a, b);
            }
        }
        std::hint::black_box(acc);
    }
    iterations * CHAINS as u64 * 4 * 2
}

#[cfg(not(all(target_arch = "aarch64", target_feature = "neon")))]
fn scalar_chains(iterations: u64) -> u64 {
    let mut acc = [1.0f32; 8];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = a.mul_add(0.999_999, 1e-7);
        }
    }
    std::hint::black_box(acc);
    iterations * 8 * 2
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Twelve independent chains: enough to cover FMA latency on two pipes.
    const CHAINS: usize = 12;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_avx512(iterations: u64) -> u64 {
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        let b = _mm512_set1_ps(0.999_999);
        let c = _mm512_set1_ps(1e-7);
        for _ in 0..iterations {
            for a in &mut acc {
                *a = _mm512_fmadd_ps(*a, b, c);
            }
        }
        std::hint::black_box(acc);
        iterations * CHAINS as u64 * 16 * 2
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(iterations: u64) -> u64 {
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        let b = _mm256_set1_ps(0.999_999);
        let c = _mm256_set1_ps(1e-7);
        for _ in 0..iterations {
            for a in &mut acc {
                *a = _mm256_fmadd_ps(*a, b, c);
            }
        }
        std::hint::black_box(acc);
        iterations * CHAINS as u64 * 8 * 2
    }
}
