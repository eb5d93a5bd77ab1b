//! The block manifest (`urisc plan`): the output stores, and every block of every section —
//! its write region (one storage unit of the output: a chunk or a shard) and its read region
//! (the write region plus the halo of the tiles that touch it), in a deterministic order,
//! grouped `blocks_per_task` to an array task.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use urisc_infer::{input_region, InferenceOptions, Rect};
use urisc_io::zarr_store::StoreLayout;
use urisc_model::SegmentationModel;
use urisc_nn::{Engine, Segmenter};

use crate::error::ClusterError;

/// The manifest format's name and version.
/// Version 2: sections are named by the section rule (`STEM_zNNN` for a plane of a stack;
/// version 1 wrote `STEM[z]`), so assembled files carry the names `urisc predict` gives.
pub const FORMAT: &str = "urisc-block-manifest/2";

/// Where the model comes from and how to recognise it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The model file (`None`: the model embedded in urisc).
    pub path: Option<PathBuf>,
    /// Its weights' checksum, checked by every task.
    pub checksum: Option<String>,
}

impl ModelRef {
    /// Loads the model on urisc's CPU kernels and checks it is the planned one.
    pub fn load(&self) -> Result<Segmenter, ClusterError> {
        let model = match &self.path {
            Some(p) => Segmenter::load(p, Engine::Cpu),
            None => Segmenter::embedded_default(Engine::Cpu),
        }
        .map_err(|e| ClusterError::Fatal(e.to_string()))?;
        if model.descriptor().weights_checksum != self.checksum {
            return Err(ClusterError::Fatal(format!(
                "{}: the model's weights changed since the plan (checksum {:?}, planned {:?})",
                self.describe(),
                model.descriptor().weights_checksum,
                self.checksum
            )));
        }
        Ok(model)
    }

    /// The file, or the embedded model's name.
    pub fn describe(&self) -> String {
        self.path
            .as_ref()
            .map_or(urisc_nn::EMBEDDED_MODEL_NAME.to_string(), |p| {
                p.display().to_string()
            })
    }
}

/// Inference settings every task uses (part of the plan so all blocks agree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inference {
    /// Tile side.
    pub tile: usize,
    /// Overlap of neighbouring tiles.
    pub overlap: usize,
    /// Tiles per forward pass.
    pub batch: usize,
    /// Test-time augmentation.
    pub tta: usize,
    /// Membrane iff probability ≥ this.
    pub threshold: f32,
}

impl Inference {
    /// As [`InferenceOptions`].
    pub fn options(&self) -> InferenceOptions {
        InferenceOptions {
            tile: self.tile,
            overlap: self.overlap,
            batch: self.batch,
            tta: self.tta,
        }
    }
}

/// One input section (a file, or a plane of a Zarr stack) and the arrays it is written to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Name for status reports and assembled files: `STEM`, or `STEM_zNNN` for a plane of a
    /// stack ([`urisc_io::sections`]).
    pub name: String,
    /// The input file or Zarr store.
    pub input: PathBuf,
    /// Plane of a 3-D input (0 for 2-D inputs).
    pub plane: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Index of the binary output store in [`Manifest::stores`].
    pub binary: usize,
    /// Index of the probability store, if probabilities are written.
    pub probability: Option<usize>,
    /// Plane of the output arrays this section fills.
    pub out_plane: usize,
}

/// An output store: an OME-Zarr image and what it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Store {
    /// Geometry.
    pub layout: StoreLayout,
    /// `"binary"` (U-RISC polarity: membrane 0, background 255) or `"probability"`
    /// (`uint8`: 255·(1 − p); `float32`: p).
    pub content: String,
    /// Pixel size in nm.
    pub pixel_size_nm: Option<f64>,
}

/// One block: a storage unit of a section's outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Its index (position in [`Manifest::blocks`]).
    pub index: usize,
    /// Index of its section.
    pub section: usize,
    /// Storage unit row and column in the output arrays.
    pub unit: (usize, usize),
    /// The pixels it writes (whole storage units, clipped to the section).
    pub write: Rect,
    /// The input pixels it reads (the write region plus the halo of the tiles touching it).
    pub read: Rect,
}

