//! `urisc run-block`: the blocks of one array task, each predicted with
//! [`urisc_infer::predict_region`], written as whole storage units (atomically) and marked
//! done; finished blocks are skipped on a re-run.

use std::time::Instant;

use urisc_infer::{predict_region, Rect};
use urisc_io::{zarr_store, Image};
use urisc_model::SegmentationModel;
use urisc_nn::Segmenter;

use crate::error::ClusterError;
use crate::manifest::{Manifest, Section};
use crate::state::{self, BlockMark, BlockState, Check};

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Reads a rectangle of a section's input: a plane of a Zarr store chunk by chunk, a page of a
/// multi-page TIFF, or a file streamed by rows up to the rectangle's last row.
pub fn read_input(section: &Section, rect: Rect) -> Result<Image<u8>, urisc_io::IoError> {
    if urisc_io::zarr_store::is_zarr(&section.input) {
        // Only the chunks the rectangle touches are decoded.
        let array = urisc_io::zarr::ZarrArray::open(&section.input)?;
        return array.read_region(section.plane, rect.y0..rect.y1, rect.x0..rect.x1);
    }
    let mut data = Vec::with_capacity(rect.area());
    if section.plane > 0 {
        let page = urisc_io::read_page(&section.input, section.plane)?
            .image
            .into_u8();
        for y in rect.y0..rect.y1 {
            data.extend_from_slice(&page.data[y * page.width + rect.x0..y * page.width + rect.x1]);
        }
    } else {
        let mut rows = urisc_io::open_rows(&section.input)?;
        if (rows.height(), rows.width()) != (section.height, section.width) {
            return Err(urisc_io::IoError::new(
                &section.input,
                urisc_io::IoErrorKind::Invalid,
                format!(
                    "now {}×{}, planned as {}×{}",
                    rows.height(),
                    rows.width(),
                    section.height,
                    section.width
                ),
            ));
        }
        let mut row = vec![0u8; section.width];
        for y in 0..rect.y1 {
            rows.read_row(&mut row)?;
            if y >= rect.y0 {
                data.extend_from_slice(&row[rect.x0..rect.x1]);
            }
        }
    }
    Ok(Image::new(rect.height(), rect.width(), data))
}

/// What a task did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskReport {
    /// Blocks computed now.
    pub computed: usize,
    /// Blocks skipped as done.
    pub skipped: usize,
}

/// Runs the given blocks of a checked manifest ([`Manifest::load`], which gives `model` too),
/// skipping those done ([`state::block_state`]: marked done, units as recorded, hashes
/// included); stops at the first failure (marked, with whether it is retryable). Refuses, before
/// any work, a store of these blocks that is missing or is not the one planned.
/// `on_block(index, skipped)` reports progress.
pub fn run_blocks(
    manifest: &Manifest,
    model: &Segmenter,
    blocks: &[usize],
    on_block: &mut dyn FnMut(usize, bool),
) -> Result<TaskReport, ClusterError> {
    let mut report = TaskReport::default();
    let problems = state::store_problems(manifest);
    for &b in blocks {
        for (s, _) in state::unit_files(manifest, b) {
            if let Some(p) = &problems[s] {
                // A folder that is gone with the rest of the output is an outage worth a
                // retry; a store gone or replaced within it is not.
                return Err(if manifest.out.is_dir() {
                    ClusterError::Fatal(format!("{p}; plan again (urisc plan ... --force)"))
                } else {
                    ClusterError::Retryable(p.clone())
                });
            }
        }
    }
    let mut todo = Vec::new();
    for &b in blocks {
        // A task's own units are few: read them whole, so a unit changed in place is redone
        // (the one `assemble` would refuse).
        match state::block_state(manifest, &problems, b, Check::Contents) {
            BlockState::Done { .. } => {
                report.skipped += 1;
                on_block(b, true);
            }
            _ => todo.push(b),
        }
    }
    for b in todo {
        state::remove_mark(manifest, b)?;
        let started = Instant::now();
        let result = run_block(manifest, model, b).and_then(|()| state::unit_marks(manifest, b));
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(units) => {
                state::write_mark(
                    manifest,
                    b,
                    &BlockMark {
                        done: true,
                        seconds,
                        error: None,
                        retryable: false,
                        host: host(),
                        units,
                    },
                )?;
                report.computed += 1;
                on_block(b, false);
            }
            Err(e) => {
                // The marker is best effort: the exit code carries the verdict anyway.
                let _ = state::write_mark(
                    manifest,
                    b,
                    &BlockMark {
                        done: false,
                        seconds,
                        error: Some(e.to_string()),
                        retryable: e.retryable(),
                        host: host(),
                        units: Vec::new(),
                    },
                );
                return Err(e);
            }
        }
    }
    Ok(report)
}

fn run_block(manifest: &Manifest, model: &Segmenter, index: usize) -> Result<(), ClusterError> {
    let block = &manifest.blocks[index];
    let section = &manifest.sections[block.section];
    let options = manifest.inference.options();
    let p = predict_region(
        model as &dyn SegmentationModel,
        section.height,
        section.width,
        &options,
        block.write,
        &mut |rect| read_input(section, rect),
    )
    .map_err(|e| match e {
        urisc_infer::InferError::Io(io) => ClusterError::from(io),
        urisc_infer::InferError::Model(m) => ClusterError::Fatal(format!("block {index}: {m}")),
    })?;
    let threshold = manifest.inference.threshold;
    let binary: Vec<u8> = p
        .data
        .iter()
        .map(|&v| urisc_io::encoding::binary_from_probability(v, threshold))
        .collect();
    let (uy, ux) = block.unit;
    zarr_store::write_unit(
        &manifest.stores[section.binary].layout,
        section.out_plane,
        uy,
        ux,
        &binary,
    )?;
    if let Some(pi) = section.probability {
        let store = &manifest.stores[pi];
        if store.layout.data_type == "float32" {
            zarr_store::write_unit(&store.layout, section.out_plane, uy, ux, &p.data)?;
        } else {
            let u8s: Vec<u8> = p
                .data
                .iter()
                .map(|&v| urisc_io::encoding::stored_from_probability(v))
                .collect();
            zarr_store::write_unit(&store.layout, section.out_plane, uy, ux, &u8s)?;
        }
    }
    Ok(())
}
