//! `urisc assemble`: a finished output store to one TIFF or PNG per section, streamed one row
//! of storage units at a time.

use std::path::{Path, PathBuf};

use urisc_io::paths::{CreatedFolders, Inputs};

use urisc_io::zarr_store::{read_unit, StoreLayout};
use urisc_io::{RowWriter, StreamFormat, StreamSample};

use crate::error::ClusterError;
use crate::manifest::{Manifest, Section, Store};
use crate::state::Check;

/// Writes every section of a finished manifest to `out/NAME.ext` (`ext` `png` or `tif`; the
/// section names of [`urisc_io::sections`]), the binary maps or, with `probabilities`, the
/// probability maps. Refuses, before writing anything: a manifest with blocks pending, failed or
/// damaged (every unit is checked against its done marker, size and hash: a deleted or changed
/// chunk, or a replaced store, would otherwise be assembled as fill values), naming them and
/// what redoes them; probabilities the plan did not write; an output that is one of the plan's
/// inputs (even with `force`); existing files without `force`.
pub fn assemble_all(
    manifest: &Manifest,
    manifest_path: &Path,
    out: &Path,
    ext: &str,
    probabilities: bool,
    force: bool,
) -> Result<Vec<PathBuf>, ClusterError> {
    let fatal = |m: String| ClusterError::Fatal(format!("{}: {m}", manifest_path.display()));
    let s = crate::status::status_checked(manifest, Check::Contents);
    if !s.finished() {
        let first = s.damage.first().map_or(String::new(), |d| {
            format!(" (block {}: {})", d.block, d.message)
        });
        let next = s
            .redo_hint(manifest_path)
            .unwrap_or_else(|| "see urisc status".into());
        return Err(fatal(format!(
            "{} block(s) damaged{first}, {} pending, {} failed; assemble needs every block done: {next}",
            s.damaged, s.pending, s.failed
        )));
    }
    // The maps never replace, or land inside, a section's image or one of the plan's stores.
    let mut inputs = Inputs::new(
        &manifest
            .sections
            .iter()
            .map(|s| &s.input)
            .collect::<Vec<_>>(),
    );
    for store in &manifest.stores {
        inputs.add(&store.layout.root);
    }
    let mut jobs = Vec::with_capacity(manifest.sections.len());
    for section in &manifest.sections {
        let store = match (probabilities, section.probability) {
            (false, _) => &manifest.stores[section.binary],
            (true, Some(p)) => &manifest.stores[p],
            (true, None) => return Err(fatal("the plan wrote no probabilities".into())),
        };
        let file = out.join(format!("{}.{ext}", section.name));
        inputs.refuse(&file)?;
        urisc_io::check_writable(&file, force)?;
        jobs.push((store, section, file));
    }
    // Dropped without `keep` (any error below), it removes the folders it made.
    let mut created = CreatedFolders::new();
    created.create(out)?;
    let mut written = Vec::with_capacity(jobs.len());
    for (store, section, file) in jobs {
        assemble(store, section, &file, force)?;
        written.push(file);
    }
    created.keep();
    Ok(written)
}

/// Writes `section`'s plane of `store` to `file` (PNG or TIFF by extension; `float32`
/// probabilities need TIFF, and are marked as membrane probabilities in it, as `urisc predict`
/// marks them).
pub fn assemble(
    store: &Store,
    section: &Section,
    file: &Path,
    force: bool,
) -> Result<(), ClusterError> {
    let format = if file.extension().is_some_and(|e| e == "png") {
        StreamFormat::Png
    } else {
        StreamFormat::Tiff
    };
    let (h, w, nm) = (store.layout.height, store.layout.width, store.pixel_size_nm);
    match store.layout.data_type.as_str() {
        "uint8" => {
            let writer = RowWriter::<u8>::create(file, format, h, w, nm, force)?;
            copy_rows(store, section, writer, |b| b[0])
        }
        "float32" if format == StreamFormat::Tiff => {
            // urisc's float32 stores hold membrane probabilities p (`urisc plan`).
            let writer = RowWriter::create_probability(file, format, h, w, nm, force)?;
            copy_rows(store, section, writer, |b| {
                f32::from_le_bytes(b.try_into().expect("4 bytes"))
            })
        }
        "float32" => Err(ClusterError::Fatal(format!(
            "{}: float32 probabilities need a TIFF (--format tiff)",
            file.display()
        ))),
        other => Err(ClusterError::Fatal(format!(
            "{}: data type {other} is not one urisc writes",
            store.layout.root.display()
        ))),
    }
}

/// Streams the plane row by row into `w`, a writer of `T` samples decoded by `sample` from
/// their little-endian bytes.
fn copy_rows<T: StreamSample>(
    store: &Store,
    section: &Section,
    mut w: RowWriter<T>,
    sample: impl Fn(&[u8]) -> T,
) -> Result<(), ClusterError> {
    let layout: &StoreLayout = &store.layout;
    let bytes = std::mem::size_of::<T>();
    let (uy, ux) = layout.units();
    let unit = layout.unit();
    let mut row = Vec::with_capacity(layout.width);
    for y in 0..uy {
        let rows = unit.min(layout.height - y * unit);
        let units: Vec<Vec<u8>> = (0..ux)
            .map(|x| read_unit(layout, section.out_plane, y, x, bytes))
            .collect::<Result<_, _>>()?;
        for r in 0..rows {
            row.clear();
            for (x, u) in units.iter().enumerate() {
                let cols = unit.min(layout.width - x * unit);
                row.extend(
                    u[r * cols * bytes..(r + 1) * cols * bytes]
                        .chunks_exact(bytes)
                        .map(&sample),
                );
            }
            w.write_row(&row)?;
        }
    }
    w.finish()?;
    Ok(())
}
