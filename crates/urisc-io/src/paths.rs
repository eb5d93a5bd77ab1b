//! Path rules every command shares: two spellings of one file compare equal ([`resolved`]), an
//! output is never one of the inputs, even with `--force` ([`refuse_input`]), an input is a
//! regular file or a Zarr store with a UTF-8 name ([`check_readable`], [`check_name`]), and the
//! folders a failed run created are removed again ([`CreatedFolders`]).

use std::path::{Component, Path, PathBuf};

use crate::sample::{not_regular, IoError, IoErrorKind};

/// `path` made absolute with symbolic links followed as far as it exists, component by
/// component, so that two spellings of one file compare equal: `link/..` is the parent of the
/// link's target (as the OS resolves it), not the folder holding the link.
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            // `out` is canonical while it exists, so its parent is the real one.
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if let Ok(real) = out.canonicalize() {
                    out = real;
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Refuses an output that is one of `inputs`, lies inside one (an input folder or store), or
/// holds one (an output folder or store that would be written over or replaced): urisc never
/// writes over what it reads, whatever `--force` says. Paths are compared [`resolved`]. For many
/// outputs against the same inputs, [`Inputs`] resolves the inputs once.
pub fn refuse_input<P: AsRef<Path>>(output: &Path, inputs: &[P]) -> Result<(), IoError> {
    Inputs::new(inputs).refuse(output)
}

/// A command's inputs, [`resolved`] once, to check its outputs against ([`refuse_input`]).
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    paths: Vec<(PathBuf, PathBuf)>,
}

impl Inputs {
    /// The inputs as given (each kept for messages) and resolved.
    pub fn new<P: AsRef<Path>>(inputs: &[P]) -> Inputs {
        let mut out = Inputs::default();
        for p in inputs {
            out.add(p.as_ref());
        }
        out
    }

    /// One more input.
    pub fn add(&mut self, input: &Path) {
        self.paths.push((resolved(input), input.to_path_buf()));
    }

    /// Refuses `output` when it is, lies inside or holds one of the inputs.
    pub fn refuse(&self, output: &Path) -> Result<(), IoError> {
        let out = resolved(output);
        for (inp, input) in &self.paths {
            let relation = if &out == inp {
                "is the input"
            } else if out.starts_with(inp) {
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

/// Refuses a file name that is not UTF-8, naming it: urisc names outputs and report rows after
/// input files, and a lossy name would pair `a\xff.png` with `a\xfe.png`.
pub fn check_name(path: &Path) -> Result<(), IoError> {
    match path.file_name() {
        Some(name) if name.to_str().is_none() => Err(IoError::new(
            path,
            IoErrorKind::Invalid,
            "file name is not valid UTF-8 (urisc names outputs and report rows after it; rename the file)",
        )),
        _ => Ok(()),
    }
}

/// Refuses an input that is not a regular file or a Zarr store (a folder holding `zarr.json`), naming what it is: a FIFO would
/// block a reader forever, and a broken link is a section silently missing.
pub fn check_readable(path: &Path) -> Result<(), IoError> {
    let bad = |what: String| Err(IoError::new(path, IoErrorKind::Open, what));
    match std::fs::metadata(path) {
        Err(e) => match std::fs::symlink_metadata(path) {
            Ok(_) => bad(format!("a symbolic link that cannot be followed ({e})")),
            Err(_) if e.kind() == std::io::ErrorKind::NotFound => bad("no such file".to_string()),
            Err(_) => bad(format!("cannot read: {e}")),
        },
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) if m.is_dir() => {
            if path.join("zarr.json").is_file() {
                Ok(())
            } else {
                bad("a folder, not an image (and not a Zarr store: no zarr.json)".to_string())
            }
        }
        Ok(m) => Err(not_regular(path, &m)),
    }
}

/// The entries of `dir` that `wanted` picks (it sees each path with its name made lossy, so an
/// extension test works on any name), sorted, each checked by [`check_name`] and
/// [`check_readable`]: an entry that looks like an input but cannot be read as one is an error
/// naming it, never skipped.
pub fn checked_entries(
    dir: &Path,
    wanted: impl Fn(&Path) -> bool,
) -> Result<Vec<PathBuf>, IoError> {
    let unreadable = |e: std::io::Error| {
        IoError::new(dir, IoErrorKind::Open, format!("cannot read folder: {e}"))
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if !wanted(&PathBuf::from(path.to_string_lossy().into_owned())) {
            continue;
        }
        check_name(&path)?;
        check_readable(&path)?;
        found.push(path);
    }
    found.sort();
    Ok(found)
}

/// The sub-folders of `dir` (links to folders followed), sorted.
pub fn sub_folders(dir: &Path) -> Result<Vec<PathBuf>, IoError> {
    let unreadable = |e: std::io::Error| {
        IoError::new(dir, IoErrorKind::Open, format!("cannot read folder: {e}"))
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.is_dir() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
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
            // deep/l points at a/b, so deep/l/.. is a (as the OS resolves it), not deep.
            std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
            std::fs::create_dir_all(dir.path().join("deep")).unwrap();
            std::os::unix::fs::symlink(dir.path().join("a/b"), dir.path().join("deep/l")).unwrap();
            assert_eq!(
                resolved(&plain),
                resolved(&dir.path().join("deep/l/../x.png"))
            );
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
