//! Context curves of one or several runs in one SVG plot (SVG needs no font files): mean
//! fraction of |IG| against distance on a log axis, the interquartile band shaded, R50 and R90
//! of each mean curve marked with dashed verticals.

use urisc_plot::plotters::prelude::*;

use crate::report::AttributionReport;
use crate::study::StudyResult;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// Draws the runs' curves (reports without a summary are skipped) as SVG text.
pub fn context_curves_svg(reports: &[AttributionReport]) -> String {
    urisc_plot::register_font();
    let drawn: Vec<_> = reports
        .iter()
        .filter_map(|r| r.summary.as_ref().map(|s| (r, s)))
        .collect();
    // Curves run to the image diagonal but reach 1 long before: end the axis at twice the
    // largest radius where a lower quartile first reaches 1, so the rise fills the plot.
    let max_radius = drawn
        .iter()
        .map(|(_, s)| {
            let last = s.mean.len() - 1;
            let full = s.q25.iter().position(|&v| v >= 1.0 - 1e-9).unwrap_or(last);
            (2 * full).clamp(10, last.max(10))
        })
        .max()
        .unwrap_or(10) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 520)).into_drawing_area();
        root.fill(&WHITE).expect("in-memory drawing");
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "fraction of |IG| within distance r of the target pixel",
                ("sans-serif", 20),
            )
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((1f64..max_radius).log_scale(), 0f64..1.0)
            .expect("valid ranges");
        chart
            .configure_mesh()
            .x_desc("Euclidean distance r (pixels)")
            .y_desc("fraction of total |IG|")
            .draw()
            .expect("in-memory drawing");
        for (k, (report, summary)) in drawn.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let radii = 1..summary.mean.len().min(max_radius as usize + 1);
            let band: Vec<(f64, f64)> = radii
                .clone()
                .map(|r| (r as f64, summary.q75[r]))
                .chain(radii.clone().rev().map(|r| (r as f64, summary.q25[r])))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, colour.mix(0.15))))
                .expect("in-memory drawing");
            let label = format!(
                "{} (n = {}): R50 = {} px, R90 = {} px",
                report.name, summary.targets, summary.r50_of_mean, summary.r90_of_mean
            );
            chart
                .draw_series(LineSeries::new(
                    radii.map(|r| (r as f64, summary.mean[r])),
                    colour.stroke_width(2),
                ))
                .expect("in-memory drawing")
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            for (radius, fraction) in [(summary.r50_of_mean, 0.5), (summary.r90_of_mean, 0.9)] {
                let x = (radius as f64).max(1.0);
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x, 0.0), (x, fraction)],
                        6,
                        4,
                        colour.stroke_width(1),
                    ))
                    .expect("in-memory drawing");
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (x, fraction),
                        4,
                        colour.filled(),
                    )))
                    .expect("in-memory drawing");
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .expect("in-memory drawing");
        root.present().expect("in-memory drawing");
    }
    svg
}

