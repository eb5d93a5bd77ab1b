//! Vectors of channels, written once and compiled for AVX-512 (zmm), AVX2 (ymm), NEON (q
//! registers) and plain scalars: the Winograd transforms and the single-channel convolution are
//! generic over [`Lanes`], and `dispatch!` runs them in a function compiled for the vectors of the
//! kernel path it is given.

/// A vector of channels for the transforms: written once, compiled for AVX-512, AVX2, NEON and
/// plain scalars (LLVM does not keep the transforms' 16 arrays in registers on its own).
pub(crate) trait Lanes: Copy {
    /// Channels per vector.
    const LANES: usize;
    /// `lanes ≤ LANES` floats from `p`, zeros after.
    ///
    /// # Safety
    /// `p` must cover `lanes` floats; the vector's instructions must be available.
    unsafe fn load(p: *const f32, lanes: usize) -> Self;
    /// The first `lanes ≤ LANES` floats to `p`.
    ///
    /// # Safety
    /// `p` must cover `lanes` floats; the vector's instructions must be available.
    unsafe fn store(self, p: *mut f32, lanes: usize);
    /// `x` in every lane.
    fn splat(x: f32) -> Self;
    /// Lane-wise product.
    fn mul(self, other: Self) -> Self;
    /// Every lane times `k`.
    #[inline(always)]
    fn scale(self, k: f32) -> Self {
        self.mul(Self::splat(k))
    }
    /// Lane-wise sum.
    fn add(self, other: Self) -> Self;
    /// Lane-wise difference.
    fn sub(self, other: Self) -> Self;
    /// `self · k + add`, fused where the vectors have FMA (F(4×4)'s transforms: a third fewer
    /// instructions).
    fn mul_add(self, k: f32, add: Self) -> Self;
    /// `add − self · k`, fused where the vectors have FMA.
    fn neg_mul_add(self, k: f32, add: Self) -> Self;
    /// The sum of the lanes.
    fn sum(self) -> f32;
}

/// `[f(0), f(1), …]`: `std::array::from_fn` for vectors, small enough to be inlined into the
/// function compiled for them (`from_fn`'s machinery was not, leaving every vector operation a
/// call).
#[inline(always)]
pub(crate) fn vectors<T: Copy, const N: usize>(zero: T, mut f: impl FnMut(usize) -> T) -> [T; N] {
    let mut out = [zero; N];
    for (i, value) in out.iter_mut().enumerate() {
        *value = f(i);
    }
    out
}

/// One float: the portable path.
#[derive(Clone, Copy)]
pub(crate) struct Scalar(pub(crate) f32);

