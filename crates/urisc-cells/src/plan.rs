//! Block-wise cells as stages a scheduler runs (`urisc cells-plan`, `urisc cells-run`): the
//! plan file, its creation, and the five stages, each block of an array stage an independent
//! task, with the same labels as [`crate::segment_cells`] with [`Watershed::Descent`] on the
//! whole section.
//!
//! A work folder `WORK` holds the plan `WORK/cells-plan.json` ([`CellsPlan`], format
//! [`FORMAT`]) and, stage by stage ([`Stage`]; `fragments`, `first` and `labels` are array
//! stages over blocks, `join` and `ids` single tasks):
//! 1. `fragments`: each block's descent fragments → `WORK/fragments/BBBBBB.json`
//! 2. `join`: fragments joined across block edges, region graph, agglomeration →
//!    `WORK/joined.json`
//! 3. `first`: each block's cells after the boundary rule, first pixels →
//!    `WORK/first/BBBBBB.json`
//! 4. `ids`: final ids in row-major order of first pixel → `WORK/ids.json`
//! 5. `labels`: each block's labels → one chunk of `WORK/cells.ome.zarr` (uint32)
//!
//! Every output is written atomically; a block whose output exists is skipped, so a killed
//! task is rerun as is. Which blocks one task runs (the array index and the blocks per task) is
//! the scheduler's rule, `urisc_cluster::task`; [`run_stage`] takes the blocks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use urisc_infer::Rect;
use urisc_io::sections::{sections_of, Section};
use urisc_io::zarr_store::{self, StoreLayout};
use urisc_io::{IoError, IoErrorKind};

use crate::{
    block_first_pixels, block_fragments, block_labels, cell_ids, join_blocks, BlockFragments,
    BlockPlan, CellParams, CellsError, Joined, Watershed,
};

/// The plan file's format; a plan of another format is refused.
pub const FORMAT: &str = "urisc-cells-plan/1";
/// The plan's file name inside the work folder.
pub const PLAN_FILE: &str = "cells-plan.json";

/// What can go wrong planning or running a stage; every message names its file.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Reading the input or writing an output failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The parameters or the block side are out of range, or the stages' results disagree.
    #[error(transparent)]
    Cells(#[from] CellsError),
    /// Tasks of no blocks.
    #[error("--blocks-per-task 0: a task needs blocks")]
    BlocksPerTask,
    /// The plane asked for is beyond the input's planes.
    #[error("{}: --plane {plane}, but it has {planes} plane(s)", path.display())]
    Plane {
        /// The input.
        path: PathBuf,
        /// The plane asked for.
        plane: usize,
        /// Planes (pages) the input has.
        planes: usize,
    },
    /// The input's path cannot be made absolute.
    #[error("{}: cannot resolve: {error}", path.display())]
    Resolve {
        /// The input.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A stage's input file (or the plan) does not exist yet.
    #[error("{}: missing ({what} has not run yet?): {error}", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// What writes it (`urisc cells-plan`, `stage join`, …).
        what: &'static str,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// A stage's file (or the plan) is not what the stage wrote.
    // serde quotes the input it could not read, control characters and all: escaped.
    #[error("{}: damaged: {}", path.display(), urisc_io::one_line(&error.to_string()))]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        error: serde_json::Error,
    },
    /// The plan is of another format.
    #[error("{}: plan format '{found}' (this urisc reads '{FORMAT}')", path.display())]
    Format {
        /// The plan file.
        path: PathBuf,
        /// Its format.
        found: String,
    },
    /// A map that does not hold 8-bit levels.
    #[error("{input}: cells-plan reads 8-bit membrane maps (as `urisc predict --probabilities` writes them by default), not {samples:?} samples: use `urisc cells --watershed descent --block N`, which gives the same cells in one process")]
    NotEightBit {
        /// The map.
        input: String,
        /// What it holds.
        samples: urisc_io::Samples,
    },
    /// A block side below [`crate::blockwise::MIN_BLOCK`].
    #[error("--block {0}: blocks must be at least {min} pixels a side (smaller ones read many times their own pixels as halo)", min = crate::blockwise::MIN_BLOCK)]
    SmallBlock(usize),
    /// A block index beyond the plan.
    #[error("block {block}: the plan has {blocks} blocks")]
    NoBlock {
        /// The index asked for.
        block: usize,
        /// Blocks in the plan.
        blocks: usize,
    },
    /// A block's computation failed (reading its levels, or a result that does not fit).
    #[error("{}: block {block}: {error}", input.display())]
    Block {
        /// The plan's input.
        input: PathBuf,
        /// The block.
        block: usize,
        /// What went wrong.
        error: CellsError,
    },
}

