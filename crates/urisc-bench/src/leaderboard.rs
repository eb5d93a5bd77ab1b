//! The leaderboard: runs grouped by dataset and method, every metric as mean ± std over seeds,
//! ranked by the suite's primary metric; written as Markdown, CSV and JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::{RunRecord, Status};
use crate::suite::{higher_is_better, Suite, CELL_METRICS, METRICS};

/// Mean and sample standard deviation (n − 1; absent for one value).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation, with two or more values.
    pub std: Option<f64>,
}

impl Stat {
    /// Of finite values; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.len() > 1)
            .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Some(Stat { mean, std })
    }
}

/// One row: a method (or a human annotation round) on a dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Rank by the primary metric (1 = best); `None` without a score.
    pub rank: Option<usize>,
    /// Method name (`human-1st` etc. for annotation rounds).
    pub method: String,
    /// `"method"` or `"human"`.
    pub kind: &'static str,
    /// Finished runs (seeds) averaged.
    pub runs: usize,
    /// Failed runs.
    pub failed: usize,
    /// Errors of the failed runs.
    pub errors: Vec<String>,
    /// Every metric, by leaderboard name.
    pub metrics: BTreeMap<String, Stat>,
    /// Threshold applied.
    pub threshold: Option<Stat>,
    /// Training wall time, seconds.
    pub train_seconds: Option<Stat>,
    /// Prediction speed, MPixel/s.
    pub inference_mpixel_per_s: Option<Stat>,
    /// Largest peak resident memory of its runs, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Run ids, for the report.
    pub run_ids: Vec<String>,
}

/// A dataset's ranked rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetBoard {
    /// Dataset name.
    pub name: String,
    /// Pixel size, nm.
    pub pixel_size_nm: Option<f64>,
    /// Test samples scored.
    pub test: Vec<String>,
    /// Rows, best first; unscored rows last.
    pub rows: Vec<Row>,
}

/// The whole leaderboard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Leaderboard {
    /// Suite name.
    pub suite: String,
    /// The ranking metric.
    pub primary_metric: String,
    /// Whether higher is better for it.
    pub higher_is_better: bool,
    /// Seeds of trained methods.
    pub seeds: Vec<u64>,
    /// One board per dataset.
    pub datasets: Vec<DatasetBoard>,
}

/// Groups records into rows and ranks them. `records` holds method runs and human rounds
/// (`seed == None` and a method named `human-…` for the latter, see [`crate::human`]).
pub fn build(suite: &Suite, records: &[(RunRecord, bool)]) -> Leaderboard {
    let primary = suite.primary_metric.clone();
    let higher = higher_is_better(&primary).expect("validated");
    let mut datasets = Vec::new();
    for dataset in &suite.datasets {
        let mut order: Vec<(String, bool)> = Vec::new();
        for (r, human) in records.iter().filter(|(r, _)| r.dataset == dataset.name) {
            if !order.iter().any(|(m, _)| m == &r.method) {
                order.push((r.method.clone(), *human));
            }
        }
        let mut rows: Vec<Row> = order
            .into_iter()
            .map(|(method, human)| {
                let runs: Vec<&RunRecord> = records
                    .iter()
                    .map(|(r, _)| r)
                    .filter(|r| r.dataset == dataset.name && r.method == method)
                    .collect();
                row(&method, human, &runs)
            })
            .collect();
        rows.sort_by(|a, b| {
            let key = |r: &Row| r.metrics.get(&primary).map(|s| s.mean);
            match (key(a), key(b)) {
                (Some(x), Some(y)) => {
                    let o = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
                    if higher {
                        o.reverse()
                    } else {
                        o
                    }
                }
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
        let mut rank = 0;
        for r in &mut rows {
            if r.metrics.contains_key(&primary) {
                rank += 1;
                r.rank = Some(rank);
            }
        }
        datasets.push(DatasetBoard {
            name: dataset.name.clone(),
            pixel_size_nm: dataset.pixel_size_nm,
            test: dataset.test.clone(),
            rows,
        });
    }
    Leaderboard {
        suite: suite.name.clone(),
        primary_metric: primary,
        higher_is_better: higher,
        seeds: suite.seeds.clone(),
        datasets,
    }
}

fn row(method: &str, human: bool, runs: &[&RunRecord]) -> Row {
    let done: Vec<&&RunRecord> = runs.iter().filter(|r| r.status == Status::Done).collect();
    let mut metrics = BTreeMap::new();
    for (name, _) in METRICS {
        let values: Vec<f64> = done
            .iter()
            .filter_map(|r| {
                r.scores.as_ref().and_then(|s| {
                    s.columns()
                        .into_iter()
                        .find(|(n, _)| n == name)
                        .and_then(|(_, v)| v)
                })
            })
            .collect();
        if let Some(s) = Stat::of(&values) {
            metrics.insert(name.to_string(), s);
        }
    }
    for (name, _) in CELL_METRICS.iter().chain(&[("cells_count", true)]) {
        let values: Vec<f64> = done
            .iter()
            .filter_map(|r| r.cell_scores.as_ref().and_then(|c| c.get(*name).copied()))
            .collect();
        if let Some(s) = Stat::of(&values) {
            metrics.insert(name.to_string(), s);
        }
    }
    let stat = |f: &dyn Fn(&RunRecord) -> Option<f64>| {
        Stat::of(&done.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
    };
    Row {
        rank: None,
        method: method.to_string(),
        kind: if human { "human" } else { "method" },
        runs: done.len(),
        failed: runs.len() - done.len(),
        errors: runs.iter().filter_map(|r| r.error.clone()).collect(),
        metrics,
        threshold: stat(&|r| r.threshold.map(f64::from)),
        train_seconds: stat(&|r| r.train_seconds),
        inference_mpixel_per_s: stat(&|r| r.inference_mpixel_per_s),
        peak_rss_mib: done
            .iter()
            .filter_map(|r| r.peak_rss_mib)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))),
        run_ids: runs.iter().map(|r| r.id.clone()).collect(),
    }
}

/// Every metric column: membrane metrics, then the cells stage's.
pub fn all_columns() -> Vec<&'static str> {
    METRICS
        .iter()
        .chain(&CELL_METRICS)
        .map(|(m, _)| *m)
        .chain(["cells_count"])
        .collect()
}

