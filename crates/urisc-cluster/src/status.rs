//! `urisc status`: done, failed and pending blocks per section, from the block markers.

use serde::Serialize;

use crate::manifest::Manifest;
use crate::run::mark;

/// Block counts of one section.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SectionStatus {
    /// Section name.
    pub name: String,
    /// Blocks done.
    pub done: usize,
    /// Blocks whose last attempt failed.
    pub failed: usize,
    /// Blocks not tried yet.
    pub pending: usize,
    /// The first failed block of the section.
    pub first_error: Option<BlockFailure>,
}

/// A failed block, as its done-marker records it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockFailure {
    /// The block's index in the manifest.
    pub block: usize,
    /// The error, one line.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
}

/// The whole job.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Status {
    /// Per section, in manifest order.
    pub sections: Vec<SectionStatus>,
    /// Totals.
    pub done: usize,
    /// Failed blocks.
    pub failed: usize,
    /// Pending blocks.
    pub pending: usize,
    /// Array tasks with no unfinished block.
    pub tasks_done: usize,
    /// Array tasks in all.
    pub tasks: usize,
    /// Seconds of block work done so far.
    pub block_seconds: f64,
}

/// Reads every block's marker.
pub fn status(manifest: &Manifest) -> Status {
    let mut s = Status {
        sections: manifest
            .sections
            .iter()
            .map(|sec| SectionStatus {
                name: sec.name.clone(),
                ..Default::default()
            })
            .collect(),
        tasks: manifest.tasks,
        ..Default::default()
    };
    let marks: Vec<_> = (0..manifest.blocks.len())
        .map(|b| mark(manifest, b))
        .collect();
    for (b, m) in marks.iter().enumerate() {
        let sec = &mut s.sections[manifest.blocks[b].section];
        match m {
            Some(m) if m.done => {
                sec.done += 1;
                s.done += 1;
                s.block_seconds += m.seconds;
            }
            Some(m) => {
                sec.failed += 1;
                s.failed += 1;
                if sec.first_error.is_none() {
                    sec.first_error = Some(BlockFailure {
                        block: b,
                        message: m.error.clone().unwrap_or_default(),
                        retryable: m.retryable,
                    });
                }
            }
            None => {
                sec.pending += 1;
                s.pending += 1;
            }
        }
    }
    s.tasks_done = (0..manifest.tasks)
        .filter(|&t| {
            manifest
                .task_blocks(t)
                .is_ok_and(|mut blocks| blocks.all(|b| marks[b].as_ref().is_some_and(|m| m.done)))
        })
        .count();
    s
}