/// Memory and CPUs a task needs, for scheduler requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Threads each task uses.
    pub cpus: usize,
    /// Estimated peak resident memory of a task, MiB (with margin).
    pub memory_mib: u64,
}

/// The whole plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The urisc version that planned it.
    pub created_by: String,
    /// The model.
    pub model: ModelRef,
    /// Inference settings.
    pub inference: Inference,
    /// The folder holding the output stores and the block state (`.blocks/`).
    pub out: PathBuf,
    /// Output stores.
    pub stores: Vec<Store>,
    /// Sections.
    pub sections: Vec<Section>,
    /// Blocks, in order.
    pub blocks: Vec<Block>,
    /// Blocks per array task.
    pub blocks_per_task: usize,
    /// Array tasks: indices `0..tasks`.
    pub tasks: usize,
    /// Requests per task.
    pub resources: Resources,
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, ClusterError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ClusterError::Fatal(format!("{}: cannot read ({e})", path.display())))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            ClusterError::Fatal(format!("{}: not a block manifest ({e})", path.display()))
        })?;
        if m.format != FORMAT {
            return Err(ClusterError::Fatal(format!(
                "{}: format {:?}, this urisc reads {FORMAT:?}",
                path.display(),
                m.format
            )));
        }
        let consistent =
            m.blocks.iter().enumerate().all(|(i, b)| {
                b.index == i
                    && b.section < m.sections.len()
                    && b.write.y1 <= m.sections[b.section].height
                    && b.write.x1 <= m.sections[b.section].width
            }) && m.sections.iter().all(|s| {
                s.binary < m.stores.len() && s.probability.is_none_or(|p| p < m.stores.len())
            }) && m.blocks_per_task >= 1
                && m.tasks == m.blocks.len().div_ceil(m.blocks_per_task);
        if !consistent {
            return Err(ClusterError::Fatal(format!(
                "{}: inconsistent manifest (blocks, sections or tasks do not match)",
                path.display()
            )));
        }
        Ok(m)
    }

    /// The blocks of array task `index`.
    pub fn task_blocks(&self, index: usize) -> Result<std::ops::Range<usize>, ClusterError> {
        crate::task::task_items(
            index,
            self.blocks_per_task,
            self.blocks.len(),
            "the manifest",
        )
    }

    /// The block-state folder.
    pub fn state_dir(&self) -> PathBuf {
        self.out.join(".blocks")
    }
}

/// A section to plan: its name, input and geometry.
#[derive(Clone, Debug)]
pub struct SectionInput {
    /// Name for status reports and assembled files ([`urisc_io::sections`]: `STEM`, or
    /// `STEM_zNNN` for a plane of a stack).
    pub name: String,
    /// The input file or store.
    pub input: PathBuf,
    /// Its page or plane (0 for a single image).
    pub plane: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Pixel size in nm, when known.
    pub pixel_size_nm: Option<f64>,
}

/// The output stores of one input: named after it, filled by its sections (one for an image,
/// one per plane for a stack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputStores {
    /// The stores' name (`NAME.ome.zarr`, `NAME-probability.ome.zarr`).
    pub name: String,
    /// Indices into [`PlanRequest::sections`], in plane order.
    pub sections: Vec<usize>,
}

/// What `urisc plan` is asked for.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    /// Sections in order.
    pub sections: Vec<SectionInput>,
    /// Inputs grouped into output stores (one entry per input).
    pub outputs: Vec<OutputStores>,
    /// The model.
    pub model: ModelRef,
    /// Inference settings.
    pub inference: Inference,
    /// Output folder.
    pub out: PathBuf,
    /// Also write probabilities (`uint8` or `float32`).
    pub probability: Option<String>,
    /// Chunk side.
    pub chunk: usize,
    /// Chunks per shard side (1: none).
    pub shard: usize,
    /// Blocks per array task.
    pub blocks_per_task: usize,
    /// Threads per task.
    pub cpus: usize,
}

