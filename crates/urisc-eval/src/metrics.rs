//! Which metrics to compute, and the per-image score record (the stable JSON interface).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use urisc_metrics::PHD_TOLERANCES;

/// One reportable metric, named as in the JSON output and in `--metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Membrane F1 (`f1`).
    F1,
    /// Membrane precision (`precision`).
    Precision,
    /// Membrane recall (`recall`).
    Recall,
    /// Intersection over union of the binarised membrane masks (`iou`).
    Iou,
    /// Dice coefficient of the binarised membrane masks (`dice`).
    Dice,
    /// Perceptual Hausdorff distance at t = 0, 1, 3, 5, 10 pixels (`phd`); lower is better.
    Phd,
    /// ISBI 2012 V_rand after thinning (`vrand`).
    Vrand,
    /// ISBI 2012 V_info after thinning (`vinfo`).
    Vinfo,
    /// Adapted Rand error of the cells (`are`); lower is better.
    Are,
    /// Over-segmentation part of the variation of information, bits (`voi_split`).
    VoiSplit,
    /// Under-segmentation part of the variation of information, bits (`voi_merge`).
    VoiMerge,
}

impl Metric {
    /// Every metric, in reporting order.
    pub const ALL: [Metric; 11] = [
        Metric::F1,
        Metric::Precision,
        Metric::Recall,
        Metric::Iou,
        Metric::Dice,
        Metric::Phd,
        Metric::Vrand,
        Metric::Vinfo,
        Metric::Are,
        Metric::VoiSplit,
        Metric::VoiMerge,
    ];

    /// The metric's name in the JSON output and in `--metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::F1 => "f1",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Iou => "iou",
            Metric::Dice => "dice",
            Metric::Phd => "phd",
            Metric::Vrand => "vrand",
            Metric::Vinfo => "vinfo",
            Metric::Are => "are",
            Metric::VoiSplit => "voi_split",
            Metric::VoiMerge => "voi_merge",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of metrics to compute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricSet(pub BTreeSet<Metric>);

impl MetricSet {
    /// Every metric ([`Metric::ALL`]).
    pub fn all() -> MetricSet {
        MetricSet(Metric::ALL.into_iter().collect())
    }

    /// True if `m` is in the set.
    pub fn contains(&self, m: Metric) -> bool {
        self.0.contains(&m)
    }

    /// True if at least one of `ms` is in the set.
    pub fn any(&self, ms: &[Metric]) -> bool {
        ms.iter().any(|m| self.contains(*m))
    }

    /// Parses a comma-separated list of metric names or groups: `all`, `pixel`
    /// (f1, precision, recall, iou, dice), `isbi` (vrand, vinfo), `voi` (voi_split, voi_merge).
    pub fn parse(spec: &str) -> Result<MetricSet, String> {
        let mut set = BTreeSet::new();
        for word in spec.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let group: &[Metric] = match word {
                "all" => &Metric::ALL,
                "pixel" => &[
                    Metric::F1,
                    Metric::Precision,
                    Metric::Recall,
                    Metric::Iou,
                    Metric::Dice,
                ],
                "isbi" => &[Metric::Vrand, Metric::Vinfo],
                "voi" => &[Metric::VoiSplit, Metric::VoiMerge],
                _ => match Metric::ALL.iter().find(|m| m.name() == word) {
                    Some(m) => std::slice::from_ref(m),
                    None => {
                        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                        return Err(format!(
                            "unknown metric '{word}' (known: {}, or all, pixel, isbi, voi)",
                            names.join(", ")
                        ));
                    }
                },
            };
            set.extend(group.iter().copied());
        }
        if set.is_empty() {
            return Err("no metric named".into());
        }
        Ok(MetricSet(set))
    }
}

/// PHD at the tolerances t = 0, 1, 3, 5, 10; serialised as `{"0": …, "1": …, …}` in that order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhdScores(pub [f64; 5]);

impl PhdScores {
    /// PHD at tolerance `t` (one of [`PHD_TOLERANCES`]); `None` for any other value.
    pub fn at(&self, t: f64) -> Option<f64> {
        PHD_TOLERANCES
            .iter()
            .position(|&x| x == t)
            .map(|k| self.0[k])
    }
}

fn tolerance_key(t: f64) -> String {
    format!("{}", t as u32)
}

