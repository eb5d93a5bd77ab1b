//! `urisc assemble`: a finished output store to one TIFF or PNG per section, streamed one row
//! of storage units at a time.

use std::path::Path;

use urisc_io::zarr_store::read_unit;
use urisc_io::{RowWriter, StreamFormat};

use crate::error::ClusterError;
use crate::manifest::{Section, Store};

/// Writes `section`'s plane of `store` to `file` (PNG or TIFF by extension; `float32`
/// probabilities need TIFF).
pub fn assemble(
    store: &Store,
    section: &Section,
    file: &Path,
    force: bool,
) -> Result<(), ClusterError> {
    let layout = &store.layout;
    let format = if file.extension().is_some_and(|e| e == "png") {
        StreamFormat::Png
    } else {
        StreamFormat::Tiff
    };
    let (uy, ux) = layout.units();
    let unit = layout.unit();
    match layout.data_type.as_str() {
        "uint8" => {
            let mut w = RowWriter::<u8>::create(
                file,
                format,
                layout.height,
                layout.width,
                store.pixel_size_nm,
                force,
            )?;
            for y in 0..uy {
                let rows = unit.min(layout.height - y * unit);
                let units: Vec<Vec<u8>> = (0..ux)
                    .map(|x| read_unit(layout, section.out_plane, y, x, 1))
                    .collect::<Result<_, _>>()?;
                let mut row = Vec::with_capacity(layout.width);
                for r in 0..rows {
                    row.clear();
                    for (x, u) in units.iter().enumerate() {
                        let cols = unit.min(layout.width - x * unit);
                        row.extend_from_slice(&u[r * cols..(r + 1) * cols]);
                    }
                    w.write_row(&row)?;
                }
            }
            w.finish()?;
        }
        "float32" => {
            if format == StreamFormat::Png {
                return Err(ClusterError::Fatal(format!(
                    "{}: float32 probabilities need a TIFF (--format tiff)",
                    file.display()
                )));
            }
            let mut w = RowWriter::<f32>::create(
                file,
                format,
                layout.height,
                layout.width,
                store.pixel_size_nm,
                force,
            )?;
            for y in 0..uy {
                let rows = unit.min(layout.height - y * unit);
                let units: Vec<Vec<u8>> = (0..ux)
                    .map(|x| read_unit(layout, section.out_plane, y, x, 4))
                    .collect::<Result<_, _>>()?;
                let mut row = Vec::with_capacity(layout.width);
                for r in 0..rows {
                    row.clear();
                    for (x, u) in units.iter().enumerate() {
                        let cols = unit.min(layout.width - x * unit);
                        row.extend(
                            u[r * cols * 4..(r + 1) * cols * 4]
                                .chunks_exact(4)
                                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
                        );
                    }
                    w.write_row(&row)?;
                }
            }
            w.finish()?;
        }
        other => {
            return Err(ClusterError::Fatal(format!(
                "{}: data type {other} is not one urisc writes",
                layout.root.display()
            )))
        }
    }
    Ok(())
}
