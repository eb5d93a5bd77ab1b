//! The f32 matrix kernel under every convolution, as an implicit GEMM: a tile of 14 rows × up
//! to 32 columns of `C` (rows: output pixels or weight rows; columns: output channels) kept in
//! 28 AVX-512 registers while the reduction runs over *segments*, each a run of reduction steps
//! whose 14 row operands are read through per-row pointers. A 3×3 convolution's segments are
//! its taps (and inputs): each row pointer points at the neighbouring pixel's channels, or at
//! zeros outside the image, so no im2col copy is made.
//!
//! The `gemm` crate only uses AVX-512 on nightly Rust (its AVX2 kernels reach half this
//! machine's peak); it remains the path on CPUs without AVX-512.

/// Rows of `C` per tile.
pub const MR: usize = 14;
/// Columns of `C` per tile.
pub const NR: usize = 32;

/// A run of reduction steps: step `s` multiplies row operand `rows[r] + s·row_step` with the
/// B row at `b + s·ldb` (B rows contiguous in the column direction).
#[derive(Clone, Copy)]
pub struct Segment {
    /// Row operand of each of the tile's [`MR`] rows at step 0 (rows beyond the tile's `mr`
    /// must still point at readable memory: they are read, not stored).
    pub rows: [*const f32; MR],
    /// Floats between a row operand's consecutive steps (1 for channels of one pixel, `cin`
    /// for one channel across pixels).
    pub row_step: usize,
    /// Reduction steps in the segment.
    pub steps: usize,
    /// B row of step 0 (column 0); step `s` reads the B row at `b + s·ldb`.
    pub b: *const f32,
}

/// Which kernels run: the native AVX-512 tile, or the portable path (im2col + the `gemm`
/// crate, plain per-element loops) that every CPU has and every native path is tested against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// The hand-written AVX-512 implicit-GEMM tile and 16-wide per-element loops (x86-64 with
    /// AVX-512 F and BW).
    Avx512,
    /// im2col + the `gemm` crate and plain per-element loops: any CPU.
    Portable,
}

impl KernelPath {
    /// The path's name as `URISC_KERNELS` spells it: `avx512` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Avx512 => "avx512",
            KernelPath::Portable => "portable",
        }
    }
}

/// The paths this CPU can run, best first.
pub fn available_kernel_paths() -> Vec<KernelPath> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        return vec![KernelPath::Avx512, KernelPath::Portable];
    }
    vec![KernelPath::Portable]
}

/// 0: not chosen yet; otherwise 1 + the index in [`available_kernel_paths`].
static CHOSEN: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// The path in use: the one [`set_kernel_path`] chose, else the environment variable
/// `URISC_KERNELS` (`avx512` or `portable`; a path this CPU lacks falls back to the best it
/// has), else the best this CPU has.
pub fn kernel_path() -> KernelPath {
    use std::sync::atomic::Ordering;
    let chosen = CHOSEN.load(Ordering::Relaxed);
    let available = available_kernel_paths();
    if chosen > 0 {
        return available[(chosen - 1) as usize];
    }
    let wanted = std::env::var("URISC_KERNELS").ok();
    let path = available
        .iter()
        .copied()
        .find(|p| wanted.as_deref() == Some(p.name()))
        .unwrap_or(available[0]);
    let index = available.iter().position(|p| *p == path).unwrap_or(0);
    CHOSEN.store(index as u8 + 1, Ordering::Relaxed);
    path
}

