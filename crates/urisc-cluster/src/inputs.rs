//! The sections of an input: a 2-D image file, each page of a multi-page TIFF, or each plane
//! of a Zarr stack, with its size and pixel size.

use std::path::Path;

use crate::error::ClusterError;

/// One section of an input file.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    /// Page or plane index.
    pub plane: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Pixel size in nm, when the file carries it.
    pub pixel_size_nm: Option<f64>,
}

/// Every section of `path`.
pub fn planes(path: &Path) -> Result<Vec<Plane>, ClusterError> {
    let (pages, height, width) = urisc_io::probe(path)?;
    let pixel_size_nm = urisc_io::open_rows(path)?.pixel_size_nm();
    let mut out = vec![Plane {
        plane: 0,
        height,
        width,
        pixel_size_nm,
    }];
    for plane in 1..pages {
        let (height, width) = urisc_io::page_size(path, plane)?;
        out.push(Plane {
            plane,
            height,
            width,
            pixel_size_nm,
        });
    }
    Ok(out)
}
