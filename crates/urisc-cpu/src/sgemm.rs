//! The f32 matrix kernel under every convolution, as an implicit GEMM: a tile of 14 rows × up
//! to 32 columns of `C` (rows: output pixels or weight rows; columns: output channels) kept in
//! 28 AVX-512 registers while the reduction runs over *segments*, each a run of reduction steps
//! whose 14 row operands are read through per-row pointers. A 3×3 convolution's segments are
//! its taps (and inputs): each row pointer points at the neighbouring pixel's channels, or at
//! zeros outside the image, so no im2col copy is made.
//!
//! The same tile interface runs on AVX2 + FMA (blocks of 5 rows × 16 columns in ymm registers)
//! and on NEON (aarch64: the same blocks in q registers). The `gemm` crate (which uses AVX-512
//! only on nightly Rust) is the portable path every native one is tested against. Which one runs
//! is the [`Kernels`] value each call is given.

// Matched on only where there are native tiles.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
use crate::kernels::KernelPath;
use crate::kernels::Kernels;

/// Rows of `C` per tile.
pub const MR: usize = 14;
/// Columns of `C` per tile.
pub const NR: usize = 32;

/// A run of reduction steps: step `s` multiplies row operand `rows[r] + s·row_step` with the
/// B row at `b + s·ldb` (B rows contiguous in the column direction).
#[derive(Clone, Copy)]
// Read only by the native tiles; targets without them take the portable path.
#[cfg_attr(
    not(any(
        target_arch = "x86_64",
        all(target_arch = "aarch64", target_feature = "neon")
    )),
    allow(dead_code)
)]
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

/// A run of reduction steps whose row operands lie at constant distances: row `r` at step `s`
/// is `a + r·lda + s·step` (a dense matrix or its transpose, or the taps of a panel inside one
/// image row). The tile then needs three base registers for its rows instead of [`MR`]
/// pointers (which spill).
#[derive(Clone, Copy)]
pub struct Strided {
    /// Row 0's operand at step 0.
    pub a: *const f32,
    /// Floats between consecutive rows' operands.
    pub lda: usize,
    /// Floats between a row operand's consecutive steps.
    pub step: usize,
    /// Reduction steps in the segment.
    pub steps: usize,
    /// B row of step 0 (column 0); step `s` reads the B row at `b + s·ldb`.
    pub b: *const f32,
}

impl Strided {
    /// The same segment with one pointer per row (for the tiles without a strided form).
    #[cfg_attr(
        not(any(
            target_arch = "x86_64",
            all(target_arch = "aarch64", target_feature = "neon")
        )),
        allow(dead_code)
    )]
    fn rows(&self) -> Segment {
        Segment {
            rows: std::array::from_fn(|r| self.a.wrapping_add(r * self.lda)),
            row_step: self.step,
            steps: self.steps,
            b: self.b,
        }
    }
}

/// `C[0..mr, 0..nr] (+)= Σ_segments` for one tile on `kernels`' native tile, B columns taken
/// from `segment.b + j0`, C (r, j) at `c[r·ldc + j]`. Panics on the portable path, which has no
/// tile.
///
/// # Safety
/// Every pointer must cover what the segments and sizes describe (rows beyond `mr` are read but
/// not stored, so they must point at readable memory too).
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile(
    kernels: Kernels,
    segments: &[Segment],
    j0: usize,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    accumulate: bool,
) {
    match kernels.path() {
        // SAFETY: a `Kernels` holds the AVX-512 path only where AVX-512 F and BW were detected
        // (so the tile's target feature is present); the pointers cover the segments and sizes
        // (caller's contract), which is what the tile reads and writes.
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => unsafe {
            avx512::tile_for(nr, mr)(segments, j0, ldb, c, ldc, mr, nr, accumulate)
        },
        // SAFETY: a `Kernels` holds the AVX2 path only where AVX2 and FMA were detected; the
        // pointers cover the segments and sizes (caller's contract), which is what `avx2::tile`
        // reads and writes.
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => unsafe { avx2::tile(segments, j0, ldb, c, ldc, mr, nr, accumulate) },
        // SAFETY: the target has NEON (this is compiled only where it does); the pointers cover
        // the segments and sizes (caller's contract), which is what `neon::tile` reads and writes.
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        KernelPath::Neon => unsafe { neon::tile(segments, j0, ldb, c, ldc, mr, nr, accumulate) },
        _ => {
            let _ = (segments, j0, ldb, c, ldc, mr, nr, accumulate);
            unreachable!("the portable path has no tile")
        }
    }
}

