//! `urisc predict` as a library call: every section of an [`OutputPlan`] streamed through the
//! model at its scale ([`PredictSettings::section_scale`]) into its maps, with events for
//! progress and summaries.

use std::path::PathBuf;
use std::time::Instant;

use urisc_io::sections::Section;
use urisc_io::StreamFormat;
use urisc_model::SegmentationModel;

use crate::job::{PredictSettings, SectionScale, SettingsError};
use crate::outputs::{MapSettings, MapWriters, OutputPlan, ProbabilitySamples};
use crate::scale::{predict_stream_scaled, scaled_len};
use crate::stream::{tile_count, InferError};

/// How the maps are written (the rest of [`MapSettings`] comes from the settings and the
/// section).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapOptions {
    /// File format of every map.
    pub format: StreamFormat,
    /// Sample type of the probability maps.
    pub probability: ProbabilitySamples,
    /// Clean-up size in pixels (specks dropped, holes filled), if any.
    pub min_size: Option<usize>,
    /// Replace existing maps.
    pub overwrite: bool,
}

/// What happens while [`predict_planned`] runs, for progress bars and summaries.
pub enum PredictEvent<'a> {
    /// A section starts: its size, the scale it is predicted at, its size there, its tiles.
    Start {
        /// The section.
        section: &'a Section,
        /// Rows × columns.
        size: (usize, usize),
        /// The scale and the pixel sizes it came from.
        scale: &'a SectionScale,
        /// Rows × columns at that scale.
        scaled: (usize, usize),
        /// Tile positions (each run once per TTA transform).
        tiles: usize,
    },
    /// Tiles done so far in the current section.
    Tiles(usize),
    /// A section's maps are written.
    Done(&'a SectionReport),
}

/// One section's run.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionReport {
    /// The section.
    pub section: Section,
    /// Rows × columns.
    pub size: (usize, usize),
    /// Tile positions run.
    pub tiles: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Pixels clean-up changed, with `min_size`.
    pub cleaned: Option<usize>,
    /// The binary map written.
    pub binary: PathBuf,
    /// The section was colour with unequal channels, converted to grey with luma weights.
    pub colour_converted: bool,
}

/// Why a run stopped: a section's scale, or reading, predicting or writing.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The section's pixel size asks for a scale out of range.
    // Not a `source`: the message already holds the rule, and a chain would say it twice.
    #[error("{section}: {rule}")]
    Scale {
        /// The section, described.
        section: String,
        /// The rule it breaks.
        rule: SettingsError,
    },
    /// Reading, predicting or writing failed.
    #[error(transparent)]
    Infer(#[from] InferError),
}

impl From<urisc_io::IoError> for PredictError {
    fn from(e: urisc_io::IoError) -> Self {
        PredictError::Infer(InferError::Io(e))
    }
}

