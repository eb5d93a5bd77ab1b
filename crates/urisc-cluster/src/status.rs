//! `urisc status`: done, damaged, failed and pending blocks per section, from the block markers
//! checked against the stores ([`crate::state`]: a done block whose unit is missing or changed,
//! or whose store was deleted or replaced, is damaged, not done), and what to run to redo them.

use std::path::Path;

use serde::Serialize;

use crate::manifest::Manifest;
use crate::state::{block_states, store_problems, BlockState, Check, Redo};

/// Block counts of one section.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SectionStatus {
    /// Section name.
    pub name: String,
    /// Blocks done.
    pub done: usize,
    /// Blocks marked done whose units or store are not what their marker records.
    pub damaged: usize,
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

/// A damaged block: what is wrong and how to redo it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Damage {
    /// The block's index in the manifest.
    pub block: usize,
    /// Its array task (`urisc run-block --index TASK` redoes it).
    pub task: usize,
    /// What is wrong, one line naming the file.
    pub message: String,
    /// `run-block` (its task writes it again) or `plan` (its store is gone or replaced).
    pub redo: Redo,
}

/// The whole job.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Status {
    /// Per section, in manifest order.
    pub sections: Vec<SectionStatus>,
    /// Totals.
    pub done: usize,
    /// Damaged blocks.
    pub damaged: usize,
    /// Failed blocks.
    pub failed: usize,
    /// Pending blocks.
    pub pending: usize,
    /// Every damaged block, in order.
    pub damage: Vec<Damage>,
    /// Output stores that are missing or not the ones planned (one line each).
    pub store_problems: Vec<String>,
    /// Array tasks with no unfinished block.
    pub tasks_done: usize,
    /// Array tasks in all.
    pub tasks: usize,
    /// Seconds of block work done so far.
    pub block_seconds: f64,
}

impl Status {
    /// Whether every block is done.
    pub fn finished(&self) -> bool {
        self.damaged + self.failed + self.pending == 0
    }

    /// The array tasks that redo the damaged blocks `run-block` can redo, in order.
    pub fn redo_tasks(&self) -> Vec<usize> {
        let mut tasks: Vec<usize> = self
            .damage
            .iter()
            .filter(|d| d.redo == Redo::RunBlock)
            .map(|d| d.task)
            .collect();
        tasks.dedup();
        tasks
    }

    /// What to run next, one line: a new plan when a store is gone or replaced, else the
    /// `run-block` calls that redo the damaged blocks (`None`: nothing damaged).
    pub fn redo_hint(&self, manifest_path: &Path) -> Option<String> {
        if !self.store_problems.is_empty() {
            return Some("plan again (urisc plan ... --force): a store is gone or replaced".into());
        }
        let tasks = self.redo_tasks();
        let shown: Vec<String> = tasks.iter().take(8).map(usize::to_string).collect();
        (!tasks.is_empty()).then(|| {
            format!(
                "redo them: urisc run-block --manifest {} --index T, for T in {}{}",
                manifest_path.display(),
                shown.join(", "),
                if tasks.len() > shown.len() {
                    format!(
                        " (and {} more tasks: see urisc status --json)",
                        tasks.len() - shown.len()
                    )
                } else {
                    String::new()
                }
            )
        })
    }
}

/// Every block's state, its units checked as `check` says ([`Check::Sizes`] for `urisc
/// status`: one `stat` per unit file).
pub fn status_checked(manifest: &Manifest, check: Check) -> Status {
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
        store_problems: store_problems(manifest).into_iter().flatten().collect(),
        ..Default::default()
    };
    let states = block_states(manifest, check);
    for (b, state) in states.iter().enumerate() {
        let sec = &mut s.sections[manifest.blocks[b].section];
        match state {
            BlockState::Done { seconds } => {
                sec.done += 1;
                s.done += 1;
                s.block_seconds += seconds;
            }
            BlockState::Damaged { message, redo } => {
                sec.damaged += 1;
                s.damaged += 1;
                s.damage.push(Damage {
                    block: b,
                    task: b / manifest.blocks_per_task,
                    message: message.clone(),
                    redo: *redo,
                });
            }
            BlockState::Failed { message, retryable } => {
                sec.failed += 1;
                s.failed += 1;
                if sec.first_error.is_none() {
                    sec.first_error = Some(BlockFailure {
                        block: b,
                        message: message.clone(),
                        retryable: *retryable,
                    });
                }
            }
            BlockState::Pending => {
                sec.pending += 1;
                s.pending += 1;
            }
        }
    }
    s.tasks_done = (0..manifest.tasks)
        .filter(|&t| {
            manifest.task_blocks(t).is_ok_and(|mut blocks| {
                blocks.all(|b| matches!(states[b], BlockState::Done { .. }))
            })
        })
        .count();
    s
}

/// [`status_checked`] with [`Check::Sizes`]: what `urisc status` reports.
pub fn status(manifest: &Manifest) -> Status {
    status_checked(manifest, Check::Sizes)
}