/// The signature of the kernels [`strided_tile_for`] returns: [`tile`] for segments with strided
/// rows.
///
/// # Safety
/// As for [`tile`]: all [`MR`] rows of every segment (`a + r·lda`, `r < MR`, also beyond `mr`)
/// must be readable at each of `steps` steps `step` floats apart.
pub type StridedTile = unsafe fn(&[Strided], usize, usize, *mut f32, usize, usize, usize, bool);

/// The strided tile of `kernels`' path for tiles of `mr` rows and `nr` columns, chosen once for
/// a loop of many small tiles (the choice per call was 3 % of an inference pass): AVX-512's own,
/// else the pointer tile one segment at a time. Its kernel panics on the portable path.
pub fn strided_tile_for(kernels: Kernels, nr: usize, mr: usize) -> StridedTile {
    match kernels.path() {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => avx512::strided_for(nr, mr),
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => avx2::tile_strided,
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        KernelPath::Neon => neon::tile_strided,
        _ => {
            let _ = (nr, mr);
            no_strided_tile
        }
    }
}

/// The portable path's [`StridedTile`]: there is none ([`strided`] takes the `gemm` crate).
#[allow(clippy::too_many_arguments)] // a `StridedTile`
fn no_strided_tile(
    _: &[Strided],
    _: usize,
    _: usize,
    _: *mut f32,
    _: usize,
    _: usize,
    _: usize,
    _: bool,
) {
    unreachable!("the portable path has no tile")
}

