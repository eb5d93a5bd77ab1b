//! What a command's image inputs are, in one place: every command that takes images (predict,
//! eval, cells, plan, attribute, data info, the Python module) turns its paths into
//! [`Section`]s here, so a multi-page TIFF and a 3-D Zarr stack are treated alike everywhere —
//! page by page, with the same names.
//!
//! - A path is a file, a Zarr store (a folder holding `zarr.json`), or a folder whose image
//!   files and Zarr stores are taken in name order ([`input_files`]).
//! - A file of one page, or a 2-D Zarr array, is one section named by its stem (`a.png` → `a`).
//! - A multi-page TIFF, or a 3-D Zarr array (any number of planes), is a stack: plane `z` is a
//!   section of its own named `STEM_zNNN` (three digits at least: `a_z000`, `a_z001`, …), the
//!   name its outputs carry ([`section_name`]).
//!
//! ```
//! use urisc_io::{sections, write_tiff_stack, Image};
//! let dir = tempfile::tempdir().unwrap();
//! let stack = dir.path().join("stack.tif");
//! let page = Image::filled(4, 5, 200u8);
//! write_tiff_stack(&stack, &[page.clone(), page.clone(), page], None, false).unwrap();
//! let found = sections::sections(&[stack]).unwrap();
//! let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
//! assert_eq!(names, ["stack_z000", "stack_z001", "stack_z002"]);
//! assert_eq!(found[2].read().unwrap().image.into_u8().height, 4);
//! ```

use std::path::{Path, PathBuf};

use crate::paths::{check_name, check_readable, checked_entries};
use crate::sample::{IoError, IoErrorKind};
use crate::{image_stem, is_image_path, page_size, probe, read_page, zarr_store};
use crate::{open_rows, Decoded, MemoryRows, RowSource, ZarrArray, ZarrRows};

/// One 2-D image to process: a single-page file, or one page or plane of a stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Section {
    /// The file or Zarr store holding it.
    pub path: PathBuf,
    /// The page of a multi-page TIFF or the plane of a 3-D Zarr array; `None` for a single
    /// image.
    pub plane: Option<usize>,
    /// Its name, which outputs and report rows carry: `STEM` or `STEM_zNNN`.
    pub name: String,
}

/// The name of plane `plane` of an input whose stem is `stem` (`STEM_zNNN`), or `stem` itself
/// for a single image.
pub fn section_name(stem: &str, plane: Option<usize>) -> String {
    match plane {
        Some(z) => format!("{stem}_z{z:03}"),
        None => stem.to_string(),
    }
}

impl Section {
    /// A single image (no plane).
    pub fn single(path: &Path) -> Section {
        Section {
            path: path.to_path_buf(),
            plane: None,
            name: image_stem(path),
        }
    }

    /// The page or plane index within its file (0 for a single image).
    pub fn page(&self) -> usize {
        self.plane.unwrap_or(0)
    }

    /// Whether the section is one plane of a stack.
    pub fn is_plane(&self) -> bool {
        self.plane.is_some()
    }

    /// Decodes the section whole.
    pub fn read(&self) -> Result<Decoded, IoError> {
        read_page(&self.path, self.page())
    }

    /// Rows × columns from the headers, without decoding pixels.
    pub fn size(&self) -> Result<(usize, usize), IoError> {
        page_size(&self.path, self.page())
    }

    /// Opens the section for row streaming: a single image and a Zarr plane stream as
    /// [`open_rows`] and [`ZarrRows`] do; a page of a multi-page TIFF is decoded whole (one
    /// page, not the stack) and served by rows.
    pub fn open_rows(&self) -> Result<Box<dyn RowSource>, IoError> {
        match self.plane {
            None => open_rows(&self.path),
            Some(z) if zarr_store::is_zarr(&self.path) => {
                Ok(Box::new(ZarrRows::open(&self.path, z)?))
            }
            Some(0) => open_rows(&self.path),
            Some(z) => Ok(Box::new(MemoryRows::decoded(read_page(&self.path, z)?))),
        }
    }

