//! Runs loops compiled for the widest vectors this CPU has. The crate builds for baseline
//! x86-64 (SSE2) so binaries run anywhere; batch norm, pooling and the other per-element loops
//! are vectorised 16 wide only inside a function compiled with AVX-512 enabled, chosen at run
//! time (measured: these loops were a third of a width-16 training step in SSE2 form).

use crate::kernels::Kernels;

/// Calls `f` inlined into a function compiled for the vectors of `kernels`' path (AVX-512, or
/// AVX2 + FMA), else plainly.
#[inline(always)]
pub(crate) fn wide<R>(kernels: Kernels, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match kernels.path() {
        // SAFETY: a `Kernels` holds the AVX-512 path only where AVX-512 F and BW were detected.
        crate::kernels::KernelPath::Avx512 => return unsafe { avx512(f) },
        // SAFETY: a `Kernels` holds the AVX2 path only where AVX2 and FMA were detected.
        crate::kernels::KernelPath::Avx2 => return unsafe { avx2(f) },
        crate::kernels::KernelPath::Portable => {}
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernels;
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