/// `C[m×n] (+)= A[m×k]·B[k×n]` with A (i, p) at `a[i·a_rs + p·a_cs]`, B row-major (`ldb`), C
/// row-major (`ldc`): on `kernels`' strided tile where the path is native (tiles of [`MR`] rows
/// × [`NR`] columns, the whole reduction in registers), else on the portable `gemm` crate.
///
/// # Safety
/// The pointers must cover the matrices their sizes and strides describe; on a native path A
/// must stay readable for [`MR`] rows from every tile's first (rows beyond `m` are read, not
/// used).
#[allow(clippy::too_many_arguments)]
pub unsafe fn strided(
    kernels: Kernels,
    (m, n, k): (usize, usize, usize),
    a: *const f32,
    (a_rs, a_cs): (usize, usize),
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    if !kernels.native() {
        // SAFETY: the caller's contract, passed on.
        unsafe { portable((m, n, k), a, (a_rs, a_cs), b, ldb, c, ldc, accumulate) };
        return;
    }
    for j0 in (0..n).step_by(NR) {
        let nr = NR.min(n - j0);
        let full = strided_tile_for(kernels, nr, MR);
        for i0 in (0..m).step_by(MR) {
            let kernel = if m - i0 >= MR {
                full
            } else {
                strided_tile_for(kernels, nr, m - i0)
            };
            let segment = Strided {
                a: a.wrapping_add(i0 * a_rs),
                lda: a_rs,
                step: a_cs,
                steps: k,
                b,
            };
            // SAFETY: the path is native (checked above), so `kernel` is its tile; A's rows
            // `i0 .. i0 + MR` are readable for the `k` steps (caller's contract); B has `k` rows of `n ≥ j0 + nr` columns; the C tile
            // (`min(MR, m − i0)` rows × `nr` columns from (i0, j0)) lies inside C.
            unsafe {
                kernel(
                    &[segment],
                    j0,
                    ldb,
                    c.add(i0 * ldc + j0),
                    ldc,
                    MR.min(m - i0),
                    nr,
                    accumulate,
                )
            };
        }
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

/// Walks a tile of `mr ≤ MR` rows and `nr` columns (B from column `j0`, C at `c` with rows
/// `ldc` apart) in the blocks of the AVX2 and NEON tiles, whose 16 or 32 registers hold fewer
/// accumulators than AVX-512's: the 14 rows as 5, 5 and 4 (each block keeps its accumulators in
/// registers while the whole reduction runs, re-reading A and B, which stay in L1), the columns
/// 16 at a time. Calls `f(rows, (r0, jb, store_rows, cols), c_block)` for each: `rows` (5 or 4)
/// rows from `r0`, of which `store_rows` are the tile's and stored, `cols ≤ 16` columns from B
/// column `jb`, the block's first element of C at `c_block`.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
#[inline(always)]
fn for_each_block(
    (mr, nr): (usize, usize),
    j0: usize,
    (c, ldc): (*mut f32, usize),
    mut f: impl FnMut(usize, (usize, usize, usize, usize), *mut f32),
) {
    const BLOCKS: [(usize, usize); 3] = [(0, 5), (5, 5), (10, 4)];
    const _: () = assert!(MR == 14, "the row blocks cover MR = 14 rows");
    for (r0, rows) in BLOCKS {
        if r0 >= mr {
            break;
        }
        for jc in (0..nr).step_by(16) {
            let at = (r0, j0 + jc, (mr - r0).min(rows), (nr - jc).min(16));
            f(rows, at, c.wrapping_add(r0 * ldc + jc));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Segment, Strided, StridedTile, MR};

    /// The tile's signature (as [`StridedTile`], with pointer rows).
    pub type Tile = unsafe fn(&[Segment], usize, usize, *mut f32, usize, usize, usize, bool);

    /// Picks the instance of `$kernel::<NV, R>` for `nr` columns (one or two vectors) and `mr`
    /// rows rounded up to an even count: a tile's last rows (8 input channels of a weight
    /// gradient, the 2 of 16 tiles of a deep level's image) then do not pay for all 14.
    macro_rules! instance {
        ($kernel:ident as $ty:ty, $nr:expr, $mr:expr) => {{
            macro_rules! rows {
                ($nv:literal) => {
                    match $mr {
                        0..=2 => $kernel::<$nv, 2> as $ty,
                        3..=4 => $kernel::<$nv, 4> as $ty,
                        5..=6 => $kernel::<$nv, 6> as $ty,
                        7..=8 => $kernel::<$nv, 8> as $ty,
                        9..=10 => $kernel::<$nv, 10> as $ty,
                        11..=12 => $kernel::<$nv, 12> as $ty,
                        _ => $kernel::<$nv, MR> as $ty,
                    }
                };
            }
            if $nr > 16 {
                rows!(2)
            } else {
                rows!(1)
            }
        }};
    }

    /// [`tile`] for `nr` columns and `mr` rows.
    pub fn tile_for(nr: usize, mr: usize) -> Tile {
        instance!(tile as Tile, nr, mr)
    }

    /// [`tile_strided`] for `nr` columns and `mr` rows.
    pub fn strided_for(nr: usize, mr: usize) -> StridedTile {
        instance!(tile_strided as StridedTile, nr, mr)
    }

    fn mask(lanes: usize) -> __mmask16 {
        if lanes >= 16 {
            0xFFFF
        } else {
            ((1u32 << lanes) - 1) as __mmask16
        }
    }

    /// The tile of [`super::tile`] with `NV` vectors of 16 columns (`nr ≤ 16·NV`) and the first
    /// `R ≥ mr` rows.
    ///
    /// # Safety
    /// AVX-512 F must be available, and the pointers must cover what the segments and sizes
    /// describe, as for [`super::tile`].
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile<const NV: usize, const R: usize>(
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
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        for seg in segments {
            let rows: [*const f32; R] = std::array::from_fn(|r| seg.rows[r]);
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

    /// [`super::tile_strided`] with `NV` vectors of 16 columns and the first `R ≥ mr` rows.
    ///
    /// # Safety
    /// AVX-512 F must be available, and the pointers must cover what the segments and sizes
    /// describe, as for [`super::tile_strided`].
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_strided<const NV: usize, const R: usize>(
        segments: &[Strided],
        j0: usize,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        nr: usize,
        accumulate: bool,
    ) {
        let masks: [__mmask16; NV] = std::array::from_fn(|v| mask(nr.saturating_sub(16 * v)));
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        for seg in segments {
            // SAFETY: column `j0` of the segment's first B row is inside B (caller's contract).
            let mut b = unsafe { seg.b.add(j0) };
            let mut a = seg.a;
            let (lda, step) = (seg.lda, seg.step);
            for _ in 0..seg.steps {
                // SAFETY: `b` is this step's B row from column `j0`; the masks enable only the
                // `nr` columns the caller's contract covers.
                let bv: [__m512; NV] = std::array::from_fn(|v| unsafe {
                    _mm512_maskz_loadu_ps(masks[v], b.add(16 * v))
                });
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    // SAFETY: row `r < MR` at this step: readable (caller's contract).
                    let av = _mm512_set1_ps(unsafe { *a.add(r * lda) });
                    for v in 0..NV {
                        acc_r[v] = _mm512_fmadd_ps(av, bv[v], acc_r[v]);
                    }
                }
                // Wrapping: past the last step the pointers are not read.
                b = b.wrapping_add(ldb);
                a = a.wrapping_add(step);
            }
        }
        for (r, acc_r) in acc.iter().enumerate().take(mr) {
            for v in 0..NV {
                // SAFETY: row `r < mr` of the C tile, columns from `16·v`: inside C.
                let p = unsafe { c.add(r * ldc + 16 * v) };
                let value = if accumulate {
                    // SAFETY: the enabled lanes of row `r` of the C tile.
                    _mm512_add_ps(acc_r[v], unsafe { _mm512_maskz_loadu_ps(masks[v], p) })
                } else {
                    acc_r[v]
                };
                // SAFETY: the enabled lanes of row `r < mr` of the C tile.
                unsafe { _mm512_mask_storeu_ps(p, masks[v], value) };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{for_each_block, Segment, Strided};

    /// Lanes `< lanes` of 8 enabled, as `_mm256_maskload_ps` wants them (sign bit set).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn mask(lanes: usize) -> __m256i {
        let on = |i: usize| if i < lanes { -1 } else { 0 };
        _mm256_setr_epi32(on(0), on(1), on(2), on(3), on(4), on(5), on(6), on(7))
    }

    /// [`super::tile`] with 16 ymm registers, in the blocks of [`super::for_each_block`] (5 or 4
    /// rows × 16 columns): `R × 2` accumulators each.
    ///
    /// # Safety
    /// AVX2 and FMA must be available, and the pointers must cover what the segments and sizes
    /// describe, as for [`super::tile`].
    #[target_feature(enable = "avx2,fma")]
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
        for_each_block(
            (mr, nr),
            j0,
            (c, ldc),
            #[inline(always)]
            |rows, at, c_block| {
                let cols = at.3;
                // SAFETY: the block's rows are among the segments' MR row pointers (readable per
                // the caller's contract, even beyond `mr`); its columns lie within the tile's `nr`
                // columns of B and C; only its `store_rows` rows, all below `mr`, are written; AVX2 and FMA are this function's.
                unsafe {
                    match (rows == 5, cols == 16) {
                        (true, true) => {
                            block::<5, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (true, false) => {
                            block::<5, false>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (false, true) => {
                            block::<4, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (false, false) => {
                            block::<4, false>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                    }
                }
            },
        );
    }

    /// [`super::StridedTile`] on [`tile`]: one segment at a time with its rows as pointers (no
    /// allocation per call), the first storing, the others adding to C.
    ///
    /// # Safety
    /// AVX2 and FMA must be available, and the pointers must cover what the segments and sizes
    /// describe, as for [`super::StridedTile`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_strided(
        segments: &[Strided],
        j0: usize,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        nr: usize,
        accumulate: bool,
    ) {
        for (i, segment) in segments.iter().enumerate() {
            let rows = [segment.rows()];
            let accumulate = accumulate || i > 0;
            // SAFETY: AVX2 and FMA are available and the segment's rows as pointers cover the
            // same memory (caller's contract).
            unsafe { tile(&rows, j0, ldb, c, ldc, mr, nr, accumulate) }
        }
    }

    /// `R` rows from `r0` × `cols ≤ 16` columns from B column `jb` (`at = (r0, jb, store_rows,
    /// cols)`), into C at `c` (the block's first row and column); `store_rows` rows are stored.
    /// `FULL`: `cols == 16`, so B is loaded without masks.
    ///
    /// # Safety
    /// As for [`tile`], restricted to this block.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize, const FULL: bool>(
        segments: &[Segment],
        (r0, jb, store_rows, cols): (usize, usize, usize, usize),
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let masks = [mask(cols.min(8)), mask(cols.saturating_sub(8))];
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for seg in segments {
            let rows: [*const f32; R] = std::array::from_fn(|r| seg.rows[r0 + r]);
            // Wrapping arithmetic: `b` steps past B after the last step (never read then).
            let mut b = seg.b.wrapping_add(jb);
            let mut offset = 0;
            for _ in 0..seg.steps {
                // SAFETY: `b` is this step's B row from column `jb`; the masks enable only the
                // block's `cols` columns, which the caller's contract covers (masked-off lanes
                // are not read).
                let bv = unsafe {
                    if FULL {
                        [_mm256_loadu_ps(b), _mm256_loadu_ps(b.wrapping_add(8))]
                    } else {
                        [
                            _mm256_maskload_ps(b, masks[0]),
                            _mm256_maskload_ps(b.wrapping_add(8), masks[1]),
                        ]
                    }
                };
                for (row, acc_r) in rows.iter().zip(acc.iter_mut()) {
                    // SAFETY: `offset` is `s·row_step` for a step `s < steps`: inside the row
                    // operand the caller's contract covers.
                    let av = _mm256_set1_ps(unsafe { *row.add(offset) });
                    acc_r[0] = _mm256_fmadd_ps(av, bv[0], acc_r[0]);
                    acc_r[1] = _mm256_fmadd_ps(av, bv[1], acc_r[1]);
                }
                b = b.wrapping_add(ldb);
                offset += seg.row_step;
            }
        }
        for (r, acc_r) in acc.iter().enumerate().take(store_rows) {
            for (v, (sum, m)) in acc_r.iter().zip(masks).enumerate() {
                let p = c.wrapping_add(r * ldc + 8 * v);
                // SAFETY: row `r < store_rows` of the block; the mask enables only columns
                // `< cols` of it: inside C (caller's contract); masked-off lanes are neither
                // read nor written.
                unsafe {
                    let value = if accumulate {
                        _mm256_add_ps(*sum, _mm256_maskload_ps(p, m))
                    } else {
                        *sum
                    };
                    _mm256_maskstore_ps(p, m, value);
                }
            }
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
pub(crate) mod neon {
    use std::arch::aarch64::*;

    use super::{for_each_block, Segment, Strided};

    /// `lanes ≤ 4` floats from `p`, zeros after (a full load when `lanes == 4`).
    ///
    /// # Safety
    /// `p` must cover `lanes` floats.
    #[inline(always)]
    pub(crate) unsafe fn load(p: *const f32, lanes: usize) -> float32x4_t {
        // SAFETY: `p` covers `lanes` floats (caller's contract); the partial case reads them
        // one by one.
        unsafe {
            if lanes >= 4 {
                vld1q_f32(p)
            } else {
                let mut part = [0.0f32; 4];
                std::ptr::copy_nonoverlapping(p, part.as_mut_ptr(), lanes);
                vld1q_f32(part.as_ptr())
            }
        }
    }

    /// The first `lanes ≤ 4` floats of `v` to `p`.
    ///
    /// # Safety
    /// `p` must cover `lanes` floats.
    #[inline(always)]
    pub(crate) unsafe fn store(p: *mut f32, v: float32x4_t, lanes: usize) {
        // SAFETY: `p` covers `lanes` floats (caller's contract); the partial case writes them
        // one by one.
        unsafe {
            if lanes >= 4 {
                vst1q_f32(p, v)
            } else {
                let mut part = [0.0f32; 4];
                vst1q_f32(part.as_mut_ptr(), v);
                std::ptr::copy_nonoverlapping(part.as_ptr(), p, lanes);
            }
        }
    }

    /// [`super::tile`] in NEON's 32 q registers, in the AVX2 tile's blocks
    /// ([`super::for_each_block`]): at most 20 accumulators (5 rows × 4 vectors of 4 columns) plus
    /// 4 B vectors and one A value.
    ///
    /// # Safety
    /// The pointers must cover what the segments and sizes describe, as for [`super::tile`].
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
        for_each_block(
            (mr, nr),
            j0,
            (c, ldc),
            #[inline(always)]
            |rows, at, c_block| {
                let cols = at.3;
                // SAFETY: the block's rows are among the segments' MR row pointers (readable per
                // the caller's contract, even beyond `mr`); its columns lie within the tile's `nr`
                // columns of B and C; only its `store_rows` rows, all below `mr`, are written.
                unsafe {
                    // Whole vectors of columns: 16, 12, 8 or 4 (the networks' channel counts);
                    // anything else takes the 16-column block with partial loads.
                    match (rows == 5, cols) {
                        (true, 16) => {
                            block::<5, 4, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (true, 12) => {
                            block::<5, 3, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (true, 8) => {
                            block::<5, 2, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (true, 4) => {
                            block::<5, 1, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (true, _) => {
                            block::<5, 4, false>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (false, 16) => {
                            block::<4, 4, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (false, 12) => {
                            block::<4, 3, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (false, 8) => {
                            block::<4, 2, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (false, 4) => {
                            block::<4, 1, true>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                        (false, _) => {
                            block::<4, 4, false>(segments, at, ldb, c_block, ldc, accumulate)
                        }
                    }
                }
            },
        );
    }

    /// [`super::StridedTile`] on [`tile`]: one segment at a time with its rows as pointers (no
    /// allocation per call), the first storing, the others adding to C.
    ///
    /// # Safety
    /// The pointers must cover what the segments and sizes describe, as for
    /// [`super::StridedTile`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_strided(
        segments: &[Strided],
        j0: usize,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        nr: usize,
        accumulate: bool,
    ) {
        for (i, segment) in segments.iter().enumerate() {
            let rows = [segment.rows()];
            let accumulate = accumulate || i > 0;
            // SAFETY: the segment's rows as pointers cover the same memory (caller's contract).
            unsafe { tile(&rows, j0, ldb, c, ldc, mr, nr, accumulate) }
        }
    }

    /// `R` rows from `r0` × `cols ≤ 4·NV` columns from B column `jb` (`at = (r0, jb,
    /// store_rows, cols)`), into C at `c` (the block's first row and column); `store_rows` rows
    /// are stored. `FULL`: `cols == 4·NV`, so B and C are accessed in whole vectors.
    ///
    /// # Safety
    /// As for [`tile`], restricted to this block.
    #[inline]
    unsafe fn block<const R: usize, const NV: usize, const FULL: bool>(
        segments: &[Segment],
        (r0, jb, store_rows, cols): (usize, usize, usize, usize),
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let lanes: [usize; NV] = std::array::from_fn(|v| {
            if FULL {
                4
            } else {
                cols.saturating_sub(4 * v).min(4)
            }
        });
        // SAFETY: the target has NEON (this is compiled only where it does).
        let mut acc = [[unsafe { vdupq_n_f32(0.0) }; NV]; R];
        for seg in segments {
            let rows: [*const f32; R] = std::array::from_fn(|r| seg.rows[r0 + r]);
            // Wrapping arithmetic: `b` steps past B after the last step (never read then).
            let mut b = seg.b.wrapping_add(jb);
            let mut offset = 0;
            for _ in 0..seg.steps {
                // SAFETY: `b` is this step's B row from column `jb`; only the block's `cols`
                // columns are read, which the caller's contract covers.
                let bv: [float32x4_t; NV] =
                    std::array::from_fn(|v| unsafe { load(b.wrapping_add(4 * v), lanes[v]) });
                for (row, acc_r) in rows.iter().zip(acc.iter_mut()) {
                    // SAFETY: `offset` is `s·row_step` for a step `s < steps`: inside the row
                    // operand the caller's contract covers.
                    let av = unsafe { vld1q_dup_f32(row.add(offset)) };
                    for v in 0..NV {
                        // SAFETY: the target has NEON (this is compiled only where it does).
                        acc_r[v] = unsafe { vfmaq_f32(acc_r[v], av, bv[v]) };
                    }
                }
                b = b.wrapping_add(ldb);
                offset += seg.row_step;
            }
        }
        for (r, acc_r) in acc.iter().enumerate().take(store_rows) {
            for v in 0..NV {
                if lanes[v] == 0 {
                    break;
                }
                let p = c.wrapping_add(r * ldc + 4 * v);
                // SAFETY: row `r < store_rows` of the block, columns `4·v ..` up to `cols`:
                // inside C (caller's contract).
                unsafe {
                    let value = if accumulate {
                        vaddq_f32(acc_r[v], load(p, lanes[v]))
                    } else {
                        acc_r[v]
                    };
                    store(p, value, lanes[v]);
                }
            }
        }
    }
}