impl DatasetBoard {
    /// The metric columns to show: membrane metrics, and the cells stage's where a row has them.
    pub fn columns(&self) -> Vec<&'static str> {
        let cells = self
            .rows
            .iter()
            .any(|r| r.metrics.contains_key("cells_are"));
        all_columns()
            .into_iter()
            .filter(|m| cells || !m.starts_with("cells"))
            .collect()
    }
}

/// Column titles of the metrics.
pub fn metric_title(name: &str) -> String {
    match name {
        "f1" => "F1".into(),
        "precision" => "precision".into(),
        "recall" => "recall".into(),
        "iou" => "IoU".into(),
        "dice" => "Dice".into(),
        "vrand" => "V_rand".into(),
        "vinfo" => "V_info".into(),
        "cells_are" => "cells ARE".into(),
        "cells_voi_split" => "cells VOI split".into(),
        "cells_voi_merge" => "cells VOI merge".into(),
        "cells_cremi" => "cells CREMI".into(),
        "cells_vrand" => "cells V_rand".into(),
        "cells_vinfo" => "cells V_info".into(),
        "cells_count" => "cells".into(),
        "are" => "ARE".into(),
        "voi_split" => "VOI split".into(),
        "voi_merge" => "VOI merge".into(),
        p if p.starts_with("phd_") => format!("PHD t={}", &p[4..]),
        other => other.into(),
    }
}

/// `mean ± std` with 4 decimals (PHD 2), or `—`.
pub fn format_stat(name: &str, s: Option<&Stat>) -> String {
    let digits = match name {
        "cells_count" => 1,
        n if n.starts_with("phd_") => 2,
        _ => 4,
    };
    match s {
        None => "—".into(),
        Some(Stat { mean, std: None }) => format!("{mean:.digits$}"),
        Some(Stat {
            mean,
            std: Some(sd),
        }) => format!("{mean:.digits$} ± {sd:.digits$}"),
    }
}

fn format_plain(s: Option<&Stat>, digits: usize) -> String {
    match s {
        None => "—".into(),
        Some(Stat { mean, std: None }) => format!("{mean:.digits$}"),
        Some(Stat {
            mean,
            std: Some(sd),
        }) => format!("{mean:.digits$} ± {sd:.digits$}"),
    }
}

