//! What `urisc plan` is asked for, resolved from a user's flags: the sections
//! ([`urisc_io::sections`]: a stack's planes are sections named `STEM_zNNN`, written into one
//! 3-D store per input), the inference settings ([`urisc_infer::job`], the rules `urisc
//! predict` uses), the chunk and shard sizes.

use std::path::PathBuf;

use urisc_infer::job::{PredictFlags, PredictSettings};
use urisc_io::sections::{input_files, sections_of};
use urisc_nn::Segmenter;

use crate::error::ClusterError;
use crate::manifest::{
    check_plan_settings, Inference, ModelRef, OutputStores, PlanRequest, SectionInput,
};

/// The most files a store should hold before its chunks are grouped into shards.
pub const MAX_STORE_FILES: usize = 10_000;

/// The flags of `urisc plan`.
#[derive(Clone, Debug)]
pub struct PlanFlags {
    /// Images, folders of images, or Zarr stores.
    pub inputs: Vec<PathBuf>,
    /// The model file (`None`: the embedded model).
    pub model: Option<PathBuf>,
    /// The output folder.
    pub out: PathBuf,
    /// Also write probabilities: `"uint8"` or `"float32"`.
    pub probability: Option<String>,
    /// Tile, overlap, batch, TTA and threshold as `urisc predict` takes them.
    pub predict: PredictFlags,
    /// Chunk side of the output arrays.
    pub chunk: usize,
    /// Chunks per shard side (`None`: the smallest power of two that keeps each store under
    /// [`MAX_STORE_FILES`] files).
    pub shard: Option<usize>,
    /// Blocks per array task.
    pub blocks_per_task: usize,
    /// Threads per task.
    pub threads: usize,
}

/// A plan request and what the user should be told about it.
#[derive(Clone, Debug)]
pub struct ResolvedPlan {
    /// The request for [`crate::plan`].
    pub request: PlanRequest,
    /// Notes on sections whose pixel size differs from the model's (blocks are predicted on
    /// the section's own grid).
    pub notes: Vec<String>,
}

fn fatal(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Fatal(e.to_string())
}

/// The shard side when none is given: 1, or the smallest power of two that keeps the stores
/// under [`MAX_STORE_FILES`] files in all.
pub fn default_shard(chunk_files: usize) -> usize {
    let mut s = 1;
    while chunk_files / (s * s) > MAX_STORE_FILES {
        s *= 2;
    }
    s
}

impl PlanFlags {
    /// Checks every flag and groups the sections into output stores (one per input: a 2-D
    /// store for an image, a 3-D store for a stack).
    pub fn resolve(&self, model: &Segmenter) -> Result<ResolvedPlan, ClusterError> {
        let d = model.descriptor();
        let settings = PredictSettings::resolve(&d.defaults(), &self.predict)
            .map_err(|e| fatal(e.with_flag()))?;
        check_plan_settings(
            self.chunk,
            self.shard.unwrap_or(1),
            self.blocks_per_task,
            self.threads,
        )
        .map_err(|e| fatal(format!("--{e}")))?;
        let out = std::path::absolute(&self.out).map_err(fatal)?;
        let mut sections = Vec::new();
        let mut outputs: Vec<OutputStores> = Vec::new();
        let mut notes = Vec::new();
        for file in input_files(&self.inputs)? {
            // Outputs that would replace each other or an input are refused by the plan.
            let name = urisc_io::image_stem(&file);
            let input = std::path::absolute(&file).map_err(fatal)?;
            let mut members = Vec::new();
            let file_nm = urisc_io::open_rows(&file)?.pixel_size_nm();
            for section in sections_of(&file)? {
                let (height, width) = section.size()?;
                // Blocks are predicted on the section's own grid: a pixel size that
                // `urisc predict` would resample by (or refuse) is only noted.
                match settings.section_scale(file_nm) {
                    Ok(scale) if scale.scale != 1.0 => notes.push(format!(
                        "{}: {} nm/pixel, the model {} nm/pixel; blocks are predicted at the section's own scale (urisc predict would resample by {:.3})",
                        section.describe(),
                        scale.input_nm.unwrap_or_default(),
                        d.pixel_size_nm.unwrap_or_default(),
                        scale.scale
                    )),
                    Ok(_) => {}
                    Err(e) => notes.push(format!(
                        "{}: {e}; blocks are predicted at the section's own scale",
                        section.describe()
                    )),
                }
                members.push(sections.len());
                sections.push(SectionInput {
                    name: section.name.clone(),
                    input: input.clone(),
                    plane: section.page(),
                    height,
                    width,
                    pixel_size_nm: file_nm.or(d.pixel_size_nm),
                });
            }
            outputs.push(OutputStores {
                name,
                sections: members,
            });
        }
        // Shards when plain chunks would make a store of too many files.
        let chunk_files: usize = sections
            .iter()
            .map(|s| s.height.div_ceil(self.chunk) * s.width.div_ceil(self.chunk))
            .sum();
        let shard = self.shard.unwrap_or_else(|| default_shard(chunk_files));
        let o = &settings.options;
        Ok(ResolvedPlan {
            request: PlanRequest {
                sections,
                outputs,
                model: ModelRef {
                    path: self
                        .model
                        .as_ref()
                        .map(std::path::absolute)
                        .transpose()
                        .map_err(fatal)?,
                    checksum: d.weights_checksum.clone(),
                },
                inference: Inference {
                    tile: o.tile,
                    overlap: o.overlap,
                    batch: o.batch,
                    tta: o.tta,
                    threshold: settings.threshold,
                },
                out,
                probability: self.probability.clone(),
                chunk: self.chunk,
                shard,
                blocks_per_task: self.blocks_per_task,
                cpus: self.threads,
            },
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_keep_stores_small() {
        assert_eq!(default_shard(0), 1);
        assert_eq!(default_shard(10_000), 1);
        assert_eq!(default_shard(10_001), 2);
        assert_eq!(default_shard(40_004), 4);
    }
}