/// A study drawn as SVG text: per group, each model's mean per-target R50 (circles) and R90
/// (triangles), and the group's estimate (bar) with its bootstrap interval (whiskers).
pub fn study_svg(study: &StudyResult) -> String {
    urisc_plot::register_font();
    let top = study
        .groups
        .iter()
        .flat_map(|g| g.models.iter().map(|m| m.r90).chain([g.r90.high]))
        .fold(1.0f64, f64::max)
        * 1.15;
    let n = study.groups.len();
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (160 + 170 * n as u32, 480)).into_drawing_area();
        root.fill(&WHITE).expect("in-memory drawing");
        let names: Vec<String> = study.groups.iter().map(|g| g.name.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "context radius per training seed, {:.0} % bootstrap intervals",
                    study.settings.confidence * 100.0
                ),
                ("sans-serif", 18),
            )
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..top)
            .expect("valid ranges");
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_desc("mean per-target radius (pixels)")
            .draw()
            .expect("in-memory drawing");
        for (colour, label, pick) in [(PALETTE[0], "R50", 0usize), (PALETTE[1], "R90", 1usize)] {
            let offset = if pick == 0 { -0.15 } else { 0.15 };
            for (g, group) in study.groups.iter().enumerate() {
                let x = g as f64 + offset;
                let ci = if pick == 0 { group.r50 } else { group.r90 };
                let whisker = |y: f64| {
                    PathElement::new(vec![(x - 0.05, y), (x + 0.05, y)], colour.stroke_width(2))
                };
                chart
                    .draw_series([
                        PathElement::new(vec![(x, ci.low), (x, ci.high)], colour.stroke_width(2)),
                        whisker(ci.low),
                        whisker(ci.high),
                        PathElement::new(
                            vec![(x - 0.1, ci.estimate), (x + 0.1, ci.estimate)],
                            colour.stroke_width(4),
                        ),
                    ])
                    .expect("in-memory drawing");
                // Seeds side by side to the right of the interval, so equal values stay visible.
                let points = group.models.iter().enumerate().map(|(i, m)| {
                    (
                        x + 0.12 + 0.03 * i as f64,
                        if pick == 0 { m.r50 } else { m.r90 },
                    )
                });
                let series = if pick == 0 {
                    chart.draw_series(points.map(|p| Circle::new(p, 4, colour.filled()).into_dyn()))
                } else {
                    chart.draw_series(
                        points.map(|p| TriangleMarker::new(p, 5, colour.filled()).into_dyn()),
                    )
                }
                .expect("in-memory drawing");
                if g == 0 {
                    series.label(label).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                    });
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .expect("in-memory drawing");
        root.present().expect("in-memory drawing");
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::summarize;
    use crate::ig::IgSettings;

    fn report(name: &str, curves: &[Vec<f64>]) -> AttributionReport {
        AttributionReport {
            name: name.into(),
            model: "m".into(),
            image: "i".into(),
            plane: None,
            scale: 1.0,
            height: 8,
            width: 8,
            pixel_size_nm: Some(4.0),
            context_radius: Some(3),
            settings: IgSettings::default(),
            seconds: 1.0,
            seconds_per_target_step: 0.01,
            targets: Vec::new(),
            summary: Some(summarize(curves)),
        }
    }

    #[test]
    fn every_run_gets_a_labelled_curve_and_its_radii() {
        let curve = |k: usize| (0..=40).map(|r| (r as f64 / k as f64).min(1.0)).collect();
        let svg = context_curves_svg(&[
            report("native", &[curve(4), curve(6)]),
            report("upsampled", &[curve(12)]),
        ]);
        assert!(svg.starts_with("<svg"));
        assert!(
            svg.contains("native (n = 2): R50 = 3 px, R90 = 5 px"),
            "{svg}"
        );
        assert!(svg.contains("upsampled (n = 1): R50 = 6 px, R90 = 11 px"));
        // Two curves and four radius markers.
        assert_eq!(svg.matches("<circle").count(), 4);
    }

    #[test]
    fn a_study_draws_every_seed_and_interval() {
        use crate::study::{study, StudyGroup, StudySettings};
        let group = |name: &str, r: usize| StudyGroup {
            name: name.into(),
            reports: (0..3)
                .map(|seed| {
                    let mut run = report(name, &[vec![1.0]]);
                    run.model = format!("{name}-{seed}");
                    run.targets = vec![crate::report::TargetResult {
                        row: 0,
                        col: 0,
                        sum_ig: 1.0,
                        logit_difference: 1.0,
                        total_abs_ig: 1.0,
                        r50: Some(r + seed),
                        r90: Some(3 * r + seed),
                    }];
                    run
                })
                .collect(),
        };
        let groups = [group("4 nm", 10), group("2 nm", 15)];
        let result = study(&groups, &StudySettings::default()).unwrap();
        let svg = study_svg(&result);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("4 nm") && svg.contains("2 nm") && svg.contains("R90"));
        // Three seeds × two groups as circles (R50), plus the legend's none.
        assert_eq!(svg.matches("<circle").count(), 6, "{svg}");
    }
}
