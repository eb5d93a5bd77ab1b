//! Where predictions go: one output name per input, checked before anything is computed so that
//! nothing is lost silently (two inputs with one name, a probability folder that is the map
//! folder spelled differently, an output that is an input), and the sinks that turn each row of
//! probabilities into binary and probability maps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use urisc_io::paths::resolved;
use urisc_io::paths::{CreatedFolders, Inputs};
use urisc_io::sections::Section;
use urisc_io::{check_writable, Image, IoError, IoErrorKind, RowWriter, StreamFormat};

/// The maps one input section produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedMaps {
    /// The section the maps are predicted from; its name ([`Section::name`]: `STEM`, or
    /// `STEM_zNNN` for a plane of a stack) names them.
    pub section: Section,
    /// The binary U-RISC-format map.
    pub binary: PathBuf,
    /// The probability map, when asked for.
    pub probability: Option<PathBuf>,
}

/// Every output of a prediction run, checked; the folders it created are removed again (while
/// empty) when the plan is dropped without [`OutputPlan::keep`]: a failed run.
#[derive(Debug)]
pub struct OutputPlan {
    /// The maps of each input, in input order.
    pub maps: Vec<PlannedMaps>,
    created: CreatedFolders,
}

fn invalid(path: &Path, message: String) -> IoError {
    IoError::new(path, IoErrorKind::Invalid, message)
}

impl OutputPlan {
    /// Names each section's maps `NAME.ext` in `out` (and in `probabilities`; see
    /// [`urisc_io::sections`] for the names) and refuses, naming the files: a probability folder
    /// that is `out`; two sections whose maps would share a name; an output that is one of the
    /// inputs (never written over, even with `force`); an existing output without `force`.
    pub fn new(
        sections: &[Section],
        out: &Path,
        probabilities: Option<&Path>,
        ext: &str,
        force: bool,
    ) -> Result<OutputPlan, IoError> {
        if let Some(dir) = probabilities {
            if resolved(dir) == resolved(out) {
                return Err(invalid(
                    dir,
                    format!(
                        "--probabilities is the same folder as --out {} (the maps would replace each other)",
                        out.display()
                    ),
                ));
            }
        }
        let name = |dir: &Path, section: &Section| dir.join(format!("{}.{ext}", section.name));
        let mut files: Vec<&Path> = sections.iter().map(|s| s.path.as_path()).collect();
        files.dedup();
        let inputs = Inputs::new(&files);
        let mut claimed: HashMap<PathBuf, &PathBuf> = HashMap::new();
        let mut maps = Vec::with_capacity(sections.len());
        for section in sections {
            let input = &section.path;
            let planned = PlannedMaps {
                section: section.clone(),
                binary: name(out, section),
                probability: probabilities.map(|dir| name(dir, section)),
            };
            for output in std::iter::once(&planned.binary).chain(&planned.probability) {
                // Never an input, nor inside an input store.
                inputs.refuse(output)?;
                let key = resolved(output);
                if let Some(first) = claimed.insert(key, input) {
                    return Err(invalid(
                        input,
                        format!(
                            "its map {} would replace the map of {} (same file name): rename one, or predict them into separate folders",
                            output.display(),
                            first.display()
                        ),
                    ));
                }
                check_writable(output, force)?;
            }
            maps.push(planned);
        }
        Ok(OutputPlan {
            maps,
            created: CreatedFolders::new(),
        })
    }

    /// Creates the output folders, remembering those that did not exist.
    pub fn create_folders(&mut self) -> Result<(), IoError> {
        let mut folders: Vec<PathBuf> = Vec::new();
        for m in &self.maps {
            for path in std::iter::once(&m.binary).chain(&m.probability) {
                let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                if !folders.contains(&dir) {
                    folders.push(dir);
                }
            }
        }
        for dir in folders {
            self.created.create(&dir)?;
        }
        Ok(())
    }

    /// The run succeeded: the folders it created stay.
    pub fn keep(&mut self) {
        self.created.keep();
    }
}

/// The sinks of one section's probabilities: the binary map (or the in-memory mask that
/// clean-up needs first) and, optionally, a probability map.
pub struct MapWriters {
    binary: Option<RowWriter<u8>>,
    kept: Option<Image<bool>>,
    probability_u8: Option<RowWriter<u8>>,
    probability_f32: Option<RowWriter<f32>>,
    threshold: f32,
    row_u8: Vec<u8>,
}

/// The sample type of probability maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbabilitySamples {
    /// 8-bit, membrane dark: 255·(1 − p), the polarity `urisc eval` reads.
    U8,
    /// 32-bit float p, marked as membrane probabilities in the file's metadata
    /// ([`RowWriter::create_probability`]) so `urisc eval` scores it as 1 − p.
    F32,
}

/// How one section's maps are written.
#[derive(Clone, Copy, Debug)]
pub struct MapSettings {
    /// File format of every map written.
    pub format: StreamFormat,
    /// A pixel is membrane (0 in the binary map, 255 elsewhere) iff its probability is ≥ this.
    pub threshold: f32,
    /// Sample type of the probability map, when one is planned.
    pub probability: ProbabilitySamples,
    /// Clean-up size (pixels): the binary map is held in memory and cleaned before writing.
    pub min_size: Option<usize>,
    /// Pixel size written into every map's metadata, nm/pixel (`None`: none recorded).
    pub pixel_size_nm: Option<f64>,
    /// Whether existing map files are replaced.
    pub overwrite: bool,
}

