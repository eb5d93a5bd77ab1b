//! One writer per output folder: [`FolderLock`] is an operating-system lock on a file in the
//! folder, so a second `urisc train` or `urisc bench run` into a folder in use is refused
//! (naming the holder) instead of interleaving its files with the first's. The operating system
//! releases the lock when its process ends, crash included, so a lock file left behind by a
//! crashed run never blocks the next one.
//!
//! ```
//! use urisc_io::lock::FolderLock;
//! let dir = tempfile::tempdir().unwrap();
//! let held = FolderLock::take(dir.path()).unwrap();
//! let refused = FolderLock::take(dir.path()).unwrap_err();
//! assert!(refused.to_string().contains("in use by"), "{refused}");
//! drop(held);
//! FolderLock::take(dir.path()).unwrap();
//! ```

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sample::{IoError, IoErrorKind};

/// The lock file's name inside the folder it guards.
pub const LOCK_FILE: &str = ".urisc.lock";

/// The lock of one output folder, held until dropped (or until the process ends).
#[derive(Debug)]
pub struct FolderLock {
    path: PathBuf,
    // Holds the operating-system lock; closing it releases the lock.
    _file: File,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl FolderLock {
    /// Takes the lock of `dir` (an existing folder), writing this process's id, command line and
    /// start time into its lock file; refuses a folder another process holds, naming it.
    pub fn take(dir: &Path) -> Result<FolderLock, IoError> {
        let path = dir.join(LOCK_FILE);
        let werr = |e: std::io::Error| {
            IoError::new(
                &path,
                IoErrorKind::Write,
                format!("cannot lock the folder: {e}"),
            )
        };
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(werr)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    return Err(IoError::new(
                        dir,
                        IoErrorKind::Invalid,
                        format!(
                            "in use by {}: wait for it to finish, or choose another output",
                            describe_holder(&holder, unix_now())
                        ),
                    ));
                }
                Err(TryLockError::Error(e)) => return Err(werr(e)),
            }
            // A holder releasing its lock removes the file first: a lock won on a file that is
            // no longer the folder's guards nothing, so try again.
            if !is_current(&file, &path) {
                continue;
            }
            let command: Vec<String> = std::env::args()
                .enumerate()
                .map(|(i, a)| match i {
                    0 => Path::new(&a)
                        .file_name()
                        .map_or(a.clone(), |n| n.to_string_lossy().into_owned()),
                    _ => a,
                })
                .collect();
            let record = format!(
                "pid {}\ncommand {}\nstarted {}\n",
                std::process::id(),
                command.join(" "),
                unix_now()
            );
            file.set_len(0).map_err(werr)?;
            file.write_all(record.as_bytes()).map_err(werr)?;
            return Ok(FolderLock { path, _file: file });
        }
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Removed while still held (see `is_current`); the lock goes with the file handle.
        #[cfg(unix)]
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `file` is still the one at `path` (a releasing holder may have removed it).
#[cfg(unix)]
fn is_current(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Elsewhere the lock file is never removed, so the file locked is always the folder's.
#[cfg(not(unix))]
fn is_current(_file: &File, _path: &Path) -> bool {
    true
}

/// The holder as its lock file records it: `pid 123 (urisc train --out run), started 40 s ago`.
fn describe_holder(record: &str, now: u64) -> String {
    let field = |key: &str| {
        record
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .map(str::trim)
    };
    let Some(pid) = field("pid") else {
        return "another process (starting)".into();
    };
    let mut text = format!("pid {pid}");
    if let Some(command) = field("command") {
        text.push_str(&format!(" ({command})"));
    }
    if let Some(started) = field("started").and_then(|s| s.parse::<u64>().ok()) {
        text.push_str(&format!(", started {} s ago", now.saturating_sub(started)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_folder_is_refused_naming_the_holder_and_free_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let held = FolderLock::take(dir.path()).unwrap();
        let record = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert!(
            record.starts_with(&format!("pid {}\ncommand ", std::process::id())),
            "{record}"
        );
        let e = FolderLock::take(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("in use by pid {} (", std::process::id())),
            "{e}"
        );
        assert!(e.contains("s ago: wait for it to finish"), "{e}");
        drop(held);
        assert!(
            !dir.path().join(LOCK_FILE).exists(),
            "released: file removed"
        );
        FolderLock::take(dir.path()).unwrap();
    }

    #[test]
    fn a_lock_file_left_by_a_crashed_run_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LOCK_FILE),
            "pid 999999\ncommand urisc train\nstarted 1\n",
        )
        .unwrap();
        let lock = FolderLock::take(dir.path()).unwrap();
        let record = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert!(record.starts_with(&format!("pid {}\n", std::process::id())));
        drop(lock);
    }

    #[test]
    fn holders_are_described_from_their_record() {
        let record = "pid 12\ncommand urisc train --out r\nstarted 100\n";
        assert_eq!(
            describe_holder(record, 140),
            "pid 12 (urisc train --out r), started 40 s ago"
        );
        assert_eq!(describe_holder("", 0), "another process (starting)");
    }

    #[test]
    fn many_takers_at_once_hold_the_lock_one_at_a_time() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let inside = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..200 {
                        if let Ok(lock) = FolderLock::take(dir.path()) {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                            inside.fetch_sub(1, Ordering::SeqCst);
                            drop(lock);
                        }
                    }
                });
            }
        });
    }
}
