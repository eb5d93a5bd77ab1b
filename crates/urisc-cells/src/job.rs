//! Whole-section cells of a list of sections (`urisc cells`): every output named and checked
//! before any work, then each section's label image `OUT/NAME.tif`, its overlay
//! `OUT/overlays/NAME.png` over the matching EM section, and its OME-Zarr image with the cells
//! as label image `OUT/NAME.ome.zarr`.
//!
//! Sections come from [`urisc_io::sections`] (a multi-page TIFF or a 3-D Zarr array is one
//! section per page, `STEM_zNNN`), outputs are named by [`urisc_infer::outputs::OutputPlan`],
//! the naming rule every command shares, and EM sections for overlays are matched by section
//! name ([`overlay_sections`]).
//!
//! ```
//! use urisc_cells::job::{CellsJob, CellsSettings};
//! use urisc_io::{sections, write_tiff_stack, Image};
//! let dir = tempfile::tempdir().unwrap();
//! // A stack of two 8-bit maps (membrane dark): no membrane at all, one cell per page.
//! let stack = dir.path().join("maps.tif");
//! write_tiff_stack(&stack, &[Image::filled(8, 8, 255u8), Image::filled(8, 8, 255u8)], None, false)
//!     .unwrap();
//! let settings = CellsSettings::new(dir.path().join("cells"));
//! let job = CellsJob::new(settings, &sections::sections(&[stack]).unwrap()).unwrap();
//! let done = job.run(|_| {}).unwrap();
//! assert_eq!(done.len(), 2);
//! assert!(done[1].labels.ends_with("maps_z001.tif") && done[1].cells == 1);
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::blockwise::MIN_BLOCK;
use urisc_infer::outputs::OutputPlan;
use urisc_io::sections::{image_files, sections_of, Section};
use urisc_io::{image_stem, zarr_store, Image, IoError};

use crate::{
    cell_colour, overlay_rgb, segment_cells, segment_cells_in_blocks, CellParams, CellsError,
    MembraneMap, Watershed,
};

/// The seed of the cells' colours in overlays and OME-Zarr label images.
pub const COLOUR_SEED: u64 = 0x5eed;
/// The opacity of the cells' colours over the EM image in overlays.
pub const OVERLAY_ALPHA: f32 = 0.45;

/// What can go wrong; every message names its file or flag.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Reading an input or writing an output failed, or an output is refused.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A parameter is out of range, or the segmentation failed.
    #[error(transparent)]
    Cells(#[from] CellsError),
    /// A probability map that is not one (non-finite values).
    #[error("{section}: {error}")]
    Map {
        /// The map's section, described (file, and page of a stack).
        section: String,
        /// What is wrong with it.
        error: CellsError,
    },
    /// Blocks asked for with the flooding watershed.
    #[error(
        "--block needs --watershed descent (the flooding watershed cannot be split into blocks)"
    )]
    BlockNeedsDescent,
    /// A block side below [`MIN_BLOCK`].
    #[error("--block {0}: blocks must be at least {MIN_BLOCK} pixels a side (smaller ones read many times their own pixels as halo)")]
    SmallBlock(usize),
    /// The EM image given for overlays does not exist.
    #[error("{}: no such file", em.display())]
    NoEmFile {
        /// The path given.
        em: PathBuf,
    },
    /// No EM section of a map section's name in the EM folder.
    #[error(
        "{}: no EM image named {name}.* (nor a page of a stack named {name}) for the overlay of {map}",
        em.display()
    )]
    NoEmSection {
        /// The EM folder.
        em: PathBuf,
        /// The section name looked for.
        name: String,
        /// The map section ([`Section::describe`]).
        map: String,
    },
    /// Two EM sections of one name in the EM folder.
    #[error("{}: two EM sections named {name}: {first} and {second}", em.display())]
    AmbiguousEm {
        /// The EM folder.
        em: PathBuf,
        /// The section name.
        name: String,
        /// One of them ([`Section::describe`]).
        first: String,
        /// The other.
        second: String,
    },
    /// An EM file whose sections cannot be matched one to one with the maps'.
    #[error(
        "{}: {em_sections} EM section(s) for {map_sections} probability map section(s) (give a folder of EM images matched by section name)",
        em.display()
    )]
    EmCount {
        /// The EM file.
        em: PathBuf,
        /// Its sections.
        em_sections: usize,
        /// The maps' sections.
        map_sections: usize,
    },
    /// An EM section of another size than its map.
    #[error(
        "{em}: EM image is {}×{} but the probability map {map} is {}×{}",
        em_size.0,
        em_size.1,
        map_size.0,
        map_size.1
    )]
    EmSize {
        /// The EM section ([`Section::describe`]).
        em: String,
        /// Its size.
        em_size: (usize, usize),
        /// The map section ([`Section::describe`]).
        map: String,
        /// Its size.
        map_size: (usize, usize),
    },
}

