//! The suite's HTML report (one self-contained page: inline CSS and SVG plots, images as files
//! beside it; the overlays it shows are drawn by [`crate::overlay`]).

use std::fmt::Write as _;
use std::path::Path;

use crate::error::BenchError;
use crate::leaderboard::{format_stat, metric_title, Leaderboard};
use crate::overlay::{FALSE_NEGATIVE, FALSE_POSITIVE};
use crate::runner::RunRecord;
use crate::suite::Suite;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// This machine's CPU model and vector level, for the report's header.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    #[cfg(target_arch = "x86_64")]
    let level = if std::arch::is_x86_feature_detected!("avx512f") {
        "AVX-512"
    } else if std::arch::is_x86_feature_detected!("avx2") {
        "AVX2"
    } else {
        "SSE2"
    };
    #[cfg(target_arch = "aarch64")]
    let level = "NEON";
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let level = "portable";
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model} ({level}), {threads} threads")
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1250px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}\
th{background:#f3f3f3}td.name{text-align:left}tr.human td{color:#666;font-style:italic}tr.failed td{background:#fff0f0}\
.scroll{overflow-x:auto}.grid{display:flex;flex-wrap:wrap;gap:1em}.grid figure{margin:0;text-align:center;font-size:.85em}\
.grid img{image-rendering:pixelated;border:1px solid #ccc;width:256px;height:256px}.curves img{width:600px;border:1px solid #eee}\
.legend span{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em 0 1em}.plot svg{max-width:100%;height:auto}\
.muted{color:#666;font-size:.9em}";

/// Writes `report.html` in `out`: the leaderboard, plots (inline SVG), overlays and training
/// curves (image files beside it, linked relatively).
pub fn write_report(
    out: &Path,
    suite: &Suite,
    board: &Leaderboard,
    records: &[(RunRecord, bool)],
    plots_svg: &[(String, String)],
) -> Result<(), BenchError> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>urisc bench: {name}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head><body>\n\
<h1>urisc bench: {name}</h1>\n",
        name = escape(&suite.name)
    );
    if let Some(d) = &suite.description {
        let _ = writeln!(h, "<p>{}</p>", escape(d));
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">Suite file <code>{}</code>; seeds {:?}; ranked by <b>{}</b> ({} is better). \
Every metric is computed on the binary test maps exactly as <code>urisc eval</code> does (binarized protocol); \
mean ± sample standard deviation over seeds. Machine: {}. Files: <a href=\"leaderboard.md\">leaderboard.md</a>, \
<a href=\"leaderboard.csv\">leaderboard.csv</a>, <a href=\"leaderboard.json\">leaderboard.json</a>.</p>",
        escape(&suite.path.display().to_string()),
        suite.seeds,
        metric_title(&board.primary_metric),
        if board.higher_is_better { "higher" } else { "lower" },
        escape(&machine())
    );
    for d in &board.datasets {
        let _ = writeln!(
            h,
            "<h2>{}{}</h2>\n<p class=\"muted\">test samples: {}</p>",
            escape(&d.name),
            d.pixel_size_nm
                .map_or(String::new(), |p| format!(" ({p} nm/pixel)")),
            escape(&d.test.join(", "))
        );
        // The leaderboard table.
        let _ = write!(
            h,
            "<div class=\"scroll\"><table><tr><th>rank</th><th>method</th><th>runs</th>"
        );
        let columns = d.columns();
        for m in &columns {
            let _ = write!(h, "<th>{}</th>", escape(&metric_title(m)));
        }
        let _ = writeln!(
            h,
            "<th>threshold</th><th>train s</th><th>predict MPixel/s</th><th>peak MiB</th></tr>"
        );
        for r in &d.rows {
            let class = if r.kind == "human" {
                " class=\"human\""
            } else if r.runs == 0 {
                " class=\"failed\""
            } else {
                ""
            };
            let _ = write!(
                h,
                "<tr{class}><td>{}</td><td class=\"name\">{}{}</td><td>{}{}</td>",
                r.rank.map_or("—".into(), |k| k.to_string()),
                escape(&r.method),
                if r.kind == "human" { " (human)" } else { "" },
                r.runs,
                if r.failed > 0 {
                    format!(" ({} failed)", r.failed)
                } else {
                    String::new()
                }
            );
            for m in &columns {
                let _ = write!(h, "<td>{}</td>", escape(&format_stat(m, r.metrics.get(*m))));
            }
            let plain = |s: &Option<crate::leaderboard::Stat>, digits: usize| {
                s.map_or("—".into(), |s| format!("{:.digits$}", s.mean))
            };
            let _ = writeln!(
                h,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                plain(&r.threshold, 2),
                plain(&r.train_seconds, 0),
                plain(&r.inference_mpixel_per_s, 3),
                r.peak_rss_mib.map_or("—".into(), |m| format!("{m:.0}"))
            );
        }
        let _ = writeln!(h, "</table></div>");
        for r in d.rows.iter().filter(|r| !r.errors.is_empty()) {
            for e in &r.errors {
                let _ = writeln!(
                    h,
                    "<p class=\"muted\">{} failed: <code>{}</code></p>",
                    escape(&r.method),
                    escape(e)
                );
            }
        }
        if let Some((_, svg)) = plots_svg.iter().find(|(n, _)| n == &d.name) {
            let _ = writeln!(
                h,
                "<div class=\"plot\">{}</div>",
                svg.trim_start_matches(|c| c != '<')
            );
        }
        // Overlays: the same crop of the first test image, one per method (its first run).
        let _ = writeln!(
            h,
            "<h3>Prediction against label</h3><p class=\"legend muted\">The centre {c}×{c} crop of test image {first}; \
EM image in grey, <span style=\"background:rgb({},{},{})\"></span>false positives (membrane predicted, not in the label) \
<span style=\"background:rgb({},{},{})\"></span>false negatives (label membrane missed).</p><div class=\"grid\">",
            FALSE_POSITIVE[0],
            FALSE_POSITIVE[1],
            FALSE_POSITIVE[2],
            FALSE_NEGATIVE[0],
            FALSE_NEGATIVE[1],
            FALSE_NEGATIVE[2],
            c = suite.report.crop,
            first = escape(d.test.first().map_or("", |s| s.as_str())),
        );
        for r in d.rows.iter().filter(|r| r.kind == "method") {
            let first = records
                .iter()
                .map(|(rec, _)| rec)
                .find(|rec| r.run_ids.contains(&rec.id) && rec.overlay.is_some());
            if let Some(rec) = first {
                let f1 = rec
                    .images
                    .first()
                    .and_then(|i| i.scores.f1)
                    .map_or(String::new(), |v| format!(", F1 {v:.3}"));
                let _ = writeln!(
                    h,
                    "<figure><img src=\"{}\" alt=\"overlay of {}\"><figcaption>{}{}</figcaption></figure>",
                    escape(rec.overlay.as_deref().unwrap_or_default()),
                    escape(&r.method),
                    escape(&r.method),
                    f1
                );
            }
        }
        let _ = writeln!(h, "</div>");
        // Training curves of trained methods (first seed).
        let curves: Vec<&RunRecord> = d
            .rows
            .iter()
            .filter_map(|r| {
                records
                    .iter()
                    .map(|(rec, _)| rec)
                    .find(|rec| r.run_ids.contains(&rec.id) && rec.curves.is_some())
            })
            .collect();
        if !curves.is_empty() {
            let _ = writeln!(
                h,
                "<h3>Training curves</h3><p class=\"muted\">Training loss and validation F1 per epoch (first seed).</p><div class=\"grid curves\">"
            );
            for rec in curves {
                let _ = writeln!(
                    h,
                    "<figure><img src=\"{}\" alt=\"training curves of {}\"><figcaption>{} (seed {})</figcaption></figure>",
                    escape(rec.curves.as_deref().unwrap_or_default()),
                    escape(&rec.method),
                    escape(&rec.method),
                    rec.seed.map_or("—".into(), |s| s.to_string())
                );
            }
            let _ = writeln!(h, "</div>");
        }
        // Context curves where `urisc attribute --out OUT/runs/ID/attribution` ran for a run.
        let context: Vec<&RunRecord> = d
            .rows
            .iter()
            .filter_map(|r| {
                records.iter().map(|(rec, _)| rec).find(|rec| {
                    r.run_ids.contains(&rec.id)
                        && out
                            .join("runs")
                            .join(&rec.id)
                            .join("attribution/context-curve.svg")
                            .exists()
                })
            })
            .collect();
        if !context.is_empty() {
            let _ = writeln!(h, "<h3>Context curves</h3><div class=\"grid curves\">");
            for rec in context {
                let _ = writeln!(
                    h,
                    "<figure><img src=\"runs/{}/attribution/context-curve.svg\" alt=\"context curve of {}\"><figcaption>{}</figcaption></figure>",
                    escape(&rec.id),
                    escape(&rec.method),
                    escape(&rec.method)
                );
            }
            let _ = writeln!(h, "</div>");
        }
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">Written by urisc {} (<code>urisc bench run</code>).</p></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    let path = out.join("report.html");
    urisc_io::write_atomically(&path, true, |f| std::io::Write::write_all(f, h.as_bytes()))?;
    Ok(())
}