/// Chooses the kernel path for the whole process (tests force each path in turn); refuses one
/// this CPU cannot run.
pub fn set_kernel_path(path: KernelPath) -> Result<(), String> {
    let available = available_kernel_paths();
    let index = available
        .iter()
        .position(|p| *p == path)
        .ok_or_else(|| format!("this CPU cannot run the {} kernels", path.name()))?;
    CHOSEN.store(index as u8 + 1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Whether the native kernel ([`tile`]) runs.
pub fn native() -> bool {
    kernel_path() == KernelPath::Avx512
}

/// `C[0..mr, 0..nr] (+)= Σ_segments` for one tile, B columns taken from `segment.b + j0`, C
/// (r, j) at `c[r·ldc + j]`. Requires [`native`].
///
/// # Safety
/// [`native`] must hold. Every pointer must cover what the segments and sizes describe (rows
/// beyond `mr` are read but not stored, so they must point at readable memory too).
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile(
    segments: &[Segment],
    j0: usize,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if nr > 16 {
            // SAFETY: the caller guarantees `native()` (AVX-512 F and BW detected at run time,
            // so `avx512::tile`'s target feature is present) and pointers that cover the
            // segments and sizes, which is what `avx512::tile` reads and writes.
            unsafe { avx512::tile::<2>(segments, j0, ldb, c, ldc, mr, nr, accumulate) }
        } else {
            // SAFETY: as for the two-vector tile: `native()` and covering pointers are the
            // caller's contract.
            unsafe { avx512::tile::<1>(segments, j0, ldb, c, ldc, mr, nr, accumulate) }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (segments, j0, ldb, c, ldc, mr, nr, accumulate);
        unreachable!("the native kernel needs x86_64 with AVX-512")
    }
}

/// `C[m×n] (+)= A[m×k]·B[k×n]` with A (i, p) at `a[i·a_rs + p·a_cs]`, B row-major (`ldb`), C
/// row-major (`ldc`), on the portable `gemm` crate.
///
/// # Safety
/// The pointers must cover the matrices their sizes and strides describe.
#[allow(clippy::too_many_arguments)]
pub unsafe fn portable(
    (m, n, k): (usize, usize, usize),
    a: *const f32,
    (a_rs, a_cs): (usize, usize),
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: the caller guarantees that `a`, `b` and `c` cover the `m×k`, `k×n` and `m×n`
    // matrices with the strides given, which is what `gemm::gemm` reads and writes; with
    // `Parallelism::None` it runs on this thread only.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            accumulate,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
            1,
            ldb as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Segment, MR};

    fn mask(lanes: usize) -> __mmask16 {
        if lanes >= 16 {
            0xFFFF
        } else {
            ((1u32 << lanes) - 1) as __mmask16
        }
    }

    /// The tile of [`super::tile`] with `NV` vectors of 16 columns (`nr ≤ 16·NV`).
    ///
    /// # Safety
    /// AVX-512 F must be available, and the pointers must cover what the segments and sizes
    /// describe, as for [`super::tile`].
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile<const NV: usize>(
        segments: &[Segment],
        j0: usize,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        nr: usize,
        accumulate: bool,
    ) {
        let masks: [__mmask16; NV] = std::array::from_fn(|v| mask(nr.saturating_sub(16 * v)));
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        for seg in segments {
            let rows = seg.rows;
            // SAFETY: column `j0` of the segment's first B row is inside B (caller's contract).
            let mut b = unsafe { seg.b.add(j0) };
            let mut offset = 0;
            for _ in 0..seg.steps {
                // SAFETY: `b` is this step's B row from column `j0`; the masks enable only the
                // `nr` columns the caller's contract covers (masked-off lanes are not read).
                let bv: [__m512; NV] = std::array::from_fn(|v| unsafe {
                    _mm512_maskz_loadu_ps(masks[v], b.add(16 * v))
                });
                for (row, acc_r) in rows.iter().zip(acc.iter_mut()) {
                    // SAFETY: `offset` is `s·row_step` for a step `s < steps`: inside the row
                    // operand the caller's contract covers (also for rows beyond `mr`).
                    let av = _mm512_set1_ps(unsafe { *row.add(offset) });
                    for v in 0..NV {
                        acc_r[v] = _mm512_fmadd_ps(av, bv[v], acc_r[v]);
                    }
                }
                // The next step's B row. After the last step `b` is never read and can lie up to
                // `j0` floats beyond B's allocation, so it is advanced with wrapping arithmetic
                // (no in-bounds requirement) rather than `add`.
                b = b.wrapping_add(ldb);
                offset += seg.row_step;
            }
        }
        for (r, acc_r) in acc.iter().enumerate().take(mr) {
            for v in 0..NV {
                // SAFETY: row `r < mr` of the C tile, columns from `16·v`: inside C (caller's
                // contract).
                let p = unsafe { c.add(r * ldc + 16 * v) };
                let value = if accumulate {
                    // SAFETY: reads only the lanes of `p` the mask enables, columns `< nr` of
                    // row `r` of the C tile, which the caller's contract covers.
                    _mm512_add_ps(acc_r[v], unsafe { _mm512_maskz_loadu_ps(masks[v], p) })
                } else {
                    acc_r[v]
                };
                // SAFETY: writes only the enabled lanes, columns `< nr` of row `r < mr` of the C
                // tile, which the caller's contract covers.
                unsafe { _mm512_mask_storeu_ps(p, masks[v], value) };
            }
        }
    }
}
