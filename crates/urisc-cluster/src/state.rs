//! The block state, checked against the files it describes: each output store carries the id
//! `urisc plan` gave it (in its group's attributes, and in the manifest), and each block has a
//! marker in `OUT/.blocks/` (done or failed; a done marker records, for every storage unit the
//! block wrote, its store's id, its size and its hash). A block counts as done only when its
//! marker says so and its stores and units still are what the marker records, so a deleted
//! chunk or a replaced store shows as damaged, never as done. `urisc run-block` (which blocks
//! to skip), `urisc status` and `urisc assemble` all ask [`block_states`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use urisc_io::{IoError, IoErrorKind};

use crate::digest::fnv1a64;
use crate::error::ClusterError;
use crate::manifest::Manifest;

/// The key of a store's id in its group's `attributes`.
pub const STORE_ID_ATTRIBUTE: &str = "urisc_store_id";

/// A storage unit a block wrote, as its done marker records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitMark {
    /// The id of the store it was written to.
    pub store: String,
    /// Its file's size in bytes.
    pub bytes: u64,
    /// Its file's hash ([`fnv1a64`]).
    pub hash: String,
}

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
    /// The units a done block wrote: the binary store's, then the probability store's.
    #[serde(default)]
    pub units: Vec<UnitMark>,
}

/// The marker file of a block (`OUT/.blocks/INDEX.json`).
pub fn mark_path(manifest: &Manifest, block: usize) -> PathBuf {
    manifest.state_dir().join(format!("{block:06}.json"))
}

/// A block's marker, if any (an unreadable one counts as none: the block runs again).
pub fn mark(manifest: &Manifest, block: usize) -> Option<BlockMark> {
    serde_json::from_str(&std::fs::read_to_string(mark_path(manifest, block)).ok()?).ok()
}

/// Writes a block's marker atomically (it appears whole or not at all).
pub fn write_mark(manifest: &Manifest, block: usize, mark: &BlockMark) -> Result<(), ClusterError> {
    let path = mark_path(manifest, block);
    std::fs::create_dir_all(manifest.state_dir())
        .map_err(|e| ClusterError::Retryable(format!("{}: {e}", path.display())))?;
    let json = serde_json::to_vec(mark).expect("marks serialise");
    urisc_io::write_atomically(&path, true, |f| std::io::Write::write_all(f, &json))?;
    Ok(())
}

/// Removes a block's marker before the block is computed again, so that no marker describes
/// units while they are being replaced.
pub fn remove_mark(manifest: &Manifest, block: usize) -> Result<(), ClusterError> {
    let path = mark_path(manifest, block);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::Retryable(
            format!("{}: cannot remove ({e})", path.display()),
        )),
        _ => Ok(()),
    }
}

fn group_file(root: &Path) -> PathBuf {
    root.join("zarr.json")
}

/// Records `id` in the attributes of the store at `root` (its group's `zarr.json`, rewritten
/// atomically).
pub fn write_store_id(root: &Path, id: &str) -> Result<(), IoError> {
    let file = group_file(root);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| IoError::new(&file, IoErrorKind::Open, format!("cannot read: {e}")))?;
    let mut group: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| IoError::new(&file, IoErrorKind::Corrupt, format!("not JSON: {e}")))?;
    group["attributes"][STORE_ID_ATTRIBUTE] = id.into();
    let json = serde_json::to_vec_pretty(&group).expect("JSON");
    urisc_io::write_atomically(&file, true, |f| std::io::Write::write_all(f, &json))
}

/// Whether the store `store` of the manifest is the one planned: `None` if so, else the problem
/// (missing, unreadable, or another store's id), one line naming the store.
pub fn store_problem(manifest: &Manifest, store: usize) -> Option<String> {
    let s = &manifest.stores[store];
    let root = &s.layout.root;
    let file = group_file(root);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!(
                "{}: the store is missing (deleted since the plan?)",
                root.display()
            ))
        }
        Err(e) => return Some(format!("{}: cannot read ({e})", file.display())),
    };
    let found = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|g| {
            g["attributes"][STORE_ID_ATTRIBUTE]
                .as_str()
                .map(String::from)
        });
    (found.as_deref() != Some(s.id.as_str())).then(|| {
        format!(
            "{}: not the store this manifest planned (store id {}, planned {}): it was replaced since the plan",
            root.display(),
            found.as_deref().unwrap_or("none"),
            s.id
        )
    })
}

