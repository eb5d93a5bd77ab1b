//! Does a condition (say, training resolution) change how much context a network uses, beyond
//! what training noise does? A study groups attribution runs by condition; runs of the same model
//! file (the same network on several images) are pooled as that model's targets. The statistic
//! of a group is the mean over its models of the mean per-target R50 (R90): each training seed
//! weighs the same however many targets it has. Its uncertainty comes from a two-level
//! bootstrap — models with replacement, then each drawn model's targets with replacement — so
//! seed-to-seed variation enters the interval, not only target-to-target variation. Ratios to
//! the first group pair the groups' bootstrap draws (the groups are resampled independently).
//!
//! With few models per group the model level of the bootstrap has few distinct draws (3 models:
//! 10), so the intervals are approximate; the per-model means are reported beside them.

use serde::Serialize;

use crate::report::AttributionReport;
use crate::targets::splitmix64;

/// The runs of one condition.
#[derive(Clone, Debug)]
pub struct StudyGroup {
    /// The condition's label, e.g. "2 nm/px (2× upsampled)".
    pub name: String,
    /// Attribution runs; runs with the same `model` are pooled as one model.
    pub reports: Vec<AttributionReport>,
}

/// How the intervals are computed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StudySettings {
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Two-sided coverage of the percentile intervals, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the resampling.
    pub seed: u64,
}

impl Default for StudySettings {
    fn default() -> StudySettings {
        StudySettings {
            resamples: 10_000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// An estimate with its percentile bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// The statistic on the data as observed.
    pub estimate: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
}

impl Interval {
    fn scaled(self, factor: f64) -> Interval {
        Interval {
            estimate: self.estimate * factor,
            low: self.low * factor,
            high: self.high * factor,
        }
    }
}

/// One model's pooled targets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelContext {
    /// The model file, as the runs name it.
    pub model: String,
    /// Runs (images) pooled.
    pub runs: usize,
    /// Targets with a nonzero attribution.
    pub targets: usize,
    /// Mean per-target R50, pixels.
    pub r50: f64,
    /// Mean per-target R90, pixels.
    pub r90: f64,
}

/// A group's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupContext {
    /// The condition's label.
    pub name: String,
    /// Pixel size of the group's images, when every run states the same one.
    pub pixel_size_nm: Option<f64>,
    /// Per model, in order of first appearance.
    pub models: Vec<ModelContext>,
    /// Sample standard deviation of the models' mean R50 (0 with one model).
    pub between_model_sd_r50: f64,
    /// Sample standard deviation of the models' mean R90.
    pub between_model_sd_r90: f64,
    /// Mean over models of the mean per-target R50, pixels.
    pub r50: Interval,
    /// Mean over models of the mean per-target R90, pixels.
    pub r90: Interval,
    /// R50 in nanometres (with the pixel size).
    pub r50_nm: Option<Interval>,
    /// R90 in nanometres.
    pub r90_nm: Option<Interval>,
    /// R50 relative to the first group's, in pixels (1 for the first group).
    pub r50_ratio: Interval,
    /// R90 relative to the first group's, in pixels.
    pub r90_ratio: Interval,
    /// Whether every model of this group has a larger mean R90 than every model of the first
    /// group (or every one a smaller): the seeds do not overlap. `None` for the first group and
    /// when either group has fewer than two models (nothing to overlap).
    pub r90_seeds_separated: Option<bool>,
}

/// The whole study.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StudyResult {
    /// How the intervals were computed.
    pub settings: StudySettings,
    /// In the order given; ratios are to the first.
    pub groups: Vec<GroupContext>,
}

/// Per-target radii of one model.
struct ModelTargets {
    model: String,
    runs: usize,
    r50: Vec<f64>,
    r90: Vec<f64>,
}

/// Why a study cannot be computed: the message names the group (and model) that cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StudyError {
    /// No groups were given.
    #[error("a study needs at least one group")]
    NoGroups,
    /// Too few resamples, or a confidence outside (0, 1).
    #[error("resamples must be at least 2 and confidence between 0 and 1")]
    Settings,
    /// A group without any run.
    #[error("group '{0}' has no runs")]
    NoRuns(String),
    /// A model of a group whose every attribution map is zero.
    #[error("group '{group}': model {model} has no target with a nonzero attribution")]
    AllZero {
        /// The group's name.
        group: String,
        /// The model file, as its reports name it.
        model: String,
    },
}

