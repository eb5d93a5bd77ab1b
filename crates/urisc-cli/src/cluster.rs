//! `urisc plan`, `urisc run-block`, `urisc status` and `urisc assemble`: whole datasets on the
//! schedulers labs run (Slurm job arrays, Kubernetes Indexed Jobs, GNU parallel).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use urisc_cluster::inputs::Plane;
use urisc_cluster::manifest::{Inference, ModelRef, SectionInput};
use urisc_cluster::{task, ClusterError, Manifest, PlanRequest};
use urisc_infer::TTA_CHOICES;
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

/// Inputs grouped by output store: its name, the input, and the input's sections.
type Grouped = Vec<(String, PathBuf, Vec<Plane>)>;

fn sections_of(inputs: &[PathBuf]) -> Result<Grouped> {
    let mut out: Grouped = Vec::new();
    let files = urisc_io::sections::input_files(inputs)?;
    for f in files {
        let name = urisc_io::image_stem(&f);
        if let Some((other, ..)) = out.iter().find(|(n, ..)| *n == name) {
            anyhow::bail!(
                "{}: its output {name}.ome.zarr would replace that of another input named {other:?} (rename one)",
                f.display()
            );
        }
        let planes = urisc_cluster::inputs::planes(&f)?;
        out.push((name, f, planes));
    }
    Ok(out)
}

