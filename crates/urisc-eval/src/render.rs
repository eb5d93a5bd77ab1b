//! Output formats of an evaluation: an aligned table for people, JSON and CSV for programs.

use crate::evaluate::EvalReport;
use crate::metrics::Scores;

/// Output format of `urisc eval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for people: one row per image, the mean last, then a legend.
    Table,
    /// The stable JSON report `{"protocol", "images", "mean"}`, pretty-printed.
    Json,
    /// CSV: a `name,<metrics…>` header, one line per image, and a `mean` line.
    Csv,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "json" => Ok(OutputFormat::Json),
            "csv" => Ok(OutputFormat::Csv),
            _ => Err(format!("unknown format '{s}' (table, json or csv)")),
        }
    }
}

/// Renders a report in the chosen format (ends with a newline).
pub fn render(report: &EvalReport, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(report).expect("report serialises");
            s.push('\n');
            s
        }
        OutputFormat::Csv => csv(report),
        OutputFormat::Table => table(report),
    }
}

fn value(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_nan() => "nan".into(),
        Some(x) => format!("{x}"),
        None => String::new(),
    }
}

/// A named row of optional values.
type Row = (String, Vec<Option<f64>>);

fn rows(report: &EvalReport) -> (Vec<String>, Vec<Row>) {
    let header: Vec<String> = report.mean.columns().into_iter().map(|(k, _)| k).collect();
    let row = |name: &str, s: &Scores| {
        let cols = s.columns();
        let vals = header
            .iter()
            .map(|h| cols.iter().find(|(k, _)| k == h).and_then(|(_, v)| *v))
            .collect();
        (name.to_string(), vals)
    };
    let mut out: Vec<_> = report
        .images
        .iter()
        .map(|i| row(&i.name, &i.scores))
        .collect();
    out.push(row("mean", &report.mean));
    (header, out)
}

fn csv(report: &EvalReport) -> String {
    let (header, rows) = rows(report);
    let mut s = format!("name,{}\n", header.join(","));
    for (name, vals) in rows {
        let quoted = if name.contains([',', '"']) {
            format!("\"{}\"", name.replace('"', "\"\""))
        } else {
            name
        };
        let vals: Vec<String> = vals.into_iter().map(value).collect();
        s.push_str(&format!("{quoted},{}\n", vals.join(",")));
    }
    s
}

fn table(report: &EvalReport) -> String {
    let (header, rows) = rows(report);
    let name_w = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(5);
    let col_w: Vec<usize> = header.iter().map(|h| h.len().max(8)).collect();
    let mut s = format!("protocol: {}\n", report.protocol.name());
    s.push_str(&format!("{:<name_w$}", "image"));
    for (h, w) in header.iter().zip(&col_w) {
        s.push_str(&format!("  {h:>w$}"));
    }
    s.push('\n');
    let n = rows.len();
    for (k, (name, vals)) in rows.into_iter().enumerate() {
        if k + 1 == n {
            s.push_str(&format!(
                "{}\n",
                "-".repeat(name_w + col_w.iter().map(|w| w + 2).sum::<usize>())
            ));
        }
        s.push_str(&format!("{name:<name_w$}"));
        for (v, w) in vals.into_iter().zip(&col_w) {
            let cell = match v {
                Some(x) if x.is_nan() => "nan".to_string(),
                Some(x) if x.abs() >= 100.0 => format!("{x:.2}"),
                Some(x) => format!("{x:.4}"),
                None => "-".into(),
            };
            s.push_str(&format!("  {cell:>w$}"));
        }
        s.push('\n');
    }
    if let Some(stack) = report.stack_isbi().filter(|_| report.images.len() > 1) {
        s.push_str(&format!(
            "as one stack (ISBI challenge style: mean per threshold, then max): V_rand {:.4}, V_info {:.4}\n",
            stack.vrand, stack.vinfo
        ));
    }
    s.push_str(
        "F1/P/R/IoU/Dice/ARE/VOI: membrane positive; PHD: skeletons, lower is better; \
         V_rand/V_info: Fiji after thinning, max over 11 thresholds; ARE ignores GT membrane; VOI in bits.\n",
    );
    s
}