impl Leaderboard {
    /// Markdown: one table per dataset, ranked.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Leaderboard: {}\n", self.suite);
        let _ = writeln!(
            s,
            "Ranked by **{}** ({} is better); mean ± sample std over seeds {:?}; every metric on the binary test maps (`urisc eval`, binarized protocol). Human rows score an earlier annotation round against the final one. Peak MiB is the suite process's peak resident memory during the run, which includes what earlier runs of the same process left allocated.\n",
            metric_title(&self.primary_metric),
            if self.higher_is_better { "higher" } else { "lower" },
            self.seeds
        );
        for d in &self.datasets {
            let _ = writeln!(
                s,
                "## {}{}\n\ntest samples: {}\n",
                d.name,
                d.pixel_size_nm
                    .map_or(String::new(), |p| format!(" ({p} nm/pixel)")),
                d.test.join(", ")
            );
            let columns = d.columns();
            let mut header = vec!["rank".to_string(), "method".into(), "runs".into()];
            header.extend(columns.iter().map(|m| metric_title(m)));
            header.extend([
                "threshold".into(),
                "train s".into(),
                "predict MPixel/s".into(),
                "peak MiB".into(),
            ]);
            let _ = writeln!(s, "| {} |", header.join(" | "));
            let _ = writeln!(
                s,
                "|{}",
                header
                    .iter()
                    .enumerate()
                    .map(|(i, _)| if i == 1 { "---|" } else { "---:|" })
                    .collect::<String>()
            );
            for r in &d.rows {
                let mut cells = vec![
                    r.rank.map_or("—".into(), |k| k.to_string()),
                    if r.kind == "human" {
                        format!("*{}* (human)", r.method)
                    } else {
                        r.method.clone()
                    },
                    if r.failed > 0 {
                        format!("{} ({} failed)", r.runs, r.failed)
                    } else {
                        r.runs.to_string()
                    },
                ];
                cells.extend(columns.iter().map(|m| format_stat(m, r.metrics.get(*m))));
                cells.extend([
                    format_plain(r.threshold.as_ref(), 2),
                    format_plain(r.train_seconds.as_ref(), 0),
                    format_plain(r.inference_mpixel_per_s.as_ref(), 3),
                    r.peak_rss_mib.map_or("—".into(), |m| format!("{m:.0}")),
                ]);
                let _ = writeln!(s, "| {} |", cells.join(" | "));
            }
            for r in d.rows.iter().filter(|r| !r.errors.is_empty()) {
                for e in &r.errors {
                    let _ = writeln!(s, "\n- {} failed: {}", r.method, e.replace('\n', " "));
                }
            }
            s.push('\n');
        }
        s
    }

    /// CSV: one line per row, `METRIC_mean` and `METRIC_std` columns.
    pub fn csv(&self) -> String {
        let mut s = String::new();
        let mut header = vec![
            "dataset".to_string(),
            "rank".into(),
            "method".into(),
            "kind".into(),
            "runs".into(),
            "failed".into(),
        ];
        for m in all_columns() {
            header.push(format!("{m}_mean"));
            header.push(format!("{m}_std"));
        }
        header.extend(
            ["threshold", "train_seconds", "inference_mpixel_per_s"]
                .iter()
                .flat_map(|n| [format!("{n}_mean"), format!("{n}_std")]),
        );
        header.push("peak_rss_mib".into());
        let _ = writeln!(s, "{}", header.join(","));
        let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
        for d in &self.datasets {
            for r in &d.rows {
                let mut cells = vec![
                    d.name.clone(),
                    r.rank.map_or(String::new(), |k| k.to_string()),
                    r.method.clone(),
                    r.kind.to_string(),
                    r.runs.to_string(),
                    r.failed.to_string(),
                ];
                for m in all_columns() {
                    let st = r.metrics.get(m);
                    cells.push(num(st.map(|s| s.mean)));
                    cells.push(num(st.and_then(|s| s.std)));
                }
                for st in [&r.threshold, &r.train_seconds, &r.inference_mpixel_per_s] {
                    cells.push(num(st.map(|s| s.mean)));
                    cells.push(num(st.and_then(|s| s.std)));
                }
                cells.push(num(r.peak_rss_mib));
                let _ = writeln!(s, "{}", cells.join(","));
            }
        }
        s
    }

    /// JSON (pretty).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("leaderboards serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_mean_and_sample_std() {
        let s = Stat::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.mean, 2.0);
        assert_eq!(s.std, Some(1.0));
        assert_eq!(Stat::of(&[5.0]).unwrap().std, None);
        assert!(Stat::of(&[f64::NAN]).is_none());
    }
}