pub fn run_plan(args: PlanArgs) -> Result<()> {
    let model = Segmenter::load_or_default(args.model.as_deref(), Engine::Cpu)?;
    let d = model.descriptor().clone();
    let threshold = args.threshold.unwrap_or(d.threshold);
    anyhow::ensure!(
        threshold.is_finite() && (0.0..=1.0).contains(&threshold),
        "--threshold {threshold}: a membrane probability in [0, 1]"
    );
    anyhow::ensure!(
        TTA_CHOICES.contains(&args.tta),
        "--tta {}: must be 1, 2, 4 or 8",
        args.tta
    );
    anyhow::ensure!(
        args.blocks_per_task >= 1,
        "--blocks-per-task must be at least 1"
    );
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    anyhow::ensure!(
        (16..=16384).contains(&args.chunk),
        "--chunk {}: 16 to 16384 pixels",
        args.chunk
    );
    let tile = args.tile.unwrap_or(d.tile_size);
    let multiple = d.model.size_multiple();
    anyhow::ensure!(
        tile > 0 && tile.is_multiple_of(multiple),
        "--tile {tile} is not a multiple of {multiple}"
    );
    let inference = Inference {
        tile,
        overlap: args.overlap.unwrap_or(64.min(tile / 2)),
        batch: args.batch,
        tta: args.tta,
        threshold,
    };
    inference
        .options()
        .validate()
        .map_err(|e| anyhow::anyhow!("--tile/--overlap/--batch: {e}"))?;
    let grouped = sections_of(&args.inputs)?;
    let out = std::path::absolute(&args.out)?;
    let mut sections = Vec::new();
    let mut outputs = Vec::new();
    for (name, input, planes) in grouped {
        let mut members = Vec::new();
        let stack = planes.len() > 1 || urisc_io::zarr_store::is_zarr(&input);
        for mut plane in planes {
            // Blocks are predicted on the section's own grid: say so when `urisc predict` would
            // resample it to the model's pixel size.
            let scale = urisc_infer::model_scale(plane.pixel_size_nm, d.pixel_size_nm);
            if scale != 1.0 {
                eprintln!(
                    "urisc plan: {}: {} nm/pixel, the model {} nm/pixel; blocks are predicted at the section's own scale (urisc predict would resample by {scale:.3})",
                    input.display(),
                    plane.pixel_size_nm.unwrap_or_default(),
                    d.pixel_size_nm.unwrap_or_default()
                );
            }
            plane.pixel_size_nm = plane.pixel_size_nm.or(d.pixel_size_nm);
            members.push(sections.len());
            sections.push(SectionInput {
                name: if stack {
                    format!("{name}[{}]", plane.plane)
                } else {
                    name.clone()
                },
                input: std::path::absolute(&input)?,
                plane,
            });
        }
        outputs.push((name, members));
    }
    // Shards when plain chunks would make a store of too many files.
    let chunk_files: usize = sections
        .iter()
        .map(|s| s.plane.height.div_ceil(args.chunk) * s.plane.width.div_ceil(args.chunk))
        .sum();
    let shard = args.shard.unwrap_or_else(|| {
        let mut s = 1;
        while chunk_files / (s * s) > 10_000 {
            s *= 2;
        }
        s
    });
    anyhow::ensure!(shard >= 1, "--shard must be at least 1");
    let request = PlanRequest {
        sections,
        outputs,
        model: ModelRef {
            path: args.model.as_ref().map(std::path::absolute).transpose()?,
            checksum: d.weights_checksum.clone(),
        },
        inference,
        out: out.clone(),
        probability: args.probabilities.map(|p| match p {
            ProbabilityStore::U8 => "uint8".to_string(),
            ProbabilityStore::F32 => "float32".to_string(),
        }),
        chunk: args.chunk,
        shard,
        blocks_per_task: args.blocks_per_task,
        cpus: args.threads,
    };
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
    let manifest = Manifest::load(&args.manifest)?;
    let in_manifest = |e: ClusterError| match e {
        ClusterError::Fatal(m) => ClusterError::Fatal(format!("{}: {m}", args.manifest.display())),
        other => other,
    };
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
        manifest.task_blocks(i).map_err(in_manifest)?.collect()
    };
    let threads = args.threads.unwrap_or(manifest.resources.cpus).max(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .ok();
    let bar = crate::progress::bar(blocks.len() as u64, "blocks");
    let started = std::time::Instant::now();
    let report = urisc_cluster::run_blocks(&manifest, &blocks, &mut |b, skipped| {
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
    let manifest = Manifest::load(&args.manifest)?;
    let s = urisc_cluster::status(&manifest);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!(
        "{:<40} {:>8} {:>8} {:>8}",
        "section", "done", "failed", "pending"
    );
    for sec in &s.sections {
        println!(
            "{:<40} {:>8} {:>8} {:>8}",
            sec.name, sec.done, sec.failed, sec.pending
        );
    }
    println!(
        "{:<40} {:>8} {:>8} {:>8}",
        "all", s.done, s.failed, s.pending
    );
    println!(
        "array tasks finished: {}/{}; block time so far {:.0} s",
        s.tasks_done, s.tasks, s.block_seconds
    );
    for sec in &s.sections {
        if let Some((b, e, retryable)) = &sec.first_error {
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
    let manifest = Manifest::load(&args.manifest)?;
    let s = urisc_cluster::status(&manifest);
    anyhow::ensure!(
        s.pending == 0 && s.failed == 0,
        "{}: {} block(s) pending and {} failed; assemble needs every block done (see urisc status)",
        args.manifest.display(),
        s.pending,
        s.failed
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    let ext = match args.format {
        AssembleFormat::Png => "png",
        AssembleFormat::Tiff => "tif",
    };
    let mut written = Vec::new();
    for section in &manifest.sections {
        let store = match (args.probabilities, section.probability) {
            (false, _) => &manifest.stores[section.binary],
            (true, Some(p)) => &manifest.stores[p],
            (true, None) => anyhow::bail!(
                "{}: the plan wrote no probabilities",
                args.manifest.display()
            ),
        };
        let file = args.out.join(format!(
            "{}.{ext}",
            section.name.replace(['[', ']'], "_").trim_end_matches('_')
        ));
        urisc_cluster::assemble::assemble(store, section, &file, args.force)?;
        written.push(file);
    }
    eprintln!(
        "urisc assemble: wrote {} map(s) to {}",
        written.len(),
        args.out.display()
    );
    Ok(())
}
