//! Runs loops compiled for the widest vectors this CPU has. The crate builds for baseline
//! x86-64 (SSE2) so binaries run anywhere; batch norm, pooling and the other per-element loops
//! are vectorised 16 wide only inside a function compiled with AVX-512 enabled, chosen at run
//! time (measured: these loops were a third of a width-16 training step in SSE2 form).

/// Calls `f` inlined into an AVX-512 function on the native kernel path, else plainly.
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if crate::sgemm::native() {
        // SAFETY: the native path is chosen only where AVX-512 F and BW were detected.
        return unsafe { avx512(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}