/// [`store_problem`] of every store, in manifest order.
pub fn store_problems(manifest: &Manifest) -> Vec<Option<String>> {
    (0..manifest.stores.len())
        .map(|s| store_problem(manifest, s))
        .collect()
}

/// The stores a block writes (binary, then probability) and the file of its unit in each.
pub fn unit_files(manifest: &Manifest, block: usize) -> Vec<(usize, PathBuf)> {
    let b = &manifest.blocks[block];
    let section = &manifest.sections[b.section];
    std::iter::once(section.binary)
        .chain(section.probability)
        .map(|s| {
            let layout = &manifest.stores[s].layout;
            (s, layout.unit_path(section.out_plane, b.unit.0, b.unit.1))
        })
        .collect()
}

/// What the units of a block now hold, for its done marker (read back from the files).
pub fn unit_marks(manifest: &Manifest, block: usize) -> Result<Vec<UnitMark>, ClusterError> {
    unit_files(manifest, block)
        .into_iter()
        .map(|(s, path)| {
            let bytes = std::fs::read(&path).map_err(|e| {
                ClusterError::Retryable(format!("{}: cannot read back ({e})", path.display()))
            })?;
            Ok(UnitMark {
                store: manifest.stores[s].id.clone(),
                bytes: bytes.len() as u64,
                hash: fnv1a64(&bytes),
            })
        })
        .collect()
}

/// How far the units of done blocks are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Each unit file exists with the size its marker records (one `stat` per file).
    Sizes,
    /// Also its hash (every unit file read).
    Contents,
}

/// What must be done about a damaged block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Redo {
    /// `urisc run-block` for its task writes it again.
    RunBlock,
    /// Its store is missing or was replaced: only a new plan can recreate it.
    Plan,
}

