//! The block manifest (`urisc plan`): the output stores, and every block of every section —
//! its write region (one storage unit of the output: a chunk or a shard) and its read region
//! (the write region plus the halo of the tiles that touch it), in a deterministic order,
//! grouped `blocks_per_task` to an array task.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use urisc_infer::job::{PredictFlags, PredictSettings};
use urisc_infer::{input_region, InferenceOptions, Rect};
use urisc_io::paths::{resolved, Inputs};
use urisc_io::sections::section_name;
use urisc_io::zarr_store::StoreLayout;
use urisc_model::SegmentationModel;
use urisc_nn::{Engine, Segmenter};

use crate::error::ClusterError;

/// The manifest format's name and version.
/// Version 3: a checksum of the manifest's content (hand edits are refused) and an id for each
/// output store (recorded in the store too, so a replaced store is noticed).
/// Version 2: sections are named by the section rule (`STEM_zNNN` for a plane of a stack;
/// version 1 wrote `STEM[z]`), so assembled files carry the names `urisc predict` gives.
pub const FORMAT: &str = "urisc-block-manifest/3";

/// How a problem with a manifest's content ends: the way out.
const PLAN_AGAIN: &str = "plan again (urisc plan ... --force)";

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
    /// The settings as `urisc predict`'s flags, for [`PredictSettings::resolve`]'s checks.
    pub fn flags(&self) -> PredictFlags {
        PredictFlags {
            tile: Some(self.tile),
            overlap: Some(self.overlap),
            batch: Some(self.batch),
            tta: Some(self.tta),
            threshold: Some(self.threshold),
            ..PredictFlags::default()
        }
    }

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
    /// Its identity: random, written by `urisc plan` into the store's attributes
    /// ([`crate::state::STORE_ID_ATTRIBUTE`]) and into every done marker of its units.
    pub id: String,
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
    /// The hash of the rest of the manifest ([`Manifest::content_checksum`]), so an edited
    /// manifest is refused.
    pub checksum: String,
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
    /// Reads a manifest file and checks it as its plan would ([`Manifest::validate`]) and
    /// against its checksum; returns it with its model (loaded for the checks, its weights
    /// checked against the plan's). Every stage that reads a manifest (`run-block`, `status`,
    /// `assemble`) calls this, so an edited manifest is refused everywhere with the same line.
    pub fn load(path: &Path) -> Result<(Manifest, Segmenter), ClusterError> {
        let fatal = |m: String| {
            ClusterError::Fatal(urisc_io::one_line(&format!("{}: {m}", path.display())))
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| fatal(format!("cannot read ({e})")))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| fatal(format!("not a block manifest ({e})")))?;
        // The format first: an older manifest gets its own message, not a missing field.
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(f) if f.starts_with("urisc-block-manifest/") => {
                return Err(fatal(format!(
                    "format {f:?} is from an older urisc (this one reads {FORMAT:?}); {PLAN_AGAIN}"
                )))
            }
            _ => {
                return Err(fatal(format!(
                    "not a block manifest (no format {FORMAT:?})"
                )))
            }
        }
        let m: Manifest = serde_json::from_value(value)
            .map_err(|e| fatal(format!("not a block manifest ({e})")))?;
        let model = m.model.load()?;
        m.validate(&model)
            .map_err(|e| fatal(format!("{e}; {PLAN_AGAIN}")))?;
        if m.checksum != m.content_checksum() {
            return Err(fatal(format!(
                "the manifest was edited since urisc plan wrote it (its checksum does not match); {PLAN_AGAIN}"
            )));
        }
        Ok((m, model))
    }

    /// The hash of the manifest's content, its `checksum` field left out.
    pub fn content_checksum(&self) -> String {
        let unsealed = Manifest {
            checksum: String::new(),
            ..self.clone()
        };
        crate::digest::fnv1a64(&serde_json::to_vec(&unsealed).expect("manifests serialise"))
    }

    /// Sets the checksum to that of the content (`urisc plan` does, as the last step).
    pub fn seal(&mut self) {
        self.checksum = self.content_checksum();
    }

    /// Checks the manifest as fully as its plan: the inference settings by `urisc predict`'s
    /// rules ([`PredictSettings::resolve`]), the plan's own ranges, every section's name, and
    /// then everything derived — stores, sections, blocks (write regions exactly the storage
    /// units of the layout, each once; read regions those [`input_region`] gives), tasks and
    /// resources — equal to what [`plan`] gives for the manifest's own request. Any difference
    /// is named (one line): a manifest that passes holds no block `urisc plan` would not write.
    pub fn validate(&self, model: &Segmenter) -> Result<(), String> {
        PredictSettings::resolve(&model.descriptor().defaults(), &self.inference.flags())
            .map_err(|e| format!("inference: {e}"))?;
        let first = self.stores.first().ok_or("no output stores")?;
        check_plan_settings(
            first.layout.chunk,
            first.layout.shard,
            self.blocks_per_task,
            self.resources.cpus,
        )?;
        if self.sections.is_empty() {
            return Err("no sections".into());
        }
        let absolute = |what: &str, p: &Path| {
            if p.is_absolute() {
                Ok(())
            } else {
                Err(format!("{what} {} is not an absolute path", p.display()))
            }
        };
        absolute("out", &self.out)?;
        if let Some(p) = &self.model.path {
            absolute("the model", p)?;
        }
        let mut ids = std::collections::HashSet::new();
        for (i, s) in self.stores.iter().enumerate() {
            if s.id.is_empty() || !ids.insert(&s.id) {
                return Err(format!(
                    "store {i}: its id {:?} is empty or not unique",
                    s.id
                ));
            }
        }
        for (i, s) in self.sections.iter().enumerate() {
            let n = self.stores.len();
            if s.binary >= n || s.probability.is_some_and(|p| p >= n) {
                return Err(format!("section {i}: a store index beyond the {n} stores"));
            }
            absolute(&format!("section {i}: input"), &s.input)?;
            // A section is named after its store (and so its input): `STEM`, or `STEM_zNNN` for
            // its plane. Names become file names in `assemble`.
            let stem = store_name(&self.stores[s.binary]);
            if s.name != section_name(&stem, Some(s.plane))
                && !(s.plane == 0 && s.name == section_name(&stem, None))
            {
                return Err(format!(
                    "section {i}: name {:?} is not that of plane {} of {stem}",
                    s.name, s.plane
                ));
            }
        }
        let expected = plan(&self.request()?, model).map_err(|e| e.to_string())?;
        let count = |what: &str, have: usize, planned: usize| {
            if have == planned {
                Ok(())
            } else {
                Err(format!("{have} {what}, the plan gives {planned}"))
            }
        };
        count("stores", self.stores.len(), expected.stores.len())?;
        count("blocks", self.blocks.len(), expected.blocks.len())?;
        for (i, (s, e)) in self.stores.iter().zip(&expected.stores).enumerate() {
            let e = Store {
                id: s.id.clone(),
                ..e.clone()
            };
            if *s != e {
                return Err(format!(
                    "store {i} ({}) is not as planned: {e:?}",
                    s.layout.root.display()
                ));
            }
        }
        for (i, (s, e)) in self.sections.iter().zip(&expected.sections).enumerate() {
            if s != e {
                return Err(format!("section {i} ({}) is not as planned: {e:?}", s.name));
            }
        }
        for (b, e) in self.blocks.iter().zip(&expected.blocks) {
            if b != e {
                return Err(format!("block {}: {}", e.index, difference(b, e)));
            }
        }
        if (self.tasks, &self.resources) != (expected.tasks, &expected.resources) {
            return Err(format!(
                "{} tasks of {:?}, the plan gives {} of {:?}",
                self.tasks, self.resources, expected.tasks, expected.resources
            ));
        }
        Ok(())
    }

    /// The request this manifest was planned from, as far as the manifest tells it (sections
    /// grouped into their stores in order).
    fn request(&self) -> Result<PlanRequest, String> {
        let mut outputs: Vec<OutputStores> = Vec::new();
        let mut grouped: Vec<usize> = Vec::new();
        for (i, s) in self.sections.iter().enumerate() {
            match grouped.last() {
                Some(&store) if store == s.binary => {
                    outputs.last_mut().expect("a group").sections.push(i)
                }
                _ => {
                    grouped.push(s.binary);
                    outputs.push(OutputStores {
                        name: store_name(&self.stores[s.binary]),
                        sections: vec![i],
                    });
                }
            }
        }
        let probability = match self.sections[0].probability {
            Some(p) => {
                let dtype = &self.stores[p].layout.data_type;
                if !PROBABILITY_TYPES.contains(&dtype.as_str()) {
                    return Err(format!("probability data type {dtype:?}: uint8 or float32"));
                }
                Some(dtype.clone())
            }
            None => None,
        };
        let layout = &self.stores[0].layout;
        Ok(PlanRequest {
            sections: self
                .sections
                .iter()
                .map(|s| SectionInput {
                    name: s.name.clone(),
                    input: s.input.clone(),
                    plane: s.plane,
                    height: s.height,
                    width: s.width,
                    pixel_size_nm: self.stores[s.binary].pixel_size_nm,
                })
                .collect(),
            outputs,
            model: self.model.clone(),
            inference: self.inference.clone(),
            out: self.out.clone(),
            probability,
            chunk: layout.chunk,
            shard: layout.shard,
            blocks_per_task: self.blocks_per_task,
            cpus: self.resources.cpus,
        })
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

/// The chunk sides a plan accepts.
pub const CHUNK_RANGE: std::ops::RangeInclusive<usize> = 16..=16384;

/// The plan's own ranges (its flags, and a manifest's fields): chunk side in [`CHUNK_RANGE`],
/// at least one chunk per shard side, block per task and thread per task. The message names
/// the setting as its flag does, without the dashes.
pub fn check_plan_settings(
    chunk: usize,
    shard: usize,
    blocks_per_task: usize,
    threads: usize,
) -> Result<(), String> {
    if !CHUNK_RANGE.contains(&chunk) {
        return Err(format!("chunk {chunk}: 16 to 16384 pixels"));
    }
    if shard == 0 {
        return Err("shard must be at least 1".into());
    }
    if blocks_per_task == 0 {
        return Err("blocks-per-task must be at least 1".into());
    }
    if threads == 0 {
        return Err("threads must be at least 1".into());
    }
    Ok(())
}

/// The data types a probability store may hold.
pub const PROBABILITY_TYPES: [&str; 2] = ["uint8", "float32"];

/// A binary store's name (its input's stem): its folder's without `.ome.zarr`.
fn store_name(store: &Store) -> String {
    let name = store
        .layout
        .root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.trim_end_matches(".ome.zarr").to_string()
}

fn rect(r: &Rect) -> String {
    format!("rows {}..{}, columns {}..{}", r.y0, r.y1, r.x0, r.x1)
}

/// How block `b` differs from the planned `e`, in words.
fn difference(b: &Block, e: &Block) -> String {
    let mut parts = Vec::new();
    let mut field = |differs: bool, what: String, planned: String| {
        if differs {
            parts.push(format!("{what} (planned: {planned})"));
        }
    };
    field(
        b.index != e.index,
        format!("index {}", b.index),
        e.index.to_string(),
    );
    field(
        b.section != e.section,
        format!("section {}", b.section),
        e.section.to_string(),
    );
    field(
        b.unit != e.unit,
        format!("unit ({}, {})", b.unit.0, b.unit.1),
        format!("({}, {})", e.unit.0, e.unit.1),
    );
    field(
        b.write != e.write,
        format!("writes {}", rect(&b.write)),
        rect(&e.write),
    );
    field(
        b.read != e.read,
        format!("reads {}", rect(&b.read)),
        rect(&e.read),
    );
    parts.join(", ")
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
            id: crate::digest::random_id(),
            layout: layout("", "uint8"),
            content: "binary".into(),
            pixel_size_nm: first.pixel_size_nm,
        });
        let probability = request.probability.as_ref().map(|dtype| {
            stores.push(Store {
                id: crate::digest::random_id(),
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
    refuse_clashes(&stores, &sections)?;
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
    let mut manifest = Manifest {
        format: FORMAT.into(),
        checksum: String::new(),
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
    };
    manifest.seal();
    Ok(manifest)
}

/// Refuses outputs that would replace each other or an input: two stores at one path (two
/// inputs of one name, or an input named like another's probability store), two sections of one
/// name (`assemble` would write both to one file), a store that is an input.
fn refuse_clashes(stores: &[Store], sections: &[Section]) -> Result<(), ClusterError> {
    use std::collections::HashMap;
    let input_of = |store: usize| {
        sections
            .iter()
            .find(|s| s.binary == store || s.probability == Some(store))
            .map_or(PathBuf::new(), |s| s.input.clone())
    };
    let inputs = Inputs::new(&sections.iter().map(|s| &s.input).collect::<Vec<_>>());
    let mut roots: HashMap<PathBuf, usize> = HashMap::new();
    for (i, store) in stores.iter().enumerate() {
        let root = &store.layout.root;
        // Never an input, inside an input store, or holding one.
        inputs.refuse(root)?;
        let key = resolved(root);
        if let Some(&other) = roots.get(&key) {
            return Err(ClusterError::Fatal(format!(
                "{}: its output {} would replace that of {} (rename one)",
                input_of(i).display(),
                root.display(),
                input_of(other).display()
            )));
        }
        roots.insert(key, i);
    }
    let mut names: HashMap<&str, &Path> = HashMap::new();
    for s in sections {
        if let Some(other) = names.insert(&s.name, &s.input) {
            return Err(ClusterError::Fatal(format!(
                "{}: its section {} has the name of one of {} (assemble would write both to one file; rename one)",
                s.input.display(),
                s.name,
                other.display()
            )));
        }
    }
    Ok(())
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plan of one 300 × 200 section in 128² chunks (3 × 2 blocks) with the embedded model.
    pub(crate) fn planned(out: &Path) -> (Manifest, Segmenter) {
        let model = Segmenter::embedded_default(Engine::Cpu).unwrap();
        let request = PlanRequest {
            sections: vec![SectionInput {
                name: "a".into(),
                input: out.join("in/a.png"),
                plane: 0,
                height: 300,
                width: 200,
                pixel_size_nm: None,
            }],
            outputs: vec![OutputStores {
                name: "a".into(),
                sections: vec![0],
            }],
            model: ModelRef {
                path: None,
                checksum: model.descriptor().weights_checksum.clone(),
            },
            inference: Inference {
                tile: 256,
                overlap: 64,
                batch: 1,
                tta: 1,
                threshold: 0.5,
            },
            out: out.to_path_buf(),
            probability: Some("uint8".into()),
            chunk: 128,
            shard: 1,
            blocks_per_task: 2,
            cpus: 1,
        };
        (plan(&request, &model).unwrap(), model)
    }

    #[test]
    fn a_plan_passes_its_own_checks_and_an_edit_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (m, model) = planned(dir.path());
        m.validate(&model).unwrap();
        assert_eq!(m.checksum, m.content_checksum());
        assert_ne!(m.stores[0].id, m.stores[1].id, "every store its own id");
        let refused = |edit: &dyn Fn(&mut Manifest), message: &str| {
            let mut e = m.clone();
            edit(&mut e);
            let err = e.validate(&model).unwrap_err();
            assert!(err.contains(message), "{message:?} not in {err:?}");
            assert_ne!(e.content_checksum(), m.checksum, "the checksum sees it too");
        };
        refused(&|e| e.inference.threshold = 7.0, "threshold 7");
        refused(
            &|e| e.inference.tile = 250,
            "tile 250 is not a multiple of 16",
        );
        refused(&|e| e.inference.overlap = 256, "overlap 256");
        refused(&|e| e.blocks[1].unit = (0, 0), "block 1: unit (0, 0)");
        refused(
            &|e| e.blocks[2].write.y1 = 300,
            "block 2: writes rows 128..300",
        );
        refused(&|e| e.blocks[3].read.x0 = 5, "block 3: reads rows");
        refused(&|e| e.blocks.swap(0, 1), "block 0: index 1");
        refused(&|e| e.tasks = 4, "4 tasks");
        refused(&|e| e.resources.cpus = 0, "threads must be at least 1");
        refused(&|e| e.sections[0].name = "b".into(), "name \"b\"");
        refused(
            &|e| e.sections[0].probability = None,
            "2 stores, the plan gives 1",
        );
        refused(&|e| e.stores[1].layout.data_type = "int16".into(), "int16");
        refused(&|e| e.stores[1].id = e.stores[0].id.clone(), "not unique");
        refused(&|e| e.out = "rel".into(), "not an absolute path");
    }

    #[test]
    fn outputs_that_replace_each_other_or_an_input_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = planned(dir.path());
        let mut sections = m.sections.clone();
        sections.push(Section {
            input: dir.path().join("in/b.png"),
            ..sections[0].clone()
        });
        let err = refuse_clashes(&m.stores, &sections)
            .unwrap_err()
            .to_string();
        assert!(err.contains("assemble would write both"), "{err}");
        let mut stores = m.stores.clone();
        stores[0].layout.root = m.sections[0].input.clone();
        let err = refuse_clashes(&stores, &m.sections)
            .unwrap_err()
            .to_string();
        assert!(err.contains("never writes over its inputs"), "{err}");
        stores[0].layout.root = stores[1].layout.root.clone();
        let err = refuse_clashes(&stores, &m.sections)
            .unwrap_err()
            .to_string();
        assert!(err.contains("would replace that of"), "{err}");
    }
}
