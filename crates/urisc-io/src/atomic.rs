//! Atomic writes: every output appears complete under its final name or not at all (a
//! temporary name in the same folder, renamed into place only when complete), and what an
//! interrupted write left behind is cleared before the next write of the same name.

use std::fs::File;
use std::path::Path;

use crate::sample::{IoError, IoErrorKind};

/// Refuses an existing output unless `overwrite` (the CLI's `--force`).
pub fn check_writable(path: &Path, overwrite: bool) -> Result<(), IoError> {
    if !overwrite && path.exists() {
        return Err(IoError::new(
            path,
            IoErrorKind::Exists,
            "output exists (use --force to overwrite)",
        ));
    }
    Ok(())
}

/// Removes what an interrupted write of `path` left beside it: the temporaries urisc names
/// `.NAME.XXXXXX.tmp` (files, or folders for OME-Zarr). Called before each new write of `path`,
/// so stale ones never pile up; one target has one writer at a time.
pub fn remove_stale_temporaries(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(random) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            continue;
        };
        // tempfile's random part: 6 alphanumeric characters.
        if random.len() != 6 || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let stale = entry.path();
        let _ = if stale.is_dir() {
            std::fs::remove_dir_all(&stale)
        } else {
            std::fs::remove_file(&stale)
        };
    }
}

/// Writes a file through a temporary name in the same folder and renames it into place only
/// after `write` succeeded, so a failure (or a full disk) never leaves a partial file under
/// the final name.
pub fn write_atomically(
    path: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), IoError> {
    check_writable(path, overwrite)?;
    remove_stale_temporaries(path);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let werr =
        |e: std::io::Error| IoError::new(path, IoErrorKind::Write, format!("cannot write: {e}"));
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(werr)?;
    write(tmp.as_file_mut()).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    // Temporary files are created private (0600); results are ordinary files others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(werr)?;
    }
    if overwrite {
        tmp.persist(path).map_err(|e| werr(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| werr(e.error))?;
    }
    Ok(())
}
