//! End-to-end tests of [`crate::segment_cells`] on small synthetic maps.

use super::*;
use urisc_infer::Rect;
use urisc_io::{GreyImage, Image};

/// A map from a closure of (row, col) → p.
fn map(h: usize, w: usize, p: impl Fn(usize, usize) -> f32) -> MembraneMap {
    let v: Vec<f32> = (0..h * w).map(|i| p(i / w, i % w)).collect();
    MembraneMap::from_probability(h, w, &v).unwrap()
}

/// Two overlapping disks (p = 0) of radius 10, centres 12 px apart, on membrane (p = 1) that
/// is thin above and below the neck, as between real cells; `neck` is p on the column between
/// the centres.
fn touching_disks(neck: f32) -> MembraneMap {
    map(23, 44, |r, c| {
        let d = |cc: f64| ((r as f64 - 11.0).powi(2) + (c as f64 - cc).powi(2)).sqrt();
        let (a, b) = (d(16.0), d(28.0));
        if a > 10.0 && b > 10.0 {
            1.0
        } else if c == 22 {
            neck
        } else {
            0.0
        }
    })
}

/// A grid of membrane lines (rows every 17, columns every 13) under uniform noise.
fn noisy_grid(h: usize, w: usize, seed: u64) -> MembraneMap {
    let mut s = seed;
    let v: Vec<f32> = (0..h * w)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let (r, c) = (i / w, i % w);
            let grid = (r % 17 == 0 || c % 13 == 0) as u8 as f32;
            (0.8 * grid + 0.3 * (s % 1000) as f32 / 1000.0).min(1.0)
        })
        .collect();
    MembraneMap::from_probability(h, w, &v).unwrap()
}

fn params(merge_threshold: f32) -> CellParams {
    CellParams {
        merge_threshold,
        ..CellParams::default()
    }
}

#[test]
fn touching_disks_are_split_by_the_distance_seeds() {
    let cells = segment_cells(&touching_disks(0.0), &params(0.0)).unwrap();
    assert_eq!(cells.fragments, 2, "one seed per disk");
    assert_eq!(cells.cells, 2);
    // Each disk centre in its own cell, split at the neck.
    let (a, b) = (cells.labels.get(11, 16), cells.labels.get(11, 28));
    assert!(a != 0 && b != 0 && a != b);
    assert_eq!(cells.labels.get(11, 20), a);
    assert_eq!(cells.labels.get(11, 24), b);
}

#[test]
fn a_faint_membrane_at_the_neck_merges_or_not_by_the_threshold() {
    // A p = 0.3 line across the neck: not membrane at threshold 0.5, so both disks get seeds;
    // the mean boundary probability (0.3) decides.
    let disks = touching_disks(0.3);
    assert_eq!(segment_cells(&disks, &params(0.5)).unwrap().cells, 1);
    assert_eq!(segment_cells(&disks, &params(0.25)).unwrap().cells, 2);
    // With no membrane at the neck at all, agglomeration merges the two fragments.
    assert_eq!(
        segment_cells(&touching_disks(0.0), &params(0.5))
            .unwrap()
            .cells,
        1
    );
}

#[test]
fn a_gap_in_a_membrane_is_bridged_or_not_by_the_threshold() {
    // Two 20×20 cells split by a membrane column with a 2-pixel gap.
    let m = map(20, 41, |r, c| {
        if c == 20 && !(9..11).contains(&r) {
            1.0
        } else {
            0.0
        }
    });
    let split = segment_cells(&m, &params(0.5)).unwrap();
    assert_eq!(split.cells, 2, "mostly-membrane boundary kept");
    assert_ne!(split.labels.get(5, 5), split.labels.get(5, 35));
    // The boundary's mean probability is 18/20 = 0.9 (or close): merge above it.
    let merged = segment_cells(&m, &params(0.95)).unwrap();
    assert_eq!(merged.cells, 1);
}

#[test]
fn boundaries_separate_every_pair_of_cells() {
    let m = touching_disks(0.8);
    for boundaries in [true, false] {
        let p = CellParams {
            boundaries,
            ..params(0.0)
        };
        let cells = segment_cells(&m, &p).unwrap();
        let (h, w) = (cells.labels.height, cells.labels.width);
        let l = &cells.labels.data;
        let zeros = l.iter().filter(|&&v| v == 0).count();
        let mut touching = 0;
        for i in 0..h * w {
            for j in [i + 1, i + w] {
                if j < h * w && (j != i + 1 || (i + 1) % w != 0) && l[i] != 0 && l[j] != 0 {
                    touching += (l[i] != l[j]) as usize;
                }
            }
        }
        if boundaries {
            assert!(zeros > 0);
            assert_eq!(touching, 0);
        } else {
            assert_eq!(zeros, 0);
            assert!(touching > 0);
        }
    }
}

