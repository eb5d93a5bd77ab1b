//! Cells of a section block by block, equal to the whole-section result of the descent
//! watershed exactly, in memory bounded by the block size (plus per-fragment tables).
//!
//! Every step of [`crate::Watershed::Descent`] is either local or additive:
//!
//! 1. **Fragments**: a block reads its core plus a halo of `max_distance + 4σ + 3` pixels;
//!    there the capped distance, its smoothing and each pixel's descent links are exactly the
//!    whole section's (integer squared distances, a fixed summation order). Links inside the
//!    core are joined at once; links that cross the core's edge are kept, with the labels of
//!    the core's rim, and joined across blocks by a global union-find.
//! 2. **Region graph**: boundary sums and counts are integers, so per-block sums add up to the
//!    whole section's; each boundary's creation order (its first element in row-major order)
//!    is the minimum over blocks; fragment ids are assigned by first pixel, as
//!    [`crate::descent_fragments`] numbers them. The agglomeration then runs once on the
//!    same graph [`crate::RegionGraph::build`] would make.
//! 3. **Boundaries and ids**: the boundary rule looks at 4-neighbours only (the rim labels of
//!    adjacent blocks supply those across edges); final ids go by each cell's first surviving
//!    pixel, collected over blocks first.
//!
//! Blocks are computed three times (fragments; boundaries and first pixels; output), trading
//! time for memory: nothing per pixel of the section is held.
//!
//! Rectangles of a section are [`urisc_infer::Rect`]s (rows `y0..y1`, columns `x0..x1`), the
//! one rectangle type of the workspace.

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use urisc_infer::Rect;

use crate::descent::{capped_smoothed_distance, linked, UnionFind};
use crate::segment::agglomerate;
use crate::{gaussian_kernel, CellParams, Cells, CellsError, MembraneMap, RegionGraph};

/// What [`segment_cells_blockwise`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockwiseSummary {
    /// Cells written (ids `1..=cells`).
    pub cells: u32,
    /// Descent fragments before agglomeration.
    pub fragments: u32,
    /// Merges by mean boundary probability.
    pub merges: usize,
    /// Merges of small cells.
    pub small_merges: usize,
    /// Blocks the section was cut into.
    pub blocks: usize,
}

/// How a section is cut for a block-wise run (what every stage of a distributed run agrees on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockPlan {
    /// Rows of the section.
    pub height: usize,
    /// Columns of the section.
    pub width: usize,
    /// Block side (the last row and column of blocks may be smaller).
    pub block: usize,
    /// Pixels read beyond each block's edges.
    pub halo: usize,
    /// Blocks per column of blocks.
    pub rows: usize,
    /// Blocks per row of blocks.
    pub cols: usize,
}

/// The smallest block side a user may ask for (`urisc cells --block`, `urisc cells-plan`). A
/// block reads `(1 + 2·halo/side)²` times its own pixels: with the default halo of about 40,
/// 36× at 16 (seconds on a 512² map), 6561× at 1 (minutes). Sides of a few thousand are what a
/// section wants (docs/performance.md).
pub const MIN_BLOCK: usize = 16;

impl BlockPlan {
    /// The plan for an `height × width` section in blocks of `block²` under `params`.
    pub fn new(
        height: usize,
        width: usize,
        block: usize,
        params: &CellParams,
    ) -> Result<BlockPlan, CellsError> {
        params.validate()?;
        // Any side works here (tests use small ones to put many seams in small maps); the
        // settings users give are bounded by [`BlockPlan::smallest_block`].
        if block == 0 {
            return Err(CellsError::Parameter(
                "--block 0: a block needs pixels".into(),
            ));
        }
        let halo = Self::halo(params);
        Ok(BlockPlan {
            height,
            width,
            block,
            halo,
            rows: height.div_ceil(block),
            cols: width.div_ceil(block),
        })
    }

    /// The halo a block reads around its core under `params`: `max_distance + 4σ + 3`.
    pub fn halo(params: &CellParams) -> usize {
        let radius = gaussian_kernel(params.sigma).len() / 2;
        params.max_distance.ceil() as usize + radius + 3
    }

