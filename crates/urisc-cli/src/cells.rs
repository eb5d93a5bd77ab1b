//! `urisc cells` (cell instance segmentation from membrane probability maps; the run is
//! [`urisc_cells::job`]) and `urisc eval --instances` (scores of label images against
//! ground-truth cells).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use urisc_cells::job::{CellsJob, CellsSettings};
use urisc_cells::{CellParams, Watershed};
use urisc_eval::instances::{evaluate_instances, render_instances};
use urisc_eval::{pair_inputs, OutputFormat};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatershedArg {
    /// Seeded flooding of the probability map (scikit-image's order).
    Flood,
    /// Steepest descent on the capped, smoothed distance (block-wise exact).
    Descent,
}

#[derive(Args)]
pub struct CellsArgs {
    /// Membrane probability maps as `urisc predict --probabilities` writes them (8/16-bit:
    /// membrane dark, 255·(1 − p); 32-bit float TIFF: p), or folders of them. Stacks
    /// (multi-page TIFF, 3-D Zarr) are segmented plane by plane into STEM_zNNN outputs.
    #[arg(required = true, value_name = "PROBABILITY_MAP")]
    inputs: Vec<PathBuf>,
    /// Folder for the label images: STEM.tif, 32-bit cell ids 1..N, 0 = boundary.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Membrane iff p ≥ this, for the distance transform that places seeds.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// Gaussian smoothing of the distance map, pixels (0 = none); larger gives fewer seeds.
    #[arg(long, default_value_t = 2.0)]
    sigma: f32,
    /// Seeds only where the smoothed distance to membrane exceeds this many pixels.
    #[arg(long, default_value_t = 1.0, value_name = "PIXELS")]
    min_seed_distance: f32,
    /// Merge fragments while the mean membrane probability along their shared boundary is below
    /// this (average linkage; 0 = no merging).
    #[arg(long, default_value_t = 0.5)]
    merge_threshold: f32,
    /// Cells smaller than this join the neighbour with the weakest boundary (0 = off).
    #[arg(long, default_value_t = 0, value_name = "PIXELS")]
    min_size: u64,
    /// How fragments grow: `flood` (seeds at distance maxima flood the probability map, as
    /// scikit-image's watershed) or `descent` (basins of steepest descent on the capped,
    /// smoothed distance: local, so block-wise runs equal whole-section runs exactly).
    #[arg(long, value_enum, default_value = "flood")]
    watershed: WatershedArg,
    /// Descent watershed: distance to membrane capped at this many pixels.
    #[arg(long, default_value_t = 32.0, value_name = "PIXELS")]
    max_distance: f32,
    /// Descent watershed in blocks of this many pixels a side: the same cells as the whole
    /// section, without its per-pixel working memory (distance maps, union-find), beyond the
    /// probability map and the labels.
    #[arg(long, value_name = "PIXELS")]
    block: Option<usize>,
    /// Label every pixel: no one-pixel boundary (0) between cells.
    #[arg(long)]
    no_boundaries: bool,
    /// EM image(s) for overlays (DIR/overlays/NAME.png, cells in random colours over the EM
    /// image): a folder of EM images matched by section name (map `a_z001` takes page 1 of an
    /// EM stack `a.tif`, or `a_z001.png`), or one file whose sections (pages) match the maps'
    /// one to one.
    #[arg(long, value_name = "IMG")]
    overlay_image: Option<PathBuf>,
    /// Also write DIR/NAME.ome.zarr (NAME: the section's name, STEM or STEM_zNNN): an OME-Zarr 0.5 image (the EM image given with
    /// --overlay-image, else the probability map) with the cells as its label image
    /// `labels/cells` (uint32, `image-label` colours), for napari and Neuroglancer.
    #[arg(long)]
    ome_zarr: bool,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
}

pub fn run(args: CellsArgs) -> Result<()> {
    let settings = CellsSettings {
        params: CellParams {
            watershed: match args.watershed {
                WatershedArg::Flood => Watershed::Flood,
                WatershedArg::Descent => Watershed::Descent,
            },
            max_distance: args.max_distance,
            threshold: args.threshold,
            sigma: args.sigma,
            min_seed_distance: args.min_seed_distance,
            merge_threshold: args.merge_threshold,
            min_size: args.min_size,
            boundaries: !args.no_boundaries,
        },
        block: args.block,
        out: args.out.clone(),
        overlay_image: args.overlay_image,
        ome_zarr: args.ome_zarr,
        force: args.force,
    };
    // Parameters first, then the inputs (a stack is one section per page, STEM_zNNN), then
    // every output, before any work.
    settings.validate()?;
    let sections = urisc_io::sections::sections(&args.inputs)?;
    let job = CellsJob::new(settings, &sections)?;
    let done = job.run(|c| {
        let f = c.section.describe();
        if c.colour_converted {
            eprintln!(
                "urisc: warning: {f}: colour with unequal channels, converted to grey with luma weights"
            );
        }
        if c.clamped > 0 {
            eprintln!(
                "urisc: warning: {f}: {} probability value(s) outside [0, 1] were clamped",
                c.clamped
            );
        }
        eprintln!(
            "urisc cells: {f} ({}×{}): {} cells from {} fragments ({} merged by boundary, {} small), {:.2} s → {}",
            c.height,
            c.width,
            c.cells,
            c.fragments,
            c.merges,
            c.small_merges,
            c.seconds,
            c.labels.display()
        );
    })?;
    eprintln!(
        "urisc cells: wrote {} label image(s) to {}",
        done.len(),
        args.out.display()
    );
    Ok(())
}

/// `urisc eval --instances`: label images (`pred`) against GT membrane labels (`gt`).
pub fn eval_instances(pred: &Path, gt: &Path, format: OutputFormat) -> Result<String> {
    let report = evaluate_instances(&pair_inputs(pred, gt)?)?;
    Ok(render_instances(&report, format))
}
