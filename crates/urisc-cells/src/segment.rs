//! Cells of a whole section (the crate documentation has the steps): the map, the parameters,
//! [`segment_cells`] and the boundary and relabelling rules both watersheds share.

use rayon::prelude::*;
use urisc_io::{GreyImage, Image};

use crate::{
    capped_smoothed_distance, descent_fragments, distance_transform, draw_boundaries_local,
    gaussian_smooth, regional_maxima, seeded_watershed, RegionGraph,
};

pub use urisc_io::encoding::LEVEL_MAX;

/// What can go wrong before any work is done.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CellsError {
    /// The map holds NaN or infinite values.
    #[error("{count} non-finite (NaN or infinite) probability value(s)")]
    NonFinite {
        /// How many values are not finite.
        count: usize,
    },
    /// A parameter is out of its range.
    #[error("{0}")]
    Parameter(String),
    /// Reading or writing a block failed (block-wise runs).
    #[error("{0}")]
    Block(String),
}

/// A membrane probability map as 16-bit levels, `level = round(65535·p)`.
#[derive(Clone, Debug, PartialEq)]
pub struct MembraneMap {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Row-major levels, `height × width`.
    pub levels: Vec<u16>,
    /// Floating-point values that were outside [0, 1] and were clamped.
    pub clamped: usize,
}

impl MembraneMap {
    /// From probabilities `p` (1 = membrane); values outside [0, 1] are clamped and counted,
    /// non-finite values refused.
    pub fn from_probability(
        height: usize,
        width: usize,
        p: &[f32],
    ) -> Result<MembraneMap, CellsError> {
        assert_eq!(
            p.len(),
            height * width,
            "map does not match {height}×{width}"
        );
        let bad = p.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(CellsError::NonFinite { count: bad });
        }
        let clamped = p.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
        let levels = p
            .par_iter()
            .map(|&v| urisc_io::encoding::level_from_probability(v))
            .collect();
        Ok(MembraneMap {
            height,
            width,
            levels,
            clamped,
        })
    }

    /// From an 8-bit map as `urisc predict --probabilities` stores it: membrane dark,
    /// `v = 255·(1 − p)`. Exact: `level = (255 − v)·257`.
    pub fn from_stored_u8(image: &Image<u8>) -> MembraneMap {
        MembraneMap {
            height: image.height,
            width: image.width,
            levels: image
                .data
                .par_iter()
                .map(|&v| urisc_io::encoding::level_from_stored(v))
                .collect(),
            clamped: 0,
        }
    }

    /// From a decoded map by the on-disk rule: 8- and 16-bit maps are membrane dark
    /// (`255·(1 − p)`, `65535·(1 − p)`), float maps hold `p` (membrane high).
    pub fn from_grey(image: &GreyImage) -> Result<MembraneMap, CellsError> {
        match image {
            GreyImage::U8(i) => Ok(MembraneMap::from_stored_u8(i)),
            GreyImage::U16(i) => Ok(MembraneMap {
                height: i.height,
                width: i.width,
                levels: i
                    .data
                    .par_iter()
                    .map(|&v| urisc_io::encoding::level_from_stored_u16(v))
                    .collect(),
                clamped: 0,
            }),
            GreyImage::F32(i) => MembraneMap::from_probability(i.height, i.width, &i.data),
        }
    }

    /// The probability of level `level`.
    pub fn probability(level: u16) -> f64 {
        urisc_io::encoding::probability_from_level(level)
    }

    /// The lowest level that counts as membrane at probability threshold `t`: ⌈65535·t⌉.
    pub fn threshold_level(t: f32) -> u32 {
        urisc_io::encoding::threshold_level(t)
    }
}

/// How fragments are grown from the distance map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Watershed {
    /// Seeds at the smoothed distance's regional maxima flood the probability map, lowest
    /// level first, first in first out (scikit-image's watershed). The default; whole sections
    /// only.
    Flood,
    /// Basins of steepest descent on (−smoothed capped distance, level), a rule local to each
    /// pixel's neighbourhood ([`crate::descent`]), so block-wise runs ([`crate::segment_cells_blockwise`])
    /// equal whole-section runs exactly.
    Descent,
}