    /// Number of blocks, numbered row-major.
    pub fn blocks(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels block `b` labels.
    pub fn core(&self, b: usize) -> Rect {
        self.core_of(b)
    }
}

type Grid = BlockPlan;

impl Grid {
    fn core_of(&self, b: usize) -> Rect {
        let (by, bx) = (b / self.cols, b % self.cols);
        let (y0, x0) = (by * self.block, bx * self.block);
        Rect {
            y0,
            y1: (y0 + self.block).min(self.height),
            x0,
            x1: (x0 + self.block).min(self.width),
        }
    }

    fn extended(&self, core: Rect) -> Rect {
        Rect {
            y0: core.y0.saturating_sub(self.halo),
            y1: (core.y1 + self.halo).min(self.height),
            x0: core.x0.saturating_sub(self.halo),
            x1: (core.x1 + self.halo).min(self.width),
        }
    }

    fn block_of(&self, gy: usize, gx: usize) -> usize {
        (gy / self.block) * self.cols + gx / self.block
    }
}

/// A block's levels and altitudes over its extended rectangle.
struct Window {
    core: Rect,
    ext: Rect,
    levels: Vec<u16>,
    sd: Vec<f32>,
}

impl Window {
    /// Index in the extended arrays of core pixel (r, c).
    fn at(&self, r: usize, c: usize) -> usize {
        (self.core.y0 - self.ext.y0 + r) * self.ext.width() + (self.core.x0 - self.ext.x0 + c)
    }
}

/// What one block contributes to the join (stage 1), without its per-pixel labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockFragments {
    /// Local components: first pixel (global row-major index) and pixel count.
    first: Vec<u64>,
    size: Vec<u64>,
    /// Labels of the core's top and bottom rows and left and right columns.
    top: Vec<u32>,
    bottom: Vec<u32>,
    left: Vec<u32>,
    right: Vec<u32>,
    /// Descent links from a core pixel (global index) to a pixel of another block.
    links_out: Vec<(u64, u64)>,
    /// Boundary elements inside the core: (local a, local b, sum, count, first element).
    inner: Vec<(u32, u32, u64, u64, u64)>,
    /// Boundary elements to the right/lower neighbour in another block:
    /// (local label, neighbour's global index, level, element key).
    outer: Vec<(u32, u64, u64, u64)>,
}

/// Reads the 16-bit levels of a rectangle (row-major).
pub type ReadFn<'a> = dyn Fn(Rect) -> Result<Vec<u16>, String> + Sync + 'a;
/// Receives a block's final labels (row-major over the rectangle).
pub type WriteFn<'a> = dyn FnMut(Rect, &[u32]) -> Result<(), String> + 'a;
/// A boundary between two regions: sum and count of its levels, its first element.
type EdgeSums = (u64, u64, u64);

fn window(grid: &Grid, b: usize, params: &CellParams, read: &ReadFn) -> Result<Window, CellsError> {
    let core = grid.core_of(b);
    let ext = grid.extended(core);
    let levels = read(ext).map_err(CellsError::Block)?;
    if levels.len() != ext.area() {
        return Err(CellsError::Block(format!(
            "read {} levels for a {}×{} region",
            levels.len(),
            ext.height(),
            ext.width()
        )));
    }
    let sd = capped_smoothed_distance(
        ext.height(),
        ext.width(),
        &levels,
        MembraneMap::threshold_level(params.threshold),
        params.max_distance,
        params.sigma,
    );
    Ok(Window {
        core,
        ext,
        levels,
        sd,
    })
}