#[test]
fn ids_are_consecutive_in_row_major_order_of_first_pixel() {
    // Four cells in a 2×2 grid of squares split by membrane lines.
    let m = map(21, 21, |r, c| if r == 10 || c == 10 { 1.0 } else { 0.0 });
    let cells = segment_cells(&m, &params(0.5)).unwrap();
    assert_eq!(cells.cells, 4);
    let mut seen = Vec::new();
    for &l in &cells.labels.data {
        if l != 0 && !seen.contains(&l) {
            seen.push(l);
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4]);
    assert_eq!(cells.labels.get(0, 0), 1);
    assert_eq!(cells.labels.get(0, 20), 2);
    assert_eq!(cells.labels.get(20, 0), 3);
    assert_eq!(cells.labels.get(20, 20), 4);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let m = noisy_grid(96, 80, 12345);
    let p = CellParams {
        min_size: 20,
        ..CellParams::default()
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| segment_cells(&m, &p).unwrap());
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| segment_cells(&m, &p).unwrap());
    assert_eq!(one, many);
    assert!(one.cells > 10, "{} cells", one.cells);
    assert_eq!(segment_cells(&m, &p).unwrap(), one);
}

#[test]
fn min_size_leaves_no_small_cell_that_has_a_neighbour() {
    let m = noisy_grid(64, 64, 99);
    let p = CellParams {
        min_size: 150,
        merge_threshold: 0.0,
        min_seed_distance: 0.0,
        sigma: 0.5,
        boundaries: false,
        ..CellParams::default()
    };
    let cells = segment_cells(&m, &p).unwrap();
    assert!(
        cells.fragments > cells.cells && cells.small_merges > 0,
        "{cells:?}"
    );
    let mut sizes = vec![0u64; cells.cells as usize + 1];
    for &l in &cells.labels.data {
        sizes[l as usize] += 1;
    }
    if cells.cells > 1 {
        assert!(sizes[1..].iter().all(|&s| s >= 150), "{sizes:?}");
    }
}

#[test]
fn degenerate_maps() {
    // No membrane: one cell covering everything.
    let cells = segment_cells(&map(7, 9, |_, _| 0.0), &CellParams::default()).unwrap();
    assert_eq!(cells.cells, 1);
    assert!(cells.labels.data.iter().all(|&l| l == 1));
    // All membrane: no cell.
    let cells = segment_cells(&map(7, 9, |_, _| 1.0), &CellParams::default()).unwrap();
    assert_eq!(cells.cells, 0);
    // Empty and one-pixel images.
    assert_eq!(
        segment_cells(&map(0, 0, |_, _| 0.0), &CellParams::default())
            .unwrap()
            .cells,
        0
    );
    assert_eq!(
        segment_cells(&map(1, 1, |_, _| 0.0), &CellParams::default())
            .unwrap()
            .cells,
        1
    );
}

#[test]
fn stored_maps_follow_predicts_polarity() {
    // 8-bit: membrane dark, 255·(1 − p).
    let m = MembraneMap::from_stored_u8(&Image::new(1, 3, vec![0, 127, 255]));
    assert_eq!(m.levels, vec![LEVEL_MAX, 128 * 257, 0]);
    // 127 is p = 128/255 ≥ 0.5: membrane, as the binary map's value < 128 rule.
    assert!(m.levels[1] as u32 >= MembraneMap::threshold_level(0.5));
    let m = MembraneMap::from_stored_u8(&Image::new(1, 1, vec![128]));
    assert!((m.levels[0] as u32) < MembraneMap::threshold_level(0.5));
    // Float: p as stored.
    let m = MembraneMap::from_grey(&GreyImage::F32(Image::new(1, 2, vec![1.0, 0.0]))).unwrap();
    assert_eq!(m.levels, vec![LEVEL_MAX, 0]);
    let nan = MembraneMap::from_probability(1, 1, &[f32::NAN]);
    assert_eq!(nan, Err(CellsError::NonFinite { count: 1 }));
}

#[test]
fn parameters_are_checked() {
    let bad = CellParams {
        merge_threshold: 1.5,
        ..CellParams::default()
    };
    let e = segment_cells(&map(2, 2, |_, _| 0.0), &bad).unwrap_err();
    assert!(e.to_string().contains("--merge-threshold 1.5"), "{e}");
}