impl Lanes for Scalar {
    const LANES: usize = 1;
    #[inline(always)]
    unsafe fn load(p: *const f32, _lanes: usize) -> Self {
        // SAFETY: `p` covers one float (caller's contract).
        Scalar(unsafe { *p })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, _lanes: usize) {
        // SAFETY: `p` covers one float (caller's contract).
        unsafe { *p = self.0 };
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Scalar(x)
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        Scalar(self.0 * other.0)
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Scalar(self.0 + other.0)
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        Scalar(self.0 - other.0)
    }
    // Not `f32::mul_add`: without FMA in the target it is a library call.
    #[inline(always)]
    fn mul_add(self, k: f32, add: Self) -> Self {
        Scalar(self.0 * k + add.0)
    }
    #[inline(always)]
    fn neg_mul_add(self, k: f32, add: Self) -> Self {
        Scalar(add.0 - self.0 * k)
    }
    #[inline(always)]
    fn sum(self) -> f32 {
        self.0
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    use super::Lanes;

    /// 16 floats in a zmm register.
    #[derive(Clone, Copy)]
    pub(crate) struct Zmm(__m512);

    impl Lanes for Zmm {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn load(p: *const f32, lanes: usize) -> Self {
            let mask = ((1u32 << lanes) - 1) as __mmask16;
            // SAFETY: the mask enables the `lanes` floats `p` covers (caller's contract, as is
            // AVX-512 F); masked-off lanes are not read.
            Zmm(unsafe { _mm512_maskz_loadu_ps(mask, p) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, lanes: usize) {
            let mask = ((1u32 << lanes) - 1) as __mmask16;
            // SAFETY: as for `load`; masked-off lanes are not written.
            unsafe { _mm512_mask_storeu_ps(p, mask, self.0) };
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            // SAFETY: a `Zmm` is used only inside functions compiled with AVX-512 F.
            Zmm(unsafe { _mm512_set1_ps(x) })
        }
        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            // SAFETY: as for `splat`.
            Zmm(unsafe { _mm512_mul_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            // SAFETY: as for `splat`.
            Zmm(unsafe { _mm512_add_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            // SAFETY: as for `add`.
            Zmm(unsafe { _mm512_sub_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn mul_add(self, k: f32, add: Self) -> Self {
            // SAFETY: as for `add` (AVX-512 F includes its FMA).
            Zmm(unsafe { _mm512_fmadd_ps(self.0, _mm512_set1_ps(k), add.0) })
        }
        #[inline(always)]
        fn neg_mul_add(self, k: f32, add: Self) -> Self {
            // SAFETY: as for `mul_add`.
            Zmm(unsafe { _mm512_fnmadd_ps(self.0, _mm512_set1_ps(k), add.0) })
        }
        #[inline(always)]
        fn sum(self) -> f32 {
            // SAFETY: as for `add`.
            unsafe { _mm512_reduce_add_ps(self.0) }
        }
    }

    /// 8 floats in a ymm register.
    #[derive(Clone, Copy)]
    pub(crate) struct Ymm(__m256);

    /// Lanes `< lanes` of 8 enabled, as `_mm256_maskload_ps` wants them (sign bit set).
    #[inline(always)]
    unsafe fn mask(lanes: usize) -> __m256i {
        let on = |i: usize| if i < lanes { -1 } else { 0 };
        // SAFETY: AVX is available wherever a `Ymm` is used (caller's contract).
        unsafe { _mm256_setr_epi32(on(0), on(1), on(2), on(3), on(4), on(5), on(6), on(7)) }
    }

    impl Lanes for Ymm {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn load(p: *const f32, lanes: usize) -> Self {
            // SAFETY: `p` covers `lanes` floats and AVX2 is available (caller's contract); the
            // mask keeps the load to them.
            unsafe {
                if lanes == 8 {
                    Ymm(_mm256_loadu_ps(p))
                } else {
                    Ymm(_mm256_maskload_ps(p, mask(lanes)))
                }
            }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, lanes: usize) {
            // SAFETY: as for `load`; the mask keeps the store to the `lanes` floats.
            unsafe {
                if lanes == 8 {
                    _mm256_storeu_ps(p, self.0)
                } else {
                    _mm256_maskstore_ps(p, mask(lanes), self.0)
                }
            }
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            // SAFETY: a `Ymm` is used only inside functions compiled with AVX2.
            Ymm(unsafe { _mm256_set1_ps(x) })
        }
        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            // SAFETY: as for `splat`.
            Ymm(unsafe { _mm256_mul_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            // SAFETY: as for `splat`.
            Ymm(unsafe { _mm256_add_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            // SAFETY: as for `add`.
            Ymm(unsafe { _mm256_sub_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn mul_add(self, k: f32, add: Self) -> Self {
            // SAFETY: a `Ymm` is used only inside functions compiled with AVX2 and FMA.
            Ymm(unsafe { _mm256_fmadd_ps(self.0, _mm256_set1_ps(k), add.0) })
        }
        #[inline(always)]
        fn neg_mul_add(self, k: f32, add: Self) -> Self {
            // SAFETY: as for `mul_add`.
            Ymm(unsafe { _mm256_fnmadd_ps(self.0, _mm256_set1_ps(k), add.0) })
        }
        #[inline(always)]
        fn sum(self) -> f32 {
            // SAFETY: as for `mul_add` (AVX includes the SSE instructions used here).
            unsafe {
                let s = _mm_add_ps(
                    _mm256_castps256_ps128(self.0),
                    _mm256_extractf128_ps(self.0, 1),
                );
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
            }
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
pub(crate) mod arm {
    use std::arch::aarch64::*;

    use super::Lanes;

    /// 4 floats in a NEON q register (compiled only for targets with NEON, so these need no
    /// function compiled for them).
    #[derive(Clone, Copy)]
    pub(crate) struct Neon(float32x4_t);

    impl Lanes for Neon {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn load(p: *const f32, lanes: usize) -> Self {
            // SAFETY: `p` covers `lanes` floats (caller's contract).
            Neon(unsafe { crate::sgemm::neon::load(p, lanes) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, lanes: usize) {
            // SAFETY: `p` covers `lanes` floats (caller's contract).
            unsafe { crate::sgemm::neon::store(p, self.0, lanes) }
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            // SAFETY: the target has NEON (this is compiled only where it does).
            Neon(unsafe { vdupq_n_f32(x) })
        }
        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            // SAFETY: as for `splat`.
            Neon(unsafe { vmulq_f32(self.0, other.0) })
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            // SAFETY: as for `splat`.
            Neon(unsafe { vaddq_f32(self.0, other.0) })
        }
        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            // SAFETY: as for `splat`.
            Neon(unsafe { vsubq_f32(self.0, other.0) })
        }
        #[inline(always)]
        fn mul_add(self, k: f32, add: Self) -> Self {
            // SAFETY: as for `splat` (`fmla` by a scalar).
            Neon(unsafe { vfmaq_n_f32(add.0, self.0, k) })
        }
        #[inline(always)]
        fn neg_mul_add(self, k: f32, add: Self) -> Self {
            // SAFETY: as for `splat` (`fmls` by a scalar).
            Neon(unsafe { vfmsq_n_f32(add.0, self.0, k) })
        }
        #[inline(always)]
        fn sum(self) -> f32 {
            // SAFETY: as for `splat`.
            unsafe { vaddvq_f32(self.0) }
        }
    }
}

/// Runs `$generic::<Lanes>(args)` with the vectors of `$kernels`' path (a
/// [`crate::kernels::Kernels`]), in a function compiled for them (the closure is forced inline:
/// one left out of line is compiled without the features, and every vector operation in it
/// becomes a call).
macro_rules! dispatch {
    ($kernels:expr, $generic:ident($($arg:expr),* $(,)?)) => {{
        let kernels: $crate::kernels::Kernels = $kernels;
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512<F: FnOnce()>(f: F) {
                f()
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<F: FnOnce()>(f: F) {
                f()
            }
            match kernels.path() {
                // SAFETY: a `Kernels` holds the AVX-512 path only where AVX-512 F and BW were
                // detected.
                $crate::kernels::KernelPath::Avx512 => unsafe {
                    avx512(#[inline(always)] || $generic::<$crate::lanes::x86::Zmm>($($arg),*))
                },
                // SAFETY: a `Kernels` holds the AVX2 path only where AVX2 and FMA were detected.
                $crate::kernels::KernelPath::Avx2 => unsafe {
                    avx2(#[inline(always)] || $generic::<$crate::lanes::x86::Ymm>($($arg),*))
                },
                $crate::kernels::KernelPath::Portable => {
                    $generic::<$crate::lanes::Scalar>($($arg),*)
                }
            }
        }
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        {
            match kernels.path() {
                $crate::kernels::KernelPath::Neon => {
                    $generic::<$crate::lanes::arm::Neon>($($arg),*)
                }
                _ => $generic::<$crate::lanes::Scalar>($($arg),*),
            }
        }
        #[cfg(not(any(target_arch = "x86_64", all(target_arch = "aarch64", target_feature = "neon"))))]
        {
            let _ = kernels;
            $generic::<$crate::lanes::Scalar>($($arg),*)
        }
    }};
}
