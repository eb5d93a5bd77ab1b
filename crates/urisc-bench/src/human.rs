//! Human-level rows: where a dataset has annotation rounds (U-RISC's
//! `Human_Annotation_Process/{1st,2nd,final}`), each earlier round is scored against the final
//! one with the same metrics as the methods.

use std::path::Path;

use urisc_eval::{evaluate, pair_inputs, MetricSet, Protocol};

use crate::runner::{RunRecord, Status};
use crate::suite::Dataset;

/// The folder holding annotation rounds, if the dataset has one with a `final` round.
pub fn rounds_folder(dataset: &Dataset) -> Option<std::path::PathBuf> {
    let dir = dataset.source.join("Human_Annotation_Process");
    dir.join("final").is_dir().then_some(dir)
}

/// One record per earlier round (`human-1st`, `human-2nd`, … in name order), scored against
/// `final`; a round that cannot be scored is a failed record. Upsampled copies have none (the
/// rounds are at the source's resolution).
pub fn human_records(dataset: &Dataset) -> Vec<RunRecord> {
    let Some(dir) = rounds_folder(dataset).filter(|_| dataset.upsample.is_none()) else {
        return vec![];
    };
    let mut rounds: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "final" && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    rounds.sort();
    rounds
        .into_iter()
        .map(|round| score_round(dataset, &dir.join(&round), &dir.join("final"), &round))
        .collect()
}

fn score_round(dataset: &Dataset, round: &Path, fin: &Path, name: &str) -> RunRecord {
    let mut record = RunRecord::new(
        &format!("human-{name}-{}", dataset.name),
        &format!("human-{name}"),
        &dataset.name,
        None,
    );
    record.predictions = Some(round.display().to_string());
    match pair_inputs(round, fin)
        .and_then(|pairs| evaluate(&pairs, Protocol::Binarized, &MetricSet::all(), &|_| {}))
    {
        Ok(report) => {
            record.status = Status::Done;
            record.scores = Some(report.mean);
            record.images = report.images;
        }
        Err(e) => record.error = Some(e.to_string()),
    }
    record
}