/// How `urisc cells` runs.
#[derive(Clone, Debug, PartialEq)]
pub struct CellsSettings {
    /// The segmentation's parameters.
    pub params: CellParams,
    /// Descent watershed in blocks of this side ([`segment_cells_in_blocks`]); `None` = the
    /// whole section at once.
    pub block: Option<usize>,
    /// The output folder.
    pub out: PathBuf,
    /// EM image(s) for overlays: a folder matched by section name, or one file whose sections
    /// are matched one to one ([`overlay_sections`]).
    pub overlay_image: Option<PathBuf>,
    /// Also write `OUT/NAME.ome.zarr`: the EM image (else the probability map) with the cells
    /// as its label image `labels/cells`.
    pub ome_zarr: bool,
    /// Overwrite existing outputs.
    pub force: bool,
}

impl CellsSettings {
    /// Default parameters into `out`: no blocks, overlays or OME-Zarr, no overwriting.
    pub fn new(out: PathBuf) -> CellsSettings {
        CellsSettings {
            params: CellParams::default(),
            block: None,
            out,
            overlay_image: None,
            ome_zarr: false,
            force: false,
        }
    }

    /// Checks the parameters and the block rule (blocks need the descent watershed and pixels).
    pub fn validate(&self) -> Result<(), JobError> {
        self.params.validate()?;
        if self.block.is_some() && self.params.watershed != Watershed::Descent {
            return Err(JobError::BlockNeedsDescent);
        }
        if let Some(block) = self.block {
            if block < MIN_BLOCK {
                return Err(JobError::SmallBlock(block));
            }
        }
        Ok(())
    }
}

/// The outputs of one section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionOutputs {
    /// The probability map's section.
    pub section: Section,
    /// Its label image `OUT/NAME.tif`.
    pub labels: PathBuf,
    /// The EM section its overlay (and OME-Zarr image) shows.
    pub em: Option<Section>,
    /// The overlay `OUT/overlays/NAME.png`.
    pub overlay: Option<PathBuf>,
    /// The OME-Zarr image `OUT/NAME.ome.zarr`.
    pub ome_zarr: Option<PathBuf>,
}

/// One section's cells, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionCells {
    /// The probability map's section.
    pub section: Section,
    /// The label image written.
    pub labels: PathBuf,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Cells (ids `1..=cells`).
    pub cells: u32,
    /// Watershed fragments before agglomeration.
    pub fragments: u32,
    /// Merges by mean boundary probability.
    pub merges: usize,
    /// Merges of small cells.
    pub small_merges: usize,
    /// Seconds the section took (reading to writing).
    pub seconds: f64,
    /// The map was colour with unequal channels, converted to grey with luma weights.
    pub colour_converted: bool,
    /// Floating-point probabilities outside [0, 1] that were clamped.
    pub clamped: usize,
}

/// A checked `urisc cells` run: every output named, nothing written yet.
#[derive(Debug)]
pub struct CellsJob {
    settings: CellsSettings,
    outputs: Vec<SectionOutputs>,
    plan: OutputPlan,
}