/// Local components of the descent links in a block's core (labels `0..`, numbered by first
/// pixel), and with `keep` everything the join needs.
fn local_labels(grid: &Grid, win: &Window, keep: Option<&mut BlockFragments>) -> Vec<u32> {
    let (core, ext) = (win.core, win.ext);
    let (eh, ew) = (ext.height(), ext.width());
    let mut uf = UnionFind::new(core.area());
    let mut links_out = Vec::new();
    for r in 0..core.height() {
        for c in 0..core.width() {
            let (p, e) = (r * core.width() + c, win.at(r, c));
            let g = ((core.y0 + r) * grid.width + core.x0 + c) as u64;
            if core.x0 + c + 1 < grid.width && linked(e, e + 1, eh, ew, &win.sd, &win.levels) {
                if c + 1 < core.width() {
                    uf.union(p as u32, (p + 1) as u32);
                } else {
                    links_out.push((g, g + 1));
                }
            }
            if core.y0 + r + 1 < grid.height && linked(e, e + ew, eh, ew, &win.sd, &win.levels) {
                if r + 1 < core.height() {
                    uf.union(p as u32, (p + core.width()) as u32);
                } else {
                    links_out.push((g, g + grid.width as u64));
                }
            }
        }
    }
    let mut labels = vec![0u32; core.area()];
    let mut first = Vec::new();
    for p in 0..core.area() {
        let root = uf.find(p as u32) as usize;
        labels[p] = if root == p {
            let (r, c) = (p / core.width(), p % core.width());
            first.push(((core.y0 + r) * grid.width + core.x0 + c) as u64);
            first.len() as u32 - 1
        } else {
            labels[root]
        };
    }
    let Some(f) = keep else { return labels };
    f.size = vec![0; first.len()];
    for &l in &labels {
        f.size[l as usize] += 1;
    }
    f.first = first;
    let (h, w) = (core.height(), core.width());
    f.top = labels[..w].to_vec();
    f.bottom = labels[(h - 1) * w..].to_vec();
    f.left = (0..h).map(|r| labels[r * w]).collect();
    f.right = (0..h).map(|r| labels[r * w + w - 1]).collect();
    f.links_out = links_out;
    let mut inner: FxHashMap<(u32, u32), EdgeSums> = FxHashMap::default();
    for r in 0..h {
        for c in 0..w {
            let (p, e) = (r * w + c, win.at(r, c));
            let g = ((core.y0 + r) * grid.width + core.x0 + c) as u64;
            let la = labels[p];
            // Right (element key 2g) and lower (2g + 1) neighbours, as RegionGraph::build.
            for (dir, inside, exists, q, en, gn) in [
                (
                    0,
                    c + 1 < w,
                    core.x0 + c + 1 < grid.width,
                    p + 1,
                    e + 1,
                    g + 1,
                ),
                (
                    1,
                    r + 1 < h,
                    core.y0 + r + 1 < grid.height,
                    p + w,
                    e + ext.width(),
                    g + grid.width as u64,
                ),
            ] {
                if !exists {
                    continue; // the image's edge
                }
                let v = win.levels[e].max(win.levels[en]) as u64;
                let key = 2 * g + dir;
                if inside {
                    let lb = labels[q];
                    if lb != la {
                        let entry = inner.entry((la.min(lb), la.max(lb))).or_insert((0, 0, key));
                        entry.0 += v;
                        entry.1 += 1;
                    }
                } else {
                    f.outer.push((la, gn, v, key));
                }
            }
        }
    }
    f.inner = inner
        .into_iter()
        .map(|((a, b), (sum, count, key))| (a, b, sum, count, key))
        .collect();
    f.inner.sort_unstable();
    labels
}

/// Stage 1 of a block-wise run: block `b`'s fragments and what the join needs of them.
pub fn block_fragments(
    plan: &BlockPlan,
    b: usize,
    params: &CellParams,
    read: &ReadFn,
) -> Result<BlockFragments, CellsError> {
    let win = window(plan, b, params, read)?;
    let mut f = BlockFragments::default();
    local_labels(plan, &win, Some(&mut f));
    Ok(f)
}

/// The blocks' fragments joined and agglomerated (stage 2): which cell every local fragment
/// ends in, and the cells of every pixel on a block's rim (what neighbouring blocks look up).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    /// Provisional id of block `b`'s local label `l`: `offsets[b] + l`.
    offsets: Vec<u32>,
    /// Provisional id → cell (a root of the agglomeration, ≥ 1).
    cell: Vec<u32>,
    /// Rim pixels (global row-major index) and their cells, sorted by pixel.
    rims: Vec<(u64, u32)>,
    /// Descent fragments before agglomeration.
    pub fragments: u32,
    /// Merges by mean boundary probability.
    pub merges: usize,
    /// Merges of small cells.
    pub small_merges: usize,
    /// Cells are `1..cells_bound` (not all present).
    cells_bound: u32,
}

impl Joined {
    fn rim_cell(&self, g: u64) -> u32 {
        let i = self
            .rims
            .binary_search_by_key(&g, |&(p, _)| p)
            .expect("a neighbour across a block edge lies on that block's rim");
        self.rims[i].1
    }
}