/// Parameters of [`segment_cells`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CellParams {
    /// Flooding or descent watershed (default: flooding).
    pub watershed: Watershed,
    /// Descent watershed: the distance to membrane is capped at this many pixels before
    /// smoothing (default 32), which bounds how far a block must see beyond its edges.
    pub max_distance: f32,
    /// Membrane iff `p ≥ threshold`, for the distance transform (default 0.5).
    pub threshold: f32,
    /// Standard deviation of the Gaussian that smooths the distance map, pixels (default 2;
    /// 0 = none). Larger values give fewer seeds.
    pub sigma: f32,
    /// Seeds only where the smoothed distance exceeds this many pixels (default 1).
    pub min_seed_distance: f32,
    /// Fragments merge while their mean boundary probability is below this (default 0.5;
    /// 0 = no agglomeration).
    pub merge_threshold: f32,
    /// Cells smaller than this many pixels join their weakest-bounded neighbour (0 = off).
    pub min_size: u64,
    /// Draw one-pixel boundaries (label 0) between cells (default true).
    pub boundaries: bool,
}

impl Default for CellParams {
    fn default() -> Self {
        CellParams {
            watershed: Watershed::Flood,
            max_distance: 32.0,
            threshold: 0.5,
            sigma: 2.0,
            min_seed_distance: 1.0,
            merge_threshold: 0.5,
            min_size: 0,
            boundaries: true,
        }
    }
}

impl CellParams {
    /// Checks every range; the message names the parameter as the CLI spells it.
    pub fn validate(&self) -> Result<(), CellsError> {
        let unit = |name: &str, v: f32| {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(CellsError::Parameter(format!(
                    "--{name} {v}: a membrane probability in [0, 1]"
                )))
            }
        };
        unit("threshold", self.threshold)?;
        unit("merge-threshold", self.merge_threshold)?;
        if !(self.sigma.is_finite() && self.sigma >= 0.0 && self.sigma <= 1000.0) {
            return Err(CellsError::Parameter(format!(
                "--sigma {}: pixels in [0, 1000]",
                self.sigma
            )));
        }
        if !(self.max_distance.is_finite() && (1.0..=4096.0).contains(&self.max_distance)) {
            return Err(CellsError::Parameter(format!(
                "--max-distance {}: pixels in [1, 4096]",
                self.max_distance
            )));
        }
        if !(self.min_seed_distance.is_finite() && self.min_seed_distance >= 0.0) {
            return Err(CellsError::Parameter(format!(
                "--min-seed-distance {}: pixels, ≥ 0",
                self.min_seed_distance
            )));
        }
        Ok(())
    }
}

/// A label image of cells and how it came about.
#[derive(Clone, Debug, PartialEq)]
pub struct Cells {
    /// Cell ids `1..=cells`, 0 = boundary.
    pub labels: Image<u32>,
    /// Number of cells.
    pub cells: u32,
    /// Watershed fragments (seeds) before agglomeration.
    pub fragments: u32,
    /// Merges by mean boundary probability.
    pub merges: usize,
    /// Merges of small cells.
    pub small_merges: usize,
}

/// Segments cells from a membrane probability map (see the crate documentation).
pub fn segment_cells(map: &MembraneMap, params: &CellParams) -> Result<Cells, CellsError> {
    params.validate()?;
    let (h, w) = (map.height, map.width);
    let n = h * w;
    if n >= u32::MAX as usize {
        // Pixel indices are u32 in the queues (half the memory of usize).
        return Err(CellsError::Parameter(format!(
            "{h}×{w} pixels: more than 2^32 − 1 pixels in one image"
        )));
    }
    if params.watershed == Watershed::Descent {
        return segment_cells_descent(map, params);
    }
    // 1–2. Threshold, distance, smoothing (the distance is freed as soon as it is smoothed).
    let threshold = MembraneMap::threshold_level(params.threshold);
    let smoothed = {
        let membrane: Vec<bool> = map
            .levels
            .par_iter()
            .map(|&l| l as u32 >= threshold)
            .collect();
        let mut distance = distance_transform(h, w, &membrane);
        drop(membrane);
        // No membrane at all: one flat distance, so one seed, one cell.
        let far = (h + w) as f32;
        distance
            .par_iter_mut()
            .filter(|d| !d.is_finite())
            .for_each(|d| *d = far);
        gaussian_smooth(h, w, &distance, params.sigma)
    };
    // 3. Seeds.
    let mut labels = vec![0u32; n];
    let fragments = regional_maxima(h, w, &smoothed, params.min_seed_distance, &mut labels);
    drop(smoothed);
    // 4. Watershed of the probability map.
    seeded_watershed(h, w, &map.levels, &mut labels, None);
    // 5–6. Agglomeration, boundaries and final ids.
    Ok(finish(map, labels, fragments, params, draw_boundaries))
}