/// A block's state, its marker checked against its stores and units.
#[derive(Clone, Debug, PartialEq)]
pub enum BlockState {
    /// Not tried yet (or its run was interrupted before it was marked).
    Pending,
    /// Its last attempt failed.
    Failed {
        /// The error, one line.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
    /// Done, its units as recorded.
    Done {
        /// Wall time of the block, seconds.
        seconds: f64,
    },
    /// Marked done, but its store or a unit is not what the marker records.
    Damaged {
        /// What is wrong, one line naming the file.
        message: String,
        /// How to redo it.
        redo: Redo,
    },
}

/// The state of block `block`, given [`store_problems`].
pub fn block_state(
    manifest: &Manifest,
    stores: &[Option<String>],
    block: usize,
    check: Check,
) -> BlockState {
    let Some(m) = mark(manifest, block) else {
        return BlockState::Pending;
    };
    if !m.done {
        return BlockState::Failed {
            message: m.error.unwrap_or_default(),
            retryable: m.retryable,
        };
    }
    let damaged = |message: String, redo| BlockState::Damaged { message, redo };
    let files = unit_files(manifest, block);
    for (s, _) in &files {
        if let Some(problem) = &stores[*s] {
            return damaged(problem.clone(), Redo::Plan);
        }
    }
    if m.units.len() != files.len() {
        return damaged(
            format!(
                "{}: records {} unit(s), the block writes {}",
                mark_path(manifest, block).display(),
                m.units.len(),
                files.len()
            ),
            Redo::RunBlock,
        );
    }
    for ((s, path), unit) in files.iter().zip(&m.units) {
        let store = &manifest.stores[*s];
        if unit.store != store.id {
            return damaged(
                format!(
                    "{}: marked done in store {}, not in the planned {}",
                    path.display(),
                    unit.store,
                    store.id
                ),
                Redo::RunBlock,
            );
        }
        let problem = match std::fs::metadata(path) {
            Err(_) => Some("missing".to_string()),
            Ok(meta) if meta.len() != unit.bytes => Some(format!(
                "{} bytes, marked done with {}",
                meta.len(),
                unit.bytes
            )),
            Ok(_) if check == Check::Contents => match std::fs::read(path) {
                Ok(bytes) if fnv1a64(&bytes) == unit.hash => None,
                Ok(_) => Some("changed since it was written (hash differs)".into()),
                Err(e) => Some(format!("unreadable ({e})")),
            },
            Ok(_) => None,
        };
        if let Some(p) = problem {
            return damaged(format!("{}: {p}", path.display()), Redo::RunBlock);
        }
    }
    BlockState::Done { seconds: m.seconds }
}

/// [`block_state`] of every block.
pub fn block_states(manifest: &Manifest, check: Check) -> Vec<BlockState> {
    let stores = store_problems(manifest);
    (0..manifest.blocks.len())
        .map(|b| block_state(manifest, &stores, b, check))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::planned;

    fn write_block(m: &Manifest, b: usize) {
        let block = &m.blocks[b];
        for (s, _) in unit_files(m, b) {
            let data = vec![7u8; block.write.area()];
            urisc_io::zarr_store::write_unit(
                &m.stores[s].layout,
                0,
                block.unit.0,
                block.unit.1,
                &data,
            )
            .unwrap();
        }
        let mark = BlockMark {
            done: true,
            seconds: 1.0,
            error: None,
            retryable: false,
            host: String::new(),
            units: unit_marks(m, b).unwrap(),
        };
        write_mark(m, b, &mark).unwrap();
    }

    fn state(m: &Manifest, b: usize, check: Check) -> BlockState {
        block_state(m, &store_problems(m), b, check)
    }

    #[test]
    fn a_block_is_done_only_while_its_units_and_stores_are_as_marked() {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = planned(dir.path());
        crate::create_stores(&m, &dir.path().join("manifest.json"), false).unwrap();
        assert_eq!(state(&m, 0, Check::Sizes), BlockState::Pending);
        write_block(&m, 0);
        write_block(&m, 1);
        assert_eq!(
            state(&m, 0, Check::Contents),
            BlockState::Done { seconds: 1.0 }
        );
        let damage = |b, check| match state(&m, b, check) {
            BlockState::Damaged { message, redo } => (message, redo),
            other => panic!("block {b}: {other:?}"),
        };
        // A unit deleted, or changed in place (which only the hash sees).
        let (_, binary) = &unit_files(&m, 0)[0];
        std::fs::remove_file(binary).unwrap();
        let (message, redo) = damage(0, Check::Sizes);
        assert!(message.ends_with("0/c/0/0: missing"), "{message}");
        assert_eq!(redo, Redo::RunBlock);
        let (_, probability) = &unit_files(&m, 1)[1];
        let mut bytes = std::fs::read(probability).unwrap();
        bytes[0] ^= 1;
        std::fs::write(probability, &bytes).unwrap();
        assert_eq!(
            state(&m, 1, Check::Sizes),
            BlockState::Done { seconds: 1.0 }
        );
        assert!(damage(1, Check::Contents).0.contains("hash differs"));
        // A marker from a former store of the same path does not count.
        write_block(&m, 1);
        let mut mark = mark(&m, 1).unwrap();
        mark.units[0].store = "former".into();
        write_mark(&m, 1, &mark).unwrap();
        assert!(damage(1, Check::Sizes)
            .0
            .contains("marked done in store former"));
        // The store replaced: every block of it waits for a new plan.
        write_store_id(&m.stores[0].layout.root, "another").unwrap();
        let (message, redo) = damage(1, Check::Sizes);
        assert!(message.contains("store id another"), "{message}");
        assert_eq!(redo, Redo::Plan);
    }
}