/// The local label of global pixel `g`, which lies on the rim of its block's core.
fn rim_label(grid: &Grid, blocks: &[BlockFragments], g: u64) -> u32 {
    let (gy, gx) = (
        (g / grid.width as u64) as usize,
        (g % grid.width as u64) as usize,
    );
    let b = grid.block_of(gy, gx);
    let core = grid.core_of(b);
    let (r, c) = (gy - core.y0, gx - core.x0);
    let f = &blocks[b];
    if r == 0 {
        f.top[c]
    } else if r == core.height() - 1 {
        f.bottom[c]
    } else if c == 0 {
        f.left[r]
    } else {
        debug_assert_eq!(c, core.width() - 1, "a rim pixel");
        f.right[r]
    }
}

fn provisional(grid: &Grid, blocks: &[BlockFragments], offsets: &[u32], g: u64) -> u32 {
    let (gy, gx) = (
        (g / grid.width as u64) as usize,
        (g % grid.width as u64) as usize,
    );
    offsets[grid.block_of(gy, gx)] + rim_label(grid, blocks, g)
}

/// Stage 2 of a block-wise run: joins every block's fragments across block edges, builds the
/// region graph `RegionGraph::build` would build for the whole section, and agglomerates.
pub fn join_blocks(
    plan: &BlockPlan,
    blocks: &[BlockFragments],
    params: &CellParams,
) -> Result<Joined, CellsError> {
    let grid = plan;
    if blocks.len() != plan.blocks() {
        return Err(CellsError::Block(format!(
            "{} block results for a plan of {} blocks",
            blocks.len(),
            plan.blocks()
        )));
    }
    let mut offsets = Vec::with_capacity(blocks.len());
    let mut total = 0u32;
    for f in blocks {
        offsets.push(total);
        total += f.first.len() as u32;
    }
    let mut uf = UnionFind::new(total as usize);
    for (b, f) in blocks.iter().enumerate() {
        let core = grid.core_of(b);
        for &(g, gn) in &f.links_out {
            let (gy, gx) = (
                (g / grid.width as u64) as usize,
                (g % grid.width as u64) as usize,
            );
            let (r, c) = (gy - core.y0, gx - core.x0);
            // A link leaves the core through the right column or the bottom row.
            let own = if c == core.width() - 1 {
                f.right[r]
            } else {
                f.bottom[c]
            };
            uf.union(offsets[b] + own, provisional(grid, blocks, &offsets, gn));
        }
    }
    // Fragments are numbered by first pixel, as descent_fragments numbers them.
    let mut first = vec![u64::MAX; total as usize];
    let mut roots = vec![0u32; total as usize];
    for (b, f) in blocks.iter().enumerate() {
        for (l, &g) in f.first.iter().enumerate() {
            let id = offsets[b] + l as u32;
            let root = uf.find(id);
            roots[id as usize] = root;
            first[root as usize] = first[root as usize].min(g);
        }
    }
    let mut order: Vec<u32> = (0..total).filter(|&i| roots[i as usize] == i).collect();
    order.sort_by_key(|&r| first[r as usize]);
    let mut id_of_root = vec![0u32; total as usize];
    for (k, &r) in order.iter().enumerate() {
        id_of_root[r as usize] = k as u32 + 1;
    }
    let fragment: Vec<u32> = roots.iter().map(|&r| id_of_root[r as usize]).collect();
    let fragments = order.len() as u32;
    // The region graph: sizes and boundary sums add up over blocks; a boundary's creation
    // order is its first element's.
    let mut sizes = vec![0u64; fragments as usize + 1];
    let mut edges: FxHashMap<(u32, u32), EdgeSums> = FxHashMap::default();
    let mut add = |a: u32, b: u32, sum: u64, count: u64, key: u64| {
        if a != b {
            let e = edges.entry((a.min(b), a.max(b))).or_insert((0, 0, key));
            e.0 += sum;
            e.1 += count;
            e.2 = e.2.min(key);
        }
    };
    for (b, f) in blocks.iter().enumerate() {
        let frag = |l: u32| fragment[(offsets[b] + l) as usize];
        for (l, &s) in f.size.iter().enumerate() {
            sizes[frag(l as u32) as usize] += s;
        }
        for &(la, lb, sum, count, key) in &f.inner {
            add(frag(la), frag(lb), sum, count, key);
        }
        for &(la, gn, v, key) in &f.outer {
            let other = fragment[provisional(grid, blocks, &offsets, gn) as usize];
            add(frag(la), other, v, 1, key);
        }
    }
    let mut list: Vec<((u32, u32), EdgeSums)> = edges.into_iter().collect();
    list.sort_unstable_by_key(|&(_, (_, _, key))| key);
    let list: Vec<(u32, u32, u64, u64)> = list
        .into_iter()
        .map(|((a, b), (sum, count, _))| (a, b, sum, count))
        .collect();
    let mut graph = RegionGraph::from_edges(sizes, &list);
    let (merges, small_merges) = agglomerate(&mut graph, params);
    let cell_of_fragment = graph.roots();
    let cell: Vec<u32> = fragment
        .iter()
        .map(|&f| cell_of_fragment[f as usize])
        .collect();
    // Every rim pixel's cell, for the boundary rule across block edges.
    let mut rims = Vec::new();
    for (b, f) in blocks.iter().enumerate() {
        let core = grid.core_of(b);
        let at = |r: usize, c: usize| ((core.y0 + r) * grid.width + core.x0 + c) as u64;
        let cell_of = |l: u32| cell[(offsets[b] + l) as usize];
        for c in 0..core.width() {
            rims.push((at(0, c), cell_of(f.top[c])));
            rims.push((at(core.height() - 1, c), cell_of(f.bottom[c])));
        }
        for r in 0..core.height() {
            rims.push((at(r, 0), cell_of(f.left[r])));
            rims.push((at(r, core.width() - 1), cell_of(f.right[r])));
        }
    }
    rims.sort_unstable();
    rims.dedup();
    Ok(Joined {
        offsets,
        cell,
        rims,
        fragments,
        merges,
        small_merges,
        cells_bound: fragments + 1,
    })
}