impl Serialize for PhdScores {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(5))?;
        for (t, v) in PHD_TOLERANCES.iter().zip(self.0) {
            map.serialize_entry(&tolerance_key(*t), &v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PhdScores {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::HashMap::<String, f64>::deserialize(d)?;
        let mut out = [0.0; 5];
        for (k, t) in PHD_TOLERANCES.iter().enumerate() {
            out[k] = *map
                .get(&tolerance_key(*t))
                .ok_or_else(|| serde::de::Error::custom(format!("phd is missing key {t}")))?;
        }
        Ok(PhdScores(out))
    }
}

/// Scores of one image (or their mean); absent fields were not requested.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Membrane F1, by the report's protocol.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub f1: Option<f64>,
    /// Membrane precision, by the report's protocol.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub precision: Option<f64>,
    /// Membrane recall, by the report's protocol.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recall: Option<f64>,
    /// IoU of the binarised membrane masks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iou: Option<f64>,
    /// Dice coefficient of the binarised membrane masks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dice: Option<f64>,
    /// PHD of the membrane skeletons in pixels, per tolerance; lower is better, 1000 when
    /// exactly one skeleton is empty.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phd: Option<PhdScores>,
    /// V_rand after thinning: the best foreground-restricted Rand F-score over 11 thresholds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vrand: Option<f64>,
    /// V_info after thinning: the best information-theoretic F-score over 11 thresholds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vinfo: Option<f64>,
    /// Adapted Rand error of the cells, GT membrane ignored; lower is better.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub are: Option<f64>,
    /// VOI split (over-segmentation), H(pred | gt) in bits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub voi_split: Option<f64>,
    /// VOI merge (under-segmentation), H(gt | pred) in bits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub voi_merge: Option<f64>,
}

impl Scores {
    /// Scalar metrics in reporting order, with PHD expanded per tolerance (`phd_0`, …).
    pub fn columns(&self) -> Vec<(String, Option<f64>)> {
        let mut out = vec![
            ("f1".to_string(), self.f1),
            ("precision".to_string(), self.precision),
            ("recall".to_string(), self.recall),
            ("iou".to_string(), self.iou),
            ("dice".to_string(), self.dice),
        ];
        if let Some(p) = &self.phd {
            for (t, v) in PHD_TOLERANCES.iter().zip(p.0) {
                out.push((format!("phd_{}", tolerance_key(*t)), Some(v)));
            }
        }
        out.extend([
            ("vrand".to_string(), self.vrand),
            ("vinfo".to_string(), self.vinfo),
            ("are".to_string(), self.are),
            ("voi_split".to_string(), self.voi_split),
            ("voi_merge".to_string(), self.voi_merge),
        ]);
        out.retain(|(_, v)| v.is_some());
        out
    }

    /// Macro average: each metric's mean over the images that have it.
    pub fn mean<'a>(all: impl IntoIterator<Item = &'a Scores> + Clone) -> Scores {
        fn avg(it: impl Iterator<Item = Option<f64>>) -> Option<f64> {
            let v: Vec<f64> = it.flatten().collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
        let field = |f: fn(&Scores) -> Option<f64>| avg(all.clone().into_iter().map(f));
        let phds: Vec<PhdScores> = all.clone().into_iter().filter_map(|s| s.phd).collect();
        let phd = (!phds.is_empty()).then(|| {
            let mut m = [0.0; 5];
            for p in &phds {
                for (acc, v) in m.iter_mut().zip(p.0) {
                    *acc += v / phds.len() as f64;
                }
            }
            PhdScores(m)
        });
        Scores {
            f1: field(|s| s.f1),
            precision: field(|s| s.precision),
            recall: field(|s| s.recall),
            iou: field(|s| s.iou),
            dice: field(|s| s.dice),
            phd,
            vrand: field(|s| s.vrand),
            vinfo: field(|s| s.vinfo),
            are: field(|s| s.are),
            voi_split: field(|s| s.voi_split),
            voi_merge: field(|s| s.voi_merge),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_and_groups() {
        let s = MetricSet::parse("f1, isbi").unwrap();
        assert_eq!(
            s.0.iter().copied().collect::<Vec<_>>(),
            vec![Metric::F1, Metric::Vrand, Metric::Vinfo]
        );
        assert_eq!(MetricSet::parse("all").unwrap(), MetricSet::all());
        let err = MetricSet::parse("f1,bogus").unwrap_err();
        assert!(err.contains("'bogus'"), "{err}");
    }

    #[test]
    fn phd_serialises_in_tolerance_order() {
        let s = Scores {
            phd: Some(PhdScores([1.0, 2.0, 3.0, 4.0, 5.0])),
            f1: Some(0.5),
            ..Default::default()
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"f1":0.5,"phd":{"0":1.0,"1":2.0,"3":3.0,"5":4.0,"10":5.0}}"#
        );
        let back: Scores = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn mean_is_the_macro_average() {
        let a = Scores {
            f1: Some(1.0),
            phd: Some(PhdScores([0.0; 5])),
            ..Default::default()
        };
        let b = Scores {
            f1: Some(0.0),
            phd: Some(PhdScores([1000.0; 5])),
            ..Default::default()
        };
        let m = Scores::mean([&a, &b]);
        assert_eq!(m.f1, Some(0.5));
        assert_eq!(m.phd, Some(PhdScores([500.0; 5])));
        assert_eq!(m.vrand, None);
    }
}
