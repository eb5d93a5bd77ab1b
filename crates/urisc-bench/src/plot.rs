//! Bar plots of a dataset's leaderboard: F1, V_rand and PHD (t = 3) per method, with the seeds'
//! standard deviation as error bars; human rows in grey. SVG and PNG.

use urisc_plot::plotters::coord::ranged1d::SegmentValue;
use urisc_plot::plotters::coord::Shift;
use urisc_plot::plotters::prelude::*;
use urisc_plot::{png_from_rgb, register_font};

use crate::leaderboard::{metric_title, DatasetBoard};

/// The metrics plotted, in panel order.
pub const PLOTTED: [&str; 3] = ["f1", "vrand", "phd_3"];

fn size(rows: usize) -> (u32, u32) {
    (1200, 90 + 28 * rows.max(1) as u32)
}

/// The plot as SVG text.
pub fn bars_svg(board: &DatasetBoard) -> String {
    register_font();
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, size(board.rows.len())).into_drawing_area(),
        board,
    );
    svg
}

/// The plot as PNG file bytes.
pub fn bars_png(board: &DatasetBoard) -> Vec<u8> {
    register_font();
    let (w, h) = size(board.rows.len());
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(
        BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
        board,
    );
    png_from_rgb(&rgb, w, h)
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, board: &DatasetBoard) {
    root.fill(&WHITE).expect("in-memory drawing");
    let rows: Vec<_> = board.rows.iter().rev().collect();
    let n = rows.len().max(1) as u32;
    let panels = root.split_evenly((1, PLOTTED.len()));
    for (panel, metric) in panels.iter().zip(PLOTTED) {
        let values: Vec<Option<(f64, f64)>> = rows
            .iter()
            .map(|r| {
                r.metrics
                    .get(metric)
                    .map(|s| (s.mean, s.std.unwrap_or(0.0)))
            })
            .collect();
        let top = values
            .iter()
            .flatten()
            .map(|(m, s)| m + s)
            .fold(0f64, f64::max);
        let x_max = if metric.starts_with("phd") {
            (top * 1.15).max(1.0)
        } else {
            1.0
        };
        let better = if metric.starts_with("phd") {
            "lower is better"
        } else {
            "higher is better"
        };
        let names: Vec<String> = rows
            .iter()
            .map(|r| {
                let mut name = r.method.clone();
                if name.len() > 22 {
                    name.truncate(21);
                    name.push('…');
                }
                name
            })
            .collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{} ({better})", metric_title(metric)),
                ("sans-serif", 17),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(if metric == PLOTTED[0] { 170 } else { 10 })
            .build_cartesian_2d(0f64..x_max, (0u32..n).into_segmented())
            .expect("valid ranges");
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if metric == PLOTTED[0] => {
                names.get(*i as usize).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n as usize)
            .y_label_formatter(&label)
            .x_labels(5)
            .draw()
            .expect("in-memory drawing");
        let colour = |i: usize| {
            if rows[i].kind == "human" {
                RGBColor(150, 150, 150)
            } else {
                RGBColor(49, 110, 180)
            }
        };
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                let (mean, _) = (*v)?;
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i as u32)),
                        (mean, SegmentValue::Exact(i as u32 + 1)),
                    ],
                    colour(i).filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                Some(bar)
            }))
            .expect("in-memory drawing");
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                let (mean, std) = (*v)?;
                (std > 0.0).then(|| {
                    PathElement::new(
                        vec![
                            ((mean - std).max(0.0), SegmentValue::CenterOf(i as u32)),
                            (mean + std, SegmentValue::CenterOf(i as u32)),
                        ],
                        BLACK.stroke_width(2),
                    )
                })
            }))
            .expect("in-memory drawing");
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                let (mean, std) = (*v)?;
                let digits = if metric.starts_with("phd") { 2 } else { 3 };
                Some(Text::new(
                    format!("{mean:.digits$}"),
                    (mean + std + x_max * 0.01, SegmentValue::CenterOf(i as u32)),
                    ("sans-serif", 12),
                ))
            }))
            .expect("in-memory drawing");
    }
    root.present().expect("in-memory drawing");
}
