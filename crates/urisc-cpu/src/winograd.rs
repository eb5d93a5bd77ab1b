//! 3×3 convolutions (padding 1, stride 1) as Winograd F(2×2, 3×3): each 2×2 block of output
//! pixels comes from a 4×4 input tile through 16 element-wise products in the transformed
//! domain, 2.25× fewer multiplications than the direct convolution. Per band of tiles: the
//! input tiles are transformed (`Bᵀ d B`), the 16 products summed over input channels are 16
//! GEMMs `M_ξ = V_ξ · U_ξ` (tiles × input channels by input × output channels, on the native
//! tile or the portable GEMM) and the output transform (`Aᵀ M A`) adds the bias and writes the
//! pixels; the epilogue then runs on the band while it is in cache.
//!
//! The transforms of F(2×2, 3×3) have coefficients 0, ±1 and ±½, so rounding stays at the level of
//! the direct convolution's (tests compare both on every path); it serves training and gradients.
//! Inference passes take F(4×4, 3×3) ([`Tile::F4`]: 6×6 input tiles, 36 products per 16 outputs,
//! 4× fewer multiplications; coefficients up to 8 round more, within a few 1e-6 of the largest
//! output in the tests).

use rayon::prelude::*;

use crate::kernels::Kernels;
use crate::lanes::{vectors, Lanes};
use crate::sgemm;
use crate::tensor::{add_into, Act, Epilogue};

/// Tiles per band at least, whatever the budgets say: every band reads all of `U` (64 MiB at
/// 1024 channels in and out), and a band's last panel of fewer than [`sgemm::MR`] tiles wastes
/// the rest of the tile (bands of one 16-tile row ran the deep levels at about half speed).
/// Measured at width 64 (training step / 512² forward): 1 tile 7.40 / 1.62 s, 56: 6.61 / 1.51,
/// 112: 6.08 / 1.50, 224: 6.07 / 1.36, 448: 6.35 / 1.41, 896: 6.21 / 1.53.
const MIN_BAND_TILES: usize = 16 * sgemm::MR;
/// The transformed domain's positions of F(2×2, 3×3): 4 × 4.
const POSITIONS: usize = 16;

/// Which Winograd algorithm: output tiles of 2 × 2 (16 positions; exact to rounding, for
/// training and gradients) or 4 × 4 (36 positions, 4× fewer multiplications than the direct
/// convolution; transforms with coefficients up to 8 round more, ~1e-5 relative here: inference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tile {
    /// F(2×2, 3×3).
    F2,
    /// F(4×4, 3×3).
    F4,
}

