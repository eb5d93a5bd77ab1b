//! `urisc cells-plan` / `urisc cells-run`: block-wise cells (descent watershed) as five stages
//! a scheduler runs, with the same labels as `urisc cells --watershed descent` on the whole
//! section. Arguments and printing only: the plan file and the stages are
//! [`urisc_cells::plan`], the task's blocks `urisc_cluster::task`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use urisc_cells::plan::{self, CellsPlan, Stage, StageReport};
use urisc_cells::{CellParams, Watershed};
use urisc_cluster::task;

#[derive(Args)]
pub struct CellsPlanArgs {
    /// The membrane probability map (8-bit, as `urisc predict --probabilities` writes it, or a
    /// uint8 OME-Zarr/Zarr array).
    #[arg(value_name = "PROBABILITY_MAP")]
    input: PathBuf,
    /// The plane of a stack (3-D Zarr, multi-page TIFF) to segment; plan one work folder per
    /// plane.
    #[arg(long, default_value_t = 0)]
    plane: usize,
    /// Work folder: the plan, the stages' files and the label store WORK/cells.ome.zarr.
    #[arg(long, value_name = "WORK")]
    out: PathBuf,
    /// Block side in pixels (also the label store's chunk side).
    #[arg(long, default_value_t = 2048)]
    block: usize,
    /// Blocks per array task.
    #[arg(long, default_value_t = 1)]
    blocks_per_task: usize,
    /// Membrane iff p ≥ this.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// Gaussian smoothing of the distance map, pixels.
    #[arg(long, default_value_t = 2.0)]
    sigma: f32,
    /// Distance to membrane capped at this many pixels.
    #[arg(long, default_value_t = 32.0)]
    max_distance: f32,
    /// Merge fragments while their mean boundary probability is below this.
    #[arg(long, default_value_t = 0.5)]
    merge_threshold: f32,
    /// Cells smaller than this join their weakest-bounded neighbour (0 = off).
    #[arg(long, default_value_t = 0)]
    min_size: u64,
    /// No one-pixel boundaries between cells.
    #[arg(long)]
    no_boundaries: bool,
    /// Replace an existing work folder's plan and store.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StageArg {
    /// Array stage 1: each block's fragments.
    Fragments,
    /// Single task 2: join and agglomerate.
    Join,
    /// Array stage 3: each block's first pixels after the boundary rule.
    First,
    /// Single task 4: final ids.
    Ids,
    /// Array stage 5: each block's labels into the store.
    Labels,
}

impl From<StageArg> for Stage {
    fn from(s: StageArg) -> Stage {
        match s {
            StageArg::Fragments => Stage::Fragments,
            StageArg::Join => Stage::Join,
            StageArg::First => Stage::First,
            StageArg::Ids => Stage::Ids,
            StageArg::Labels => Stage::Labels,
        }
    }
}

#[derive(Args)]
pub struct CellsRunArgs {
    /// The work folder `urisc cells-plan` made.
    #[arg(value_name = "WORK")]
    work: PathBuf,
    /// Which stage.
    #[arg(long, value_enum)]
    stage: StageArg,
    /// Array task index (array stages; default $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX, or
    /// every block when neither is set).
    #[arg(long)]
    task: Option<usize>,
}

pub fn run_plan(args: CellsPlanArgs) -> Result<()> {
    let params = CellParams {
        watershed: Watershed::Descent,
        max_distance: args.max_distance,
        threshold: args.threshold,
        sigma: args.sigma,
        merge_threshold: args.merge_threshold,
        min_size: args.min_size,
        boundaries: !args.no_boundaries,
        ..CellParams::default()
    };
    let section = plan::plane_section(&args.input, args.plane)?;
    let plan = CellsPlan::create(
        &section,
        &args.out,
        args.block,
        args.blocks_per_task,
        params,
        args.force,
    )?;
    println!(
        "{}: {} × {} in {} blocks of {} ({} tasks per array stage). Run, in order:",
        args.out.join(plan::PLAN_FILE).display(),
        plan.blocks.height,
        plan.blocks.width,
        plan.blocks.blocks(),
        plan.blocks.block,
        plan.tasks
    );
    let w = args.out.display();
    for stage in Stage::ALL {
        let stage_name = stage.name();
        if stage.is_array() {
            println!(
                "  urisc cells-run {w} --stage {stage_name} --task 0..{}",
                plan.tasks - 1
            );
        } else {
            println!("  urisc cells-run {w} --stage {stage_name}");
        }
    }
    Ok(())
}

pub fn run_stage(args: CellsRunArgs) -> Result<()> {
    let plan = CellsPlan::load(&args.work)?;
    let n = plan.blocks.blocks();
    // The array index by the one rule of urisc_cluster::task; no index: every block.
    let blocks: Vec<usize> = match task::array_index(args.task)? {
        Some(t) => {
            let what = args.work.join(plan::PLAN_FILE).display().to_string();
            task::task_items(t, plan.blocks_per_task, n, &what)?.collect()
        }
        None => (0..n).collect(),
    };
    match plan::run_stage(&plan, &args.work, args.stage.into(), &blocks)? {
        StageReport::Joined {
            fragments,
            merges,
            small_merges,
        } => eprintln!(
            "urisc cells-run: {fragments} fragments joined ({merges} merged by boundary, {small_merges} small)"
        ),
        StageReport::Ids { cells } => eprintln!("urisc cells-run: {cells} cells"),
        StageReport::Blocks { .. } => {}
    }
    Ok(())
}
