//! `urisc cells-plan` / `urisc cells-run`: block-wise cells (descent watershed) as stages a
//! scheduler runs, each block of a stage an independent task, with the same labels as
//! `urisc cells --watershed descent` on the whole section.
//!
//! Stages, in order (`fragments`, `first` and `labels` are array stages over blocks; `join`
//! and `ids` are single tasks):
//! 1. `fragments`: each block's descent fragments → WORK/fragments/BBBBBB.json
//! 2. `join`: fragments joined across block edges, region graph, agglomeration → WORK/joined.json
//! 3. `first`: each block's cells after the boundary rule, first pixels → WORK/first/BBBBBB.json
//! 4. `ids`: final ids in row-major order of first pixel → WORK/ids.json
//! 5. `labels`: each block's labels → one chunk of WORK/cells.ome.zarr (uint32)
//!
//! Every output is written atomically; a block whose output exists is skipped, so a killed
//! task is rerun as is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use urisc_cells::{
    block_first_pixels, block_fragments, block_labels, cell_ids, join_blocks, BlockFragments,
    BlockPlan, CellParams, Joined, Watershed,
};
use urisc_infer::Rect;
use urisc_io::zarr_store::{self, StoreLayout};

const FORMAT: &str = "urisc-cells-plan/1";

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
pub enum Stage {
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

#[derive(Args)]
pub struct CellsRunArgs {
    /// The work folder `urisc cells-plan` made.
    #[arg(value_name = "WORK")]
    work: PathBuf,
    /// Which stage.
    #[arg(long, value_enum)]
    stage: Stage,
    /// Array task index (array stages; default $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX, or
    /// every block when neither is set).
    #[arg(long)]
    task: Option<usize>,
}

/// The plan file.
#[derive(Serialize, Deserialize)]
struct CellsPlan {
    format: String,
    input: PathBuf,
    plane: usize,
    blocks: BlockPlan,
    blocks_per_task: usize,
    /// Array tasks per array stage (for schedulers' array ranges).
    tasks: usize,
    params: CellParams,
    pixel_size_nm: Option<f64>,
}

impl CellsPlan {
    fn tasks(&self) -> usize {
        self.blocks.blocks().div_ceil(self.blocks_per_task)
    }

    fn layout(&self, work: &Path) -> StoreLayout {
        StoreLayout {
            root: work.join("cells.ome.zarr"),
            planes: None,
            height: self.blocks.height,
            width: self.blocks.width,
            chunk: self.blocks.block,
            shard: 1,
            data_type: "uint32".into(),
        }
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).expect("serialises");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    urisc_io::write_atomically(path, true, |f| std::io::Write::write_all(f, &bytes))?;
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<T> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: missing ({what} has not run yet?)", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: damaged", path.display()))
}

/// The map's 16-bit levels over a rectangle of `plane`, read by rows (or as a Zarr region; a
/// later page of a TIFF stack is decoded whole).
fn read_levels(input: &Path, plane: usize, r: Rect) -> Result<Vec<u16>, String> {
    let grey: Vec<u8> = if zarr_store::is_zarr(input) {
        let array = urisc_io::ZarrArray::open(input).map_err(|e| e.to_string())?;
        array
            .read_region(plane, r.y0..r.y1, r.x0..r.x1)
            .map_err(|e| e.to_string())?
            .data
    } else if plane > 0 {
        let page = urisc_io::read_page(input, plane)
            .map_err(|e| e.to_string())?
            .image
            .into_u8();
        (r.y0..r.y1)
            .flat_map(|y| page.row(y)[r.x0..r.x1].iter().copied())
            .collect()
    } else {
        let mut rows = urisc_io::open_rows(input).map_err(|e| e.to_string())?;
        let mut row = vec![0u8; rows.width()];
        let mut out = Vec::with_capacity(r.area());
        for y in 0..r.y1 {
            rows.read_row(&mut row).map_err(|e| e.to_string())?;
            if y >= r.y0 {
                out.extend_from_slice(&row[r.x0..r.x1]);
            }
        }
        out
    };
    // Stored membrane dark: level = (255 − v)·257, as MembraneMap::from_stored_u8.
    Ok(grey.iter().map(|&v| (255 - v) as u16 * 257).collect())
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
    anyhow::ensure!(
        args.blocks_per_task > 0,
        "--blocks-per-task 0: a task needs blocks"
    );
    let (pages, ..) = urisc_io::probe(&args.input)?;
    anyhow::ensure!(
        args.plane < pages,
        "{}: --plane {}, but it has {pages} plane(s)",
        args.input.display(),
        args.plane
    );
    let (height, width, pixel_size_nm) = if zarr_store::is_zarr(&args.input) {
        let a = urisc_io::ZarrArray::open(&args.input)?;
        (a.height(), a.width(), a.pixel_size_nm())
    } else if args.plane > 0 {
        let page = urisc_io::read_page(&args.input, args.plane)?;
        (page.image.height(), page.image.width(), page.pixel_size_nm)
    } else {
        let rows = urisc_io::open_rows(&args.input)?;
        (rows.height(), rows.width(), rows.pixel_size_nm())
    };
    let blocks = BlockPlan::new(height, width, args.block, &params)?;
    let plan_path = args.out.join("cells-plan.json");
    urisc_io::check_writable(&plan_path, args.force)?;
    let plan = CellsPlan {
        format: FORMAT.into(),
        input: std::fs::canonicalize(&args.input)
            .with_context(|| format!("{}: cannot resolve", args.input.display()))?,
        plane: args.plane,
        tasks: blocks.blocks().div_ceil(args.blocks_per_task),
        blocks,
        blocks_per_task: args.blocks_per_task,
        params,
        pixel_size_nm,
    };
    if args.force {
        for d in ["fragments", "first"] {
            let _ = std::fs::remove_dir_all(args.out.join(d));
        }
        for f in ["joined.json", "ids.json"] {
            let _ = std::fs::remove_file(args.out.join(f));
        }
    }
    zarr_store::create(&plan.layout(&args.out), "cells", pixel_size_nm, args.force)?;
    write_json(&plan_path, &plan)?;
    let tasks = plan.tasks();
    println!(
        "{}: {} × {} in {} blocks of {} ({} tasks per array stage). Run, in order:",
        plan_path.display(),
        height,
        width,
        plan.blocks.blocks(),
        args.block,
        tasks
    );
    let w = args.out.display();
    for (stage, array) in [
        ("fragments", true),
        ("join", false),
        ("first", true),
        ("ids", false),
        ("labels", true),
    ] {
        if array {
            println!(
                "  urisc cells-run {w} --stage {stage} --task 0..{}",
                tasks - 1
            );
        } else {
            println!("  urisc cells-run {w} --stage {stage}");
        }
    }
    Ok(())
}