fn pool_models(group: &StudyGroup) -> Result<Vec<ModelTargets>, StudyError> {
    let mut models: Vec<ModelTargets> = Vec::new();
    for report in &group.reports {
        let index = match models.iter().position(|m| m.model == report.model) {
            Some(i) => i,
            None => {
                models.push(ModelTargets {
                    model: report.model.clone(),
                    runs: 0,
                    r50: Vec::new(),
                    r90: Vec::new(),
                });
                models.len() - 1
            }
        };
        let m = &mut models[index];
        m.runs += 1;
        for t in &report.targets {
            if let (Some(r50), Some(r90)) = (t.r50, t.r90) {
                m.r50.push(r50 as f64);
                m.r90.push(r90 as f64);
            }
        }
    }
    if models.is_empty() {
        return Err(StudyError::NoRuns(group.name.clone()));
    }
    if let Some(m) = models.iter().find(|m| m.r50.is_empty()) {
        return Err(StudyError::AllZero {
            group: group.name.clone(),
            model: m.model.clone(),
        });
    }
    Ok(models)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn sample_sd(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// Uniform index below `n` (the modulo bias is below 2^-40 for any n here).
fn draw(state: &mut u64, n: usize) -> usize {
    (splitmix64(state) % n as u64) as usize
}

/// One bootstrap draw of a group's (R50, R90) statistic.
fn resample(models: &[ModelTargets], state: &mut u64) -> (f64, f64) {
    let (mut r50, mut r90) = (0.0, 0.0);
    for _ in 0..models.len() {
        let m = &models[draw(state, models.len())];
        let n = m.r50.len();
        let (mut s50, mut s90) = (0.0, 0.0);
        for _ in 0..n {
            let t = draw(state, n);
            s50 += m.r50[t];
            s90 += m.r90[t];
        }
        r50 += s50 / n as f64;
        r90 += s90 / n as f64;
    }
    (r50 / models.len() as f64, r90 / models.len() as f64)
}

/// Percentile interval of `draws` around `estimate`.
fn interval(estimate: f64, draws: &mut [f64], confidence: f64) -> Interval {
    draws.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let at = |q: f64| {
        let pos = q * (draws.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        draws[lo] + (draws[hi] - draws[lo]) * (pos - lo as f64)
    };
    Interval {
        estimate,
        low: at(tail),
        high: at(1.0 - tail),
    }
}

/// The study's numbers; an error names the group whose runs cannot be used.
pub fn study(groups: &[StudyGroup], settings: &StudySettings) -> Result<StudyResult, StudyError> {
    if groups.is_empty() {
        return Err(StudyError::NoGroups);
    }
    if settings.resamples < 2 || !(0.0 < settings.confidence && settings.confidence < 1.0) {
        return Err(StudyError::Settings);
    }
    let pooled = groups
        .iter()
        .map(pool_models)
        .collect::<Result<Vec<_>, _>>()?;
    // Each group's draws come from its own stream, so adding a group leaves the others' as they were.
    let draws: Vec<(Vec<f64>, Vec<f64>)> = pooled
        .iter()
        .enumerate()
        .map(|(g, models)| {
            let mut state = settings.seed ^ (g as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
            (0..settings.resamples)
                .map(|_| resample(models, &mut state))
                .unzip()
        })
        .collect();
    let mut result = Vec::with_capacity(groups.len());
    let first_means: Vec<f64> = pooled[0].iter().map(|m| mean(&m.r90)).collect();
    let first_estimate = {
        let m50: Vec<f64> = pooled[0].iter().map(|m| mean(&m.r50)).collect();
        (mean(&m50), mean(&first_means))
    };
    for (g, (group, models)) in groups.iter().zip(&pooled).enumerate() {
        let m50: Vec<f64> = models.iter().map(|m| mean(&m.r50)).collect();
        let m90: Vec<f64> = models.iter().map(|m| mean(&m.r90)).collect();
        let (e50, e90) = (mean(&m50), mean(&m90));
        let ratio = |estimate: f64, base: f64, own: &[f64], first: &[f64]| {
            let mut r: Vec<f64> = own.iter().zip(first).map(|(a, b)| a / b).collect();
            interval(estimate / base, &mut r, settings.confidence)
        };
        let r50_ratio = ratio(e50, first_estimate.0, &draws[g].0, &draws[0].0);
        let r90_ratio = ratio(e90, first_estimate.1, &draws[g].1, &draws[0].1);
        let r50 = interval(e50, &mut draws[g].0.clone(), settings.confidence);
        let r90 = interval(e90, &mut draws[g].1.clone(), settings.confidence);
        let pixel_size_nm = group.reports[0]
            .pixel_size_nm
            .filter(|&size| group.reports.iter().all(|r| r.pixel_size_nm == Some(size)));
        let (lo, hi) = (
            m90.iter().copied().fold(f64::INFINITY, f64::min),
            m90.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let (first_lo, first_hi) = (
            first_means.iter().copied().fold(f64::INFINITY, f64::min),
            first_means
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max),
        );
        result.push(GroupContext {
            name: group.name.clone(),
            pixel_size_nm,
            models: models
                .iter()
                .zip(m50.iter().zip(&m90))
                .map(|(m, (&r50, &r90))| ModelContext {
                    model: m.model.clone(),
                    runs: m.runs,
                    targets: m.r50.len(),
                    r50,
                    r90,
                })
                .collect(),
            between_model_sd_r50: sample_sd(&m50),
            between_model_sd_r90: sample_sd(&m90),
            r50_nm: pixel_size_nm.map(|s| r50.scaled(s)),
            r90_nm: pixel_size_nm.map(|s| r90.scaled(s)),
            r50,
            r90,
            r50_ratio,
            r90_ratio,
            r90_seeds_separated: (g > 0 && models.len() > 1 && pooled[0].len() > 1)
                .then_some(lo > first_hi || hi < first_lo),
        });
    }
    Ok(StudyResult {
        settings: *settings,
        groups: result,
    })
}

/// The study as the tab-separated table `urisc attribute study` prints: one row per group
/// (intervals at `confidence`), then one indented row per model.
pub fn study_table(result: &StudyResult, confidence: f64) -> String {
    use std::fmt::Write as _;
    let show = |i: Interval| format!("{:.1} [{:.1}, {:.1}]", i.estimate, i.low, i.high);
    let show_ratio = |i: Interval| format!("{:.2} [{:.2}, {:.2}]", i.estimate, i.low, i.high);
    let percent = confidence * 100.0;
    let mut out = format!(
        "group\tmodels\ttargets\tR50 px ({percent:.0} % CI)\tR90 px\tR50 / first\tR90 / first\tR50 nm\tR90 nm\tseed SD R50, R90\tR90 seeds separated\n"
    );
    for g in &result.groups {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.1}, {:.1}\t{}",
            g.name,
            g.models.len(),
            g.models.iter().map(|m| m.targets).sum::<usize>(),
            show(g.r50),
            show(g.r90),
            show_ratio(g.r50_ratio),
            show_ratio(g.r90_ratio),
            g.r50_nm.map_or("-".into(), show),
            g.r90_nm.map_or("-".into(), show),
            g.between_model_sd_r50,
            g.between_model_sd_r90,
            match g.r90_seeds_separated {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
        );
        for m in &g.models {
            let _ = writeln!(
                out,
                "  {}\truns {}\ttargets {}\tR50 {:.1}\tR90 {:.1}",
                m.model, m.runs, m.targets, m.r50, m.r90
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ig::IgSettings;
    use crate::report::TargetResult;

    fn run(model: &str, pixel_size: f64, radii: &[(usize, usize)]) -> AttributionReport {
        AttributionReport {
            name: model.into(),
            model: model.into(),
            image: "i".into(),
            plane: None,
            scale: 1.0,
            height: 8,
            width: 8,
            pixel_size_nm: Some(pixel_size),
            context_radius: None,
            settings: IgSettings::default(),
            seconds: 1.0,
            seconds_per_target_step: 0.01,
            targets: radii
                .iter()
                .map(|&(r50, r90)| TargetResult {
                    row: 0,
                    col: 0,
                    sum_ig: 1.0,
                    logit_difference: 1.0,
                    total_abs_ig: 1.0,
                    r50: Some(r50),
                    r90: Some(r90),
                })
                .collect(),
            summary: None,
        }
    }

    fn settings() -> StudySettings {
        StudySettings {
            resamples: 2000,
            ..StudySettings::default()
        }
    }

    #[test]
    fn estimates_weigh_models_equally_and_pool_a_models_runs() {
        let native = StudyGroup {
            name: "native".into(),
            reports: vec![
                run("a", 4.0, &[(10, 40), (20, 60)]),
                run("a", 4.0, &[(30, 50)]), // a second image of model a: pooled
                run("b", 4.0, &[(40, 80)]),
            ],
        };
        let result = study(&[native], &settings()).unwrap();
        let g = &result.groups[0];
        assert_eq!(g.models.len(), 2);
        assert_eq!((g.models[0].runs, g.models[0].targets), (2, 3));
        assert_eq!((g.models[0].r50, g.models[0].r90), (20.0, 50.0));
        // Mean of the model means, not of the four targets.
        assert_eq!((g.r50.estimate, g.r90.estimate), (30.0, 65.0));
        assert_eq!(g.r90_nm.unwrap().estimate, 260.0);
        assert!((g.between_model_sd_r90 - 30f64.hypot(0.0) / 2f64.sqrt()).abs() < 1e-12);
        assert!(g.r50.low <= g.r50.estimate && g.r50.estimate <= g.r50.high);
        // The model level is resampled: draws of only model b reach its mean R90 of 80.
        assert_eq!(g.r90.high, 80.0);
        assert_eq!(g.r50_ratio.estimate, 1.0);
    }

    #[test]
    fn a_doubling_is_found_with_an_interval_around_it_and_noise_is_not() {
        let targets = |scale: usize, shift: usize| -> Vec<(usize, usize)> {
            (0..60)
                .map(|i| (scale * (10 + i % 7 + shift), scale * (40 + i % 11 + shift)))
                .collect()
        };
        let group = |name: &str, scale: usize| StudyGroup {
            name: name.into(),
            reports: (0..3)
                .map(|seed| {
                    run(
                        &format!("{name}-{seed}"),
                        4.0 / scale as f64,
                        &targets(scale, seed),
                    )
                })
                .collect(),
        };
        let result = study(&[group("native", 1), group("2x", 2)], &settings()).unwrap();
        let (native, twice) = (&result.groups[0], &result.groups[1]);
        assert!((twice.r90_ratio.estimate - 2.0).abs() < 1e-12);
        assert!(twice.r90_ratio.low > 1.8 && twice.r90_ratio.high < 2.2);
        assert_eq!(
            (twice.r90_seeds_separated, native.r90_seeds_separated),
            (Some(true), None)
        );
        // Same tissue extent in nanometres.
        assert!((twice.r90_nm.unwrap().estimate - native.r90_nm.unwrap().estimate).abs() < 1e-9);
        // Seed-to-seed variation as large as the effect: the interval includes 1.
        let noisy = StudyGroup {
            name: "noisy".into(),
            reports: vec![
                run("n0", 4.0, &[(5, 20); 30]),
                run("n1", 4.0, &[(40, 160); 30]),
                run("n2", 4.0, &[(11, 45); 30]),
            ],
        };
        let result = study(&[group("native", 1), noisy], &settings()).unwrap();
        let r = &result.groups[1].r90_ratio;
        assert!(r.low < 1.0 && r.high > 1.0, "{r:?}");
        assert_eq!(result.groups[1].r90_seeds_separated, Some(false));
    }

    #[test]
    fn seeded_and_refuses_unusable_groups() {
        let g = StudyGroup {
            name: "g".into(),
            reports: vec![run("a", 4.0, &[(1, 2), (3, 9)]), run("b", 4.0, &[(5, 7)])],
        };
        assert_eq!(
            study(std::slice::from_ref(&g), &settings()),
            study(std::slice::from_ref(&g), &settings())
        );
        let empty = StudyGroup {
            name: "empty".into(),
            reports: vec![run("a", 4.0, &[])],
        };
        let err = study(&[g, empty], &settings()).unwrap_err().to_string();
        assert!(
            err.contains("group 'empty'") && err.contains("model a"),
            "{err}"
        );
        assert!(study(&[], &settings()).is_err());
    }
}