/// One stage of a planned run, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

impl Stage {
    /// Every stage, in the order they run.
    pub const ALL: [Stage; 5] = [
        Stage::Fragments,
        Stage::Join,
        Stage::First,
        Stage::Ids,
        Stage::Labels,
    ];

    /// The stage's name, as `urisc cells-run --stage` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Fragments => "fragments",
            Stage::Join => "join",
            Stage::First => "first",
            Stage::Ids => "ids",
            Stage::Labels => "labels",
        }
    }

    /// Whether the stage is an array over blocks (else one task over the whole plan).
    pub fn is_array(self) -> bool {
        matches!(self, Stage::Fragments | Stage::First | Stage::Labels)
    }
}

/// The plan file `WORK/cells-plan.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellsPlan {
    /// [`FORMAT`].
    pub format: String,
    /// The probability map, as an absolute path.
    pub input: PathBuf,
    /// The page (plane) of the input segmented (0 for a single image).
    pub plane: usize,
    /// How the section is cut into blocks.
    pub blocks: BlockPlan,
    /// Blocks per array task.
    pub blocks_per_task: usize,
    /// Array tasks per array stage (for schedulers' array ranges).
    pub tasks: usize,
    /// The cells' parameters (descent watershed).
    pub params: CellParams,
    /// The input's pixel size, carried into the label store.
    pub pixel_size_nm: Option<f64>,
}

/// The section of plane `plane` of `path` (a single image has plane 0 only), as
/// `urisc cells-plan --plane` names it: [`sections_of`]'s sections, by index.
pub fn plane_section(path: &Path, plane: usize) -> Result<Section, PlanError> {
    let mut found = sections_of(path)?;
    let planes = found.len();
    if plane >= planes {
        return Err(PlanError::Plane {
            path: path.to_path_buf(),
            plane,
            planes,
        });
    }
    Ok(found.swap_remove(plane))
}

/// What a stage did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageReport {
    /// An array stage: blocks computed, and blocks skipped because their output existed.
    Blocks {
        /// Blocks computed now.
        computed: usize,
        /// Blocks whose output existed.
        skipped: usize,
    },
    /// `join`: the fragments and the agglomeration's merges.
    Joined {
        /// Descent fragments joined.
        fragments: u32,
        /// Merges by mean boundary probability.
        merges: usize,
        /// Merges of small cells.
        small_merges: usize,
    },
    /// `ids`: the number of cells.
    Ids {
        /// Cells (ids `1..=cells`).
        cells: u32,
    },
}