impl MapWriters {
    /// Opens the writers of `maps` for a `height × width` section.
    pub fn create(
        maps: &PlannedMaps,
        (height, width): (usize, usize),
        settings: &MapSettings,
    ) -> Result<MapWriters, IoError> {
        let create_u8 = |path: &Path| {
            RowWriter::<u8>::create(
                path,
                settings.format,
                height,
                width,
                settings.pixel_size_nm,
                settings.overwrite,
            )
        };
        let mut writers = MapWriters {
            binary: match settings.min_size {
                None => Some(create_u8(&maps.binary)?),
                Some(_) => None,
            },
            kept: settings
                .min_size
                .map(|_| Image::filled(height, width, false)),
            probability_u8: None,
            probability_f32: None,
            threshold: settings.threshold,
            row_u8: Vec::with_capacity(width),
        };
        if let Some(path) = &maps.probability {
            match settings.probability {
                ProbabilitySamples::U8 => writers.probability_u8 = Some(create_u8(path)?),
                ProbabilitySamples::F32 => {
                    writers.probability_f32 = Some(RowWriter::<f32>::create_probability(
                        path,
                        settings.format,
                        height,
                        width,
                        settings.pixel_size_nm,
                        settings.overwrite,
                    )?)
                }
            }
        }
        Ok(writers)
    }

    /// Row `r` of membrane probabilities.
    pub fn row(&mut self, r: usize, p: &[f32]) -> Result<(), IoError> {
        if let Some(kept) = &mut self.kept {
            let w = kept.width;
            for (k, &v) in kept.data[r * w..(r + 1) * w].iter_mut().zip(p) {
                *k = urisc_io::encoding::is_membrane(v, self.threshold);
            }
        }
        if let Some(out) = &mut self.binary {
            self.row_u8.clear();
            self.row_u8.extend(
                p.iter()
                    .map(|&v| urisc_io::encoding::binary_from_probability(v, self.threshold)),
            );
            out.write_row(&self.row_u8)?;
        }
        if let Some(out) = &mut self.probability_u8 {
            self.row_u8.clear();
            self.row_u8.extend(
                p.iter()
                    .map(|&v| urisc_io::encoding::stored_from_probability(v)),
            );
            out.write_row(&self.row_u8)?;
        }
        if let Some(out) = &mut self.probability_f32 {
            out.write_row(p)?;
        }
        Ok(())
    }

    /// Finishes every map (renaming them into place); with clean-up, cleans the held mask and
    /// writes the binary map now. Returns the pixels clean-up changed.
    pub fn finish(
        self,
        maps: &PlannedMaps,
        settings: &MapSettings,
    ) -> Result<Option<usize>, IoError> {
        let mut changed = None;
        if let (Some(mut kept), Some(min_size)) = (self.kept, settings.min_size) {
            changed = Some(crate::clean_up(&mut kept, min_size));
            let mut writer = RowWriter::<u8>::create(
                &maps.binary,
                settings.format,
                kept.height,
                kept.width,
                settings.pixel_size_nm,
                settings.overwrite,
            )?;
            for row in kept.data.chunks_exact(kept.width.max(1)) {
                let bytes: Vec<u8> = row
                    .iter()
                    .map(|&m| {
                        if m {
                            urisc_io::encoding::MEMBRANE
                        } else {
                            urisc_io::encoding::BACKGROUND
                        }
                    })
                    .collect();
                writer.write_row(&bytes)?;
            }
            writer.finish()?;
        }
        for writer in [self.binary, self.probability_u8].into_iter().flatten() {
            writer.finish()?;
        }
        if let Some(writer) = self.probability_f32 {
            writer.finish()?;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_folder_resolve_alike() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("maps");
        let b = dir.path().join("./x/../maps/");
        assert_eq!(resolved(&a), resolved(&b));
        std::fs::create_dir(&a).unwrap();
        assert_eq!(resolved(&a), resolved(&b));
    }

    #[test]
    fn clashes_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let paths = [a.join("s.png"), b.join("s.png")];
        for p in &paths {
            std::fs::write(p, b"x").unwrap();
        }
        let inputs: Vec<Section> = paths.iter().map(|p| Section::single(p)).collect();
        let out = dir.path().join("out");
        let err = OutputPlan::new(&inputs, &out, None, "png", true).unwrap_err();
        assert!(err.to_string().contains("same file name"), "{err}");
        // --out is the inputs' folder: the map would be the input itself.
        let err = OutputPlan::new(&inputs[..1], &a, None, "png", true).unwrap_err();
        assert!(
            err.to_string().contains("never writes over its inputs"),
            "{err}"
        );
        // The probability folder spelled differently from --out.
        let other = dir.path().join("./out/");
        let err = OutputPlan::new(&inputs[..1], &out, Some(&other), "png", true).unwrap_err();
        assert!(err.to_string().contains("same folder as --out"), "{err}");
        assert!(!out.exists());
    }
}