/// Cells of a block's core after the boundary rule (0 = boundary).
fn block_cells(grid: &Grid, b: usize, win: &Window, joined: &Joined, boundaries: bool) -> Vec<u32> {
    let core = win.core;
    let labels = local_labels(grid, win, None);
    let cells: Vec<u32> = labels
        .iter()
        .map(|&l| joined.cell[(joined.offsets[b] + l) as usize])
        .collect();
    if !boundaries {
        return cells;
    }
    // A neighbour's cell, inside the core or on an adjacent block's rim.
    let neighbour_cell = |gy: usize, gx: usize| -> u32 {
        if (core.y0..core.y1).contains(&gy) && (core.x0..core.x1).contains(&gx) {
            cells[(gy - core.y0) * core.width() + gx - core.x0]
        } else {
            joined.rim_cell((gy * grid.width + gx) as u64)
        }
    };
    (0..core.area())
        .into_par_iter()
        .map(|p| {
            let (r, c) = (p / core.width(), p % core.width());
            let (gy, gx) = (core.y0 + r, core.x0 + c);
            let (a, e) = (cells[p], win.at(r, c));
            let g = gy * grid.width + gx;
            for (ny, nx, en) in [
                (gy.wrapping_sub(1), gx, e.wrapping_sub(win.ext.width())),
                (gy, gx.wrapping_sub(1), e.wrapping_sub(1)),
                (gy, gx + 1, e + 1),
                (gy + 1, gx, e + win.ext.width()),
            ] {
                if ny >= grid.height || nx >= grid.width {
                    continue;
                }
                let bn = neighbour_cell(ny, nx);
                let (li, lj) = (win.levels[e], win.levels[en]);
                let gn = ny * grid.width + nx;
                if bn != 0 && bn != a && (li > lj || (li == lj && g < gn)) {
                    return 0;
                }
            }
            a
        })
        .collect()
}

/// Stage 3 of a block-wise run: the first surviving pixel (global row-major index) of every
/// cell present in block `b`, as `(cell, pixel)`.
pub fn block_first_pixels(
    plan: &BlockPlan,
    b: usize,
    params: &CellParams,
    read: &ReadFn,
    joined: &Joined,
) -> Result<Vec<(u32, u64)>, CellsError> {
    let win = window(plan, b, params, read)?;
    let cells = block_cells(plan, b, &win, joined, params.boundaries);
    let core = win.core;
    let mut first: FxHashMap<u32, u64> = FxHashMap::default();
    for (p, &cell) in cells.iter().enumerate() {
        if cell != 0 {
            let g = ((core.y0 + p / core.width()) * plan.width + core.x0 + p % core.width()) as u64;
            first.entry(cell).or_insert(g); // row-major: the first seen is the first
        }
    }
    let mut out: Vec<(u32, u64)> = first.into_iter().collect();
    out.sort_unstable();
    Ok(out)
}

