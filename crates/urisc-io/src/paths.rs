//! Path rules every command shares: two spellings of one file compare equal ([`resolved`]), an
//! output is never one of the inputs, even with `--force` ([`refuse_input`]), and the folders a
//! failed run created are removed again ([`CreatedFolders`]).

use std::path::{Component, Path, PathBuf};

use crate::sample::{IoError, IoErrorKind};

/// `path` made absolute with `.`/`..` resolved and symbolic links followed as far as it exists,
/// so that two spellings of one file compare equal.
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // `.` and `..` lexically first, then the longest existing prefix canonicalised (symbolic
    // links followed) with the rest appended.
    let mut lexical = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other.as_os_str()),
        }
    }
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in rest.into_iter().rev() {
        out.push(part);
    }
    out
}

/// Refuses an output that is one of `inputs`, lies inside one (an input folder or store), or
/// holds one (an output folder or store that would be written over or replaced): urisc never
/// writes over what it reads, whatever `--force` says. Paths are compared [`resolved`].
pub fn refuse_input<P: AsRef<Path>>(output: &Path, inputs: &[P]) -> Result<(), IoError> {
    let out = resolved(output);
    for input in inputs {
        let input = input.as_ref();
        let inp = resolved(input);
        let relation = if out == inp {
            "is the input"
        } else if out.starts_with(&inp) {
            "lies inside the input"
        } else if inp.starts_with(&out) {
            "holds the input"
        } else {
            continue;
        };
        return Err(IoError::new(
            output,
            IoErrorKind::Invalid,
            format!(
                "{relation} {}: urisc never writes over its inputs, even with --force (choose another output)",
                input.display()
            ),
        ));
    }
    Ok(())
}

/// The output folders a run created, removed again (innermost first, and only while empty) when
/// the run fails: dropped without [`CreatedFolders::keep`], on any early return.
#[derive(Debug, Default)]
pub struct CreatedFolders {
    created: Vec<PathBuf>,
    kept: bool,
}

impl CreatedFolders {
    /// Nothing created yet.
    pub fn new() -> CreatedFolders {
        CreatedFolders::default()
    }

    /// Creates `dir` and its missing ancestors, remembering those that did not exist.
    pub fn create(&mut self, dir: &Path) -> Result<(), IoError> {
        let mut missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        // Remembered before creating: a failure half-way still removes what was made.
        self.created.extend(missing);
        std::fs::create_dir_all(dir)
            .map_err(|e| IoError::new(dir, IoErrorKind::Write, format!("cannot create: {e}")))
    }

    /// The run succeeded: the folders stay.
    pub fn keep(&mut self) {
        self.kept = true;
    }

    /// Removes the created folders that are still empty, innermost first (folders holding
    /// anything are kept).
    pub fn abandon(&mut self) {
        for dir in self.created.drain(..).rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Drop for CreatedFolders {
    fn drop(&mut self) {
        if !self.kept {
            self.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spellings_of_one_file_resolve_equal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let plain = dir.path().join("a/x.png");
        let dotted = dir.path().join("a/./../a/x.png");
        assert_eq!(resolved(&plain), resolved(&dotted));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("link")).unwrap();
            assert_eq!(resolved(&plain), resolved(&dir.path().join("link/x.png")));
        }
    }

    #[test]
    fn an_output_equal_to_inside_or_holding_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("data/images")).unwrap();
        std::fs::write(d.join("data/images/a.png"), b"x").unwrap();
        let inputs = [d.join("data/images/a.png")];
        let same = refuse_input(&d.join("data/images/./a.png"), &inputs).unwrap_err();
        assert!(same.to_string().contains("is the input"), "{same}");
        let holds = refuse_input(&d.join("data"), &inputs).unwrap_err();
        assert!(holds.to_string().contains("holds the input"), "{holds}");
        let store = [d.join("data")];
        let inside = refuse_input(&d.join("data/images/b.png"), &store).unwrap_err();
        assert!(inside.to_string().contains("lies inside"), "{inside}");
        refuse_input(&d.join("out/a.png"), &inputs).unwrap();
        refuse_input(&d.join("data/images/b.png"), &inputs).unwrap();
    }

    #[test]
    fn created_folders_are_removed_unless_kept_and_only_while_empty() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        {
            let mut created = CreatedFolders::new();
            created.create(&d.join("a/b/c")).unwrap();
            created.create(&d.join("full")).unwrap();
            std::fs::write(d.join("full/result.png"), b"x").unwrap();
        }
        assert!(!d.join("a").exists(), "empty created folders are removed");
        assert!(
            d.join("full/result.png").exists(),
            "a folder holding a file stays"
        );
        let mut kept = CreatedFolders::new();
        kept.create(&d.join("k/l")).unwrap();
        kept.keep();
        drop(kept);
        assert!(d.join("k/l").is_dir());
    }
}