impl CellsJob {
    /// Checks the settings and every output before any work: names that clash, outputs that
    /// are inputs, existing files (without `force`), and the EM sections of the overlays
    /// (found, and of their maps' sizes).
    pub fn new(settings: CellsSettings, sections: &[Section]) -> Result<CellsJob, JobError> {
        settings.validate()?;
        let (out, force) = (&settings.out, settings.force);
        let plan = OutputPlan::new(sections, out, None, "tif", force)?;
        let em: Vec<Option<Section>> = match &settings.overlay_image {
            Some(em) => overlay_sections(em, sections)?
                .into_iter()
                .map(Some)
                .collect(),
            None => vec![None; sections.len()],
        };
        let outputs: Vec<SectionOutputs> = plan
            .maps
            .iter()
            .zip(em)
            .map(|(m, em)| SectionOutputs {
                overlay: em
                    .as_ref()
                    .map(|_| out.join("overlays").join(format!("{}.png", m.section.name))),
                ome_zarr: settings
                    .ome_zarr
                    .then(|| out.join(format!("{}.ome.zarr", m.section.name))),
                section: m.section.clone(),
                labels: m.binary.clone(),
                em,
            })
            .collect();
        // The overlays and stores are never an input either (a probability store of the same
        // name beside the maps, an EM image in the overlay folder), whatever `force` says.
        let inputs: Vec<&Path> = sections
            .iter()
            .map(|s| s.path.as_path())
            .chain(
                outputs
                    .iter()
                    .flat_map(|o| o.em.as_ref().map(|e| e.path.as_path())),
            )
            .collect();
        for o in &outputs {
            for p in o.overlay.iter().chain(&o.ome_zarr) {
                urisc_io::paths::refuse_input(p, &inputs)?;
                urisc_io::check_writable(p, force)?;
            }
        }
        Ok(CellsJob {
            settings,
            outputs,
            plan,
        })
    }

    /// Every section's outputs, in input order.
    pub fn outputs(&self) -> &[SectionOutputs] {
        &self.outputs
    }

    /// Segments every section and writes its outputs, handing each result to `done` as it is
    /// written. On failure the output folders this run created are removed again if empty.
    pub fn run(
        mut self,
        mut done: impl FnMut(&SectionCells),
    ) -> Result<Vec<SectionCells>, JobError> {
        // Dropped without `keep` (any error below), the plan removes the folders it created.
        self.plan.create_folders()?;
        let mut results = Vec::with_capacity(self.outputs.len());
        for o in &self.outputs {
            let r = self.section(o)?;
            done(&r);
            results.push(r);
        }
        self.plan.keep();
        Ok(results)
    }

