//! Cells, not just membranes: instance segmentation of EM sections from membrane probability
//! maps, with no deep-learning dependency.
//!
//! The pipeline of [`segment_cells`], for a map of membrane probabilities `p ∈ [0, 1]`:
//!
//! 1. **Threshold**: membrane iff `p ≥ threshold` (default 0.5, the binary maps' rule).
//! 2. **Distance**: exact Euclidean distance of every pixel to the nearest membrane pixel
//!    ([`distance_transform`], Felzenszwalb–Huttenlocher), smoothed by a Gaussian of
//!    σ = `sigma` pixels ([`gaussian_smooth`]).
//! 3. **Seeds**: the regional maxima of the smoothed distance above `min_seed_distance`
//!    (8-connected plateaus count once: [`regional_maxima`]).
//! 4. **Watershed**: the probability map is flooded from the seeds, 4-connected, lowest
//!    probability first, first-in-first-out among equal levels ([`seeded_watershed`]).
//! 5. **Agglomeration**: fragments whose shared boundary has a mean membrane probability below
//!    `merge_threshold` are merged, lowest mean first, with exact average linkage
//!    ([`RegionGraph`]); then fragments smaller than `min_size` pixels join the neighbour with
//!    the lowest mean boundary probability.
//! 6. **Labels**: `u32` cell ids `1..=N`, numbered in row-major order of each cell's first
//!    pixel; 0 = boundary.
//!
//! # Conventions
//!
//! - **Probability on disk**, as `urisc predict --probabilities` writes it: 8-bit maps are
//!   membrane dark, value `255·(1 − p)` (16-bit alike, `65535·(1 − p)`); 32-bit float maps hold
//!   `p` itself (membrane high). [`MembraneMap::from_grey`] applies exactly this rule.
//! - **Levels**: probabilities are held as 16-bit levels `round(65535·p)` (8-bit maps convert
//!   exactly, `(255 − v)·257`), half the memory of `f32` and what lets the watershed use a
//!   linear-time bucket queue. The threshold test is done on levels: membrane iff
//!   `level ≥ ⌈65535·threshold⌉`, which for 8-bit maps is exactly `p ≥ threshold`.
//! - **Boundary (label 0)**: the watershed labels every pixel, membrane pixels included (they
//!   go to the cells they bound). With `boundaries` on (the default), a one-pixel line is then
//!   drawn on the membrane side: of two 4-adjacent pixels in different cells, the one with the
//!   higher membrane probability gets 0 ([`draw_boundaries`]), so no two different cells are
//!   4-adjacent. With `boundaries` off, no pixel is 0 (apart
//!   from images with no seed at all, which are all 0).
//! - **Determinism**: no step depends on thread count or timing; equal inputs give equal ids.
//!
//! # Memory
//!
//! For an `h × w` section: the 16-bit map (2 B/pixel), then at most the distance and its
//! smoothed copy (4 + 4 B/pixel, freed before the labels are made), then the `u32` labels
//! (4 B/pixel) and the region graph (proportional to the number of fragments). A
//! 9959 × 9958 section peaks near 1 GB. Nothing is allocated per pixel.
//!
//! # Block-wise processing
//!
//! The flooding watershed of step 4 cannot be split into blocks exactly: its first-in-first-out
//! order among equal levels is global, so flooding a block with a halo can differ from the whole
//! section wherever ties propagate across the halo. [`Watershed::Descent`] replaces it by a rule
//! local to each pixel's 4-neighbourhood ([`descent`]: basins of steepest descent on the capped,
//! smoothed distance), and [`segment_cells_blockwise`] runs it block by block with the same
//! result as [`segment_cells`] on the whole section, bit for bit ([`blockwise`] says how:
//! local steps with a halo, a global union-find over links that cross block edges, the
//! agglomeration on the exactly summed region graph, the boundary rule on 4-neighbours).
//! On the ISBI validation slices the descent watershed's cells score an adapted Rand error of
//! 0.068 against the flooding watershed's 0.063 (both at merge threshold 0.5;
//! `bench/cells/README.md`).
//!
//! ```
//! use urisc_cells::{segment_cells, CellParams, MembraneMap};
//! // Two 5×5 cells side by side, split by a membrane column (p = 1).
//! let (h, w) = (5, 11);
//! let p: Vec<f32> = (0..h * w).map(|i| if i % w == 5 { 1.0 } else { 0.0 }).collect();
//! let map = MembraneMap::from_probability(h, w, &p).unwrap();
//! let cells = segment_cells(&map, &CellParams::default()).unwrap();
//! assert_eq!(cells.cells, 2);
//! assert_eq!(cells.labels.get(2, 0), 1);
//! assert_eq!(cells.labels.get(2, 10), 2);
//! ```

pub mod agglomerate;
pub mod blockwise;
pub mod descent;
pub mod edt;
pub mod job;
pub mod overlay;
pub mod plan;
pub mod seeds;
pub mod segment;
pub mod smooth;
pub mod watershed;

pub use agglomerate::RegionGraph;
pub use blockwise::{
    block_first_pixels, block_fragments, block_labels, cell_ids, join_blocks,
    segment_cells_blockwise, segment_cells_in_blocks, BlockFragments, BlockPlan, BlockwiseSummary,
    Joined,
};
pub use descent::{capped_smoothed_distance, descent_fragments, draw_boundaries_local};
pub use edt::distance_transform;
pub use overlay::{cell_colour, overlay_rgb};
pub use seeds::regional_maxima;
pub use smooth::{gaussian_kernel, gaussian_smooth};
pub use watershed::seeded_watershed;

pub use segment::{
    draw_boundaries, relabel_sequential, segment_cells, CellParams, Cells, CellsError, MembraneMap,
    Watershed, LEVEL_MAX,
};

#[cfg(test)]
mod tests;
