//! `urisc plan`, `urisc run-block`, `urisc status` and `urisc assemble`: whole datasets on the
//! schedulers labs run (Slurm job arrays, Kubernetes Indexed Jobs, GNU parallel).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use urisc_cluster::request::{PlanFlags, ResolvedPlan};
use urisc_cluster::{task, ClusterError, Manifest};
use urisc_infer::job::PredictFlags;
use urisc_nn::{Engine, Segmenter};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbabilityStore {
    /// 8-bit, membrane dark: 255·(1 − p).
    U8,
    /// 32-bit float p.
    F32,
}

#[derive(Args)]
pub struct PlanArgs {
    /// Sections: images (PNG/TIFF/JPEG), folders of images, or Zarr v3 / OME-Zarr stores (2-D
    /// sections or 3-D stacks, one section per plane).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Model file [default: the model embedded in urisc].
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Folder for the output OME-Zarr stores (NAME.ome.zarr: binary maps, membrane 0) and the
    /// block state.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The manifest to write [default: OUT/manifest.json].
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Also write probability maps (NAME-probability.ome.zarr).
    #[arg(long, value_enum)]
    probabilities: Option<ProbabilityStore>,
    /// Membrane iff probability ≥ this [default: the model's validation threshold].
    #[arg(long)]
    threshold: Option<f32>,
    /// Tile side [default: the model's training tile].
    #[arg(long)]
    tile: Option<usize>,
    /// Overlap of neighbouring tiles [default: 64, or half the tile if smaller].
    #[arg(long)]
    overlap: Option<usize>,
    /// Tiles per forward pass.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Test-time augmentation: 1, 2, 4 or 8.
    #[arg(long, default_value_t = 1)]
    tta: usize,
    /// Chunk side of the output arrays.
    #[arg(long, default_value_t = urisc_io::ZARR_CHUNK)]
    chunk: usize,
    /// Chunks per shard side (one file per shard of N × N chunks; a block is then one shard)
    /// [default: 1, or the smallest power of two that keeps the store under 10 000 files].
    #[arg(long)]
    shard: Option<usize>,
    /// Blocks per array task.
    #[arg(long, default_value_t = 1)]
    blocks_per_task: usize,
    /// Threads each task uses (its CPU request).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Replace existing stores and manifest (and forget finished blocks).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct RunBlockArgs {
    /// The manifest written by `urisc plan`.
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// Array index [default: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX].
    #[arg(long, conflicts_with_all = ["shard_id", "num_shards"])]
    index: Option<usize>,
    /// For other runners (GNU parallel, xargs): this shard takes blocks i with
    /// i mod NUM_SHARDS = SHARD_ID.
    #[arg(long, requires = "num_shards")]
    shard_id: Option<usize>,
    /// Number of shards (see --shard-id).
    #[arg(long, requires = "shard_id")]
    num_shards: Option<usize>,
    /// Worker threads [default: the manifest's CPU request].
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The manifest written by `urisc plan`.
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssembleFormat {
    Png,
    Tiff,
}

#[derive(Args)]
pub struct AssembleArgs {
    /// The manifest written by `urisc plan` (every block must be done).
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// Folder for one map per section (U-RISC format: membrane black on white).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// File format.
    #[arg(long, value_enum, default_value_t = AssembleFormat::Png)]
    format: AssembleFormat,
    /// Assemble the probability stores instead of the binary maps.
    #[arg(long)]
    probabilities: bool,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

pub fn run_plan(args: PlanArgs) -> Result<()> {
    let model = Segmenter::load_or_default(args.model.as_deref(), Engine::Cpu)?;
    let flags = PlanFlags {
        inputs: args.inputs.clone(),
        model: args.model.clone(),
        out: args.out.clone(),
        probability: args.probabilities.map(|p| match p {
            ProbabilityStore::U8 => "uint8".to_string(),
            ProbabilityStore::F32 => "float32".to_string(),
        }),
        predict: PredictFlags {
            tile: args.tile,
            overlap: args.overlap,
            batch: Some(args.batch),
            tta: Some(args.tta),
            threshold: args.threshold,
            ..PredictFlags::default()
        },
        chunk: args.chunk,
        shard: args.shard,
        blocks_per_task: args.blocks_per_task,
        threads: args.threads,
    };
    let ResolvedPlan { request, notes } = flags.resolve(&model)?;
    for note in notes {
        eprintln!("urisc plan: {note}");
    }
    let (out, shard) = (request.out.clone(), request.shard);
    let manifest = urisc_cluster::plan(&request, &model)?;
    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| out.join("manifest.json"));
    urisc_cluster::create_stores(&manifest, &manifest_path, args.force)?;
    let m = &manifest;
    println!(
        "manifest: {} ({} sections, {} blocks of up to {}² pixels{}, {} array tasks of {} block(s))",
        manifest_path.display(),
        m.sections.len(),
        m.blocks.len(),
        m.stores[0].layout.unit(),
        if shard > 1 {
            format!(", sharded {shard}×{shard} chunks of {}²", args.chunk)
        } else {
            String::new()
        },
        m.tasks,
        m.blocks_per_task
    );
    println!(
        "per task: {} CPUs, {} MiB memory (estimate with margin)",
        m.resources.cpus, m.resources.memory_mib
    );
    println!(
        "Slurm:      sbatch --array=0-{} --cpus-per-task={} --mem={}M deploy/slurm/urisc-array.sbatch {}",
        m.tasks - 1,
        m.resources.cpus,
        m.resources.memory_mib,
        manifest_path.display()
    );
    println!(
        "Kubernetes: deploy/kubernetes/urisc-indexed-job.yaml with completions: {}, cpu: \"{}\", memory: {}Mi",
        m.tasks, m.resources.cpus, m.resources.memory_mib
    );
    println!(
        "then:       urisc status --manifest {0}; urisc assemble --manifest {0} --out DIR",
        manifest_path.display()
    );
    Ok(())
}

pub fn run_block(args: RunBlockArgs) -> Result<()> {
    let (manifest, model) = Manifest::load(&args.manifest)?;
    let blocks: Vec<usize> = if args.shard_id.is_some() || args.num_shards.is_some() {
        let (id, n) = (args.shard_id.unwrap_or(0), args.num_shards.unwrap_or(1));
        task::shard_items(id, n, manifest.blocks.len())?
    } else {
        let Some(i) = task::array_index(args.index)? else {
            return Err(ClusterError::Fatal(
                "no array index: give --index, or run under Slurm ($SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX), or give --shard-id/--num-shards".into(),
            )
            .into());
        };
        task::task_items(
            i,
            manifest.blocks_per_task,
            manifest.blocks.len(),
            &args.manifest.display().to_string(),
        )?
        .collect()
    };
    let threads = args.threads.unwrap_or(manifest.resources.cpus).max(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .ok();
    let bar = crate::progress::bar(blocks.len() as u64, "blocks");
    let started = std::time::Instant::now();
    let report = urisc_cluster::run_blocks(&manifest, &model, &blocks, &mut |b, skipped| {
        bar.set_message(format!(
            "block {b}{}",
            if skipped { " (done before)" } else { "" }
        ));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    eprintln!(
        "urisc run-block: {} block(s) computed, {} already done, {:.1} s",
        report.computed,
        report.skipped,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn run_status(args: StatusArgs) -> Result<()> {
    let (manifest, _) = Manifest::load(&args.manifest)?;
    let s = urisc_cluster::status(&manifest);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let row = |name: &str, done, damaged, failed, pending| {
        println!("{name:<40} {done:>8} {damaged:>8} {failed:>8} {pending:>8}")
    };
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8}",
        "section", "done", "damaged", "failed", "pending"
    );
    for sec in &s.sections {
        row(&sec.name, sec.done, sec.damaged, sec.failed, sec.pending);
    }
    row("all", s.done, s.damaged, s.failed, s.pending);
    println!(
        "array tasks finished: {}/{}; block time so far {:.0} s",
        s.tasks_done, s.tasks, s.block_seconds
    );
    for problem in &s.store_problems {
        println!("{problem}");
    }
    const SHOWN: usize = 10;
    for d in s.damage.iter().take(SHOWN) {
        println!("block {} (task {}) damaged: {}", d.block, d.task, d.message);
    }
    if s.damage.len() > SHOWN {
        println!(
            "… and {} more damaged blocks (see --json)",
            s.damage.len() - SHOWN
        );
    }
    if let Some(hint) = s.redo_hint(&args.manifest) {
        println!("{hint}");
    }
    for sec in &s.sections {
        if let Some(urisc_cluster::status::BlockFailure {
            block: b,
            message: e,
            retryable,
        }) = &sec.first_error
        {
            println!(
                "{}: block {b} failed ({}): {e}",
                sec.name,
                if *retryable { "retryable" } else { "fatal" }
            );
        }
    }
    Ok(())
}

pub fn run_assemble(args: AssembleArgs) -> Result<()> {
    let (manifest, _) = Manifest::load(&args.manifest)?;
    let ext = match args.format {
        AssembleFormat::Png => "png",
        AssembleFormat::Tiff => "tif",
    };
    let written = urisc_cluster::assemble::assemble_all(
        &manifest,
        &args.manifest,
        &args.out,
        ext,
        args.probabilities,
        args.force,
    )?;
    eprintln!(
        "urisc assemble: wrote {} map(s) to {}",
        written.len(),
        args.out.display()
    );
    Ok(())
}