impl Tile {
    /// Output pixels per tile side.
    fn side(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Positions of the transformed domain (input tile side squared).
    pub(crate) fn positions(self) -> usize {
        (self.side() + 2) * (self.side() + 2)
    }
}
/// Floats of one transformed input matrix `V_ξ` a band aims at (1 MiB: re-read from L2 for
/// every block of output channels).
const V_BUDGET: usize = 1 << 18;
/// Floats of a band's whole scratch (`V` and `M`, all positions) at most, unless one tile row
/// needs more (1 MiB: measured best of 0.25–8 MiB on 8–256 channels).
const SCRATCH_BUDGET: usize = 1 << 18;

/// `conv3×3(concat(inputs))` with transformed weights `u` (from [`transform_weights`]) plus
/// `bias`, `post` on each band, on `kernels` (its path; the algorithm is `tile`). With `upsampled`
/// (F(4×4) only) the inputs are read as if upsampled 2× (nearest), without making that copy.
#[allow(clippy::too_many_arguments)] // the convolution's parts, passed through from `Conv`
pub(crate) fn forward(
    kernels: Kernels,
    tile: Tile,
    inputs: &[&Act],
    upsampled: bool,
    u: &[f32],
    bias: Option<&[f32]>,
    cout: usize,
    post: Option<&Epilogue>,
) -> Act {
    let first = inputs[0];
    let cin: usize = inputs.iter().map(|a| a.c).sum();
    let (side, positions) = (tile.side(), tile.positions());
    assert_eq!(u.len(), positions * cin * cout, "transformed weights");
    assert!(
        !upsampled || tile == Tile::F4,
        "upsampled reads in F(4×4) only"
    );
    let shift = u32::from(upsampled);
    let (n, h, w) = (first.n, first.h << shift, first.w << shift);
    if n * h * w * cout == 0 {
        return Act::zeros(n, h, w, cout);
    }
    let tile_cols = w.div_ceil(side);
    let band_tile_rows = band_tile_rows(tile, (n, h, w), cin, cout);
    let fill = |data: &mut [std::mem::MaybeUninit<f32>]| {
        data.par_chunks_mut(h * w * cout)
            .enumerate()
            .flat_map(|(image, out_image)| {
                out_image
                    .par_chunks_mut(side * band_tile_rows * w * cout)
                    .enumerate()
                    .map(move |(band, out_band)| (image, band, out_band))
            })
            .for_each(|(image, band, out_band)| {
                let rows = (out_band.len() / (w * cout)).div_ceil(side);
                let band = Band {
                    image,
                    tr0: band * band_tile_rows,
                    rows,
                    tile_cols,
                };
                let tiles = rows * tile_cols;
                SCRATCH.with(|scratch| {
                    let (v, m) = &mut *scratch.borrow_mut();
                    let layout = Layout::by_tile(positions, cin);
                    let v = grown(v, positions * (tiles + sgemm::MR) * cin);
                    let m = grown(m, positions * tiles * cout);
                    let mut offset = 0;
                    for input in inputs {
                        let channels = (offset, cin);
                        transform_input(kernels, tile, (input, shift), &band, channels, layout, v);
                        offset += input.c;
                    }
                    multiply(kernels, positions, v, u, m, (tiles, cin, cout));
                    transform_output(kernels, tile, m, &band, bias, cout, w, out_band);
                });
                // SAFETY: the output transform wrote every pixel and channel of the band.
                let out_band = unsafe { &mut *(out_band as *mut [_] as *mut [f32]) };
                if let Some(post) = post {
                    post(out_band);
                }
            })
    };
    // SAFETY: every band of every image is written whole (above).
    unsafe { Act::filled_by((n, h, w, cout), fill) }
}

/// Tile rows per band of a convolution on `n` images of `h × w`: the scratch budgets, at least
/// [`MIN_BAND_TILES`] tiles, and bands of equal size, as many as a multiple of the threads where
/// one image has to feed them all (uneven bands left a thread idle at the deep levels).
fn band_tile_rows(tile: Tile, (n, h, w): (usize, usize, usize), cin: usize, cout: usize) -> usize {
    let (side, positions) = (tile.side(), tile.positions());
    let (tile_rows, tile_cols) = (h.div_ceil(side), w.div_ceil(side));
    let per_tile = positions * (cin + cout);
    let band_tiles = (V_BUDGET / cin.max(1))
        .min(SCRATCH_BUDGET / per_tile)
        .max(MIN_BAND_TILES);
    let threads = rayon::current_num_threads();
    let mut bands = tile_rows.div_ceil((band_tiles / tile_cols).max(1));
    if n < threads {
        let per_image = threads.div_ceil(n);
        bands = bands.div_ceil(per_image) * per_image;
    }
    tile_rows.div_ceil(bands.min(tile_rows))
}

thread_local! {
    /// Each thread's transformed inputs and products (`V`, `M`), kept between bands and calls.
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

/// The first `len` floats of `buffer`, grown (never shrunk) to hold them.
fn grown(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// A run of tile rows of one image: tile row `tr0 ..`, `rows` of them, `tile_cols` tiles each.
struct Band {
    image: usize,
    tr0: usize,
    rows: usize,
    tile_cols: usize,
}

/// Where a transform writes tile `t`'s position `ξ`: `t·tile + ξ·position` (channels
/// contiguous from there).
#[derive(Clone, Copy)]
struct Layout {
    tile: usize,
    position: usize,
}

impl Layout {
    /// A tile's positions together (`[tile][ξ][channel]`): the forward pass's GEMM reads every
    /// position of a panel of tiles, the output transform a tile's positions at once.
    fn by_tile(positions: usize, channels: usize) -> Layout {
        Layout {
            tile: positions * channels,
            position: channels,
        }
    }

    /// One position's tiles together (`[ξ][tile][channel]`): the weight gradient's GEMM reduces
    /// over tiles, which then follow each other in memory. Positions lie a cache line further
    /// apart than their tiles need, so that the transform's 16 output streams do not fall into
    /// one L1 set when that size is a multiple of 4 KiB.
    fn by_position(tiles: usize, channels: usize) -> Layout {
        Layout {
            tile: channels,
            position: tiles * channels + 16,
        }
    }

    /// Floats the layout spans for `tiles` tiles of `positions` positions of `channels`.
    fn len(self, tiles: usize, positions: usize, channels: usize) -> usize {
        (tiles - 1) * self.tile + (positions - 1) * self.position + channels
    }
}

/// `U_ξ = G g Gᵀ` for every input/output channel pair: `[16][cin][cout]` from weights
/// `[9][cin][cout]`.
pub(crate) fn transform_weights(
    kernels: Kernels,
    tile: Tile,
    weight: &[f32],
    cin: usize,
    cout: usize,
) -> Vec<f32> {
    assert_eq!(weight.len(), 9 * cin * cout, "3×3 weights");
    let mut u = vec![0f32; tile.positions() * cin * cout];
    match tile {
        Tile::F2 => dispatch!(kernels, transform_weights_with(weight, cin, cout, &mut u)),
        Tile::F4 => dispatch!(kernels, transform_weights4_with(weight, cin, cout, &mut u)),
    }
    u
}

/// The weight gradient (`[9][cin][cout]`, the layout of `Conv`'s weights) of
/// `conv3×3(concat(inputs))` for output gradient `dy`, in the Winograd domain of `tile`
/// (F(2×2, 3×3) written out below; F(4×4, 3×3) alike with 36 positions): per band the input
/// tiles' `V = Bᵀ d B` (as the forward pass) and the output gradient's `A dY Aᵀ`, then
/// `dU_ξ += V_ξᵀ · (A dY Aᵀ)_ξ` (one GEMM per position, reduced over tiles), and at the end
/// `dW = Gᵀ dU G`: 2.25× (F(4×4): 4×) fewer multiplications than over the nine taps. On
/// `kernels` (its path; the algorithm is `tile`). The bands are split into one contiguous run per thread
/// and the runs' sums added in order, so the result does not depend on scheduling; at deep
/// levels, where those per-thread sums would outweigh the transforms, all images are
/// transformed at once and the positions' products split over the threads instead.
pub(crate) fn weight_gradient(kernels: Kernels, tile: Tile, inputs: &[&Act], dy: &Act) -> Vec<f32> {
    let first = inputs[0];
    let (cin, cout) = (inputs.iter().map(|a| a.c).sum::<usize>(), dy.c);
    let (n, h, w) = (first.n, first.h, first.w);
    assert!(first.same_grid(dy), "dy on the input grid");
    if n * h * w * cin * cout == 0 {
        return vec![0.0; 9 * cin * cout];
    }
    let (side, positions) = (tile.side(), tile.positions());
    let (tile_rows, tile_cols) = (h.div_ceil(side), w.div_ceil(side));
    let rows_per_band = band_tile_rows(tile, (n, h, w), cin, cout);
    let bands: Vec<Band> = (0..n)
        .flat_map(|image| {
            (0..tile_rows).step_by(rows_per_band).map(move |tr0| Band {
                image,
                tr0,
                rows: rows_per_band.min(tile_rows - tr0),
                tile_cols,
            })
        })
        .collect();
    let runs = rayon::current_num_threads().clamp(1, bands.len());
    let plane = cin * cout;
    let shape = (tile, cin, cout);
    let du = if (runs - 1) * plane > n * tile_rows * tile_cols * (cin + cout) {
        // Deep levels (many channels, few tiles): one partial `dU` per thread would outweigh
        // all the transforms (36 planes of 2048 × 1024 channels are 302 MB), so all images are
        // transformed at once (smaller than a partial, by this very condition) and their
        // products reduced in one pass over `dU` (every band would read and write all of it),
        // split over the threads by position. The scratch is taken out of the
        // thread-local for the parallel loop: a job this thread picks up while it waits there
        // may need its own.
        let mut du = vec![0f32; positions * plane];
        let (mut v, mut m) = SCRATCH.with(|scratch| std::mem::take(&mut *scratch.borrow_mut()));
        let images: Vec<Band> = (0..n)
            .map(|image| Band {
                image,
                tr0: 0,
                rows: tile_rows,
                tile_cols,
            })
            .collect();
        let (v_all, m_all, layouts, tiles) =
            transform_bands(kernels, inputs, dy, &images, shape, (&mut v, &mut m));
        let sizes = (tiles, cin, cout);
        du.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(xi, du_xi)| {
                accumulate_product(kernels, xi, (v_all, m_all), layouts, du_xi, sizes)
            });
        SCRATCH.with(|scratch| *scratch.borrow_mut() = (v, m));
        du
    } else {
        let partials: Vec<Vec<f32>> = (0..runs)
            .into_par_iter()
            .map(|run| {
                let mut du = vec![0f32; positions * plane];
                SCRATCH.with(|scratch| {
                    let (v, m) = &mut *scratch.borrow_mut();
                    for band in &bands[run * bands.len() / runs..(run + 1) * bands.len() / runs] {
                        let one = std::slice::from_ref(band);
                        let (v, m, layouts, tiles) =
                            transform_bands(kernels, inputs, dy, one, shape, (v, m));
                        let sizes = (tiles, cin, cout);
                        for (xi, du_xi) in du.chunks_mut(plane).enumerate() {
                            accumulate_product(kernels, xi, (v, m), layouts, du_xi, sizes);
                        }
                    }
                });
                du
            })
            .collect();
        // Added in order into the first (a fresh sum would be another 151 MB at 1024 channels).
        let mut partials = partials.into_iter();
        let mut du = partials.next().expect("one run at least");
        for partial in partials {
            add_into(&mut du, &partial);
        }
        du
    };
    let mut dw = vec![0f32; 9 * plane];
    match tile {
        Tile::F2 => dispatch!(kernels, gradient_weights_with(&du, cin, cout, &mut dw)),
        Tile::F4 => dispatch!(kernels, gradient_weights4_with(&du, cin, cout, &mut dw)),
    }
    dw
}

/// `M[tile][ξ] = (A dY Aᵀ)[ξ]` for the band's 2×2 blocks of the output gradient `dy` (zeros
/// beyond the image), `A = [[1, 0], [1, 1], [1, −1], [0, −1]]`: the gradient of the products
/// the output transform sums.
fn transform_gradient(
    kernels: Kernels,
    tile: Tile,
    dy: &Act,
    band: &Band,
    layout: Layout,
    m: &mut [f32],
) {
    let tiles = band.rows * band.tile_cols;
    assert!(m.len() >= layout.len(tiles, tile.positions(), dy.c));
    match tile {
        Tile::F2 => dispatch!(kernels, transform_gradient_with(dy, band, layout, m)),
        Tile::F4 => dispatch!(kernels, transform_gradient4_with(dy, band, layout, m)),
    }
}

/// `A x` of F(4×4, 3×3) for a row or column of four output-gradient values (the transpose of
/// [`output6`]).
#[inline(always)]
fn gradient6<L: Lanes>([x0, x1, x2, x3]: [L; 4]) -> [L; 6] {
    let (even, odd) = (x0.add(x2), x1.add(x3));
    let (even4, odd8) = (x0.add(x2.scale(4.0)), x1.scale(2.0).add(x3.scale(8.0)));
    [
        x0,
        even.add(odd),
        even.sub(odd),
        even4.add(odd8),
        even4.sub(odd8),
        x3,
    ]
}

/// [`transform_gradient`] of F(4×4, 3×3) with vectors `L`: 4×4 blocks of `dy` to 6×6, `A` the
/// transpose of [`transform_output4_with`]'s `Aᵀ`.
#[inline(always)]
fn transform_gradient4_with<L: Lanes>(dy: &Act, band: &Band, layout: Layout, m: &mut [f32]) {
    let (h, w, c) = (dy.h, dy.w, dy.c);
    let image = &dy.data[band.image * h * w * c..][..h * w * c];
    for tr in 0..band.rows {
        let y0 = 4 * (band.tr0 + tr);
        let rows: [Option<&[f32]>; 4] =
            std::array::from_fn(|i| (y0 + i < h).then(|| &image[(y0 + i) * w * c..][..w * c]));
        for tx in 0..band.tile_cols {
            let dst = m[(tr * band.tile_cols + tx) * layout.tile..].as_mut_ptr();
            for c0 in (0..c).step_by(L::LANES) {
                let lanes = L::LANES.min(c - c0);
                let load = |i: usize, x: usize| match rows[i] {
                    // SAFETY: pixel `x < w` of an image row: `c ≥ c0 + lanes` floats from its
                    // channel `c0`; the vector's instructions are the dispatching function's.
                    Some(row) if x < w => unsafe { L::load(row.as_ptr().add(x * c + c0), lanes) },
                    _ => L::splat(0.0),
                };
                // Along the block's four rows, then down each of the six columns.
                let r: [[L; 6]; 4] = vectors([L::splat(0.0); 6], |i| {
                    gradient6(vectors(L::splat(0.0), |j| load(i, 4 * tx + j)))
                });
                #[allow(clippy::needless_range_loop)] // `j` picks one value of every row
                for j in 0..6 {
                    let column = gradient6([r[0][j], r[1][j], r[2][j], r[3][j]]);
                    for (i, value) in column.into_iter().enumerate() {
                        // SAFETY: position `6i + j` of this tile from channel `c0`: `lanes`
                        // floats inside `m` (asserted size).
                        unsafe { value.store(dst.add((6 * i + j) * layout.position + c0), lanes) };
                    }
                }
            }
        }
    }
}

/// [`transform_gradient`] with vectors `L`.
#[inline(always)]
fn transform_gradient_with<L: Lanes>(dy: &Act, band: &Band, layout: Layout, m: &mut [f32]) {
    let (h, w, c) = (dy.h, dy.w, dy.c);
    let image = &dy.data[band.image * h * w * c..][..h * w * c];
    // `A x` for the two values of a block's row or column.
    let spread = |a: L, b: L| [a, a.add(b), a.sub(b), L::splat(0.0).sub(b)];
    for tr in 0..band.rows {
        let y0 = 2 * (band.tr0 + tr);
        let rows: [Option<&[f32]>; 2] =
            std::array::from_fn(|i| (y0 + i < h).then(|| &image[(y0 + i) * w * c..][..w * c]));
        for tx in 0..band.tile_cols {
            let dst = m[(tr * band.tile_cols + tx) * layout.tile..].as_mut_ptr();
            for c0 in (0..c).step_by(L::LANES) {
                let lanes = L::LANES.min(c - c0);
                let load = |i: usize, x: usize| match rows[i] {
                    // SAFETY: pixel `x < w` of an image row: `c ≥ c0 + lanes` floats from its
                    // channel `c0`; the vector's instructions are the dispatching function's.
                    Some(row) if x < w => unsafe { L::load(row.as_ptr().add(x * c + c0), lanes) },
                    _ => L::splat(0.0),
                };
                // Along the block's two rows, then down each of the four columns.
                let r0 = spread(load(0, 2 * tx), load(0, 2 * tx + 1));
                let r1 = spread(load(1, 2 * tx), load(1, 2 * tx + 1));
                for j in 0..4 {
                    for (i, value) in spread(r0[j], r1[j]).into_iter().enumerate() {
                        // SAFETY: position `4i + j` of this tile from channel `c0`: `lanes`
                        // floats inside `m` (asserted size).
                        unsafe { value.store(dst.add((4 * i + j) * layout.position + c0), lanes) };
                    }
                }
            }
        }
    }
}

/// The weight gradient's transforms of `bands`, their tiles one after the other, into the
/// thread's scratch `(v, m)`: the inputs' `V` and the output gradient's `M`, both laid out by
/// position; returns them, their layouts and the number of tiles.
fn transform_bands<'s>(
    kernels: Kernels,
    inputs: &[&Act],
    dy: &Act,
    bands: &[Band],
    (tile, cin, cout): (Tile, usize, usize),
    (v, m): (&'s mut Vec<f32>, &'s mut Vec<f32>),
) -> (&'s [f32], &'s [f32], (Layout, Layout), usize) {
    let tiles: usize = bands.iter().map(|b| b.rows * b.tile_cols).sum();
    let positions = tile.positions();
    let layouts = (
        Layout::by_position(tiles, cin),
        Layout::by_position(tiles, cout),
    );
    let v = grown(v, layouts.0.len(tiles, positions, cin) + sgemm::MR);
    let m = grown(m, layouts.1.len(tiles, positions, cout));
    let mut first_tile = 0;
    for band in bands {
        // The band's tiles from `first_tile` on: the same layout, started further in.
        let v = &mut v[first_tile * layouts.0.tile..];
        let mut offset = 0;
        for input in inputs {
            transform_input(kernels, tile, (input, 0), band, (offset, cin), layouts.0, v);
            offset += input.c;
        }
        transform_gradient(
            kernels,
            tile,
            dy,
            band,
            layouts.1,
            &mut m[first_tile * layouts.1.tile..],
        );
        first_tile += band.rows * band.tile_cols;
    }
    (v, m, layouts, tiles)
}

/// `dU_ξ += V_ξᵀ · M_ξ` for position `xi` (`V_ξ` tiles × cin, `M_ξ` tiles × cout, `dU_ξ`
/// cin × cout, `V` and `M` laid out by position): rows of the tile are input channels,
/// reduction steps are tiles.
fn accumulate_product(
    kernels: Kernels,
    xi: usize,
    (v, m): (&[f32], &[f32]),
    (v_layout, m_layout): (Layout, Layout),
    du_xi: &mut [f32],
    (tiles, cin, cout): (usize, usize, usize),
) {
    let (v_xi, m_xi) = (&v[xi * v_layout.position..], &m[xi * m_layout.position..]);
    assert!(du_xi.len() >= cin * cout);
    // SAFETY: `V_ξ`ᵀ (cin × tiles: channel `i`, tile `t` at `i + t·tile`) and `M_ξ` (tiles ×
    // cout, rows `tile` apart) lie inside `v` and `m` (their layouts); rows past `cin` read into
    // the next tile's channels, and `v` has `MR` floats of slack past the last; `dU_ξ` is
    // cin × cout (asserted).
    unsafe {
        sgemm::strided(
            kernels,
            (cin, cout, tiles),
            v_xi.as_ptr(),
            (1, v_layout.tile),
            m_xi.as_ptr(),
            m_layout.tile,
            du_xi.as_mut_ptr(),
            cout,
            true,
        )
    };
}

/// `dW = Gᵀ dU G` per input/output channel pair: `[9][cin][cout]` from `[16][cin][cout]`
/// (the transpose of [`transform_weights_with`]'s `G g Gᵀ`).
#[inline(always)]
fn gradient_weights_with<L: Lanes>(du: &[f32], cin: usize, cout: usize, dw: &mut [f32]) {
    let plane = cin * cout;
    assert!(du.len() >= POSITIONS * plane && dw.len() >= 9 * plane);
    let half = L::splat(0.5);
    // Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]].
    let g_columns = |[x0, x1, x2, x3]: [L; 4]| {
        let sum = x1.add(x2).mul(half);
        [x0.add(sum), x1.sub(x2).mul(half), sum.add(x3)]
    };
    for i in 0..cin {
        for o0 in (0..cout).step_by(L::LANES) {
            let lanes = L::LANES.min(cout - o0);
            // SAFETY: position `k`, pair (`i`, `o0 ..`): inside `du` (asserted size); the
            // vector's instructions are the dispatching function's.
            let x: [L; 16] = vectors(L::splat(0.0), |k| unsafe {
                L::load(du.as_ptr().add(k * plane + i * cout + o0), lanes)
            });
            // Along positions' columns (kernel columns) for each row, then down the rows.
            let rows: [[L; 3]; 4] = vectors([L::splat(0.0); 3], |a| {
                g_columns([x[4 * a], x[4 * a + 1], x[4 * a + 2], x[4 * a + 3]])
            });
            #[allow(clippy::needless_range_loop)] // `tx` picks one value of every row
            for tx in 0..3 {
                let taps = g_columns([rows[0][tx], rows[1][tx], rows[2][tx], rows[3][tx]]);
                for (ty, value) in taps.into_iter().enumerate() {
                    // SAFETY: tap `(ty, tx)`, pair (`i`, `o0 ..`): inside `dw` (asserted).
                    unsafe {
                        value.store(
                            dw.as_mut_ptr().add(((3 * ty + tx) * cin + i) * cout + o0),
                            lanes,
                        )
                    };
                }
            }
        }
    }
}

/// `Gᵀ x` of F(4×4, 3×3) for six values (the transpose of [`weights6`]): three kernel values.
#[inline(always)]
fn taps6<L: Lanes>([x0, x1, x2, x3, x4, x5]: [L; 6]) -> [L; 3] {
    let (sum12, diff21, sum34, diff34) = (x1.add(x2), x2.sub(x1), x3.add(x4), x3.sub(x4));
    [
        x0.scale(0.25)
            .sub(sum12.scale(1.0 / 6.0))
            .add(sum34.scale(1.0 / 24.0)),
        diff21.scale(1.0 / 6.0).add(diff34.scale(1.0 / 12.0)),
        sum34.sub(sum12).scale(1.0 / 6.0).add(x5),
    ]
}

/// [`gradient_weights_with`] of F(4×4, 3×3): `dW = Gᵀ dU G` from `[36][cin][cout]`.
#[inline(always)]
fn gradient_weights4_with<L: Lanes>(du: &[f32], cin: usize, cout: usize, dw: &mut [f32]) {
    let plane = cin * cout;
    assert!(du.len() >= 36 * plane && dw.len() >= 9 * plane);
    for i in 0..cin {
        for o0 in (0..cout).step_by(L::LANES) {
            let lanes = L::LANES.min(cout - o0);
            // Along each row of positions (kernel columns), then down the rows (kernel rows).
            let rows: [[L; 3]; 6] = vectors([L::splat(0.0); 3], |a| {
                // SAFETY: position `6a + b`, pair (`i`, `o0 ..`): inside `du` (asserted size);
                // the vector's instructions are the dispatching function's.
                taps6(vectors(L::splat(0.0), |b| unsafe {
                    L::load(du.as_ptr().add((6 * a + b) * plane + i * cout + o0), lanes)
                }))
            });
            #[allow(clippy::needless_range_loop)] // `tx` picks one value of every row
            for tx in 0..3 {
                let column = vectors(L::splat(0.0), |a| rows[a][tx]);
                for (ty, value) in taps6(column).into_iter().enumerate() {
                    // SAFETY: tap `(ty, tx)`, pair (`i`, `o0 ..`): inside `dw` (asserted).
                    unsafe {
                        value.store(
                            dw.as_mut_ptr().add(((3 * ty + tx) * cin + i) * cout + o0),
                            lanes,
                        )
                    };
                }
            }
        }
    }
}

/// `Bᵀ d` of F(4×4, 3×3) for six values.
#[inline(always)]
fn input6<L: Lanes>([d0, d1, d2, d3, d4, d5]: [L; 6]) -> [L; 6] {
    let (t1, t2) = (d2.neg_mul_add(4.0, d4), d1.neg_mul_add(4.0, d3));
    let (t3, t4) = (d4.sub(d2), d3.sub(d1));
    [
        d0.mul_add(4.0, d2.neg_mul_add(5.0, d4)),
        t1.add(t2),
        t1.sub(t2),
        t4.mul_add(2.0, t3),
        t4.neg_mul_add(2.0, t3),
        d1.mul_add(4.0, d3.neg_mul_add(5.0, d5)),
    ]
}

/// [`input6`] down the column at `x` of six image `rows` (`None`, or `x` outside `0 .. w`:
/// zeros) read upsampled by `2^shift` (pixel `x >> shift` of a row), channels `c0 .. c0 + lanes`
/// of `c`.
#[inline(always)]
fn column6<L: Lanes>(
    rows: &[Option<&[f32]>; 6],
    x: isize,
    (w, shift): (usize, u32),
    c: usize,
    c0: usize,
    lanes: usize,
) -> [L; 6] {
    let inside = x >= 0 && (x as usize) < w;
    let mut d = [L::splat(0.0); 6];
    for (value, row) in d.iter_mut().zip(rows) {
        if let (Some(row), true) = (row, inside) {
            // SAFETY: pixel `x >> shift` of an image row (`x < w`, the row's width shifted):
            // `c ≥ c0 + lanes` floats from channel `c0`; the vector's instructions are the
            // dispatching function's.
            *value = unsafe { L::load(row.as_ptr().add((x as usize >> shift) * c + c0), lanes) };
        }
    }
    input6(d)
}

/// `Aᵀ m` of F(4×4, 3×3) for six values.
#[inline(always)]
fn output6<L: Lanes>([m0, m1, m2, m3, m4, m5]: [L; 6]) -> [L; 4] {
    let (s1, d1, s2, d2) = (m1.add(m2), m1.sub(m2), m3.add(m4), m3.sub(m4));
    [
        m0.add(s1).add(s2),
        d2.mul_add(2.0, d1),
        s2.mul_add(4.0, s1),
        d2.mul_add(8.0, d1.add(m5)),
    ]
}

/// `G g` of F(4×4, 3×3) for three kernel values.
#[inline(always)]
fn weights6<L: Lanes>([g0, g1, g2]: [L; 3]) -> [L; 6] {
    let sum = g0.add(g2);
    let outer = g0.scale(1.0 / 24.0).add(g2.scale(1.0 / 6.0));
    let middle = g1.scale(1.0 / 12.0);
    [
        g0.scale(0.25),
        sum.add(g1).scale(-1.0 / 6.0),
        sum.sub(g1).scale(-1.0 / 6.0),
        outer.add(middle),
        outer.sub(middle),
        g2,
    ]
}

/// [`transform_weights`] of F(4×4, 3×3) with vectors `L`: `G` = [[¼, 0, 0], [−⅙, −⅙, −⅙],
/// [−⅙, ⅙, −⅙], [1/24, 1/12, ⅙], [1/24, −1/12, ⅙], [0, 0, 1]].
#[inline(always)]
fn transform_weights4_with<L: Lanes>(weight: &[f32], cin: usize, cout: usize, u: &mut [f32]) {
    let plane = cin * cout;
    for i in 0..cin {
        for o0 in (0..cout).step_by(L::LANES) {
            let lanes = L::LANES.min(cout - o0);
            // SAFETY: tap `t`, input channel `i`, output channels `o0 .. o0 + lanes`: inside
            // `weight` (asserted size); the vector's instructions are the dispatching function's.
            let g: [L; 9] = vectors(L::splat(0.0), |t| unsafe {
                L::load(weight.as_ptr().add((t * cin + i) * cout + o0), lanes)
            });
            let [c0, c1, c2]: [[L; 6]; 3] = vectors([L::splat(0.0); 6], |tx| {
                weights6([g[tx], g[3 + tx], g[6 + tx]])
            });
            for (a, ((x0, x1), x2)) in c0.into_iter().zip(c1).zip(c2).enumerate() {
                for (b, value) in weights6([x0, x1, x2]).into_iter().enumerate() {
                    // SAFETY: position `6a + b`, pair (`i`, `o0 ..`): inside `u` (36 planes).
                    unsafe {
                        value.store(
                            u.as_mut_ptr().add((a * 6 + b) * plane + i * cout + o0),
                            lanes,
                        )
                    };
                }
            }
        }
    }
}

/// [`transform_weights`] with vectors `L` (over output channels).
#[inline(always)]
fn transform_weights_with<L: Lanes>(weight: &[f32], cin: usize, cout: usize, u: &mut [f32]) {
    let plane = cin * cout;
    let half = L::splat(0.5);
    // G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
    let g_rows = |[g0, g1, g2]: [L; 3]| {
        let sum = g0.add(g2);
        [g0, sum.add(g1).mul(half), sum.sub(g1).mul(half), g2]
    };
    for i in 0..cin {
        for o0 in (0..cout).step_by(L::LANES) {
            let lanes = L::LANES.min(cout - o0);
            // SAFETY: tap `t`, input channel `i`, output channels `o0 .. o0 + lanes`: inside
            // `weight` (asserted size); the vector's instructions are the dispatching function's.
            let g: [L; 9] = std::array::from_fn(|t| unsafe {
                L::load(weight.as_ptr().add((t * cin + i) * cout + o0), lanes)
            });
            // Along kernel rows (for each kernel column), then along kernel columns.
            let [c0, c1, c2]: [[L; 4]; 3] =
                std::array::from_fn(|tx| g_rows([g[tx], g[3 + tx], g[6 + tx]]));
            for (a, ((x0, x1), x2)) in c0.into_iter().zip(c1).zip(c2).enumerate() {
                let row = g_rows([x0, x1, x2]);
                for (b, value) in row.into_iter().enumerate() {
                    // SAFETY: position `4a + b`, pair (`i`, `o0 ..`): inside `u` (sized by the
                    // caller as 16 planes of `cin·cout`).
                    unsafe {
                        value.store(
                            u.as_mut_ptr().add((a * 4 + b) * plane + i * cout + o0),
                            lanes,
                        )
                    };
                }
            }
        }
    }
}

/// `V[ξ][tile][offset ..] = (Bᵀ d B)[ξ]` for `input`'s channels, `d` the tile's 4×4 pixels (top
/// left at output pixel − 1; zeros outside the image); `input` read upsampled by `2^shift`
/// (nearest; F(4×4) only).
fn transform_input(
    kernels: Kernels,
    tile: Tile,
    (input, shift): (&Act, u32),
    band: &Band,
    (offset, cin): (usize, usize),
    layout: Layout,
    v: &mut [f32],
) {
    assert!(v.len() >= layout.len(band.rows * band.tile_cols, tile.positions(), cin));
    assert!(offset + input.c <= cin);
    match tile {
        Tile::F2 => {
            assert_eq!(shift, 0, "F(2×2) reads inputs as they are");
            dispatch!(
                kernels,
                transform_input_with(input, band, offset, layout, v)
            )
        }
        Tile::F4 => dispatch!(
            kernels,
            transform_input4_with(input, shift, band, offset, layout, v)
        ),
    }
}

/// [`transform_input`] of F(4×4, 3×3) with vectors `L`: 6×6 tiles from (4ty − 1, 4tx − 1),
/// `Bᵀ` = [[4, 0, −5, 0, 1, 0], [0, −4, −4, 1, 1, 0], [0, 4, −4, −1, 1, 0], [0, −2, −1, 2, 1, 0],
/// [0, 2, −1, −2, 1, 0], [0, 4, 0, −5, 0, 1]].
#[inline(always)]
fn transform_input4_with<L: Lanes>(
    input: &Act,
    shift: u32,
    band: &Band,
    offset: usize,
    layout: Layout,
    v: &mut [f32],
) {
    let (h, w, c) = (input.h, input.w, input.c);
    let image = &input.data[band.image * h * w * c..][..h * w * c];
    // The grid the tiles cover: the input's, or its upsampled one.
    let (grid_h, grid_w) = (h << shift, w << shift);
    for tr in 0..band.rows {
        let y0 = 4 * (band.tr0 + tr) as isize - 1;
        let rows: [Option<&[f32]>; 6] = std::array::from_fn(|i| {
            let y = y0 + i as isize;
            (y >= 0 && (y as usize) < grid_h)
                .then(|| &image[(y as usize >> shift) * w * c..][..w * c])
        });
        let grid = (grid_w, shift);
        let column = |x: isize, c0: usize, lanes: usize| column6::<L>(&rows, x, grid, c, c0, lanes);
        let row_start = v[tr * band.tile_cols * layout.tile + offset..].as_mut_ptr();
        for c0 in (0..c).step_by(L::LANES) {
            let lanes = L::LANES.min(c - c0);
            // Adjacent tiles share two columns.
            let (mut a, mut b) = (column(-1, c0, lanes), column(0, c0, lanes));
            for tx in 0..band.tile_cols {
                let x = 4 * tx as isize;
                let cols = [
                    a,
                    b,
                    column(x + 1, c0, lanes),
                    column(x + 2, c0, lanes),
                    column(x + 3, c0, lanes),
                    column(x + 4, c0, lanes),
                ];
                let dst = row_start.wrapping_add(tx * layout.tile + c0);
                #[allow(clippy::needless_range_loop)] // `i` picks one value of every column
                for i in 0..6 {
                    let out = input6::<L>(vectors(L::splat(0.0), |j| cols[j][i]));
                    for (j, value) in out.into_iter().enumerate() {
                        // SAFETY: position `6i + j`'s row of this tile at channel `offset + c0`:
                        // `lanes` floats inside `v` (asserted size).
                        unsafe { value.store(dst.add((6 * i + j) * layout.position), lanes) };
                    }
                }
                (a, b) = (cols[4], cols[5]);
            }
        }
    }
}

/// [`transform_input`] with vectors `L`.
#[inline(always)]
fn transform_input_with<L: Lanes>(
    input: &Act,
    band: &Band,
    offset: usize,
    layout: Layout,
    v: &mut [f32],
) {
    let (h, w, c) = (input.h, input.w, input.c);
    let image = &input.data[band.image * h * w * c..][..h * w * c];
    for tr in 0..band.rows {
        // The tile row's four input rows from 2ty − 1 (None outside the image: zeros).
        let y0 = 2 * (band.tr0 + tr) as isize - 1;
        let rows: [Option<&[f32]>; 4] = std::array::from_fn(|i| {
            let y = y0 + i as isize;
            (y >= 0 && (y as usize) < h).then(|| &image[y as usize * w * c..][..w * c])
        });
        // Bᵀ along the column of input pixels at `x` (zeros outside the image).
        let column = |x: isize, c0: usize, lanes: usize| -> [L; 4] {
            let d: [L; 4] = std::array::from_fn(|i| match rows[i] {
                // SAFETY: pixel `x < w` of an image row: `c ≥ c0 + lanes` floats from its
                // channel `c0`; the vector's instructions are the dispatching function's.
                Some(row) if x >= 0 && (x as usize) < w => unsafe {
                    L::load(row.as_ptr().add(x as usize * c + c0), lanes)
                },
                _ => L::splat(0.0),
            });
            [
                d[0].sub(d[2]),
                d[1].add(d[2]),
                d[2].sub(d[1]),
                d[1].sub(d[3]),
            ]
        };
        let row_start = v[tr * band.tile_cols * layout.tile + offset..].as_mut_ptr();
        for c0 in (0..c).step_by(L::LANES) {
            let lanes = L::LANES.min(c - c0);
            // Adjacent tiles share two columns: each column is transformed once.
            let (mut a, mut b) = (column(-1, c0, lanes), column(0, c0, lanes));
            for tx in 0..band.tile_cols {
                let x = 2 * tx as isize;
                let (cc, dd) = (column(x + 1, c0, lanes), column(x + 2, c0, lanes));
                let dst = row_start.wrapping_add(tx * layout.tile + c0);
                for i in 0..4 {
                    // Then B along the row: positions 4i .. 4i + 3 of the tile.
                    let out = [
                        a[i].sub(cc[i]),
                        b[i].add(cc[i]),
                        cc[i].sub(b[i]),
                        b[i].sub(dd[i]),
                    ];
                    for (j, value) in out.into_iter().enumerate() {
                        // SAFETY: position `4i + j`'s row of this tile at channel `offset + c0`:
                        // `lanes` floats inside `v` (asserted size).
                        unsafe { value.store(dst.add((4 * i + j) * layout.position), lanes) };
                    }
                }
                (a, b) = (cc, dd);
            }
        }
    }
}

/// `M_ξ = V_ξ · U_ξ` for every position (`V_ξ` tiles × cin, `U_ξ` cin × cout).
fn multiply(
    kernels: Kernels,
    positions: usize,
    v: &[f32],
    u: &[f32],
    m: &mut [f32],
    (tiles, cin, cout): (usize, usize, usize),
) {
    let (lda, ldc) = (positions * cin, positions * cout);
    for xi in 0..positions {
        let v_xi = &v[xi * cin..];
        let u_xi = &u[xi * cin * cout..][..cin * cout];
        let m_xi = &mut m[xi * cout..];
        // SAFETY: `V_ξ` (tiles × cin, rows `lda` apart, with `MR` rows of slack past the last
        // position), `U_ξ` (cin × cout) and `M_ξ` (tiles × cout, rows `ldc` apart) lie inside
        // their slices.
        unsafe {
            sgemm::strided(
                kernels,
                (tiles, cout, cin),
                v_xi.as_ptr(),
                (lda, 1),
                u_xi.as_ptr(),
                cout,
                m_xi.as_mut_ptr(),
                ldc,
                false,
            )
        };
    }
}

/// Output pixels of the band from `M`: `Aᵀ M A` with `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`, plus
/// the bias; pixels beyond the image (odd sizes) are dropped.
#[allow(clippy::too_many_arguments)] // the band's parts and where it goes
fn transform_output(
    kernels: Kernels,
    tile: Tile,
    m: &[f32],
    band: &Band,
    bias: Option<&[f32]>,
    cout: usize,
    w: usize,
    out_band: &mut [std::mem::MaybeUninit<f32>],
) {
    assert!(m.len() >= tile.positions() * band.rows * band.tile_cols * cout);
    assert!(bias.is_none_or(|b| b.len() == cout) && out_band.len().is_multiple_of(w * cout));
    match tile {
        Tile::F2 => dispatch!(
            kernels,
            transform_output_with(m, band, bias, cout, w, out_band)
        ),
        Tile::F4 => dispatch!(
            kernels,
            transform_output4_with(m, band, bias, cout, w, out_band)
        ),
    }
}

/// [`transform_output`] of F(4×4, 3×3) with vectors `L`: `Aᵀ` = [[1, 1, 1, 1, 1, 0],
/// [0, 1, −1, 2, −2, 0], [0, 1, 1, 4, 4, 0], [0, 1, −1, 8, −8, 1]].
#[inline(always)]
fn transform_output4_with<L: Lanes>(
    m: &[f32],
    band: &Band,
    bias: Option<&[f32]>,
    cout: usize,
    w: usize,
    out_band: &mut [std::mem::MaybeUninit<f32>],
) {
    const P: usize = 36;
    let tiles = band.rows * band.tile_cols;
    let y_end = out_band.len() / (w * cout);
    let out = out_band.as_mut_ptr().cast::<f32>();
    for t in 0..tiles {
        let (ty, tx) = (t / band.tile_cols, t % band.tile_cols);
        let src = m[t * P * cout..].as_ptr();
        let targets: [Option<usize>; 16] = std::array::from_fn(|k| {
            let (oy, ox) = (4 * ty + k / 4, 4 * tx + k % 4);
            (oy < y_end && ox < w).then_some((oy * w + ox) * cout)
        });
        for o0 in (0..cout).step_by(L::LANES) {
            let lanes = L::LANES.min(cout - o0);
            // Along rows of the 6×6 products first (six rows of four), then along columns.
            let r: [[L; 4]; 6] = vectors([L::splat(0.0); 4], |i| {
                // SAFETY: positions `6i .. 6i + 5` of tile `t` from channel `o0`: `lanes`
                // floats each inside `m` (asserted size).
                output6(vectors(L::splat(0.0), |j| unsafe {
                    L::load(src.add((6 * i + j) * cout + o0), lanes)
                }))
            });
            // SAFETY: `bias` holds `cout` floats (asserted).
            let b = bias.map(|bias| unsafe { L::load(bias.as_ptr().add(o0), lanes) });
            for j in 0..4 {
                let y = output6(vectors(L::splat(0.0), |i| r[i][j]));
                for (i, mut value) in y.into_iter().enumerate() {
                    if let Some(b) = b {
                        value = value.add(b);
                    }
                    if let Some(pixel) = targets[4 * i + j] {
                        // SAFETY: an output pixel inside the band, `lanes` channels from `o0`.
                        unsafe { value.store(out.add(pixel + o0), lanes) };
                    }
                }
            }
        }
    }
}

/// [`transform_output`] with vectors `L`.
#[inline(always)]
fn transform_output_with<L: Lanes>(
    m: &[f32],
    band: &Band,
    bias: Option<&[f32]>,
    cout: usize,
    w: usize,
    out_band: &mut [std::mem::MaybeUninit<f32>],
) {
    let tiles = band.rows * band.tile_cols;
    let y_end = out_band.len() / (w * cout);
    let out = out_band.as_mut_ptr().cast::<f32>();
    for t in 0..tiles {
        let (ty, tx) = (t / band.tile_cols, t % band.tile_cols);
        let src = m[t * POSITIONS * cout..].as_ptr();
        let targets: [Option<usize>; 4] = std::array::from_fn(|k| {
            let (oy, ox) = (2 * ty + k / 2, 2 * tx + k % 2);
            (oy < y_end && ox < w).then_some((oy * w + ox) * cout)
        });
        for o0 in (0..cout).step_by(L::LANES) {
            let lanes = L::LANES.min(cout - o0);
            // SAFETY: position `k`'s row of tile `t` from channel `o0`: `lanes` floats inside
            // `m` (asserted size); the vector's instructions are the dispatching function's.
            let x: [L; 16] =
                std::array::from_fn(|k| unsafe { L::load(src.add(k * cout + o0), lanes) });
            let mut r = [x[0]; 8];
            for i in 0..4 {
                let [a, b, c, d] = [x[4 * i], x[4 * i + 1], x[4 * i + 2], x[4 * i + 3]];
                r[2 * i] = a.add(b).add(c);
                r[2 * i + 1] = b.sub(c).sub(d);
            }
            let mut y = [x[0]; 4];
            for j in 0..2 {
                let [a, b, c, d] = [r[j], r[2 + j], r[4 + j], r[6 + j]];
                y[j] = a.add(b).add(c);
                y[2 + j] = b.sub(c).sub(d);
            }
            if let Some(bias) = bias {
                // SAFETY: `bias` holds `cout` floats (asserted).
                let b = unsafe { L::load(bias.as_ptr().add(o0), lanes) };
                for value in y.iter_mut() {
                    *value = value.add(b);
                }
            }
            for (value, target) in y.into_iter().zip(targets) {
                if let Some(at) = target {
                    // SAFETY: an output pixel inside the band (`oy < y_end`, `ox < w`), `lanes`
                    // channels from `o0 < cout`.
                    unsafe { value.store(out.add(at + o0), lanes) };
                }
            }
        }
    }
}