fn descent(merge_threshold: f32) -> CellParams {
    CellParams {
        watershed: Watershed::Descent,
        merge_threshold,
        ..CellParams::default()
    }
}

/// Runs [`segment_cells_blockwise`] on an in-memory map; returns the summary and the labels.
fn blockwise(map: &MembraneMap, block: usize, p: &CellParams) -> (BlockwiseSummary, Vec<u32>) {
    let (h, w) = (map.height, map.width);
    let read = |r: Rect| -> Result<Vec<u16>, String> {
        Ok((r.y0..r.y1)
            .flat_map(|y| map.levels[y * w + r.x0..y * w + r.x1].iter().copied())
            .collect())
    };
    let mut out = vec![u32::MAX; h * w];
    let mut writes = 0;
    let summary = segment_cells_blockwise(h, w, block, p, &read, &mut |r, ids| {
        writes += 1;
        for y in 0..r.height() {
            out[(r.y0 + y) * w + r.x0..][..r.width()]
                .copy_from_slice(&ids[y * r.width()..][..r.width()]);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(writes, summary.blocks);
    assert!(out.iter().all(|&l| l != u32::MAX), "every pixel written");
    (summary, out)
}

#[test]
fn descent_splits_touching_disks_and_merges_by_the_threshold() {
    let cells = segment_cells(&touching_disks(0.0), &descent(0.0)).unwrap();
    assert_eq!(cells.cells, 2, "one basin per disk");
    let (a, b) = (cells.labels.get(11, 16), cells.labels.get(11, 28));
    assert!(a != 0 && b != 0 && a != b);
    assert_eq!(
        segment_cells(&touching_disks(0.3), &descent(0.5))
            .unwrap()
            .cells,
        1
    );
    assert_eq!(
        segment_cells(&touching_disks(0.3), &descent(0.25))
            .unwrap()
            .cells,
        2
    );
}

#[test]
fn blockwise_equals_the_whole_section_exactly() {
    // A noisy grid of many cells, cut into blocks far smaller than the halo and into blocks
    // that do not divide the section, with every stage on and off.
    let m = noisy_grid(150, 170, 7);
    let variants = [
        descent(0.5),
        descent(0.0),
        CellParams {
            min_size: 60,
            ..descent(0.6)
        },
        CellParams {
            boundaries: false,
            sigma: 0.0,
            max_distance: 5.0,
            ..descent(0.5)
        },
        CellParams {
            sigma: 3.5,
            threshold: 0.7,
            ..descent(0.4)
        },
    ];
    for p in variants {
        let whole = segment_cells(&m, &p).unwrap();
        assert!(
            whole.cells > 20,
            "{p:?}: a section of many cells ({})",
            whole.cells
        );
        for block in [9, 32, 61, 100, 400] {
            let (summary, labels) = blockwise(&m, block, &p);
            assert_eq!(
                (
                    summary.cells,
                    summary.fragments,
                    summary.merges,
                    summary.small_merges
                ),
                (
                    whole.cells,
                    whole.fragments,
                    whole.merges,
                    whole.small_merges
                ),
                "{p:?}, blocks of {block}"
            );
            let differ = labels
                .iter()
                .zip(&whole.labels.data)
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(
                differ, 0,
                "{p:?}, blocks of {block}: {differ} pixels differ"
            );
        }
    }
}

#[test]
fn local_boundaries_separate_every_pair_of_cells() {
    let m = noisy_grid(60, 70, 3);
    let cells = segment_cells(&m, &descent(0.5)).unwrap();
    let (h, w) = (60, 70);
    let l = &cells.labels.data;
    for i in 0..h * w {
        for j in [i + 1, i + w] {
            if j < h * w && !(j == i + 1 && j % w == 0) {
                assert!(
                    l[i] == 0 || l[j] == 0 || l[i] == l[j],
                    "cells touch at {i}, {j}"
                );
            }
        }
    }
}

#[test]
fn blockwise_refuses_bad_blocks_and_reports_read_errors() {
    let m = noisy_grid(20, 20, 1);
    let read = |_: Rect| -> Result<Vec<u16>, String> { Err("x.png: truncated".into()) };
    let err = segment_cells_blockwise(20, 20, 8, &descent(0.5), &read, &mut |_, _| Ok(()));
    assert_eq!(
        err.unwrap_err(),
        CellsError::Block("x.png: truncated".into())
    );
    let read = |_: Rect| -> Result<Vec<u16>, String> { Ok(m.levels.clone()) };
    let err = segment_cells_blockwise(20, 20, 0, &descent(0.5), &read, &mut |_, _| Ok(()));
    assert!(matches!(err, Err(CellsError::Parameter(_))));
}