/// Predicts every section of `plan` (the output folders already created) into its maps, one
/// section at a time, each streamed (memory bounded by a band of tiles; a page after the first
/// of a multi-page TIFF is decoded whole, see [`Section::open_rows`]). Returns one report per
/// section.
pub fn predict_planned(
    model: &dyn SegmentationModel,
    plan: &OutputPlan,
    settings: &PredictSettings,
    options: &MapOptions,
    events: &mut dyn FnMut(PredictEvent),
) -> Result<Vec<SectionReport>, PredictError> {
    // Every section's scale is checked before the first map is written, so a section whose
    // header asks for a scale out of range fails the run before anything is half-done. Only
    // when a file's pixel size can matter (no scale given, the model's pixel size known) are
    // the headers read (JPEGs and later TIFF pages are decoded for it).
    if settings.scale.is_none()
        && settings.pixel_size_nm.is_none()
        && settings.model_pixel_size_nm.is_some()
    {
        for maps in &plan.maps {
            let section = &maps.section;
            let file_nm = section.open_rows()?.pixel_size_nm();
            settings
                .section_scale(file_nm)
                .map_err(|rule| PredictError::Scale {
                    section: section.describe(),
                    rule,
                })?;
        }
    }
    let mut reports = Vec::with_capacity(plan.maps.len());
    for maps in &plan.maps {
        let section = &maps.section;
        let started = Instant::now();
        let mut source = section.open_rows()?;
        let (h, w) = (source.height(), source.width());
        let scale = settings
            .section_scale(source.pixel_size_nm())
            .map_err(|rule| PredictError::Scale {
                section: section.describe(),
                rule,
            })?;
        let scaled = (scaled_len(h, scale.scale), scaled_len(w, scale.scale));
        let map_settings = MapSettings {
            format: options.format,
            threshold: settings.threshold,
            probability: options.probability,
            min_size: options.min_size,
            pixel_size_nm: scale.output_nm,
            overwrite: options.overwrite,
        };
        let mut writers = MapWriters::create(maps, (h, w), &map_settings)?;
        events(PredictEvent::Start {
            section,
            size: (h, w),
            scale: &scale,
            scaled,
            tiles: tile_count(model, scaled.0, scaled.1, &settings.options),
        });
        let stats = predict_stream_scaled(
            model,
            source.as_mut(),
            &settings.options,
            scale.scale,
            &mut |done, _| events(PredictEvent::Tiles(done)),
            &mut |r, p| writers.row(r, p),
        )?;
        let cleaned = writers.finish(maps, &map_settings)?;
        let report = SectionReport {
            section: section.clone(),
            size: (h, w),
            tiles: stats.tiles,
            seconds: started.elapsed().as_secs_f64(),
            cleaned,
            binary: maps.binary.clone(),
            colour_converted: source.colour_converted(),
        };
        events(PredictEvent::Done(&report));
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{ModelDefaults, PredictFlags};
    use urisc_io::{write_tiff_stack, Image};
    use urisc_model::testing::LinearFilter;

    #[test]
    fn every_page_of_a_stack_is_predicted_into_its_own_maps() {
        let dir = tempfile::tempdir().unwrap();
        let stack = dir.path().join("stack.tif");
        // Two different pages (a dark and a bright one, with a bright square in the first).
        let mut first = Image::filled(20, 30, 40u8);
        for r in 5..12 {
            for c in 8..20 {
                first.data[r * 30 + c] = 230;
            }
        }
        let pages = vec![first, Image::filled(20, 30, 200u8)];
        write_tiff_stack(&stack, &pages, None, false).unwrap();
        let sections = urisc_io::sections::sections(&[stack]).unwrap();
        let (out, probabilities) = (dir.path().join("maps"), dir.path().join("p"));
        let mut plan =
            OutputPlan::new(&sections, &out, Some(&probabilities), "png", false).unwrap();
        plan.create_folders().unwrap();
        // A 3×3 box filter: the logits follow each page's pixels.
        let model = LinearFilter::new(1, vec![0.5; 9], 0.0);
        let defaults = ModelDefaults {
            tile: 16,
            size_multiple: 1,
            threshold: 0.5,
            pixel_size_nm: None,
        };
        let settings = PredictSettings::resolve(&defaults, &PredictFlags::default()).unwrap();
        let options = MapOptions {
            format: StreamFormat::Png,
            probability: ProbabilitySamples::U8,
            min_size: None,
            overwrite: false,
        };
        let (mut started, mut done) = (0, 0);
        let reports = predict_planned(&model, &plan, &settings, &options, &mut |e| match e {
            PredictEvent::Start { tiles, .. } => {
                assert!(tiles > 0);
                started += 1
            }
            PredictEvent::Done(_) => done += 1,
            PredictEvent::Tiles(_) => {}
        })
        .unwrap();
        assert_eq!((started, done, reports.len()), (2, 2, 2));
        let mut stored = Vec::new();
        for (page, name) in pages.iter().zip(["stack_z000", "stack_z001"]) {
            // Each page's maps are that page's prediction, as `predict_image` makes it.
            let p = crate::predict_image(&model, page, &settings.options).unwrap();
            let want: Vec<u8> = p
                .data
                .iter()
                .map(|&v| urisc_io::encoding::stored_from_probability(v))
                .collect();
            let got = urisc_io::read_u8(&probabilities.join(format!("{name}.png"))).unwrap();
            assert!(got.data == want, "{name}: not its page's prediction");
            let binary = urisc_io::read_u8(&out.join(format!("{name}.png"))).unwrap();
            let want_binary: Vec<u8> = p
                .data
                .iter()
                .map(|&v| urisc_io::encoding::binary_from_probability(v, 0.5))
                .collect();
            assert!(binary.data == want_binary, "{name}: binary map");
            stored.push(got.data);
        }
        assert!(stored[0] != stored[1], "both pages gave the same map");
    }
}
