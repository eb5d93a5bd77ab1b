//! Runs loops compiled for the widest vectors this CPU has. The crate builds for baseline
//! x86-64 (SSE2) so binaries run anywhere; batch norm, pooling and the other per-element loops
//! are vectorised 16 wide only inside a function compiled with AVX-512 enabled, chosen at run
//! time (measured: these loops were a third of a width-16 training step in SSE2 form).

/// Calls `f` inlined into a function compiled for the kernel path's vectors (AVX-512, or AVX2 +
/// FMA), else plainly.
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match crate::sgemm::kernel_path() {
        // SAFETY: the AVX-512 path is chosen only where AVX-512 F and BW were detected.
        crate::sgemm::KernelPath::Avx512 => return unsafe { avx512(f) },
        // SAFETY: the AVX2 path is chosen only where AVX2 and FMA were detected.
        crate::sgemm::KernelPath::Avx2 => return unsafe { avx2(f) },
        crate::sgemm::KernelPath::Portable => {}
    }
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
