//! `urisc cells` (cell instance segmentation from membrane probability maps) and
//! `urisc eval --instances` (scores of label images against ground-truth cells).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use urisc_cells::{
    cell_colour, overlay_rgb, segment_cells, segment_cells_in_blocks, CellParams, MembraneMap,
    Watershed,
};
use urisc_eval::{pair_inputs, OutputFormat};
use urisc_infer::outputs::OutputPlan;
use urisc_io::Image;
use urisc_metrics::{score_labels, InstanceScores};

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
    /// EM image(s) for overlays (DIR/overlays/STEM.png, cells in random colours over the EM
    /// image): one image for one input, or a folder matched by file stem.
    #[arg(long, value_name = "IMG")]
    overlay_image: Option<PathBuf>,
    /// Also write DIR/STEM.ome.zarr: an OME-Zarr 0.5 image (the EM image given with
    /// --overlay-image, else the probability map) with the cells as its label image
    /// `labels/cells` (uint32, `image-label` colours), for napari and Neuroglancer.
    #[arg(long)]
    ome_zarr: bool,
    /// Overwrite existing outputs.
    #[arg(long)]
    force: bool,
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The EM image of each input for its overlay, sizes checked against the maps' headers.
fn overlay_sources(args: &CellsArgs, files: &[PathBuf]) -> Result<Vec<Option<PathBuf>>> {
    let Some(em) = &args.overlay_image else {
        return Ok(vec![None; files.len()]);
    };
    let sources: Vec<PathBuf> = if em.is_dir() {
        let images = urisc_io::sections::image_files(em)?;
        files
            .iter()
            .map(|f| {
                images
                    .iter()
                    .find(|i| stem(i) == stem(f))
                    .cloned()
                    .with_context(|| {
                        format!(
                            "{}: no EM image named {}.* for the overlay of {}",
                            em.display(),
                            stem(f),
                            f.display()
                        )
                    })
            })
            .collect::<Result<_>>()?
    } else {
        anyhow::ensure!(em.exists(), "{}: no such file", em.display());
        anyhow::ensure!(
            files.len() == 1,
            "{}: one overlay image for {} maps (give a folder of EM images matched by file stem)",
            em.display(),
            files.len()
        );
        vec![em.clone()]
    };
    for (f, e) in files.iter().zip(&sources) {
        let (map_size, em_size) = (urisc_io::page_size(f, 0)?, urisc_io::page_size(e, 0)?);
        anyhow::ensure!(
            map_size == em_size,
            "{}: EM image is {}×{} but the probability map {} is {}×{}",
            e.display(),
            em_size.0,
            em_size.1,
            f.display(),
            map_size.0,
            map_size.1
        );
    }
    Ok(sources.into_iter().map(Some).collect())
}