/// Steps 5–6 on fragment labels `1..=fragments`: agglomeration, boundaries (by `boundaries`,
/// when the parameters ask for them), final ids.
fn finish(
    map: &MembraneMap,
    mut labels: Vec<u32>,
    fragments: u32,
    params: &CellParams,
    boundaries: fn(usize, usize, &mut [u32], &[u16]),
) -> Cells {
    let (h, w) = (map.height, map.width);
    let mut graph = RegionGraph::build(h, w, &labels, &map.levels, fragments);
    let (merges, small_merges) = agglomerate(&mut graph, params);
    let roots = graph.roots();
    drop(graph);
    labels.par_iter_mut().for_each(|l| *l = roots[*l as usize]);
    if params.boundaries {
        boundaries(h, w, &mut labels, &map.levels);
    }
    let cells = relabel_sequential(&mut labels);
    Cells {
        labels: Image::new(h, w, labels),
        cells,
        fragments,
        merges,
        small_merges,
    }
}

/// [`segment_cells`] with the descent watershed, on the whole section at once (the reference
/// [`segment_cells_blockwise`] must equal).
fn segment_cells_descent(map: &MembraneMap, params: &CellParams) -> Result<Cells, CellsError> {
    let (h, w) = (map.height, map.width);
    let sd = capped_smoothed_distance(
        h,
        w,
        &map.levels,
        MembraneMap::threshold_level(params.threshold),
        params.max_distance,
        params.sigma,
    );
    let mut labels = vec![0u32; h * w];
    let fragments = descent_fragments(h, w, &sd, &map.levels, &mut labels);
    drop(sd);
    Ok(finish(
        map,
        labels,
        fragments,
        params,
        draw_boundaries_local,
    ))
}

/// Step 5 on a region graph: merges by mean boundary level, then small cells.
pub(crate) fn agglomerate(graph: &mut RegionGraph, params: &CellParams) -> (usize, usize) {
    let merges = graph.merge_below(params.merge_threshold as f64 * LEVEL_MAX as f64);
    let small = if params.min_size > 0 {
        graph.merge_small(params.min_size)
    } else {
        0
    };
    (merges, small)
}

/// Draws one-pixel boundaries on the membrane: wherever two 4-adjacent pixels carry different
/// non-zero labels, the one with the higher membrane level gets 0 (on a tie, the one first in
/// row-major order). Afterwards no two 4-adjacent non-zero pixels carry different labels.
pub fn draw_boundaries(height: usize, width: usize, labels: &mut [u32], levels: &[u16]) {
    assert_eq!(labels.len(), height * width);
    assert_eq!(levels.len(), height * width);
    // Row-major in place: zeroing only removes adjacencies, so the pairs still to be visited
    // see every adjacency that remains.
    for i in 0..height * width {
        for j in [i + 1, i + width] {
            if j >= height * width || (j == i + 1 && j % width == 0) {
                continue;
            }
            let (a, b) = (labels[i], labels[j]);
            if a == 0 || b == 0 || a == b {
                continue;
            }
            if levels[j] > levels[i] {
                labels[j] = 0;
            } else {
                labels[i] = 0;
                break;
            }
        }
    }
}

/// Renumbers the non-zero labels `1..=N` in row-major order of each label's first pixel;
/// returns `N`. 0 stays 0.
pub fn relabel_sequential(labels: &mut [u32]) -> u32 {
    let max = labels.par_iter().copied().max().unwrap_or(0) as usize;
    let mut new_id = vec![0u32; max + 1];
    let mut next = 0u32;
    for &l in labels.iter() {
        if l != 0 && new_id[l as usize] == 0 {
            next += 1;
            new_id[l as usize] = next;
        }
    }
    labels.par_iter_mut().for_each(|l| *l = new_id[*l as usize]);
    next
}