impl CellsPlan {
    /// Plans section `input` in work folder `work`: blocks of `block²` pixels, `blocks_per_task`
    /// blocks per array task, `params` with the descent watershed (the one that runs in
    /// blocks). Writes the plan and creates the empty label store `WORK/cells.ome.zarr`; an
    /// existing plan is refused unless `force`, which also removes the earlier stages' files.
    pub fn create(
        input: &Section,
        work: &Path,
        block: usize,
        blocks_per_task: usize,
        params: CellParams,
        force: bool,
    ) -> Result<CellsPlan, PlanError> {
        let params = CellParams {
            watershed: Watershed::Descent,
            ..params
        };
        if blocks_per_task == 0 {
            return Err(PlanError::BlocksPerTask);
        }
        if block < crate::blockwise::MIN_BLOCK {
            return Err(PlanError::SmallBlock(block));
        }
        // The work folder's stores and stage files never replace the map, even with `force`.
        urisc_io::paths::refuse_input(work, &[&input.path])?;
        let (height, width, pixel_size_nm) = {
            let rows = input.open_rows()?;
            // The stages read 8-bit levels by rows; a 16-bit or float map would be read narrowed
            // and, for float p (membrane high), inverted: refused instead.
            if rows.samples() != urisc_io::Samples::U8 {
                return Err(PlanError::NotEightBit {
                    input: input.describe(),
                    samples: rows.samples(),
                });
            }
            (rows.height(), rows.width(), rows.pixel_size_nm())
        };
        let blocks = BlockPlan::new(height, width, block, &params)?;
        let plan_path = work.join(PLAN_FILE);
        urisc_io::check_writable(&plan_path, force)?;
        let plan = CellsPlan {
            format: FORMAT.into(),
            input: std::fs::canonicalize(&input.path).map_err(|error| PlanError::Resolve {
                path: input.path.clone(),
                error,
            })?,
            plane: input.page(),
            tasks: blocks.blocks().div_ceil(blocks_per_task),
            blocks,
            blocks_per_task,
            params,
            pixel_size_nm,
        };
        if force {
            for d in ["fragments", "first"] {
                let _ = std::fs::remove_dir_all(work.join(d));
            }
            for f in ["joined.json", "ids.json"] {
                let _ = std::fs::remove_file(work.join(f));
            }
        }
        zarr_store::create(&plan.label_store(work), "cells", pixel_size_nm, force)?;
        write_json(&plan_path, &plan)?;
        Ok(plan)
    }

    /// Reads the plan of work folder `work`, refusing one of another format.
    pub fn load(work: &Path) -> Result<CellsPlan, PlanError> {
        let path = work.join(PLAN_FILE);
        let plan: CellsPlan = read_json(&path, "urisc cells-plan")?;
        if plan.format != FORMAT {
            return Err(PlanError::Format {
                path,
                found: plan.format,
            });
        }
        Ok(plan)
    }