/// Stage 4: final ids, `1..=N` in row-major order of each cell's first surviving pixel, from
/// every block's [`block_first_pixels`]; returns (id of each cell, N).
pub fn cell_ids(joined: &Joined, firsts: &[Vec<(u32, u64)>]) -> (Vec<u32>, u32) {
    let mut first = vec![u64::MAX; joined.cells_bound as usize];
    for list in firsts {
        for &(cell, g) in list {
            first[cell as usize] = first[cell as usize].min(g);
        }
    }
    let mut order: Vec<u32> = (1..joined.cells_bound)
        .filter(|&c| first[c as usize] != u64::MAX)
        .collect();
    order.sort_by_key(|&c| first[c as usize]);
    let mut id = vec![0u32; joined.cells_bound as usize];
    for (k, &c) in order.iter().enumerate() {
        id[c as usize] = k as u32 + 1;
    }
    (id, order.len() as u32)
}

/// Stage 5: block `b`'s final labels over its core.
pub fn block_labels(
    plan: &BlockPlan,
    b: usize,
    params: &CellParams,
    read: &ReadFn,
    joined: &Joined,
    ids: &[u32],
) -> Result<(Rect, Vec<u32>), CellsError> {
    let win = window(plan, b, params, read)?;
    let cells = block_cells(plan, b, &win, joined, params.boundaries);
    Ok((win.core, cells.iter().map(|&c| ids[c as usize]).collect()))
}

/// Segments cells with the descent watershed block by block (blocks of `block²` pixels), the
/// section read through `read` (16-bit levels of a rectangle, [`MembraneMap`]'s) and the
/// labels handed to `write` block by block, in row-major block order: the five stages above in
/// one process. The result equals [`crate::segment_cells`] with [`crate::Watershed::Descent`]
/// on the whole section exactly.
pub fn segment_cells_blockwise(
    height: usize,
    width: usize,
    block: usize,
    params: &CellParams,
    read: &ReadFn,
    write: &mut WriteFn,
) -> Result<BlockwiseSummary, CellsError> {
    let plan = BlockPlan::new(height, width, block, params)?;
    if height == 0 || width == 0 {
        return Ok(BlockwiseSummary {
            cells: 0,
            fragments: 0,
            merges: 0,
            small_merges: 0,
            blocks: 0,
        });
    }
    let n = plan.blocks();
    let blocks: Vec<BlockFragments> = (0..n)
        .map(|b| block_fragments(&plan, b, params, read))
        .collect::<Result<_, _>>()?;
    let joined = join_blocks(&plan, &blocks, params)?;
    drop(blocks);
    let firsts: Vec<Vec<(u32, u64)>> = (0..n)
        .map(|b| block_first_pixels(&plan, b, params, read, &joined))
        .collect::<Result<_, _>>()?;
    let (ids, cells) = cell_ids(&joined, &firsts);
    for b in 0..n {
        let (rect, labels) = block_labels(&plan, b, params, read, &joined, &ids)?;
        write(rect, &labels).map_err(CellsError::Block)?;
    }
    Ok(BlockwiseSummary {
        cells,
        fragments: joined.fragments,
        merges: joined.merges,
        small_merges: joined.small_merges,
        blocks: n,
    })
}

/// [`segment_cells_blockwise`] on a map in memory, the blocks' labels gathered into one label
/// image: the same [`Cells`] as [`crate::segment_cells`] with [`crate::Watershed::Descent`],
/// with the working memory of one block.
pub fn segment_cells_in_blocks(
    map: &MembraneMap,
    block: usize,
    params: &CellParams,
) -> Result<Cells, CellsError> {
    let (h, w) = (map.height, map.width);
    let read = |r: Rect| -> Result<Vec<u16>, String> {
        Ok((r.y0..r.y1)
            .flat_map(|y| map.levels[y * w + r.x0..y * w + r.x1].iter().copied())
            .collect())
    };
    let mut labels = vec![0u32; h * w];
    let summary = segment_cells_blockwise(h, w, block, params, &read, &mut |r, ids| {
        for (y, row) in (r.y0..r.y1).zip(ids.chunks_exact(r.width())) {
            labels[y * w + r.x0..y * w + r.x1].copy_from_slice(row);
        }
        Ok(())
    })?;
    Ok(Cells {
        labels: urisc_io::Image::new(h, w, labels),
        cells: summary.cells,
        fragments: summary.fragments,
        merges: summary.merges,
        small_merges: summary.small_merges,
    })
}
