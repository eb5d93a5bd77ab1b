//! urisc beyond one machine (SPEC §10): `urisc plan` writes a block manifest over chunked
//! OME-Zarr outputs; `urisc run-block` processes the blocks of one array index (Slurm job
//! arrays, Kubernetes Indexed Jobs, GNU parallel), writing whole storage units atomically and
//! marking each block done, so re-runs skip finished work; exit codes tell schedulers which
//! failures to retry. The blocks together equal single-process `urisc predict` bit for bit
//! ([`urisc_infer::predict_region`] blends the section's own tile grid in the same order).
//! Nothing on disk is trusted: every stage checks the manifest as its plan would and against its
//! checksum ([`Manifest::load`]), and a block counts as done only while its store and units are
//! what its marker records ([`state`]).

pub mod assemble;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod request;
pub mod run;
pub mod state;
pub mod status;
pub mod task;

pub use error::{ClusterError, EXIT_FATAL, EXIT_RETRYABLE};
pub use manifest::{plan, Manifest, PlanRequest};
pub use run::{run_blocks, TaskReport};
pub use status::status;

/// Creates every output store of a manifest (metadata only, with the store's id) and writes the
/// manifest file. Refuses existing stores or manifest unless `force` (then the block state is
/// cleared too). Interrupted, it leaves stores the old manifest (if any) no longer accepts (their
/// ids differ), never a manifest without its stores.
pub fn create_stores(
    manifest: &Manifest,
    manifest_path: &std::path::Path,
    force: bool,
) -> Result<(), ClusterError> {
    // The manifest never replaces an input image or the model, whatever `force` says.
    let mut inputs = urisc_io::paths::Inputs::new(
        &manifest
            .sections
            .iter()
            .map(|s| &s.input)
            .collect::<Vec<_>>(),
    );
    if let Some(model) = &manifest.model.path {
        inputs.add(model);
    }
    inputs.refuse(manifest_path)?;
    urisc_io::check_writable(manifest_path, force)?;
    for s in &manifest.stores {
        urisc_io::check_writable(&s.layout.root, force)?;
    }
    std::fs::create_dir_all(&manifest.out)
        .map_err(|e| ClusterError::Retryable(format!("{}: {e}", manifest.out.display())))?;
    for s in &manifest.stores {
        let name = s
            .layout
            .root
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .trim_end_matches(".ome.zarr")
                    .to_string()
            })
            .unwrap_or_default();
        if s.content == "probability" && s.layout.data_type == "float32" {
            // p itself, not membrane dark: marked so readers (`urisc eval`) know.
            urisc_io::zarr_store::create_probability(&s.layout, &name, s.pixel_size_nm, force)?;
        } else {
            urisc_io::zarr_store::create(&s.layout, &name, s.pixel_size_nm, force)?;
        }
        state::write_store_id(&s.layout.root, &s.id)?;
    }
    let state = manifest.state_dir();
    if state.exists() {
        std::fs::remove_dir_all(&state)
            .map_err(|e| ClusterError::Retryable(format!("{}: {e}", state.display())))?;
    }
    let json = serde_json::to_vec_pretty(manifest).expect("manifests serialise");
    urisc_io::write_atomically(manifest_path, force, |f| {
        std::io::Write::write_all(f, &json)
    })?;
    Ok(())
}