/// Plans the blocks (does not create the stores: [`crate::create_stores`] does).
pub fn plan(request: &PlanRequest, model: &Segmenter) -> Result<Manifest, ClusterError> {
    let options = request.inference.options();
    let mut stores = Vec::new();
    let mut sections = Vec::new();
    for OutputStores {
        name,
        sections: members,
    } in &request.outputs
    {
        let first = &request.sections[members[0]];
        let (h, w) = (first.height, first.width);
        for &m in members {
            let s = &request.sections[m];
            if (s.height, s.width) != (h, w) {
                return Err(ClusterError::Fatal(format!(
                    "{}: plane {} is {}×{}, the stack's first plane {h}×{w}",
                    s.input.display(),
                    s.plane,
                    s.height,
                    s.width
                )));
            }
        }
        let planes = (members.len() > 1 || first.plane > 0).then_some(members.len());
        let layout = |suffix: &str, dtype: &str| StoreLayout {
            root: request.out.join(format!("{name}{suffix}.ome.zarr")),
            planes,
            height: h,
            width: w,
            chunk: request.chunk,
            shard: request.shard,
            data_type: dtype.into(),
        };
        let binary = stores.len();
        stores.push(Store {
            layout: layout("", "uint8"),
            content: "binary".into(),
            pixel_size_nm: first.pixel_size_nm,
        });
        let probability = request.probability.as_ref().map(|dtype| {
            stores.push(Store {
                layout: layout("-probability", dtype),
                content: "probability".into(),
                pixel_size_nm: first.pixel_size_nm,
            });
            stores.len() - 1
        });
        for (out_plane, &m) in members.iter().enumerate() {
            let s = &request.sections[m];
            sections.push(Section {
                name: s.name.clone(),
                input: s.input.clone(),
                plane: s.plane,
                height: h,
                width: w,
                binary,
                probability,
                out_plane,
            });
        }
    }
    let mut blocks = Vec::new();
    for (si, s) in sections.iter().enumerate() {
        let layout = &stores[s.binary].layout;
        let (uy, ux) = layout.units();
        let unit = layout.unit();
        for y in 0..uy {
            for x in 0..ux {
                let write = Rect {
                    y0: y * unit,
                    y1: ((y + 1) * unit).min(s.height),
                    x0: x * unit,
                    x1: ((x + 1) * unit).min(s.width),
                };
                let read = input_region(
                    model as &dyn SegmentationModel,
                    s.height,
                    s.width,
                    &options,
                    write,
                );
                blocks.push(Block {
                    index: blocks.len(),
                    section: si,
                    unit: (y, x),
                    write,
                    read,
                });
            }
        }
    }
    let resources = Resources {
        cpus: request.cpus,
        memory_mib: memory_estimate_mib(model, &request.inference, &blocks),
    };
    Ok(Manifest {
        format: FORMAT.into(),
        created_by: format!("urisc {}", env!("CARGO_PKG_VERSION")),
        model: request.model.clone(),
        inference: request.inference.clone(),
        out: request.out.clone(),
        stores,
        sections,
        tasks: blocks.len().div_ceil(request.blocks_per_task),
        blocks,
        blocks_per_task: request.blocks_per_task,
        resources,
    })
}

/// A task's peak memory: the largest block's input (u8) and output accumulators (f32, plus the
/// encoded units), the network's activations for one batch of tiles (every level's feature
/// maps, kept for the decoder's skips, with room for a convolution's input and output), the
/// weights, and the process itself; × 1.5 margin, rounded up to 64 MiB.
pub fn memory_estimate_mib(model: &Segmenter, inference: &Inference, blocks: &[Block]) -> u64 {
    let d = model.descriptor();
    let largest_read = blocks.iter().map(|b| b.read.area()).max().unwrap_or(0) as u64;
    let largest_write = blocks.iter().map(|b| b.write.area()).max().unwrap_or(0) as u64;
    let tile = inference.tile.min(4096) as u64;
    let widths = d.model.widths();
    let activations: u64 = widths
        .iter()
        .enumerate()
        .map(|(k, &c)| 4 * c as u64 * (tile >> k) * (tile >> k))
        .sum::<u64>()
        * 4
        * inference.batch as u64;
    let weights = 4 * urisc_nn::trainable_parameters(&d.model);
    let bytes = largest_read + largest_write * (4 + 4 + 1) + activations + weights + (80 << 20);
    let mib = (bytes as f64 * 1.5 / (1u64 << 20) as f64).ceil() as u64;
    mib.div_ceil(64) * 64
}