    /// The label store `WORK/cells.ome.zarr`: uint32, one chunk per block.
    pub fn label_store(&self, work: &Path) -> StoreLayout {
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

    /// The section the stages read: page [`CellsPlan::plane`] of [`CellsPlan::input`].
    fn section(&self) -> Section {
        Section {
            path: self.input.clone(),
            plane: Some(self.plane),
            name: urisc_io::image_stem(&self.input),
        }
    }
}

/// Runs `stage` of `plan` (work folder `work`) on `blocks` (array stages; the single-task
/// stages take every block's results and ignore `blocks`). A block whose output exists is
/// skipped.
pub fn run_stage(
    plan: &CellsPlan,
    work: &Path,
    stage: Stage,
    blocks: &[usize],
) -> Result<StageReport, PlanError> {
    let n = plan.blocks.blocks();
    if let Some(&block) = blocks.iter().find(|&&b| b >= n) {
        return Err(PlanError::NoBlock { block, blocks: n });
    }
    let section = plan.section();
    let read = move |r: Rect| read_levels(&section, r).map_err(|e| e.to_string());
    let params = plan.params;
    let block_file = |dir: &str, b: usize| work.join(dir).join(format!("{b:06}.json"));
    let in_block = |block: usize| {
        move |error: CellsError| PlanError::Block {
            input: plan.input.clone(),
            block,
            error,
        }
    };
    match stage {
        Stage::Fragments => each_missing(
            blocks,
            |b| block_file("fragments", b).exists(),
            |b| {
                let f = block_fragments(&plan.blocks, b, &params, &read).map_err(in_block(b))?;
                write_json(&block_file("fragments", b), &f)
            },
        ),
        Stage::Join => {
            let all: Vec<BlockFragments> = (0..n)
                .map(|b| read_json(&block_file("fragments", b), "stage fragments"))
                .collect::<Result<_, _>>()?;
            let joined = join_blocks(&plan.blocks, &all, &params)?;
            write_json(&work.join("joined.json"), &joined)?;
            Ok(StageReport::Joined {
                fragments: joined.fragments,
                merges: joined.merges,
                small_merges: joined.small_merges,
            })
        }
        Stage::First => {
            let joined: Joined = read_json(&work.join("joined.json"), "stage join")?;
            each_missing(
                blocks,
                |b| block_file("first", b).exists(),
                |b| {
                    let first = block_first_pixels(&plan.blocks, b, &params, &read, &joined)
                        .map_err(in_block(b))?;
                    write_json(&block_file("first", b), &first)
                },
            )
        }
        Stage::Ids => {
            let joined: Joined = read_json(&work.join("joined.json"), "stage join")?;
            let firsts: Vec<Vec<(u32, u64)>> = (0..n)
                .map(|b| read_json(&block_file("first", b), "stage first"))
                .collect::<Result<_, _>>()?;
            let (ids, cells) = cell_ids(&joined, &firsts);
            write_json(&work.join("ids.json"), &ids)?;
            Ok(StageReport::Ids { cells })
        }
        Stage::Labels => {
            let joined: Joined = read_json(&work.join("joined.json"), "stage join")?;
            let ids: Vec<u32> = read_json(&work.join("ids.json"), "stage ids")?;
            let layout = plan.label_store(work);
            let unit = |b: usize| {
                let core = plan.blocks.core(b);
                (core.y0 / plan.blocks.block, core.x0 / plan.blocks.block)
            };
            each_missing(
                blocks,
                |b| {
                    let (uy, ux) = unit(b);
                    layout.unit_path(0, uy, ux).exists()
                },
                |b| {
                    let (_, labels) = block_labels(&plan.blocks, b, &params, &read, &joined, &ids)
                        .map_err(in_block(b))?;
                    let (uy, ux) = unit(b);
                    Ok(zarr_store::write_unit(&layout, 0, uy, ux, &labels)?)
                },
            )
        }
    }
}

/// An array stage: `compute` for each of `blocks` whose output is not `done`.
fn each_missing(
    blocks: &[usize],
    done: impl Fn(usize) -> bool,
    mut compute: impl FnMut(usize) -> Result<(), PlanError>,
) -> Result<StageReport, PlanError> {
    let mut computed = 0;
    for &b in blocks {
        if !done(b) {
            compute(b)?;
            computed += 1;
        }
    }
    Ok(StageReport::Blocks {
        computed,
        skipped: blocks.len() - computed,
    })
}

/// The 16-bit levels of rectangle `r` of `section` (8-bit membrane dark, as
/// [`crate::MembraneMap::from_stored_u8`]): a Zarr region as such, a file by rows (a later page
/// of a TIFF stack is decoded whole).
fn read_levels(section: &Section, r: Rect) -> Result<Vec<u16>, IoError> {
    let grey: Vec<u8> = if zarr_store::is_zarr(&section.path) {
        urisc_io::ZarrArray::open(&section.path)?
            .read_region(section.page(), r.y0..r.y1, r.x0..r.x1)?
            .data
    } else {
        let mut rows = section.open_rows()?;
        let mut row = vec![0u8; rows.width()];
        let mut out = Vec::with_capacity(r.area());
        for y in 0..r.y1 {
            rows.read_row(&mut row)?;
            if y >= r.y0 {
                out.extend_from_slice(&row[r.x0..r.x1]);
            }
        }
        out
    };
    Ok(grey
        .iter()
        .map(|&v| urisc_io::encoding::level_from_stored(v))
        .collect())
}

/// Writes `value` as JSON to `path` atomically (replacing what is there), creating its folder.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), PlanError> {
    let bytes = serde_json::to_vec(value).expect("plan files serialise");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| IoError::new(dir, IoErrorKind::Write, format!("cannot create: {e}")))?;
    }
    urisc_io::write_atomically(path, true, |f| std::io::Write::write_all(f, &bytes))?;
    Ok(())
}