    /// The section for messages: the path, with the page of a stack (`a.tif (page 3)`).
    pub fn describe(&self) -> String {
        match self.plane {
            Some(z) => format!("{} (page {z})", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// The sections of one file or Zarr store: one for a single image, one per page or plane for a
/// multi-page TIFF or a 3-D Zarr array.
pub fn sections_of(path: &Path) -> Result<Vec<Section>, IoError> {
    check_name(path)?;
    check_readable(path)?;
    let stem = image_stem(path);
    let planes = if zarr_store::is_zarr(path) {
        let array = ZarrArray::open(path)?;
        (array.shape().len() == 3).then(|| array.planes())
    } else {
        let (pages, ..) = probe(path)?;
        (pages > 1).then_some(pages)
    };
    Ok(match planes {
        None => vec![Section {
            path: path.to_path_buf(),
            plane: None,
            name: stem,
        }],
        Some(n) => (0..n)
            .map(|z| Section {
                path: path.to_path_buf(),
                plane: Some(z),
                name: section_name(&stem, Some(z)),
            })
            .collect(),
    })
}

/// The image files and Zarr stores directly inside `dir`, sorted by name. Entries without an
/// image extension (notes, reports, other folders) are not inputs; an entry with one that
/// cannot be read as an image file — a FIFO, a socket, a broken or looping link, a folder that
/// is no Zarr store — or whose name is not UTF-8 is an error naming it, never skipped silently.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, IoError> {
    checked_entries(dir, |p| zarr_store::is_zarr(p) || is_image_path(p))
}

/// The inputs named on a command line: files as they are, a Zarr store as one input, a folder
/// as its image files and stores ([`image_files`]). A missing path, a FIFO or other non-regular
/// file, or a folder without images is an error naming it.
pub fn input_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, IoError> {
    let mut files = Vec::new();
    for p in paths {
        if zarr_store::is_zarr(p) {
            files.push(p.clone());
        } else if p.is_dir() {
            let found = image_files(p)?;
            if found.is_empty() {
                return Err(IoError::new(
                    p,
                    IoErrorKind::Invalid,
                    "folder has no PNG, TIFF or JPEG files",
                ));
            }
            files.extend(found);
        } else {
            check_readable(p)?;
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Every section of the inputs named on a command line, in order: [`input_files`], each split
/// by [`sections_of`].
pub fn sections(paths: &[PathBuf]) -> Result<Vec<Section>, IoError> {
    let mut out = Vec::new();
    for f in input_files(paths)? {
        out.extend(sections_of(&f)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{write_png, write_tiff_stack, Image};

    #[test]
    fn single_images_keep_their_stem_and_stacks_split_by_page() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.png");
        write_png(&one, &Image::filled(3, 3, 9u8), None, false).unwrap();
        let stack = dir.path().join("two.tif");
        let pages: Vec<Image<u8>> = (0..2).map(|v| Image::filled(3, 4, v as u8)).collect();
        write_tiff_stack(&stack, &pages, None, false).unwrap();
        let found = sections(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["one", "two_z000", "two_z001"]);
        assert_eq!(found[2].size().unwrap(), (3, 4));
        assert_eq!(found[2].read().unwrap().image.into_u8().data, vec![1u8; 12]);
        // Streamed reads give page z too, not page 0.
        let mut rows = found[2].open_rows().unwrap();
        let mut row = vec![0u8; 4];
        rows.read_row(&mut row).unwrap();
        assert_eq!(row, vec![1u8; 4]);
        assert_eq!(found[2].describe(), format!("{} (page 1)", stack.display()));
    }

    #[test]
    fn missing_paths_and_empty_folders_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = sections(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(e.to_string().contains("no PNG, TIFF or JPEG"), "{e}");
        let e = sections(&[dir.path().join("gone.png")]).unwrap_err();
        assert!(e.to_string().contains("gone.png"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn entries_that_look_like_images_but_cannot_be_read_are_named_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_png(&d.join("a.png"), &Image::filled(3, 3, 9u8), None, false).unwrap();
        std::fs::write(d.join("notes.txt"), b"not an image").unwrap();
        assert_eq!(image_files(d).unwrap(), [d.join("a.png")]);
        std::os::unix::fs::symlink(d.join("gone.png"), d.join("b.png")).unwrap();
        let e = image_files(d).unwrap_err().to_string();
        assert!(e.contains("b.png") && e.contains("symbolic link"), "{e}");
        std::fs::remove_file(d.join("b.png")).unwrap();
        std::os::unix::fs::symlink(d.join("loop.png"), d.join("loop.png")).unwrap();
        let e = image_files(d).unwrap_err().to_string();
        assert!(e.contains("loop.png"), "{e}");
        std::fs::remove_file(d.join("loop.png")).unwrap();
        let fifo = d.join("c.tif");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = image_files(d).unwrap_err().to_string();
        assert!(e.contains("c.tif") && e.contains("FIFO"), "{e}");
        let e = sections(std::slice::from_ref(&fifo))
            .unwrap_err()
            .to_string();
        assert!(e.contains("FIFO"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_refused_not_made_lossy() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"a\xff.png"));
        write_png(&odd, &Image::filled(3, 3, 9u8), None, false).unwrap();
        let e = sections(&[dir.path().to_path_buf()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid UTF-8"), "{e}");
        let e = sections(&[odd]).unwrap_err().to_string();
        assert!(e.contains("not valid UTF-8"), "{e}");
    }
}