pub fn run(args: CellsArgs) -> Result<()> {
    let params = CellParams {
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
    };
    params.validate()?;
    anyhow::ensure!(
        args.block.is_none() || params.watershed == Watershed::Descent,
        "--block needs --watershed descent (the flooding watershed cannot be split into blocks)"
    );
    anyhow::ensure!(args.block != Some(0), "--block 0: a block needs pixels");
    let files = urisc_io::sections::input_files(&args.inputs)?;
    // Stacks (multi-page TIFF, 3-D Zarr) are segmented plane by plane, as STEM_zNNN.
    let mut sections = Vec::new();
    let mut file_of_section = Vec::new();
    for (k, f) in files.iter().enumerate() {
        let found = urisc_io::sections::sections_of(f)?;
        file_of_section.extend(std::iter::repeat_n(k, found.len()));
        sections.extend(found);
    }
    // Every output is checked before any work: name clashes, inputs, existing files.
    let mut plan = OutputPlan::new(&sections, &args.out, None, "tif", args.force)?;
    let overlays: Vec<Option<PathBuf>> = {
        let per_file = overlay_sources(&args, &files)?;
        file_of_section
            .iter()
            .map(|&k| per_file[k].clone())
            .collect()
    };
    let overlay_paths: Vec<Option<PathBuf>> = plan
        .maps
        .iter()
        .zip(&overlays)
        .map(|(m, em)| {
            em.as_ref().map(|_| {
                args.out
                    .join("overlays")
                    .join(format!("{}.png", stem(&m.binary)))
            })
        })
        .collect();
    for p in overlay_paths.iter().flatten() {
        urisc_io::check_writable(p, args.force)?;
    }
    let zarr_paths: Vec<Option<PathBuf>> = plan
        .maps
        .iter()
        .map(|m| {
            args.ome_zarr
                .then(|| args.out.join(format!("{}.ome.zarr", stem(&m.binary))))
        })
        .collect();
    for p in zarr_paths.iter().flatten() {
        urisc_io::check_writable(p, args.force)?;
    }
    plan.create_folders()?;
    let result = (|| -> Result<()> {
        for (((maps, em), overlay), zarr) in plan
            .maps
            .iter()
            .zip(&overlays)
            .zip(&overlay_paths)
            .zip(&zarr_paths)
        {
            let started = Instant::now();
            let f = &maps.section.path;
            let decoded = maps.section.read()?;
            let pixel_size = decoded.pixel_size_nm;
            if decoded.colour_converted {
                eprintln!(
                    "urisc: warning: {}: colour with unequal channels, converted to grey with luma weights",
                    f.display()
                );
            }
            let map = MembraneMap::from_grey(&decoded.image)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            drop(decoded);
            if map.clamped > 0 {
                eprintln!(
                    "urisc: warning: {}: {} probability value(s) outside [0, 1] were clamped",
                    f.display(),
                    map.clamped
                );
            }
            let cells = match args.block {
                None => segment_cells(&map, &params)?,
                Some(block) => segment_cells_in_blocks(&map, block, &params)?,
            };
            // The probability map stays only if the OME-Zarr image is to show it.
            let map = (zarr.is_some() && em.is_none()).then_some(map);
            urisc_io::write_label_tiff(&maps.binary, &cells.labels, pixel_size, args.force)?;
            // A stack's overlay takes the same page of an EM stack (or the one EM image).
            let em = em
                .as_ref()
                .map(|e| match maps.section.plane {
                    Some(z) if urisc_io::probe(e)?.0 > z => {
                        Ok(urisc_io::read_page(e, z)?.image.into_u8())
                    }
                    _ => urisc_io::read_u8(e),
                })
                .transpose()?;
            if let (Some(em), Some(out)) = (&em, overlay) {
                let dir = out.parent().expect("overlays/ in --out");
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("{}: cannot create", dir.display()))?;
                let rgb = overlay_rgb(em, &cells.labels, 0x5eed, 0.45);
                urisc_io::write_png_rgb(out, em.height, em.width, &rgb, pixel_size, args.force)?;
            }
            if let Some(out) = zarr {
                let image = match (em, map) {
                    (Some(em), _) => em,
                    (None, Some(map)) => urisc_io::Image::new(
                        map.height,
                        map.width,
                        // Stored as predict writes probabilities: membrane dark, 255·(1 − p).
                        map.levels
                            .iter()
                            .map(|&l| urisc_io::encoding::stored_from_level(l))
                            .collect(),
                    ),
                    (None, None) => unreachable!("the map is kept when there is no EM image"),
                };
                urisc_io::zarr_store::write_labelled_image(
                    out,
                    &image,
                    "cells",
                    &cells.labels,
                    |id| cell_colour(id, 0x5eed),
                    pixel_size,
                    args.force,
                )?;
            }
            eprintln!(
                "urisc cells: {} ({}×{}): {} cells from {} fragments ({} merged by boundary, {} small), {:.2} s → {}",
                f.display(),
                cells.labels.height,
                cells.labels.width,
                cells.cells,
                cells.fragments,
                cells.merges,
                cells.small_merges,
                started.elapsed().as_secs_f64(),
                maps.binary.display()
            );
        }
        Ok(())
    })();
    if result.is_err() {
        plan.abandon();
    }
    result?;
    eprintln!(
        "urisc cells: wrote {} label image(s) to {}",
        plan.maps.len(),
        args.out.display()
    );
    Ok(())
}

/// One scored label image.
struct Scored {
    name: String,
    scores: InstanceScores,
}