fn task_index(args: &CellsRunArgs) -> Option<usize> {
    args.task.or_else(|| {
        ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.parse().ok())
    })
}

pub fn run_stage(args: CellsRunArgs) -> Result<()> {
    let work = &args.work;
    let plan: CellsPlan = read_json(&work.join("cells-plan.json"), "urisc cells-plan")?;
    anyhow::ensure!(
        plan.format == FORMAT,
        "{}: plan format '{}' (this urisc reads '{FORMAT}')",
        work.join("cells-plan.json").display(),
        plan.format
    );
    let n = plan.blocks.blocks();
    let blocks: Vec<usize> = match task_index(&args) {
        Some(t) => {
            anyhow::ensure!(
                t < plan.tasks(),
                "--task {t}: the plan has {} tasks",
                plan.tasks()
            );
            (t * plan.blocks_per_task..((t + 1) * plan.blocks_per_task).min(n)).collect()
        }
        None => (0..n).collect(),
    };
    let (input, plane) = (plan.input.clone(), plan.plane);
    let read = move |r: Rect| read_levels(&input, plane, r);
    let params = plan.params;
    let block_file = |dir: &str, b: usize| work.join(dir).join(format!("{b:06}.json"));
    match args.stage {
        Stage::Fragments => {
            for b in blocks {
                let path = block_file("fragments", b);
                if !path.exists() {
                    let f = block_fragments(&plan.blocks, b, &params, &read)
                        .map_err(|e| anyhow::anyhow!("{}: block {b}: {e}", plan.input.display()))?;
                    write_json(&path, &f)?;
                }
            }
        }
        Stage::Join => {
            let all: Vec<BlockFragments> = (0..n)
                .map(|b| read_json(&block_file("fragments", b), "stage fragments"))
                .collect::<Result<_>>()?;
            let joined = join_blocks(&plan.blocks, &all, &params)?;
            eprintln!(
                "urisc cells-run: {} fragments joined ({} merged by boundary, {} small)",
                joined.fragments, joined.merges, joined.small_merges
            );
            write_json(&work.join("joined.json"), &joined)?;
        }
        Stage::First => {
            let joined: Joined = read_json(&work.join("joined.json"), "stage join")?;
            for b in blocks {
                let path = block_file("first", b);
                if !path.exists() {
                    let first = block_first_pixels(&plan.blocks, b, &params, &read, &joined)
                        .map_err(|e| anyhow::anyhow!("{}: block {b}: {e}", plan.input.display()))?;
                    write_json(&path, &first)?;
                }
            }
        }
        Stage::Ids => {
            let joined: Joined = read_json(&work.join("joined.json"), "stage join")?;
            let firsts: Vec<Vec<(u32, u64)>> = (0..n)
                .map(|b| read_json(&block_file("first", b), "stage first"))
                .collect::<Result<_>>()?;
            let (ids, cells) = cell_ids(&joined, &firsts);
            eprintln!("urisc cells-run: {cells} cells");
            write_json(&work.join("ids.json"), &ids)?;
        }
        Stage::Labels => {
            let joined: Joined = read_json(&work.join("joined.json"), "stage join")?;
            let ids: Vec<u32> = read_json(&work.join("ids.json"), "stage ids")?;
            let layout = plan.layout(work);
            for b in blocks {
                let core = plan.blocks.core(b);
                let (uy, ux) = (core.y0 / plan.blocks.block, core.x0 / plan.blocks.block);
                if layout.unit_path(0, uy, ux).exists() {
                    continue;
                }
                let (_, labels) = block_labels(&plan.blocks, b, &params, &read, &joined, &ids)
                    .map_err(|e| anyhow::anyhow!("{}: block {b}: {e}", plan.input.display()))?;
                zarr_store::write_unit(&layout, 0, uy, ux, &labels)?;
            }
        }
    }
    Ok(())
}
