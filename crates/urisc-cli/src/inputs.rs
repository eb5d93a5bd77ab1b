//! What the commands take as input paths.

use std::path::PathBuf;

use anyhow::Result;

/// Image files and Zarr stores named on the command line: files as they are, a Zarr store as one
/// input (a map, or a stack of planes), a folder as the PNG, TIFF and JPEG files in it.
pub fn input_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if urisc_io::zarr_store::is_zarr(p) {
            files.push(p.clone());
        } else if p.is_dir() {
            let found = urisc_eval::image_files(p)?;
            anyhow::ensure!(
                !found.is_empty(),
                "{}: folder has no PNG, TIFF or JPEG files",
                p.display()
            );
            files.extend(found);
        } else {
            anyhow::ensure!(p.exists(), "{}: no such file", p.display());
            files.push(p.clone());
        }
    }
    Ok(files)
}