    /// One section: cells, label image, overlay, OME-Zarr image.
    fn section(&self, o: &SectionOutputs) -> Result<SectionCells, JobError> {
        let (params, force) = (&self.settings.params, self.settings.force);
        let started = Instant::now();
        let decoded = o.section.read()?;
        let (pixel_size, colour_converted) = (decoded.pixel_size_nm, decoded.colour_converted);
        let map = MembraneMap::from_grey(&decoded.image).map_err(|error| JobError::Map {
            section: o.section.describe(),
            error,
        })?;
        drop(decoded);
        let cells = match self.settings.block {
            None => segment_cells(&map, params)?,
            Some(block) => segment_cells_in_blocks(&map, block, params)?,
        };
        let clamped = map.clamped;
        // The probability map stays only if the OME-Zarr image is to show it.
        let map = (o.ome_zarr.is_some() && o.em.is_none()).then_some(map);
        urisc_io::write_label_tiff(&o.labels, &cells.labels, pixel_size, force)?;
        let em =
            o.em.as_ref()
                .map(|e| Ok::<_, IoError>(e.read()?.image.into_u8()))
                .transpose()?;
        if let (Some(em), Some(out)) = (&em, &o.overlay) {
            let dir = out.parent().expect("overlays/ in the output folder");
            std::fs::create_dir_all(dir).map_err(|e| {
                IoError::new(
                    dir,
                    urisc_io::IoErrorKind::Write,
                    format!("cannot create: {e}"),
                )
            })?;
            let rgb = overlay_rgb(em, &cells.labels, COLOUR_SEED, OVERLAY_ALPHA);
            urisc_io::write_png_rgb(out, em.height, em.width, &rgb, pixel_size, force)?;
        }
        if let Some(out) = &o.ome_zarr {
            let image = match (em, map) {
                (Some(em), _) => em,
                (None, Some(map)) => Image::new(
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
            zarr_store::write_labelled_image(
                out,
                &image,
                "cells",
                &cells.labels,
                |id| cell_colour(id, COLOUR_SEED),
                pixel_size,
                force,
            )?;
        }
        Ok(SectionCells {
            section: o.section.clone(),
            labels: o.labels.clone(),
            height: cells.labels.height,
            width: cells.labels.width,
            cells: cells.cells,
            fragments: cells.fragments,
            merges: cells.merges,
            small_merges: cells.small_merges,
            seconds: started.elapsed().as_secs_f64(),
            colour_converted,
            clamped,
        })
    }
}

/// The EM section of each map section, for its overlay, sizes checked from the headers:
///
/// - `em` a folder: the EM section of the same section name ([`urisc_io::sections`]), so map
///   section `a_z001` takes page 1 of an EM stack `a.tif` or an EM file `a_z001.png` (two of
///   one name are refused);
/// - `em` a file (or Zarr store): its sections matched one to one with the maps' sections, in
///   order; a single EM image serves every page of a single map stack.
pub fn overlay_sections(em: &Path, maps: &[Section]) -> Result<Vec<Section>, JobError> {
    let found: Vec<Section> = if em.is_dir() && !zarr_store::is_zarr(em) {
        let files = image_files(em)?;
        let mut split: HashMap<usize, Vec<Section>> = HashMap::new();
        let mut found = Vec::with_capacity(maps.len());
        for map in maps {
            let mut named: Vec<Section> = Vec::new();
            for (k, file) in files.iter().enumerate() {
                if !may_hold(&image_stem(file), &map.name) {
                    continue;
                }
                let of_file = match split.entry(k) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(sections_of(file)?),
                };
                named.extend(of_file.iter().filter(|s| s.name == map.name).cloned());
            }
            match named.len() {
                0 => {
                    return Err(JobError::NoEmSection {
                        em: em.to_path_buf(),
                        name: map.name.clone(),
                        map: map.describe(),
                    })
                }
                1 => found.push(named.swap_remove(0)),
                _ => {
                    return Err(JobError::AmbiguousEm {
                        em: em.to_path_buf(),
                        name: map.name.clone(),
                        first: named[0].describe(),
                        second: named[1].describe(),
                    })
                }
            }
        }
        found
    } else {
        if !em.exists() {
            return Err(JobError::NoEmFile {
                em: em.to_path_buf(),
            });
        }
        let found = sections_of(em)?;
        // One EM image serves every page of one map stack (as before stacks were sections).
        let one_stack = maps.windows(2).all(|w| w[0].path == w[1].path);
        if found.len() == 1 && one_stack {
            vec![found[0].clone(); maps.len()]
        } else if found.len() != maps.len() {
            return Err(JobError::EmCount {
                em: em.to_path_buf(),
                em_sections: found.len(),
                map_sections: maps.len(),
            });
        } else {
            found
        }
    };
    for (map, e) in maps.iter().zip(&found) {
        let (map_size, em_size) = (map.size()?, e.size()?);
        if map_size != em_size {
            return Err(JobError::EmSize {
                em: e.describe(),
                em_size,
                map: map.describe(),
                map_size,
            });
        }
    }
    Ok(found)
}

/// Whether a file of stem `stem` can hold a section named `name`: `stem` itself, or a page
/// `stem_zNNN` of a stack.
fn may_hold(stem: &str, name: &str) -> bool {
    name == stem
        || name
            .strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix("_z"))
            .is_some_and(|z| !z.is_empty() && z.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use urisc_io::{write_png, write_tiff_stack};

    fn page(v: u8) -> Image<u8> {
        Image::filled(6, 7, v)
    }

    fn names(found: &[Section]) -> Vec<String> {
        found.iter().map(Section::describe).collect()
    }

    #[test]
    fn em_folders_are_matched_by_section_name() {
        let dir = tempfile::tempdir().unwrap();
        let (maps, em) = (dir.path().join("maps"), dir.path().join("em"));
        std::fs::create_dir_all(&maps).unwrap();
        std::fs::create_dir_all(&em).unwrap();
        // Maps: a stack a.tif of 2 pages and b.png; EM: a stack a.tif, and b's page as b.png.
        write_tiff_stack(&maps.join("a.tif"), &[page(1), page(2)], None, false).unwrap();
        write_png(&maps.join("b.png"), &page(3), None, false).unwrap();
        write_tiff_stack(&em.join("a.tif"), &[page(4), page(5)], None, false).unwrap();
        write_png(&em.join("b.png"), &page(6), None, false).unwrap();
        let sections = urisc_io::sections::sections(std::slice::from_ref(&maps)).unwrap();
        let found = overlay_sections(&em, &sections).unwrap();
        let a = em.join("a.tif").display().to_string();
        let b = em.join("b.png").display().to_string();
        assert_eq!(
            names(&found),
            [format!("{a} (page 0)"), format!("{a} (page 1)"), b]
        );
        // Pages saved one file each (a_z000.png, a_z001.png) match the stack's pages too.
        let singles = dir.path().join("singles");
        std::fs::create_dir_all(&singles).unwrap();
        for z in 0..2 {
            let name = format!("a_z00{z}.png");
            write_png(&singles.join(name), &page(7), None, false).unwrap();
        }
        let found = overlay_sections(&singles, &sections[..2]).unwrap();
        assert_eq!(found[1].path, singles.join("a_z001.png"));
        assert_eq!(found[1].plane, None);
        // A name nothing gives, and a name given twice, are refused naming it.
        let e = overlay_sections(&singles, &sections[2..]).unwrap_err();
        assert!(e.to_string().contains("no EM image named b.*"), "{e}");
        std::fs::copy(em.join("a.tif"), singles.join("a.tif")).unwrap();
        let e = overlay_sections(&singles, &sections[..2]).unwrap_err();
        assert!(
            e.to_string().contains("two EM sections named a_z000"),
            "{e}"
        );
    }

    #[test]
    fn an_em_file_is_matched_one_to_one() {
        let dir = tempfile::tempdir().unwrap();
        let (maps, em) = (dir.path().join("maps.tif"), dir.path().join("em.tif"));
        write_tiff_stack(&maps, &[page(1), page(2), page(3)], None, false).unwrap();
        write_tiff_stack(&em, &[page(4), page(5), page(6)], None, false).unwrap();
        let sections = sections_of(&maps).unwrap();
        let found = overlay_sections(&em, &sections).unwrap();
        assert_eq!(found, sections_of(&em).unwrap());
        // One EM image serves every page of one map stack, and one map.
        let one = dir.path().join("one.png");
        write_png(&one, &page(9), None, false).unwrap();
        let shared = overlay_sections(&one, &sections).unwrap();
        assert_eq!(shared.len(), 3);
        assert!(shared.iter().all(|s| s.path == one));
        // Two EM pages for three maps are refused.
        let two = dir.path().join("two.tif");
        write_tiff_stack(&two, &[page(4), page(5)], None, false).unwrap();
        let e = overlay_sections(&two, &sections).unwrap_err();
        assert!(
            matches!(
                e,
                JobError::EmCount {
                    em_sections: 2,
                    map_sections: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            overlay_sections(&one, &sections[1..2]).unwrap()[0].path,
            one
        );
        // Sizes are checked page by page.
        let small = dir.path().join("small.png");
        write_png(&small, &Image::filled(3, 3, 0u8), None, false).unwrap();
        let e = overlay_sections(&small, &sections[..1]).unwrap_err();
        assert!(e.to_string().contains("small.png: EM image is 3×3"), "{e}");
        let e = overlay_sections(&dir.path().join("gone.png"), &sections).unwrap_err();
        assert!(e.to_string().ends_with("gone.png: no such file"), "{e}");
    }

    #[test]
    fn settings_refuse_blocks_without_descent() {
        let mut settings = CellsSettings::new(PathBuf::from("out"));
        settings.block = Some(64);
        assert!(matches!(
            settings.validate(),
            Err(JobError::BlockNeedsDescent)
        ));
        settings.params.watershed = Watershed::Descent;
        settings.validate().unwrap();
        for small in [0, 1, 15] {
            settings.block = Some(small);
            assert!(matches!(settings.validate(), Err(JobError::SmallBlock(_))));
        }
    }
}