/// `urisc eval --instances`: label images (`pred`) against GT membrane labels (`gt`).
pub fn eval_instances(pred: &Path, gt: &Path, format: OutputFormat) -> Result<String> {
    let pairs = pair_inputs(pred, gt)?;
    let mut scored = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        anyhow::ensure!(
            !pair.pred.is_plane(),
            "{}: multi-page stacks are not read as label images (give one file per slice, as `urisc cells` writes them)",
            pair.pred.describe()
        );
        let labels: Image<u32> = urisc_io::read_labels(&pair.pred.path)?;
        let truth = pair.gt.read()?.image.into_u8();
        anyhow::ensure!(
            (labels.height, labels.width) == (truth.height, truth.width),
            "{}: labels are {}×{} but ground truth {} is {}×{}",
            pair.pred.path.display(),
            labels.height,
            labels.width,
            pair.gt.describe(),
            truth.height,
            truth.width
        );
        scored.push(Scored {
            name: pair.name.clone(),
            scores: score_labels(&truth.data, &labels.data, labels.height, labels.width),
        });
    }
    Ok(render_instances(&scored, format))
}

const COLUMNS: [&str; 10] = [
    "gt_cells",
    "cells",
    "are",
    "voi_split",
    "voi_merge",
    "cremi",
    "vrand",
    "vinfo",
    "are_precision",
    "are_recall",
];

fn values(s: &InstanceScores) -> [f64; 10] {
    [
        s.gt_cells as f64,
        s.pred_cells as f64,
        s.are,
        s.voi_split,
        s.voi_merge,
        s.cremi,
        s.vrand,
        s.vinfo,
        s.are_precision,
        s.are_recall,
    ]
}

fn render_instances(scored: &[Scored], format: OutputFormat) -> String {
    let n = scored.len() as f64;
    let mut mean = [0f64; 10];
    for s in scored {
        for (m, v) in mean.iter_mut().zip(values(&s.scores)) {
            *m += v / n;
        }
    }
    const CONVENTION: &str = "GT cells: 4-connected components of GT value > 122 (membrane 0). \
        are: scikit-image adapted_rand_error(gt, pred), GT 0 ignored, predicted 0 one segment. \
        voi_split = H(pred|gt), voi_merge = H(gt|pred), bits, nothing ignored. \
        cremi = sqrt(are·(voi_split + voi_merge)). vrand, vinfo: ISBI 2012 foreground-restricted \
        F-scores of the labels as given (predicted 0 = singletons; no threshold sweep).";
    match format {
        OutputFormat::Json => {
            let obj = |v: [f64; 10]| {
                serde_json::Value::Object(
                    COLUMNS
                        .iter()
                        .zip(v)
                        .map(|(k, x)| (k.to_string(), serde_json::json!(x)))
                        .collect(),
                )
            };
            let images: Vec<serde_json::Value> = scored
                .iter()
                .map(|s| {
                    let mut o = obj(values(&s.scores));
                    o["name"] = serde_json::json!(s.name);
                    o
                })
                .collect();
            let report = serde_json::json!({
                "kind": "instances",
                "convention": CONVENTION,
                "images": images,
                "mean": obj(mean),
            });
            serde_json::to_string_pretty(&report).expect("serialisable") + "\n"
        }
        OutputFormat::Csv => {
            let mut out = format!("name,{}\n", COLUMNS.join(","));
            let row = |name: &str, v: [f64; 10]| {
                let cells: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
                format!("{name},{}\n", cells.join(","))
            };
            for s in scored {
                out += &row(&s.name, values(&s.scores));
            }
            out + &row("mean", mean)
        }
        OutputFormat::Table => {
            let width = scored
                .iter()
                .map(|s| s.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let mut out = format!("{:<width$}", "name");
            for c in &COLUMNS[..8] {
                out += &format!(" {c:>9}");
            }
            out.push('\n');
            let row = |name: &str, v: [f64; 10]| {
                let mut line = format!("{name:<width$} {:>9.0} {:>9.0}", v[0], v[1]);
                for x in &v[2..8] {
                    line += &format!(" {x:>9.4}");
                }
                line + "\n"
            };
            for s in scored {
                out += &row(&s.name, values(&s.scores));
            }
            out += &row("mean", mean);
            out + "\n" + CONVENTION + "\n"
        }
    }
}