/// Reads JSON that `what` wrote to `path`.
fn read_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
    what: &'static str,
) -> Result<T, PlanError> {
    let bytes = std::fs::read(path).map_err(|error| PlanError::Missing {
        path: path.to_path_buf(),
        what,
        error,
    })?;
    serde_json::from_slice(&bytes).map_err(|error| PlanError::Damaged {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{segment_cells, MembraneMap};
    use urisc_io::Image;

    /// An 8-bit stored map (membrane dark) of a grid of cells, membranes every 11 rows and 9
    /// columns, with some noise.
    fn grid(h: usize, w: usize) -> Image<u8> {
        let mut x = 99u64;
        let data = (0..h * w)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (r, c) = (i / w, i % w);
                let p = if r % 11 == 0 || c % 9 == 0 { 0.8 } else { 0.1 } + (x % 50) as f32 / 500.0;
                urisc_io::encoding::stored_from_probability(p)
            })
            .collect();
        Image::new(h, w, data)
    }

    fn params() -> CellParams {
        CellParams {
            watershed: Watershed::Descent,
            ..CellParams::default()
        }
    }

    /// A work folder planned on a 40 × 50 map in blocks of 16 (3 × 4 blocks), 5 per task.
    fn planned(dir: &Path) -> (CellsPlan, PathBuf, Image<u8>) {
        let map = dir.join("m.png");
        let image = grid(40, 50);
        urisc_io::write_png(&map, &image, Some(3.0), false).unwrap();
        let work = dir.join("work");
        let section = plane_section(&map, 0).unwrap();
        let plan = CellsPlan::create(&section, &work, 16, 5, params(), false).unwrap();
        (plan, work, image)
    }

    #[test]
    fn the_plan_file_round_trips_and_refuses_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, work, _) = planned(dir.path());
        assert_eq!((plan.blocks.blocks(), plan.tasks, plan.plane), (12, 3, 0));
        assert!(
            (plan.pixel_size_nm.unwrap() - 3.0).abs() < 1e-6,
            "PNG pHYs rounding"
        );
        assert!(plan.input.is_absolute());
        assert_eq!(CellsPlan::load(&work).unwrap(), plan);
        // The file's fields, as schedulers and older plans spell them.
        let text = std::fs::read_to_string(work.join(PLAN_FILE)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["format"], FORMAT);
        assert_eq!(v["tasks"], 3);
        assert_eq!(v["blocks_per_task"], 5);
        assert_eq!(v["params"]["watershed"], "descent");
        assert!(work.join("cells.ome.zarr/zarr.json").is_file());
        // Planned again: refused without force, replaced with it.
        let section = plane_section(&plan.input, 0).unwrap();
        let again = CellsPlan::create(&section, &work, 16, 5, params(), false).unwrap_err();
        assert!(again.to_string().contains("--force"), "{again}");
        CellsPlan::create(&section, &work, 16, 5, params(), true).unwrap();
        // Another format is refused, naming both.
        std::fs::write(
            work.join(PLAN_FILE),
            text.replace(FORMAT, "urisc-cells-plan/0"),
        )
        .unwrap();
        let e = CellsPlan::load(&work).unwrap_err();
        assert!(matches!(e, PlanError::Format { .. }), "{e}");
        assert!(e.to_string().contains("'urisc-cells-plan/0'"), "{e}");
        let e = CellsPlan::load(&dir.path().join("nowhere")).unwrap_err();
        assert!(
            e.to_string().contains("urisc cells-plan has not run yet"),
            "{e}"
        );
        let e = CellsPlan::create(&section, &work, 16, 0, params(), true).unwrap_err();
        assert_eq!(e.to_string(), "--blocks-per-task 0: a task needs blocks");
    }

    #[test]
    fn stages_skip_finished_blocks_and_equal_the_whole_section() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, work, image) = planned(dir.path());
        let all: Vec<usize> = (0..plan.blocks.blocks()).collect();
        // A stage run before the one it needs names the missing file.
        let e = run_stage(&plan, &work, Stage::Ids, &[]).unwrap_err();
        assert!(
            e.to_string().contains("joined.json: missing (stage join"),
            "{e}"
        );
        let e = run_stage(&plan, &work, Stage::Fragments, &[12]).unwrap_err();
        assert_eq!(e.to_string(), "block 12: the plan has 12 blocks");
        for stage in Stage::ALL {
            let report = run_stage(&plan, &work, stage, &all).unwrap();
            if stage.is_array() {
                assert_eq!(
                    report,
                    StageReport::Blocks {
                        computed: 12,
                        skipped: 0
                    }
                );
            }
        }
        // Finished blocks are skipped: their files are left as they are.
        let block3 = work.join("fragments/000003.json");
        let before = std::fs::read(&block3).unwrap();
        std::fs::remove_file(work.join("fragments/000004.json")).unwrap();
        let report = run_stage(&plan, &work, Stage::Fragments, &[3, 4, 5]).unwrap();
        assert_eq!(
            report,
            StageReport::Blocks {
                computed: 1,
                skipped: 2
            }
        );
        assert_eq!(std::fs::read(&block3).unwrap(), before);
        assert!(work.join("fragments/000004.json").is_file());
        let report = run_stage(&plan, &work, Stage::Labels, &all).unwrap();
        assert_eq!(
            report,
            StageReport::Blocks {
                computed: 0,
                skipped: 12
            }
        );
        // The store holds the whole-section labels.
        let whole = segment_cells(&MembraneMap::from_stored_u8(&image), &plan.params).unwrap();
        let layout = plan.label_store(&work);
        let (h, w, b) = (40, 50, 16);
        let mut got = vec![0u32; h * w];
        for uy in 0..h.div_ceil(b) {
            for ux in 0..w.div_ceil(b) {
                let bytes = zarr_store::read_unit(&layout, 0, uy, ux, 4).unwrap();
                let cols = b.min(w - ux * b);
                for (k, v) in bytes.chunks_exact(4).enumerate() {
                    got[(uy * b + k / cols) * w + ux * b + k % cols] =
                        u32::from_le_bytes(v.try_into().unwrap());
                }
            }
        }
        assert_eq!(got, whole.labels.data);
        let Ok(StageReport::Ids { cells }) = run_stage(&plan, &work, Stage::Ids, &[]) else {
            panic!("ids")
        };
        assert_eq!(cells, whole.cells);
    }

    #[test]
    fn planes_beyond_the_input_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let stack = dir.path().join("s.tif");
        let pages = [grid(40, 40), Image::filled(40, 40, 255u8)];
        urisc_io::write_tiff_stack(&stack, &pages, None, false).unwrap();
        let e = plane_section(&stack, 2).unwrap_err();
        assert!(
            e.to_string().ends_with("--plane 2, but it has 2 plane(s)"),
            "{e}"
        );
        let section = plane_section(&stack, 1).unwrap();
        assert_eq!((section.plane, section.name.as_str()), (Some(1), "s_z001"));
        let work = dir.path().join("work");
        let plan = CellsPlan::create(&section, &work, 16, 1, params(), false).unwrap();
        assert_eq!(plan.plane, 1);
        // Page 1 is read, not page 0: no membrane, one cell.
        for stage in Stage::ALL {
            run_stage(&plan, &work, stage, &(0..9).collect::<Vec<_>>()).unwrap();
        }
        let ids: Vec<u32> = read_json(&work.join("ids.json"), "stage ids").unwrap();
        assert_eq!(ids.iter().filter(|&&i| i != 0).count(), 1);
    }

    /// Fuzz finding (`fuzz/`, target `cells_plan`): serde quoted a plan's bad value, newline
    /// and all, into a two-line error.
    #[test]
    fn a_damaged_plan_is_named_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PLAN_FILE),
            include_bytes!("../tests/data/fuzz-plan-newline-in-variant.json"),
        )
        .unwrap();
        let e = CellsPlan::load(dir.path()).unwrap_err().to_string();
        assert!(
            !e.contains('\n') && e.contains("damaged") && e.contains("desc\\nt"),
            "{e}"
        );
    }
}
