//! `urisc run-block`: the blocks of one array task, each predicted with
//! [`urisc_infer::predict_region`], written as whole storage units (atomically) and marked
//! done; finished blocks are skipped on a re-run.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use urisc_infer::{predict_region, Rect};
use urisc_io::{zarr_store, Image};
use urisc_model::SegmentationModel;

use crate::error::ClusterError;
use crate::manifest::{Manifest, Section};

/// What a block's marker records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockMark {
    /// Done or failed.
    pub done: bool,
    /// Wall time of the block, seconds.
    pub seconds: f64,
    /// The error of a failed block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the failure may go away on a retry.
    #[serde(default)]
    pub retryable: bool,
    /// The host that ran it.
    pub host: String,
}

/// The marker file of a block (`OUT/.blocks/INDEX.json`).
pub fn mark_path(manifest: &Manifest, block: usize) -> PathBuf {
    manifest.state_dir().join(format!("{block:06}.json"))
}

/// A block's marker, if any.
pub fn mark(manifest: &Manifest, block: usize) -> Option<BlockMark> {
    serde_json::from_str(&std::fs::read_to_string(mark_path(manifest, block)).ok()?).ok()
}

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn write_mark(manifest: &Manifest, block: usize, mark: &BlockMark) -> Result<(), ClusterError> {
    let path = mark_path(manifest, block);
    std::fs::create_dir_all(manifest.state_dir())
        .map_err(|e| ClusterError::Retryable(format!("{}: {e}", path.display())))?;
    let json = serde_json::to_vec(mark).expect("marks serialise");
    urisc_io::write_atomically(&path, true, |f| std::io::Write::write_all(f, &json))?;
    Ok(())
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

/// Runs the given blocks (skipping done ones); stops at the first failure (marked, with
/// whether it is retryable). `on_block(index, skipped)` reports progress.
pub fn run_blocks(
    manifest: &Manifest,
    blocks: &[usize],
    on_block: &mut dyn FnMut(usize, bool),
) -> Result<TaskReport, ClusterError> {
    let mut report = TaskReport::default();
    let todo: Vec<usize> = blocks
        .iter()
        .copied()
        .filter(|&b| !mark(manifest, b).is_some_and(|m| m.done))
        .collect();
    report.skipped = blocks.len() - todo.len();
    for &b in blocks.iter().filter(|b| !todo.contains(b)) {
        on_block(b, true);
    }
    if todo.is_empty() {
        return Ok(report);
    }
    let model = manifest.model.load()?;
    for b in todo {
        let started = Instant::now();
        let result = run_block(manifest, &model, b);
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                write_mark(
                    manifest,
                    b,
                    &BlockMark {
                        done: true,
                        seconds,
                        error: None,
                        retryable: false,
                        host: host(),
                    },
                )?;
                report.computed += 1;
                on_block(b, false);
            }
            Err(e) => {
                // The marker is best effort: the exit code carries the verdict anyway.
                let _ = write_mark(
                    manifest,
                    b,
                    &BlockMark {
                        done: false,
                        seconds,
                        error: Some(e.to_string()),
                        retryable: e.retryable(),
                        host: host(),
                    },
                );
                return Err(e);
            }
        }
    }
    Ok(report)
}

fn run_block(
    manifest: &Manifest,
    model: &urisc_nn::Segmenter,
    index: usize,
) -> Result<(), ClusterError> {
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
